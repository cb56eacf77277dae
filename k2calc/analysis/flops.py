"""Forward FLOPs per token: linear layers from the tensor list, attention from the architecture
description (per layer: MLA or GQA heads, windows and chunks), for prefill, decode and training.

Conventions (also in `k2calc flops --help`, the README and every report's `conventions`):
- One multiply-add = 2 FLOPs. Forward pass only (training: 3 × forward).
- Matmuls only. Norms, softmax, SwiGLU's activation, RoPE, the router's top-k and the indexer's ReLU
  and head weighting are elementwise work and are left out.
- Linear FLOPs = 2 × the matmul parameters a token touches (`Tensor.active`: every matmul weight it
  passes, `num_experts_per_tok` of the routed experts). The embedding lookup is 0 FLOPs.
- Causal attention: a token at position t attends to t tokens, itself included. A prompt of N tokens
  costs sum over t = 1..N of attention(t) = N(N+1)/2 × the cost of one attended token.

MLA in two forms. Per layer and per attended token (H = num_attention_heads):
- naive: keys and values expanded per head through kv_b_proj;
  scores 2·H·(qk_nope_head_dim+qk_rope_head_dim), weighted sum 2·H·v_head_dim.
- absorbed: W_UK (kv_b_proj's key rows) folded into the query and W_UV (its value rows) into the
  output, attention runs as MQA over the cached latent; scores 2·H·(kv_lora_rank+qk_rope_head_dim),
  weighted sum 2·H·kv_lora_rank.
Where kv_b_proj's weight is counted: in both forms a token touches it exactly once, as a linear cost.
Naive: the token's own latent is expanded into its key and value when it enters the cache,
H·kv_lora_rank·(qk_nope_head_dim+v_head_dim) multiply-adds. Absorbed: q_nope goes through W_UK
(H·qk_nope_head_dim·kv_lora_rank) and the attention output through W_UV (H·kv_lora_rank·v_head_dim),
the same sum. So both forms have the same linear FLOPs (the tensor list's), and differ in attention.
One more cost belongs to the naive form in decode only: MLA caches only the latent, so a naive decode
step must expand the cached tokens again (`kv_reexpansion`, 2·H·kv_lora_rank·(qk_nope+v) per cached
token per layer); engines decode in the absorbed form for that reason, and prefill in the naive form
(cheaper attention: scores + weighted sum cost 192+128 = 320 multiply-adds per head per attended token
against 576+512 = 1,088 absorbed, for V3's widths).

Kimi Delta Attention (KDA, linear attention): per layer and token, reading the num_heads states of
head_dim × head_dim (S·k and q·S) is counted as `attention_scores`, 4·num_heads·head_dim², writing them
(decay and rank-1 update) as `attention_values`, the same again; neither grows with the context.

GQA/MHA/MQA: scores 2·num_attention_heads·head_dim and weighted sum 2·num_attention_heads·head_dim per
attended token (every query head reads its KV head). A sliding-window layer attends to at most its
window; a chunked layer to the tokens of its chunk so far.

DeepSeek-V3.2's lightning indexer: per layer and per past token, 2·index_n_heads·index_head_dim for
its scores; main attention then reads min(t, index_topk) tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from math import isfinite

from pydantic import BaseModel

from ..arch.description import Attention, WindowKind, describe
from ..config import ModelSpec
from ..errors import InputError
from .kv import beyond_max_position_note
from ..sizes import MAX_INT
from ..arch.tensors import Expr, Kind, Tensor, build_tensors, const

CONVENTIONS = [
    "1 multiply-add = 2 FLOPs; forward pass (training = 3 × forward)",
    "matmuls only: norms, softmax, activations, RoPE and top-k are elementwise work, left out",
    "linear = 2 × matmul parameters a token touches (num_experts_per_tok routed experts); embedding lookup = 0",
    "causal: a token at position t attends to t tokens, itself included",
]


class Phase(str, Enum):
    prefill = "prefill"
    decode = "decode"


class AttentionForm(str, Enum):
    naive = "naive"
    absorbed = "absorbed"


# What SGLang and vLLM do (their MLA backends): expand K/V for prefill, absorb for decode.
DEFAULT_FORM = {Phase.prefill: AttentionForm.naive, Phase.decode: AttentionForm.absorbed}

LINEAR_KEYS = ["embedding", "attention_proj", "indexer_proj", "dense_mlp", "shared_experts", "routed_experts",
               "router", "lm_head", "mtp_proj", "hyper_connections"]
ATTENTION_KEYS = ["attention_scores", "attention_values", "kv_reexpansion", "indexer_scores"]
COMPONENT_KEYS = LINEAR_KEYS + ATTENTION_KEYS


def default_form(cfg, phase: Phase) -> AttentionForm:
    """DeepSeek-V3.2 runs its sparse attention in MLA's MQA (absorbed) form in both phases."""
    if describe(cfg).has_indexer:
        return AttentionForm.absorbed
    return DEFAULT_FORM[phase]


def flops_component(t: Tensor) -> str:
    """The FLOPs breakdown key of a tensor's matmul (explain groups its formulas by the same key)."""
    if t.kind is Kind.ATTENTION:
        return "indexer_proj" if ".indexer." in t.name else "attention_proj"
    if t.kind is Kind.EMBEDDING:
        return "lm_head" if t.matmul else "embedding"  # tied: the table is also the output projection
    return t.kind.value


def linear_flops(tensors: list[Tensor], experts_per_tok: int) -> dict[str, int]:
    """2 × the matmul parameters one token touches, by component (keys: LINEAR_KEYS)."""
    out = dict.fromkeys(LINEAR_KEYS, 0)
    for t in tensors:
        if t.matmul:
            out[flops_component(t)] += 2 * t.active(experts_per_tok)
    return out


def _v4_linear(tensors: list[Tensor], experts_per_tok: int) -> dict[str, int]:
    """DeepSeek-V4's linear FLOPs per token in the parts its paper names (2 × matmul parameters touched)."""
    out = dict.fromkeys(["grouped output projection (wo_a, wo_b)", "compressors", "indexer projections",
                         "mHC mixers", "routed experts", "shared experts"], 0)
    for t in tensors:
        if not t.matmul or not t.counted:
            continue
        m = t.module
        key = ("compressors" if ".compressor." in t.name else "indexer projections" if ".indexer." in t.name
               else "grouped output projection (wo_a, wo_b)" if m.endswith(("wo_a", "wo_b"))
               else "mHC mixers" if t.kind is Kind.HYPER_CONNECTIONS
               else "routed experts" if t.kind is Kind.ROUTED_EXPERTS
               else "shared experts" if t.kind is Kind.SHARED_EXPERTS else None)
        if key:
            out[key] += 2 * t.active(experts_per_tok)
    return out


def _sum_attended(n: int, cap: int | None) -> int:
    """sum over t = 1..n of min(t, cap): tokens attended over a causal prompt of n tokens."""
    if cap is None or n <= cap:
        return n * (n + 1) // 2
    return cap * (cap + 1) // 2 + (n - cap) * cap


@dataclass(frozen=True)
class Coefficients:
    """FLOPs per layer per attended (or cached) token, each with its formula."""

    scores: Expr
    values: Expr
    reexpansion: Expr  # naive decode only, per cached token
    indexer: Expr | None


def coefficients(model, form: AttentionForm) -> Coefficients:
    """The first layer's coefficients (a model or an Attention)."""
    att = model if isinstance(model, Attention) else describe(model).attention
    if att.linear is not None:  # KDA: one state per head; per token read it (S·k, q·S) and write it (decay, update)
        la = att.linear
        per = const(4) * la.num_heads * la.head_dim * la.head_dim
        return Coefficients(per, per, const(0), None)
    two, heads, m = const(2), att.num_heads, att.mla
    if m is None:  # GQA: each query head scores and sums over its KV head's keys and values
        scores = values = two * heads * att.head_dim
        reexp = const(0)
    elif form is AttentionForm.naive:
        scores = two * heads * (m.qk_nope_head_dim + m.qk_rope_head_dim)
        values = two * heads * m.v_head_dim
    else:
        scores = two * heads * (m.kv_lora_rank + m.qk_rope_head_dim)
        values = two * heads * m.kv_lora_rank
    if m is not None:
        reexp = two * heads * m.kv_lora_rank * (m.qk_nope_head_dim + m.v_head_dim)
    ix = att.indexer
    indexer = two * ix.n_heads * ix.head_dim if ix else None
    return Coefficients(scores, values, reexp, indexer)


def _sum_chunked(n: int, chunk: int) -> int:
    """sum over t = 1..n of the tokens position t attends to in chunked attention: ((t-1) mod chunk) + 1."""
    full, rest = divmod(n, chunk)
    return full * chunk * (chunk + 1) // 2 + rest * (rest + 1) // 2


@dataclass(frozen=True)
class Attended:
    """Tokens one layer attends to in a phase: the last token's count, the sum over the phase's tokens,
    the indexer's scored tokens, and (naive MLA decode) the cached tokens re-expanded. DeepSeek-V4
    layers split `total` into window entries and compressed entries (`compressed`)."""

    last: int
    total: int
    indexed: int
    reexpanded: int
    compressed: int = 0


def _sum_floor(n: int, r: int, cap: int | None = None) -> int:
    """sum over t = 1..n of min(floor(t/r), cap): compressed entries a causal prompt reads (or scores)."""
    if cap is not None and n >= r * cap:
        return _sum_floor(r * cap - 1, r) + cap * (n - r * cap + 1)
    q, rem = divmod(n, r)
    return r * q * (q - 1) // 2 + q * (rem + 1)


def _attended_shared_kv(att: Attention, phase: Phase, n: int) -> Attended:
    """DeepSeek-V4: the sliding window, plus one entry per `ratio` tokens (ratio 4: the indexer scores all
    of them and attention reads index_topk; ratio 128: all of them)."""
    w, ratio = att.window.cap, att.shared_kv.compress_ratio.value
    topk = att.indexer.topk.value if att.indexer else None
    if phase is Phase.prefill:
        window = _sum_attended(n, w)
        comp = _sum_floor(n, ratio, topk) if ratio else 0
        indexed = _sum_floor(n, ratio) if topk else 0
        last = min(n, w) + (min(n // ratio, topk) if topk else n // ratio if ratio else 0)
        return Attended(last, window + comp, indexed, 0, comp)
    t = n + 1  # the new token with the n cached ones
    comp = (min(t // ratio, topk) if topk else t // ratio) if ratio else 0
    return Attended(min(t, w) + comp, min(t, w) + comp, t // ratio if topk else 0, 0, comp)


def attended(att: Attention, phase: Phase, n: int, form: AttentionForm) -> Attended:
    """What one layer with this attention reads at context n (prefill: n prompt tokens; decode: n cached)."""
    if att.shared_kv is not None:
        return _attended_shared_kv(att, phase, n)
    if att.linear is not None:  # KDA: every token reads and writes its one state, whatever the context
        return Attended(1, n if phase is Phase.prefill else 1, 0, 0)
    w = att.window
    cap = att.indexer.topk.value if att.indexer else w.cap
    if phase is Phase.prefill:
        if w.kind is WindowKind.CHUNKED:
            return Attended(((n - 1) % w.cap) + 1, _sum_chunked(n, w.cap), n * (n + 1) // 2, 0)
        last = min(n, cap) if cap else n
        return Attended(last, _sum_attended(n, cap), n * (n + 1) // 2, 0)
    if w.kind is WindowKind.CHUNKED:
        last = (n % w.cap) + 1
    else:
        last = min(n + 1, cap) if cap else n + 1
    reexp = last - 1 if (form is AttentionForm.naive and att.mla is not None) else 0  # the cached ones
    return Attended(last, last, n + 1, reexp)


class FlopsPoint(BaseModel):
    """Forward FLOPs of one phase at one context. Per-token fields are averages over the phase's tokens
    (exact for decode; for prefill rounded to whole FLOPs), and `by_component` sums to `total`."""

    phase: str
    context: int  # prefill: prompt tokens; decode: tokens already in the cache
    attended: int  # tokens the last token attends to (itself included; capped at index_topk)
    attention_form: str
    tokens: int  # tokens computed in this phase: the prompt (prefill) or 1 (decode)
    logits_tokens: int  # tokens that go through lm_head
    linear: int  # per token
    attention: int  # per token
    total: int  # per token = linear + attention
    by_component: dict[str, int]  # per token; keys: COMPONENT_KEYS
    phase_total: int  # FLOPs of the whole phase (exact)
    attention_share: float  # attention / total
    # DeepSeek-V4, per token: window / compressed attention, indexer, grouped output projection, compressors,
    # mHC, experts (a regrouping of by_component; empty for other families).
    parts: dict[str, int] = {}


class MFU(BaseModel):
    tokens_per_s: float  # measured training throughput, all GPUs together
    gpus: int
    peak_flops_per_gpu: float
    peak_source: str
    achieved_flops_per_gpu: float  # without MTP
    achieved_flops_per_gpu_mtp: float
    mfu: float  # without the MTP modules' FLOPs
    mfu_with_mtp: float


class TrainingFlops(BaseModel):
    seq_len: int
    attention_form: str  # as prefill runs it: naive (absorbed for V3.2's sparse attention)
    forward_per_token: int  # average over a causal sequence of seq_len tokens, logits for every token
    train_per_token: int  # 3 × forward
    forward_per_token_mtp: int  # with the MTP modules (0 extra when the model has none)
    train_per_token_mtp: int
    train_tokens: int | None
    train_total: int | None
    train_total_mtp: int | None
    mfu: MFU | None = None


class FlopsReport(FlopsPoint):
    """The last (or only) context's figures at the top level; `sweep` holds one point per context."""

    model: str
    mla: bool = True  # False: GQA layers only, where the naive/absorbed form changes nothing
    layers: int
    include_mtp: bool
    conventions: list[str]
    formulas: dict[str, str]
    sweep: list[FlopsPoint]
    crossover_context: int | None  # smallest context where attention >= linear (this phase and form)
    training: TrainingFlops | None = None
    notes: list[str]


class FlopsModel:
    """A config's linear costs (computed once) and attention coefficients; points are closed-form."""

    def __init__(self, cfg):
        cfg = self.cfg = describe(cfg)
        tensors = build_tensors(cfg)
        k = cfg.num_experts_per_tok
        self.linear_main = linear_flops([t for t in tensors if not t.mtp], k)
        self.linear_mtp = linear_flops([t for t in tensors if t.mtp], k)
        self.shared_kv = any(lay.attention.shared_kv is not None for lay in cfg.all_layers)
        self.v4_linear = {mtp: _v4_linear([t for t in tensors if t.mtp == mtp], k) for mtp in (False, True)}
        # Layers that attend alike (attention description -> count), main layers and MTP layers apart.

    @staticmethod
    def groups_of(layers) -> dict[Attention, int]:
        """Layers that attend alike: attention description -> how many layers."""
        out: dict[Attention, int] = {}
        for lay in layers:
            out[lay.attention] = out.get(lay.attention, 0) + 1
        return out

    @cached_property
    def _groups(self) -> dict[bool, dict[Attention, int]]:
        return {mtp: self.groups_of(self.cfg.layers + (self.cfg.mtp if mtp else ())) for mtp in (False, True)}

    def groups(self, mtp: bool) -> dict[Attention, int]:
        """The layers a point sums over (with or without the MTP layers), grouped by attention."""
        return self._groups[mtp]

    @cached_property
    def _coef(self) -> dict[AttentionForm, Coefficients]:
        return {form: coefficients(self.cfg, form) for form in AttentionForm}

    def layers(self, mtp: bool) -> int:
        return self.cfg.num_hidden_layers + (self.cfg.num_nextn_predict_layers if mtp else 0)

    def point(self, phase: Phase, n: int, form: AttentionForm, *, all_logits: bool = False,
              mtp: bool = False) -> FlopsPoint:
        """Forward FLOPs of `phase` at context n (prefill: n prompt tokens; decode: n cached tokens)."""
        if n < (1 if phase is Phase.prefill else 0):
            raise InputError(f"--{phase.value} {n}: must be at least {1 if phase is Phase.prefill else 0}")
        linear = {k: v + (self.linear_mtp[k] if mtp else 0) for k, v in self.linear_main.items()}
        if phase is Phase.prefill:
            tokens = n
            logits = n if all_logits else 1
        else:
            tokens, logits = 1, 1
        phase_parts = {k: v * tokens for k, v in linear.items()}
        head = self.linear_main["lm_head"] + (self.linear_mtp["lm_head"] if mtp else 0)
        phase_parts["lm_head"] = head * logits
        for key in ATTENTION_KEYS:
            phase_parts[key] = 0
        last = 0
        v4 = {"window attention": 0, "compressed attention (ratio 4, top-k)": 0,
              "compressed attention (ratio 128)": 0} if self.shared_kv else {}
        # Every prompt token is expanded once in prefill (already in the linear cost); per layer group:
        for att, layers in self.groups(mtp).items():
            c, a = coefficients(att, form), attended(att, phase, n, form)
            last = max(last, a.last)
            if att.shared_kv is not None:
                per = layers * (c.scores.value + c.values.value)
                v4["window attention"] += per * (a.total - a.compressed)
                ratio = att.shared_kv.compress_ratio.value
                if ratio:
                    v4[f"compressed attention (ratio {ratio}{', top-k' if att.indexer else ''})"] = (
                        v4.get(f"compressed attention (ratio {ratio}{', top-k' if att.indexer else ''})", 0)
                        + per * a.compressed)
            phase_parts["attention_scores"] += layers * c.scores.value * a.total
            phase_parts["attention_values"] += layers * c.values.value * a.total
            phase_parts["kv_reexpansion"] += layers * c.reexpansion.value * a.reexpanded
            phase_parts["indexer_scores"] += layers * c.indexer.value * a.indexed if c.indexer else 0
        per_token = {k: (2 * v + tokens) // (2 * tokens) for k, v in phase_parts.items()}  # rounded, in integers
        lin = sum(per_token[k] for k in LINEAR_KEYS)
        att = sum(per_token[k] for k in ATTENTION_KEYS)
        parts: dict[str, int] = {}
        if self.shared_kv:
            parts = {k: (2 * v + tokens) // (2 * tokens) for k, v in v4.items()}
            parts["indexer scores"] = per_token["indexer_scores"]
            split = {k: v + (self.v4_linear[True][k] if mtp else 0) for k, v in self.v4_linear[False].items()}
            parts.update(split)
            parts["lm_head"] = per_token["lm_head"]
            parts["other linear (q, kv, router)"] = lin + att - sum(parts.values())  # parts sum to total
        return FlopsPoint(
            phase=phase.value, context=n, attended=last, attention_form=form.value, tokens=tokens,
            logits_tokens=logits, linear=lin, attention=att, total=lin + att, by_component=per_token,
            phase_total=sum(phase_parts.values()), attention_share=att / (lin + att), parts=parts,
        )

    def crossover(self, phase: Phase, form: AttentionForm, *, all_logits: bool = False, mtp: bool = False,
                  limit: int = 2**40) -> int | None:
        """Smallest context at which attention FLOPs per token reach the linear FLOPs per token."""

        def over(n: int) -> bool:
            p = self.point(phase, n, form, all_logits=all_logits, mtp=mtp)
            return p.attention >= p.linear

        lo = 1 if phase is Phase.prefill else 0
        if not over(limit):
            return None  # e.g. an indexer cap that keeps attention below the linear cost
        hi = limit
        while lo < hi:
            mid = (lo + hi) // 2
            if over(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def formulas(self, form: AttentionForm) -> dict[str, str]:
        c, cfg = self._coef[form], self.cfg
        out = {
            "linear": "2 × matmul parameters a token touches (tensor list; routed experts × num_experts_per_tok)",
            "attention_scores": f"layers × {c.scores.text} × attended = layers × {c.scores.value:,} × attended",
            "attention_values": f"layers × {c.values.text} × attended = layers × {c.values.value:,} × attended",
            "prefill": "sum over t = 1..N of attention(t) = N(N+1)/2 × per-attended-token cost",
            "decode": "the new token attends to N+1 tokens (N cached + itself)",
        }
        windows = sorted({f"{a.window.kind.value} {a.window.cap}" for a in self.groups(True) if a.window.cap})
        if windows:
            out["windows"] = f"{', '.join(windows)}: those layers attend to at most their window (chunk) of tokens"
        if any(a.shared_kv is not None for a in self.groups(True)):
            out["DeepSeek-V4 attention"] = (
                "one K = V head of head_dim: scores and weighted sum 2·num_attention_heads·head_dim each per entry; "
                "every layer reads min(t, sliding_window) window entries; ratio-4 layers add min(floor(t/4), "
                "index_topk) compressed entries chosen by the indexer, which scores all floor(t/4) "
                "(2·index_n_heads·index_head_dim each); ratio-128 layers read all floor(t/128)")
        if not cfg.is_mla:
            return out
        where = ("expands the token's own latent into its key and value" if form is AttentionForm.naive
                 else "absorbed: W_UK on q_nope + W_UV on the attention output")
        out["kv_b_proj (in attention_proj)"] = (
            f"{where}: 2·num_attention_heads·kv_lora_rank·(qk_nope_head_dim+v_head_dim) per token per layer "
            "in both forms, so linear FLOPs do not depend on the form")
        if form is AttentionForm.naive:
            out["kv_reexpansion"] = (f"decode only: layers × {c.reexpansion.text} × cached tokens "
                                     f"= layers × {c.reexpansion.value:,} × cached")
        if c.indexer is not None:
            out["indexer_scores"] = (f"layers × {c.indexer.text} × past tokens = layers × {c.indexer.value:,} × t; "
                                     f"main attention reads min(t, index_topk = {cfg.index_topk}) tokens")
        return out


def parse_form(text: str | None) -> AttentionForm | None:
    if text is None:
        return None
    try:
        return AttentionForm(text)
    except ValueError:
        raise InputError(f"--attention {text}: choose naive or absorbed") from None


def parse_phase(text: str) -> Phase:
    try:
        return Phase(text)
    except ValueError:
        raise InputError(f"--phase {text}: choose prefill or decode") from None


def training_flops(model: FlopsModel, seq_len: int, train_tokens: int | None = None) -> TrainingFlops:
    """Forward + backward (3 × forward) per token, averaged over a causal sequence of seq_len tokens.

    Training runs attention as prefill does: the naive form, except DeepSeek-V3.2's sparse attention,
    which runs in MLA's MQA (absorbed) form."""
    form = default_form(model.cfg, Phase.prefill)
    fwd = model.point(Phase.prefill, seq_len, form, all_logits=True).total
    has_mtp = model.cfg.num_nextn_predict_layers > 0
    fwd_mtp = model.point(Phase.prefill, seq_len, form, all_logits=True, mtp=True).total if has_mtp else fwd
    return TrainingFlops(
        seq_len=seq_len, attention_form=form.value, forward_per_token=fwd, train_per_token=3 * fwd,
        forward_per_token_mtp=fwd_mtp, train_per_token_mtp=3 * fwd_mtp, train_tokens=train_tokens,
        train_total=3 * fwd * train_tokens if train_tokens else None,
        train_total_mtp=3 * fwd_mtp * train_tokens if train_tokens else None,
    )


def training_report(spec: ModelSpec, seq_len: int, train_tokens: int | None = None, *,
                    tokens_per_s: float | None = None, gpus: int | None = None, peak_tflops: float | None = None,
                    gpu: str | None = None, gpu_dtype: str = "bf16", model: FlopsModel | None = None) -> TrainingFlops:
    """Training FLOPs, and MFU when a measured throughput and a peak (--peak-tflops or --gpu) are given."""
    model = model or FlopsModel(spec.arch)
    t = training_flops(model, seq_len, train_tokens)
    if tokens_per_s is None:
        if gpus is not None or peak_tflops is not None or gpu is not None:
            raise InputError("MFU needs --tokens-per-s (measured training throughput, all GPUs together)")
        return t
    if gpus is None:
        raise InputError("MFU needs --gpus (how many GPUs produced --tokens-per-s)")
    if (peak_tflops is None) == (gpu is None):
        raise InputError("MFU needs the GPUs' peak: give either --peak-tflops or --gpu")
    if gpu is not None:
        peak, source = gpu_peak_flops(gpu, gpu_dtype)
    else:
        if not (isfinite(peak_tflops * 1e12) and peak_tflops > 0):  # NaN and inf fail too
            raise InputError(f"--peak-tflops {peak_tflops:g}: must be a finite number above 0")
        peak, source = peak_tflops * 1e12, f"--peak-tflops {peak_tflops:g}"
    t.mfu = mfu(t, tokens_per_s, gpus, peak, source)
    return t


def gpu_peak_flops(name: str, dtype: str) -> tuple[float, str]:
    """Dense peak FLOP/s of a catalog GPU (the hardware catalog, k2calc.hardware) in bf16 or fp8."""
    from ..hardware import get_gpu

    if dtype not in ("bf16", "fp8"):
        raise InputError(f"--gpu-dtype {dtype}: choose bf16 or fp8")
    gpu = get_gpu(name)
    tflops = gpu.bf16_dense_tflops if dtype == "bf16" else gpu.fp8_dense_tflops
    if tflops is None:
        raise InputError(f"--gpu {name}: the catalog has no dense {dtype} peak for {gpu.name}; use --peak-tflops")
    return tflops * 1e12, f"{gpu.name} dense {dtype}, catalog"


def mfu(training: TrainingFlops, tokens_per_s: float, gpus: int, peak_flops_per_gpu: float,
        peak_source: str) -> MFU:
    """Model FLOPs utilization: the model's training FLOPs at a measured throughput over the GPUs' peak."""
    if not (isfinite(tokens_per_s) and tokens_per_s > 0):  # NaN and inf fail too
        raise InputError(f"--tokens-per-s {tokens_per_s:g}: must be a finite number above 0")
    if gpus < 1:
        raise InputError(f"--gpus {gpus}: must be at least 1")
    if gpus > MAX_INT:
        raise InputError(f"--gpus {gpus}: too large (at most 2^40 = {MAX_INT:,})")
    if not (isfinite(peak_flops_per_gpu) and peak_flops_per_gpu > 0):
        raise InputError(f"--peak-tflops {peak_flops_per_gpu / 1e12:g}: must be a finite number above 0")
    achieved = training.train_per_token * tokens_per_s / gpus
    achieved_mtp = training.train_per_token_mtp * tokens_per_s / gpus
    if not isfinite(achieved_mtp / peak_flops_per_gpu):
        raise InputError(f"--tokens-per-s {tokens_per_s:g}: too large (the FLOP/s overflow)")
    return MFU(tokens_per_s=tokens_per_s, gpus=gpus, peak_flops_per_gpu=peak_flops_per_gpu, peak_source=peak_source,
               achieved_flops_per_gpu=achieved, achieved_flops_per_gpu_mtp=achieved_mtp, mfu=achieved / peak_flops_per_gpu,
               mfu_with_mtp=achieved_mtp / peak_flops_per_gpu)


def count_flops(spec: ModelSpec, phase: Phase = Phase.decode, contexts: list[int] | None = None,
                form: AttentionForm | None = None, *, all_logits: bool = False, mtp: bool = False,
                training: TrainingFlops | None = None, model: FlopsModel | None = None) -> FlopsReport:
    """The `k2calc flops` report: one point per context (default: sizes.DEFAULT_SWEEP), the crossover context."""
    cfg = spec.arch
    model = model or FlopsModel(cfg)
    if mtp and cfg.num_nextn_predict_layers == 0:
        raise InputError(f"{spec.name}: --mtp: the model has no MTP modules (num_nextn_predict_layers is 0)")
    asked = form
    form = form or default_form(cfg, phase)
    from ..sizes import DEFAULT_SWEEP

    contexts = contexts or DEFAULT_SWEEP
    sweep = [model.point(phase, n, form, all_logits=all_logits, mtp=mtp) for n in contexts]
    notes = list(spec.notes)
    if asked is not None and not any(lay.attention.mla is not None for lay in cfg.all_layers):
        notes.append(f"--attention {asked.value}: naive and absorbed are MLA's two forms; {spec.name} has no MLA "
                     "layer, so its attention counts the same either way")
    long_note = beyond_max_position_note(cfg, contexts, "context")
    if long_note:
        notes.append(long_note)
    if form is AttentionForm.naive and phase is Phase.decode and cfg.is_mla:
        notes.append("naive decode: MLA caches only the latent, so each step re-expands the cached tokens through "
                     "kv_b_proj (kv_reexpansion); engines decode in the absorbed form")
    if cfg.has_indexer:
        notes.append(f"lightning indexer: main attention reads at most index_topk = {cfg.index_topk} tokens; "
                     "the indexer's own scores grow with the context")
    if phase is Phase.prefill and not all_logits:
        notes.append("prefill: lm_head runs for the last token only, as serving engines do (--all-logits for every token)")
    last = sweep[-1]
    return FlopsReport(
        **last.model_dump(), model=spec.name, mla=model.cfg.is_mla, layers=model.layers(mtp), include_mtp=mtp, conventions=CONVENTIONS,
        formulas=model.formulas(form), sweep=sweep,
        crossover_context=model.crossover(phase, form, all_logits=all_logits, mtp=mtp), training=training,
        notes=notes,
    )
