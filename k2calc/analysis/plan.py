"""GPU memory plans: does a model fit on these GPUs under this parallel layout, and what is the smallest that does.

Per GPU: weights + KV cache + activations + runtime overhead must fit in `mem_fraction × memory_bytes`
(vLLM's `--gpu-memory-utilization` semantics; SGLang's `--mem-fraction-static` covers weights and KV
cache only, so the same number there leaves more room).

**Layout** (vLLM's convention): `gpus = tp × dp × pp`. `tp` is the attention tensor-parallel size, `dp`
the number of attention data-parallel replicas (DP-attention), `pp` the pipeline stages. The MoE layers
of one stage span its `tp × dp` GPUs: `ep` of them hold different experts, and each expert's
intermediate dimension is split over the rest (`moe_tp = tp × dp / ep`; with `ep 1`, every expert is
split over all of them, as vLLM does without expert parallelism). SGLang's
`--tp 16 --dp 2 --enable-dp-attention` is `--tp 8 --dp-attention 2` here.

**Weights per GPU** come from the tensor list, each tensor with a sharding rule (as in vLLM's and
SGLang's DeepSeek-V2/V3 model code): `q_b_proj`/`q_proj` and `kv_b_proj` column-parallel and `o_proj`
row-parallel over `tp`; `q_a_proj`, `kv_a_proj_with_mqa`, the indexer, norms and the router
replicated; dense MLP and shared experts column/row-parallel over `tp`; embedding and lm_head
vocab-parallel over `tp` (vLLM: each DP-attention replica is its own engine. SGLang by default splits
the dense MLP and lm_head over the whole `tp × dp` group and may replicate shared experts under
DeepEP: a difference of at most a few GiB per GPU); routed experts `(n_routed_experts + redundant) / ep` per GPU, split over
`moe_tp`. Each shard is stored as the weight format stores a tensor of that shape (fp8 block scales
and int4 group scales included). Pipeline stages take contiguous layers (the remainder to the stages
before the last, as vLLM's `get_pp_indices`); the first holds the embedding, the last the final norm,
lm_head and the MTP modules (`mtp`). The plan reports the stage that needs the most memory.

**Vision tower and projector** (multimodal models): engines load them beside the language model, so they
count, in the config's dtype (as the checkpoint stores them), on every pipeline stage (vLLM's model classes,
e.g. gemma3_mm.py, build the tower in `__init__` on every rank, with no pipeline check). With vLLM's
default `--mm-encoder-tp-mode weights` each tower block's linears split over `tp` as the language model's
do (q/k/v and the first MLP projection column-parallel, the attention output and the last MLP projection
row-parallel, vLLM's QKVParallelLinear / ColumnParallelLinear / RowParallelLinear in its tower code); the
patch and position embeddings, norms, adapters and the projector are whole on every GPU. With
`--mm-encoder-tp-mode data` the whole tower is on every GPU. vLLM's `--language-model-only` (the same as
`--limit-mm-per-prompt` 0 for every modality) does not build the tower: `language_model_only` leaves it out.
The tower runs only on image inputs, so perf's per-token time does not stream it.

**KV cache per GPU**: MLA caches one latent per token per layer with no head dimension, so it cannot be
split over attention-TP ranks: each of the `tp` ranks of a DP replica holds the whole latent of every
sequence of that replica. DP-attention splits the sequences: a GPU holds `ceil(batch / dp)` of them.

**Activations** (an estimate of the peak, `--activations-gib` overrides it): a prefill chunk of `chunk`
tokens per DP replica, bf16: two hidden-state buffers (residual and normed input) plus the widest of
(a) attention: q, k, v and output of the chunk for `heads / tp` heads plus the prefix's keys and
values up-projected from the latent (`context` tokens, at most PREFIX_WORKSPACE_TOKENS = 64k at a time), (b) the dense MLP, (c) the MoE dispatch: the
average `chunk × dp × top-k / ep` token copies a GPU receives, with their expert intermediate and the
combine output (no load imbalance counted); plus on the last stage the fp32 logits and probabilities of
the `ceil(batch / dp)` sequences a GPU samples for.

**Overhead** (`--overhead-gib` overrides the sum): CUDA context and libraries 1 GiB, NCCL buffers 1 GiB,
expert-parallel all-to-all buffers 2 GiB when `ep > 1` (DeepEP-style), CUDA graphs 1 GiB. Rough,
typical values, not measurements.

**Engines** (`engine`): with `vllm`, `sglang` or `trtllm` the same weights and activation estimate go
through that engine's own start-up accounting (engines.py): the KV cache it allocates, the token count it
logs, what it holds per GPU; the verdict is whether its KV cache holds the workload. `generic` (the
default) is the rule above.

**Concurrency**: besides the worst case (every sequence at the full context), `avg_context` gives how many
requests of that average length the KV cache holds, capped by `--max-num-seqs` per DP replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from math import ceil, isfinite, isqrt

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ..arch.description import Architecture
from .checkpoint import WeightFormat, parts_bytes, quantized, serving_format, stored_parts
from ..config import ModelSpec
from ..defaults import DEFAULT_CHUNK, DEFAULT_MEM_FRACTION
from .engines import SOURCES as ENGINE_SOURCES
from .engines import Concurrency, EngineConfig, EngineMemory, StageNeeds, account, concurrency, resolve
from ..errors import InputError
from ..hardware import GPU
from ..sizes import GIB, MAX_INT, plain_number
from .kv import beyond_max_position_note, layer_bytes, sequence_bytes
from ..arch.tensors import VISION_KINDS, Kind, Tensor, build_tensors

MM_ENCODER_TP_MODES = ("weights", "data")  # vLLM's --mm-encoder-tp-mode; "weights" is its default

ACT_BYTES = 2  # bf16 activations
# Engines up-project a long prefix's latent into per-head keys and values chunk by chunk through a
# bounded workspace; k2calc assumes at most this many prefix tokens at a time (an assumption of the
# order of vLLM's MLA chunked-context workspace, not a figure read from either engine).
PREFIX_WORKSPACE_TOKENS = 65536
LOGIT_BYTES = 4 + 4  # fp32 logits and fp32 probabilities per vocabulary entry
MAX_SEARCH_NODES = 256  # --max-nodes: 2,048 GPUs of 8 per node; the search takes seconds up there

OVERHEAD_DEFAULTS = {
    "cuda_context": 1 * GIB,  # CUDA context + cuBLAS/NCCL libraries of a PyTorch process
    "nccl_buffers": 1 * GIB,
    "ep_all_to_all_buffers": 2 * GIB,  # only when ep > 1
    "cuda_graphs": 1 * GIB,
}


# ---------------------------------------------------------------------------------------------------
# Inputs


class Layout(BaseModel):
    """GPUs = tp × dp_attention × pp, named as the command line names them (`--dp-attention`)."""

    model_config = ConfigDict(populate_by_name=True)

    tp: int = 1
    dp_attention: int = Field(1, validation_alias=AliasChoices("dp_attention", "dp"))  # DP-attention replicas
    pp: int = 1
    ep: int = 1
    redundant_experts: int = 0
    mtp: bool = False

    @property
    def dp(self) -> int:
        return self.dp_attention

    @property
    def gpus(self) -> int:
        return self.tp * self.dp * self.pp

    @property
    def stage_gpus(self) -> int:
        return self.tp * self.dp

    @property
    def moe_tp(self) -> int:
        return self.stage_gpus // self.ep

    def label(self) -> str:
        parts = [f"TP{self.tp}"]
        if self.dp > 1:
            parts.append(f"DP-attn{self.dp}")
        if self.ep > 1:
            parts.append(f"EP{self.ep}")
        if self.pp > 1:
            parts.append(f"PP{self.pp}")
        return " ".join(parts)


class Workload(BaseModel):
    context: int  # tokens per sequence held in the KV cache
    batch: int = 1  # concurrent sequences
    chunk: int = DEFAULT_CHUNK  # chunked-prefill tokens per step per DP replica
    kv_dtype: str = "bf16"


class Knobs(BaseModel):
    mem_fraction: float = DEFAULT_MEM_FRACTION
    activations_bytes: int | None = None  # override of the estimate
    overhead_bytes: int | None = None  # override of the sum of OVERHEAD_DEFAULTS


def knobs(mem_fraction: float = DEFAULT_MEM_FRACTION, activations_gib: float | None = None,
          overhead_gib: float | None = None) -> Knobs:
    """Knobs from the command line's units (GiB) to bytes."""
    for opt, v in (("--activations-gib", activations_gib), ("--overhead-gib", overhead_gib)):
        if v is not None and not (isfinite(v * GIB) and v >= 0):  # NaN, inf and overflowing values too
            raise InputError(f"{opt} {v:g}: must be a finite number, 0 or more")
    return Knobs(mem_fraction=mem_fraction,
                 activations_bytes=None if activations_gib is None else int(activations_gib * GIB),
                 overhead_bytes=None if overhead_gib is None else int(overhead_gib * GIB))


def default_layout(gpus: int | None = None, *, tp: int | None = None, dp_attention: int | None = None,
                   ep: int | None = None, pp: int | None = None, redundant_experts: int = 0,
                   mtp: bool = False) -> Layout:
    """The layout the user meant. Given only a GPU count, tensor parallelism over all of them, as
    `vllm serve --tensor-parallel-size N` runs; every size left out is 1 otherwise."""
    if gpus is not None and tp is None and dp_attention is None and pp is None:
        tp = gpus
    return Layout(tp=1 if tp is None else tp, dp=1 if dp_attention is None else dp_attention,
                  pp=1 if pp is None else pp, ep=1 if ep is None else ep, redundant_experts=redundant_experts,
                  mtp=mtp)


def layout_from_options(*, gpus: int | None = None, tp: int | None = None, dp_attention: int | None = None,
                        ep: int | None = None, pp: int | None = None, redundant_experts: int = 0,
                        mtp: bool = False, context: str | None = None, batch: int = 1, chunk: str = str(DEFAULT_CHUNK),
                        kv_dtype: str = "bf16", mem_fraction: float = DEFAULT_MEM_FRACTION,
                        activations_gib: float | None = None, overhead_gib: float | None = None,
                        specs: list[ModelSpec] | None = None) -> tuple[Layout, Workload, Knobs]:
    """The command line's plan options (sizes as typed, e.g. context "128k") -> Layout, Workload, Knobs.

    One code path for every command that plans a deployment (`k2calc plan`, `k2calc plot memory`).
    Without a context, the models' context window (`sizes.context_window`, the one default rule).
    """
    from ..sizes import context_window, parse_context

    if context is None:
        context = str(context_window(specs or []))
    layout = default_layout(gpus, tp=tp, dp_attention=dp_attention, ep=ep, pp=pp,
                            redundant_experts=redundant_experts, mtp=mtp)
    workload = Workload(context=parse_context(context, "--context"), batch=batch,
                        chunk=parse_context(chunk, "--chunk"), kv_dtype=kv_dtype)
    return layout, workload, knobs(mem_fraction, activations_gib, overhead_gib)


def engine_options(engine: str = "generic", mem_fraction: float | None = None, max_num_batched_tokens: int | None = None,
                   max_num_seqs: int | None = None, block_size: int | None = None) -> EngineConfig:
    """The command line's engine options -> EngineConfig (--mem-fraction lands on the engine's fraction flag)."""
    from .engines import engine_config

    return engine_config(engine, mem_fraction, max_num_batched_tokens=max_num_batched_tokens,
                         max_num_seqs=max_num_seqs, block_size=block_size)


def parse_avg_context(text: str | None) -> int | None:
    from ..sizes import parse_context

    return None if text is None else parse_context(text, "--avg-context")


# ---------------------------------------------------------------------------------------------------
# Sharding rules, precomputed once per (config, format)

REPLICATED, COLUMN, ROW, VOCAB, EXPERT_COLUMN, EXPERT_ROW, EXPERT, KV_HEADS = (
    "replicated", "column", "row", "vocab", "expert_column", "expert_row", "expert", "kv_heads")


def shard_rule(t: Tensor) -> str:
    """How tensor parallelism splits this tensor (vLLM/SGLang model code). A bias follows its projection's
    output rows when those are split (column-parallel), and is whole on every rank after a row-parallel one
    (down_proj, o_proj), where it is added once after the reduction."""
    parts = t.module.split(".")
    bias = parts[-1] == "bias"
    last = parts[-2] if bias else parts[-1]
    if t.kind in (Kind.EMBEDDING, Kind.LM_HEAD):
        return VOCAB
    if t.kind is Kind.ROUTED_EXPERTS:  # (gpt-oss has expert biases)
        if last == "down_proj":
            return EXPERT if bias else EXPERT_ROW
        return EXPERT_COLUMN
    if t.kind in (Kind.DENSE_MLP, Kind.SHARED_EXPERTS):
        if last == "down_proj":
            return REPLICATED if bias else ROW
        return COLUMN
    if t.kind is Kind.ATTENTION and last in ("k_proj", "v_proj"):
        return KV_HEADS  # GQA: split by KV heads up to their count, then replicated (vLLM QKVParallelLinear)
    if t.kind is Kind.ATTENTION and (t.matmul or bias or last in ("sinks", "q_conv1d", "k_conv1d", "v_conv1d")):
        if last in ("q_proj", "q_b_proj", "kv_b_proj", "sinks", "g_proj", "b_proj", "f_b_proj", "q_conv1d", "k_conv1d",
                    "v_conv1d"):
            return COLUMN  # split by heads (gpt-oss: one sink per head; Kimi-K3: gates, KDA beta, decay, convolutions)
        if last == "o_proj" and not bias:
            return ROW
    return REPLICATED  # q_a_proj, kv_a_proj_with_mqa, indexer, norms, router, MTP eh_proj, o_proj bias


def vision_shard_rule(t: Tensor, mode: str, modules: set[str]) -> str:
    """How vLLM places one vision-tower or projector tensor under `--mm-encoder-tp-mode` (module docstring).
    `modules` are the tower's tensor names: MoonViT's MLP is fc0 -> fc1, SigLIP's and Llama 4's fc1 -> fc2."""
    if mode == "data" or t.layer is None:
        return REPLICATED  # embeddings, final norms, adapters, the projector; every tensor under "data"
    parts = t.name.split(".")
    proj, bias = parts[-2], parts[-1] == "bias"
    first_fc = "fc0" if t.name.replace(".fc1.", ".fc0.") in modules else "fc1"
    if proj in ("wqkv", "q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", first_fc):
        return COLUMN
    if proj in ("wo", "o_proj", "out_proj", "down_proj", "fc1", "fc2"):
        return REPLICATED if bias else ROW  # a row-parallel bias is added once, after the reduction
    return REPLICATED  # norms


def _kv_heads(att) -> int:
    """Heads k_proj and v_proj are split by: GQA's KV heads, or every head of a KDA layer."""
    return (att.num_key_value_heads or att.num_heads).value


@dataclass(frozen=True)
class ShardedTensor:
    """A checkpoint tensor with its sharding rule (plan's memory and perf's step time both split by it)."""

    t: Tensor
    rule: str
    is_q: bool
    kv_heads: int = 0  # KV_HEADS rule: the layer's num_key_value_heads


def _stage_layers(n_layers: int, pp: int) -> list[list[int]]:
    """Contiguous layers per stage; the remainder goes to the stages before the last (vLLM)."""
    sizes = [n_layers // pp] * pp
    for k in range(n_layers % pp):
        sizes[(pp - 2 - k) % pp] += 1
    out, start = [], 0
    for s in sizes:
        out.append(list(range(start, start + s)))
        start += s
    return out


class ShardedModel:
    """The tensor list with sharding rules, grouped so a layout costs a few dozen multiplications (shared
    with perf, which times the same shards)."""

    def __init__(self, spec: ModelSpec, fmt: WeightFormat, mm_encoder_tp_mode: str = "weights",
                 language_model_only: bool = False):
        cfg = self.cfg = spec.arch
        self.name = spec.name
        self.fmt = fmt
        prefix = spec.checkpoint_prefix
        items = [ShardedTensor(t, r, quantized(t, fmt, prefix),
                       _kv_heads(cfg.layer(t.layer).attention) if r == KV_HEADS else 0)
                 for t in build_tensors(cfg) for r in (shard_rule(t),)]
        self.first = [i for i in items if i.t.layer is None and i.t.kind is Kind.EMBEDDING]
        self.last = [i for i in items if i.t.layer is None and i.t.kind is not Kind.EMBEDDING]
        self.mtp = [i for i in items if i.t.mtp]
        # Layers that hold alike: dense or MoE, split further where layers differ in structure (DeepSeek-V4's
        # window-only, compressed and hash-routed layers); each type's tensors are its first layer's.
        kinds = {lay: n for n, lay in enumerate(dict.fromkeys(cfg.layers))}
        self.layer_type = [("moe" if cfg.is_moe_layer(i) else "dense")
                           + (f" {kinds[cfg.layers[i]]}" if len(kinds) > 2 else "") for i in range(cfg.num_hidden_layers)]
        self.per_type: dict[str, list[ShardedTensor]] = {}
        for typ in dict.fromkeys(self.layer_type):
            idx = self.layer_type.index(typ)
            self.per_type[typ] = [i for i in items if i.t.layer == idx and not i.t.mtp]
        self.items = items
        if mm_encoder_tp_mode not in MM_ENCODER_TP_MODES:
            raise InputError(f"--mm-encoder-tp-mode {mm_encoder_tp_mode}: choose from {', '.join(MM_ENCODER_TP_MODES)}")
        tower = [] if language_model_only else spec.vision[0]
        names = {t.name for t in tower}
        # Unquantized, as checkpoint_tensors stores the tower: in the config's dtype.
        self.vision = [ShardedTensor(t, vision_shard_rule(t, mm_encoder_tp_mode, names), False) for t in tower]
        # Decoder layers per kind of attention (layers alike in attention read their caches alike).
        self.attention_counts: dict = {}
        for i in range(cfg.num_hidden_layers):
            att = cfg.layer(i).attention
            self.attention_counts[att] = self.attention_counts.get(att, 0) + 1
        # Layers whose cache is not tokens × bytes per token (windows, V4's compressed entries, KDA states).
        self.windowed = any(lay.attention.window.cap is not None or lay.attention.linear is not None
                            for lay in cfg.all_layers)
        # The divisibility checks of layout_problem, one per distinct (rule, module, size, quantized).
        seen: dict[tuple, ShardedTensor] = {}
        for it in items:
            if it.rule not in (REPLICATED, VOCAB, KV_HEADS, EXPERT):
                col = it.rule in (COLUMN, EXPERT_COLUMN)
                seen.setdefault((it.rule, it.t.module, it.t.dims[0] if col else it.t.dims[-1], it.is_q), it)
        self.split_checks = list(seen.values())
        self._cache: dict[tuple, int] = {}

    def shard_shape(self, it: ShardedTensor, lay: Layout) -> tuple[tuple[int, ...], int]:
        """(shape of this GPU's shard, copies on this GPU)."""
        dims, r = it.t.dims, it.rule
        if r in (VOCAB, COLUMN):  # vocab-parallel tables split their rows like column-parallel weights
            return (ceil(dims[0] / lay.tp), *dims[1:]), it.t.copies
        if r == ROW:
            return (*dims[:-1], ceil(dims[-1] / lay.tp)), it.t.copies
        if r == KV_HEADS:  # ceil(kv_heads / tp) heads per GPU: at least one, replicated beyond kv_heads
            return (dims[0] // it.kv_heads * ceil(it.kv_heads / lay.tp), *dims[1:]), it.t.copies
        slots = (it.t.copies + lay.redundant_experts) // lay.ep
        if r == EXPERT_COLUMN:
            return (ceil(dims[0] / lay.moe_tp), *dims[1:]), slots
        if r == EXPERT_ROW:
            return (*dims[:-1], ceil(dims[-1] / lay.moe_tp)), slots
        if r == EXPERT:
            return dims, slots
        return dims, it.t.copies

    def item_bytes(self, it: ShardedTensor, lay: Layout) -> int:
        shape, copies = self.shard_shape(it, lay)
        return copies * parts_bytes(stored_parts(it.t, shape, self.fmt, self.cfg, it.is_q))

    def group_bytes(self, key: str, items: list[ShardedTensor], lay: Layout) -> int:
        k = (key, lay.tp, lay.moe_tp, lay.ep, lay.redundant_experts)
        v = self._cache.get(k)
        if v is None:
            v = self._cache[k] = sum(self.item_bytes(i, lay) for i in items)
        return v

    def kv_sequence_bytes(self, w: Workload, layers: list[int], tp: int) -> int:
        """Bytes of KV one sequence of w.context tokens holds on one GPU over these layers: windows cap the
        tokens a layer keeps; GQA KV heads split by TP. Prefix sums make a contiguous stage O(1)."""
        cfg = self.cfg
        if self.windowed:
            return sequence_bytes(cfg, w.context, w.kv_dtype, layers, tp)
        key = ("kv", w.kv_dtype, tp)
        prefix = self._cache.get(key)
        if prefix is None:
            prefix = [0]
            for lay in cfg.all_layers:
                prefix.append(prefix[-1] + layer_bytes(lay.attention, w.kv_dtype, tp))
            self._cache[key] = prefix
        if not layers:
            return 0
        if layers[-1] - layers[0] + 1 == len(layers):  # a stage: contiguous (its MTP layers follow on)
            return w.context * (prefix[layers[-1] + 1] - prefix[layers[0]])
        return w.context * sum(prefix[i + 1] - prefix[i] for i in layers)

    def stages(self, lay: Layout) -> list[list[int]]:
        return _stage_layers(self.cfg.num_hidden_layers, lay.pp)

    def stage_weights(self, lay: Layout, s: int, layers: list[int]) -> int:
        total = 0
        for typ, items in self.per_type.items():
            n = sum(1 for i in layers if self.layer_type[i] == typ)
            if n:
                total += n * self.group_bytes(typ, items, lay)
        total += self.group_bytes("vision", self.vision, lay)  # every stage builds the tower (module docstring)
        if s == 0:
            total += self.group_bytes("first", self.first, lay)
        if s == lay.pp - 1:
            total += self.group_bytes("last", self.last, lay)
            if lay.mtp:
                total += self.group_bytes("mtp", self.mtp, lay)
        return total

    def stage_items(self, lay: Layout, s: int, layers: list[int]) -> list[tuple[ShardedTensor, int]]:
        """(item, how many layers of it) on stage s, for the by-module view."""
        out: list[tuple[ShardedTensor, int]] = []
        counts = {typ: sum(1 for i in layers if self.layer_type[i] == typ) for typ in self.per_type}
        out += [(i, 1) for i in self.vision]
        if s == 0:
            out += [(i, 1) for i in self.first]
        for typ, n in counts.items():
            if n:
                out += [(i, n) for i in self.per_type[typ]]
        if s == lay.pp - 1:
            out += [(i, 1) for i in self.last]
            if lay.mtp:
                out += [(i, 1) for i in self.mtp]
        return out


# ---------------------------------------------------------------------------------------------------
# Validity


def gpus_named(problem: str, gpus: int | None, layout: Layout) -> str:
    """A layout problem about --tp when the user gave --gpus alone: name it, and the TP it was taken to mean."""
    if gpus is not None and problem.startswith(f"--tp {gpus}:") and layout.gpus == gpus == layout.tp:
        return f"--gpus {gpus} (as --tp {gpus}):{problem.removeprefix(f'--tp {gpus}:')}"
    return problem


def layout_problem(m: ShardedModel, lay: Layout) -> str | None:
    """Why a layout cannot run (one line naming the option), or None."""
    cfg = m.cfg
    for opt, v in (("--tp", lay.tp), ("--dp-attention", lay.dp), ("--pp", lay.pp), ("--ep", lay.ep)):
        if v < 1:
            return f"{opt} {v}: must be at least 1"
        if v > MAX_INT:
            return f"{opt} {v}: too large (at most 2^40 = {MAX_INT:,})"
    if lay.redundant_experts < 0:
        return f"--redundant-experts {lay.redundant_experts}: must be 0 or more"
    if lay.redundant_experts > MAX_INT:
        return f"--redundant-experts {lay.redundant_experts}: too large (at most 2^40 = {MAX_INT:,})"
    if not cfg.n_routed_experts:  # dense: nothing to spread over EP ranks or to copy for EPLB
        for opt, v, idle in (("--ep", lay.ep, 1), ("--redundant-experts", lay.redundant_experts, 0)):
            if v != idle:
                return f"{opt} {v}: {m.name} has no routed experts (a dense model; expert options apply to MoE models)"
    if cfg.num_attention_heads % lay.tp:
        return f"--tp {lay.tp}: num_attention_heads ({cfg.num_attention_heads}) is not divisible by it"
    kv = cfg.attention.num_key_value_heads
    if kv is not None and (kv.value % lay.tp if lay.tp <= kv.value else lay.tp % kv.value):
        return (f"--tp {lay.tp}: num_key_value_heads ({kv.value}) neither divides into it nor it into them "
                "(vLLM and SGLang split KV heads evenly or replicate them)")
    if lay.pp > cfg.num_hidden_layers:
        return f"--pp {lay.pp}: more stages than layers ({cfg.num_hidden_layers})"
    if lay.stage_gpus % lay.ep:
        return (f"--ep {lay.ep}: must divide the GPUs of one pipeline stage, tp × dp-attention = {lay.stage_gpus}")
    slots = cfg.n_routed_experts + lay.redundant_experts
    if slots % lay.ep:
        extra = f" + {lay.redundant_experts} redundant" if lay.redundant_experts else ""
        return f"--ep {lay.ep}: {cfg.n_routed_experts}{extra} experts are not divisible by it"
    fmt = m.fmt
    for it in m.split_checks:
        r = it.rule
        d = lay.moe_tp if r in (EXPERT_COLUMN, EXPERT_ROW) else lay.tp
        if d == 1:
            continue
        col = r in (COLUMN, EXPERT_COLUMN)
        size = it.t.dims[0] if col else it.t.dims[-1]
        opt = (f"--ep {lay.ep} (expert TP = tp × dp-attention / ep = {d})" if r.startswith("expert")
               else f"--tp {lay.tp}")
        if size % d:
            return f"{opt}: {it.t.kind.value} {it.t.module} {'rows' if col else 'columns'} ({size}) are not divisible by {d}"
        if it.is_q:
            unit, what = fmt.shard_unit(col)
            if (size // d) % unit:
                return (f"{opt}: a {it.t.kind.value} {it.t.module} shard of {size // d} {'rows' if col else 'columns'} is not a "
                        f"multiple of the {what} ({unit}); vLLM and SGLang refuse it")
    return None


# ---------------------------------------------------------------------------------------------------
# Memory of one stage


@dataclass
class _Stage:
    index: int
    layers: int
    kv_layers: int
    weights: int
    act_fixed: int  # activations that do not grow with the batch
    logits_per_seq: int  # fp32 logits + probabilities per sequence sampled (last stage only)
    kv_per_seq: int  # bytes of KV one sequence of `context` tokens holds on one GPU of this stage
    act_detail: dict[str, int]


def _activations(cfg: Architecture, lay: Layout, w: Workload, has_dense: bool, has_moe: bool) -> dict[str, int]:
    T, H = w.chunk, cfg.hidden_size.value
    heads = cfg.num_attention_heads // lay.tp
    hidden = 2 * T * H * ACT_BYTES
    att = cfg.attention
    if att.mla is not None:
        m = att.mla
        attn = (T * heads * (2 * m.qk_head_dim.value + 2 * m.v_head_dim.value)  # q, k, v, output of the chunk
                + min(w.context, PREFIX_WORKSPACE_TOKENS) * heads * (m.qk_nope_head_dim.value + m.v_head_dim.value)
                ) * ACT_BYTES  # prefix K/V up-projected from the latent
    else:  # GQA: q and output for this rank's heads, k and v for its KV heads (split up to their count)
        kv_heads = -(-att.num_key_value_heads.value // lay.tp)
        attn = T * (2 * heads + 2 * kv_heads) * att.head_dim.value * ACT_BYTES
    dense_width = next((lay_.mlp.width.value for lay_ in cfg.all_layers if not lay_.is_moe), 0)
    dense = 3 * T * (dense_width // lay.tp) * ACT_BYTES if has_dense else 0
    moe = 0
    if has_moe:
        pairs = ceil(T * lay.dp * cfg.num_experts_per_tok / lay.ep)
        moe = pairs * (2 * H + 3 * (cfg.moe.expert_width.value // lay.moe_tp)) * ACT_BYTES
    return {"hidden_states": hidden, "attention": attn, "dense_mlp": dense, "moe_dispatch": moe}


def _stage_memory(m: ShardedModel, lay: Layout, w: Workload, kv_tl: int, distinct: bool = False) -> list[_Stage]:
    """Every pipeline stage's memory; with `distinct`, only the first stage of each kind (a pipeline's
    middle stages repeat, and the search compares each kind once)."""
    cfg = m.cfg
    out = []
    seen: dict[tuple, _Stage] = {}  # a stage is its layer types, KV bytes and whether it is first or last
    for s, layers in enumerate(m.stages(lay)):
        last = s == lay.pp - 1
        kv_idx = list(layers) + ([cfg.num_hidden_layers + j for j in range(cfg.num_nextn_predict_layers)]
                                 if (last and lay.mtp) else [])
        kv_seq = m.kv_sequence_bytes(w, kv_idx, lay.tp)
        key = (s == 0, last, kv_seq, tuple(m.layer_type[i] for i in layers))
        if key in seen:
            if not distinct:
                out.append(replace(seen[key], index=s))
            continue
        kv_layers = len(layers) + (cfg.num_nextn_predict_layers if (last and lay.mtp) else 0)
        types = {m.layer_type[i].split()[0] for i in layers}  # dense / moe
        if last and lay.mtp:  # the MTP layers sit after the main ones: index num_hidden_layers + j
            types |= {"moe" if cfg.is_moe_layer(cfg.num_hidden_layers + j) else "dense"
                      for j in range(cfg.num_nextn_predict_layers)}
        detail = _activations(cfg, lay, w, "dense" in types, "moe" in types)
        fixed = detail["hidden_states"] + max(detail["attention"], detail["dense_mlp"], detail["moe_dispatch"])
        seen[key] = _Stage(s, len(layers), kv_layers, m.stage_weights(lay, s, layers), fixed,
                           cfg.vocab_size.value * LOGIT_BYTES if last else 0, kv_seq, detail)
        out.append(seen[key])
    return out


def _overhead(lay: Layout) -> dict[str, int]:
    d = dict(OVERHEAD_DEFAULTS)
    if lay.ep == 1:
        d["ep_all_to_all_buffers"] = 0
    return d


# ---------------------------------------------------------------------------------------------------
# Reports


class PerGPU(BaseModel):
    """Bytes on one GPU (the stage that needs the most), a partition of its memory:
    weights + kv_cache + activations + overhead + free + unallocated = memory.

    generic: free = budget - the four parts, unallocated = memory - budget (what --mem-fraction leaves out).
    With an engine: free is its KV pool minus the workload's KV cache (held, unused), unallocated what the
    engine leaves on the GPU: outside its budget, block rounding, and (SGLang) the runtime reserve beyond
    activations and CUDA graphs; negative when the engine's parts overflow the GPU."""

    weights: int
    kv_cache: int
    activations: int
    overhead: int
    free: int
    budget: int  # mem_fraction × memory
    memory: int  # the GPU's memory as the driver reports it
    used: int  # bytes held after start-up (generic: the four parts; an engine: what nvidia-smi would show)
    unallocated: int = 0  # memory - the five parts above (see the class docstring)


class ModuleRow(BaseModel):
    module: str
    kind: str
    sharding: str
    layers: int
    bytes: int


class KVLayout(BaseModel):
    """The same GPUs with attention all-TP or all-DP: how the latent cache and the fit change."""

    layout: Layout
    layout_label: str
    sequences_per_gpu: int
    kv_cache: int
    weights: int
    fits: bool
    max_batch: int
    kv_tokens: int
    current: bool


class PlanReport(BaseModel):
    model: str
    fits: bool
    gpus: int
    gpu: str
    layout: Layout
    layout_label: str
    workload: Workload
    weight_format: WeightFormat
    weight_format_description: str
    mem_fraction: float
    per_gpu: PerGPU
    stage: int  # the pipeline stage reported (the one needing the most memory)
    stages: int
    max_batch: int  # the largest batch that fits at this context
    kv_tokens: int  # KV-cache tokens the whole deployment holds (all DP replicas)
    kv_bytes_per_token_layer: int
    reason: str  # one line
    modules: list[ModuleRow]
    activations_detail: dict[str, int]
    overhead_detail: dict[str, int]
    kv_layouts: list[KVLayout]
    notes: list[str]
    engine: str = "generic"
    engine_memory: EngineMemory | None = None  # the engine's start-up accounting (None for generic)
    concurrency: Concurrency | None = None
    kv_sharding: str = ""  # how the cache splits over the layout, in the model's attention terms


def kv_sharding(arch: Architecture) -> str:
    """How a model's KV cache splits over attention ranks, as layer_bytes splits it: MLA's one latent on
    every TP rank, GQA's KV heads divided by TP (replicated once TP exceeds them); DP-attention splits
    sequences either way."""
    mla = {lay.attention.mla is not None for lay in arch.all_layers}
    if mla == {True}:
        return "the MLA latent is replicated over attention-TP ranks, split by DP-attention"
    if mla == {False}:
        return "KV heads split over attention-TP ranks (replicated once TP exceeds them), sequences by DP-attention"
    return ("MLA latents replicated over attention-TP ranks, the other layers' caches split by heads; sequences "
            "split by DP-attention")


def _fit(st: _Stage, lay: Layout, w: Workload, budget: int, overhead: int, act_override: int | None
         ) -> tuple[int, int, int, int]:
    """(kv bytes, activations, max batch, kv tokens per DP replica) for one stage."""
    seqs = ceil(w.batch / lay.dp)
    kv = seqs * st.kv_per_seq
    act = act_override if act_override is not None else st.act_fixed + seqs * st.logits_per_seq
    room = budget - st.weights - overhead - (act_override if act_override is not None else st.act_fixed)
    per_seq = st.kv_per_seq + (0 if act_override is not None else st.logits_per_seq)
    max_seqs = max(0, room // per_seq) if per_seq else 0
    tokens = max(0, (budget - st.weights - overhead - act) // (st.kv_per_seq // w.context)) if st.kv_per_seq else 0
    return kv, act, max_seqs * lay.dp, tokens


@dataclass
class _Eval:
    fits: bool
    stage: _Stage
    kv: int
    act: int
    free: int
    max_batch: int
    kv_tokens: int


def _evaluate(stages: list[_Stage], lay: Layout, w: Workload, budget: int, overhead: int, knobs: Knobs) -> _Eval:
    worst = None
    max_batch, tokens = None, None
    for st in stages:
        kv, act, mb, tok = _fit(st, lay, w, budget, overhead, knobs.activations_bytes)
        free = budget - st.weights - kv - act - overhead
        if worst is None or free < worst.free:
            worst = _Eval(free >= 0, st, kv, act, free, 0, 0)
        max_batch = mb if max_batch is None else min(max_batch, mb)
        tokens = tok if tokens is None else min(tokens, tok)
    worst.fits = worst.free >= 0
    worst.max_batch = max_batch
    worst.kv_tokens = tokens * lay.dp
    return worst


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def _gib_apart(a: int, b: int) -> tuple[str, str]:
    """a and b in GiB, 2 decimals, more when 2 would print two different sizes alike (bytes at worst)."""
    for digits in range(2, 10):
        ta, tb = f"{a / GIB:.{digits}f}", f"{b / GIB:.{digits}f}"
        if ta != tb or a == b:
            return f"{ta} GiB", f"{tb} GiB"
    return f"{a:,} bytes", f"{b:,} bytes"


@dataclass
class _EngineEval:
    mem: EngineMemory
    fits: bool
    max_batch: int
    seq_tokens: int  # KV tokens one sequence takes: the context rounded up to whole blocks


def _engine_eval(m: ShardedModel, lay: Layout, w: Workload, kv_tl: int, gpu: GPU, engine: EngineConfig,
                 knobs: Knobs) -> _EngineEval:
    """One layout through an engine's start-up accounting: activations estimated at the engine's own
    profiling batch (its max-num-batched-tokens), the KV pool and token count as the engine computes them."""
    res = resolve(engine, gpu.memory_bytes, gpu.name, tp=lay.tp, dp=lay.dp, pp=lay.pp, mtp=lay.mtp,
                  generic_fraction=knobs.mem_fraction)
    override = knobs.activations_bytes
    kv_tl = layer_bytes(m.cfg.attention, w.kv_dtype, lay.tp)  # this layout's TP: GQA KV heads split by it
    stages = _stage_memory(m, lay, w.model_copy(update={"chunk": res.max_num_batched_tokens}), kv_tl)
    # Engines pool KV by token. A model whose layers do not cache alike per token (sliding-window and chunked
    # layers, which vLLM's hybrid allocator and SGLang's SWA pool cap at their window; DeepSeek-V4's window +
    # compressed entries + state rings; KDA states) is charged its sequence bytes at this context spread over
    # the context's tokens: the same requests fit as in the generic plan.
    uneven = m.windowed or any(lay.attention.shared_kv is not None or lay.attention.linear is not None
                               for lay in m.cfg.all_layers)
    needs = [StageNeeds(weights=s.weights, activations=s.act_fixed if override is None else override,
                        logits_per_seq=s.logits_per_seq if override is None else 0,
                        kv_bytes_per_token=ceil(s.kv_per_seq / w.context) if uneven else s.kv_layers * kv_tl)
             for s in stages]
    mem = account(res, gpu.memory_bytes, needs, ep=lay.ep, dp=lay.dp, context=w.context)
    seq_tokens = ceil(w.context / res.block_size) * res.block_size  # a sequence holds whole blocks
    per_replica = mem.kv_tokens_per_replica // seq_tokens
    fits = mem.problem is None and ceil(w.batch / lay.dp) <= per_replica
    return _EngineEval(mem, fits, per_replica * lay.dp, seq_tokens)


def plan(spec: ModelSpec, gpu: GPU, layout: Layout, workload: Workload, *, weights: str | None = None,
         knobs: Knobs | None = None, gpus: int | None = None, engine: EngineConfig | None = None,
         avg_context: int | None = None, dtype: str = "auto", mm_encoder_tp_mode: str = "weights",
         language_model_only: bool = False) -> PlanReport:
    """The per-GPU memory of one deployment and its verdict; with `engine`, as that engine accounts it;
    with `avg_context`, how many requests of that average length fit beside the worst case. A multimodal
    model's vision tower is placed as vLLM's `--mm-encoder-tp-mode` places it, or left out with
    `language_model_only` (vLLM's `--language-model-only`)."""
    knobs = knobs or Knobs()
    workload = _resolved(spec, workload)
    engine = engine or EngineConfig()
    _check_inputs(workload, knobs)
    if gpus is not None and gpus != layout.gpus:
        raise InputError(f"--gpus {gpus}: the layout uses tp × dp-attention × pp = {layout.tp} × {layout.dp} × "
                         f"{layout.pp} = {layout.gpus} GPUs")
    cfg = spec.arch
    fmt = serving_format(spec, weights, dtype, engine.engine)
    m = ShardedModel(spec, fmt, mm_encoder_tp_mode, language_model_only)
    problem = layout_problem(m, layout)
    if problem:
        raise InputError(gpus_named(problem, gpus, layout))
    if layout.mtp and not cfg.num_nextn_predict_layers:
        raise InputError("--mtp: this model has no MTP module (num_nextn_predict_layers is 0)")
    kv_tl = layer_bytes(cfg.attention, workload.kv_dtype, layout.tp)  # per GPU, first layer
    budget = int(knobs.mem_fraction * gpu.memory_bytes)
    ovh_detail = _overhead(layout)
    overhead = knobs.overhead_bytes if knobs.overhead_bytes is not None else sum(ovh_detail.values())
    stages = _stage_memory(m, layout, workload, kv_tl)
    ev = _evaluate(stages, layout, workload, budget, overhead, knobs)
    st = ev.stage

    # By module, on the reported stage.
    rows: dict[tuple, ModuleRow] = {}
    blocks: dict[tuple, set[int | None]] = {}
    stage_layers = m.stages(layout)[st.index]
    for it, n in m.stage_items(layout, st.index, stage_layers):
        shape, copies = m.shard_shape(it, layout)
        b = copies * parts_bytes(stored_parts(it.t, shape, fmt, cfg, it.is_q)) * n
        sharding = _sharding_text(it, layout)
        tower = it.t.kind in VISION_KINDS  # one row per kind and sharding: its dozens of modules would drown the rest
        module = it.t.kind.value if tower else ("mtp: " if it.t.mtp else "") + it.t.module
        key = (it.t.mtp, it.t.kind, module, sharding)
        row = rows.get(key)
        if row is None:
            row = rows[key] = ModuleRow(module=module, kind=it.t.kind.value, sharding=sharding, layers=0, bytes=0)
        row.bytes += b
        if tower:  # the tower's blocks (tensor by tensor in its list), or 1 for what sits outside them
            blocks.setdefault(key, set()).add(it.t.layer)
            row.layers = len(blocks[key] - {None}) or 1
        else:
            row.layers += n
    modules = list(rows.values())
    assert sum(r.bytes for r in modules) == st.weights  # the breakdown adds up to its total

    kv_layouts = _kv_layouts(m, layout, workload, kv_tl, budget, overhead, knobs, gpu, engine)
    notes = list(spec.notes) + ([fmt.assumed_note] if fmt.assumed_note else [])
    long_note = beyond_max_position_note(cfg, [workload.context])
    if long_note:
        notes.append(long_note)
    if gpu.memory_estimated:
        notes.append(f"{gpu.name}: memory is an estimate ({gpu.memory_source})")
    if m.vision:
        tower = m.group_bytes("vision", m.vision, layout)
        notes.append(f"weights include the vision tower and projector: {tower:,} bytes ({_gib(tower)}) per GPU on "
                     f"every pipeline stage (--mm-encoder-tp-mode {mm_encoder_tp_mode}: "
                     + ("its block linears split over TP" if mm_encoder_tp_mode == "weights" else "whole on every GPU")
                     + "; --language-model-only leaves it out; it runs only on images, so perf's per-token time "
                     "does not stream it)")
    elif language_model_only and spec.vision[0]:
        notes.append("--language-model-only: the vision tower and projector are not loaded (vLLM builds no tower)")
    if cfg.has_indexer:
        notes.append("KV cache includes the lightning indexer's fp8 key cache")
    if any(lay.attention.shared_kv is not None for lay in cfg.layers):
        notes.append("DeepSeek-V4: the one shared KV head (K = V) is replicated on every attention-TP rank, so TP "
                     "does not divide the KV cache (transformers' TP plan keeps attention replicated too): "
                     "DP-attention (--dp-attention) is the natural layout. Each sequence holds its window, "
                     "compressed entries and compressor state rings (`k2calc kv`: growing and constant parts)")
    if engine.engine == "generic":
        notes.append("activations and overhead are estimates with documented defaults "
                     "(--activations-gib, --overhead-gib override them)")
    else:
        notes.append(f"memory as {engine.engine} accounts it ({ENGINE_SOURCES[engine.engine]}); the activation peak and "
                     "the non-PyTorch, CUDA-graph and CUDA-context parts are estimates with documented defaults")
        if knobs.overhead_bytes is not None:
            notes.append(f"--overhead-gib applies to the generic accounting only; {engine.engine} uses its own parts")

    used = st.weights + ev.kv + ev.act + overhead
    # What the stage needs before any sequence: the same sum the test below compares with the budget.
    fixed = st.weights + overhead + (knobs.activations_bytes if knobs.activations_bytes is not None else st.act_fixed)
    head = f"{layout.gpus}×{gpu.name} {layout.label()}, {fmt.label} weights, batch {workload.batch} × {workload.context:,} tokens"
    used_text, budget_text = _gib_apart(used, budget)
    parts = (f"weights {_gib(st.weights)} + KV {_gib(ev.kv)} + activations {_gib(ev.act)} + overhead "
             f"{_gib(overhead)} = {used_text} of {budget_text} per GPU (mem-fraction {knobs.mem_fraction:g})")
    if engine.engine != "generic":
        return _engine_report(spec, gpu, layout, workload, fmt, m, kv_tl, knobs, engine, st, ev, head, modules,
                              kv_layouts, notes, avg_context)
    if ev.fits:
        reason = f"fits: {head}: {parts}; free {_gib(ev.free)}; max batch {ev.max_batch} at this context"
    elif fixed > budget:
        fixed_text, budget_text = _gib_apart(fixed, budget)
        what = "activations" if knobs.activations_bytes is not None else "activations without the logits"
        reason = (f"does not fit: {head}: weights, overhead and {what} alone need {fixed_text} of {budget_text} "
                  f"per GPU")
    else:
        reason = (f"does not fit: {head}: {parts}; short by {_gib_apart(-ev.free, 0)[0]}; max batch {ev.max_batch} "
                  f"at this context")
    return PlanReport(
        model=spec.name, fits=ev.fits, gpus=layout.gpus, gpu=gpu.name, layout=layout, layout_label=layout.label(),
        workload=workload, weight_format=fmt, weight_format_description=fmt.describe(), mem_fraction=knobs.mem_fraction,
        per_gpu=PerGPU(weights=st.weights, kv_cache=ev.kv, activations=ev.act, overhead=overhead, free=ev.free,
                       budget=budget, memory=gpu.memory_bytes, used=used, unallocated=gpu.memory_bytes - budget),
        stage=st.index, stages=layout.pp, max_batch=ev.max_batch, kv_tokens=ev.kv_tokens,
        kv_bytes_per_token_layer=kv_tl, reason=reason, modules=modules,
        activations_detail={**st.act_detail, "logits": ceil(workload.batch / layout.dp) * st.logits_per_seq},
        overhead_detail=ovh_detail if knobs.overhead_bytes is None else {"override": knobs.overhead_bytes},
        kv_layouts=kv_layouts, notes=notes, kv_sharding=kv_sharding(spec.arch),
        concurrency=concurrency(ev.kv_tokens // layout.dp, layout.dp, workload.context, avg_context,
                                engine.max_num_seqs, ev.max_batch),
    )


def _engine_report(spec, gpu, layout, workload, fmt, m, kv_tl, knobs, engine, st, ev, head, modules, kv_layouts,
                   notes, avg_context) -> PlanReport:
    """The plan of one deployment as `engine` accounts it (the weights and by-module rows stay k2calc's)."""
    ee = _engine_eval(m, layout, workload, kv_tl, gpu, engine, knobs)
    mem = ee.mem
    need = ceil(workload.batch / layout.dp) * ee.seq_tokens
    pool_text = (f"{mem.engine} {mem.fraction_flag} {mem.fraction:g}: weights {_gib(mem.weights)} + activations "
                 f"{_gib(mem.activations)} (profiled at {mem.max_num_batched_tokens:,} tokens) -> KV cache "
                 f"{_gib(mem.kv_cache)} = {mem.kv_tokens_per_replica:,} tokens per "
                 f"{'DP replica' if layout.dp > 1 else 'GPU'}")
    if ee.fits:
        reason = (f"fits: {head}: {pool_text}; the batch needs {need:,}; max batch {ee.max_batch} at this context; "
                  f"{_gib(mem.used)} used per GPU")
    else:
        why = mem.problem or f"the batch needs {need:,} tokens per {'DP replica' if layout.dp > 1 else 'GPU'}"
        reason = f"does not fit: {head}: {pool_text}; {why}; max batch {ee.max_batch} at this context"
    overhead = mem.non_torch + mem.cuda_graphs + mem.cuda_context
    # free: the pool left after the batch's KV; a pool in deficit (weights beyond the budget) counts whole,
    # not as the empty cache the engine would fail to allocate.
    batch_kv = need * mem.kv_bytes_per_token  # the batch's KV in the engine's pool: whole blocks per sequence
    free = (mem.kv_cache if mem.kv_available > 0 else mem.kv_available) - batch_kv
    held = mem.weights + batch_kv + mem.activations + overhead + free
    return PlanReport(
        model=spec.name, fits=ee.fits, gpus=layout.gpus, gpu=gpu.name, layout=layout, layout_label=layout.label(),
        workload=workload, weight_format=fmt, weight_format_description=fmt.describe(), mem_fraction=mem.fraction,
        per_gpu=PerGPU(weights=mem.weights, kv_cache=batch_kv, activations=mem.activations, overhead=overhead,
                       free=free, budget=mem.budget, memory=gpu.memory_bytes, used=mem.used,
                       unallocated=gpu.memory_bytes - held),
        stage=st.index, stages=layout.pp, max_batch=ee.max_batch, kv_tokens=mem.kv_tokens,
        kv_bytes_per_token_layer=kv_tl, reason=reason, modules=modules,
        activations_detail={"profiled_peak": mem.activations},
        overhead_detail={"non_torch": mem.non_torch, "cuda_graphs": mem.cuda_graphs, "cuda_context": mem.cuda_context},
        kv_layouts=kv_layouts, notes=notes, kv_sharding=kv_sharding(spec.arch), engine=mem.engine, engine_memory=mem,
        concurrency=concurrency(mem.kv_tokens_per_replica, layout.dp, workload.context, avg_context, mem.max_num_seqs,
                                ee.max_batch),
    )


def _sharding_text(it: ShardedTensor, lay: Layout) -> str:
    r = it.rule
    if r == REPLICATED:
        return "replicated"
    if r == VOCAB:
        return f"vocab ÷ {lay.tp}" if lay.tp > 1 else "whole"
    if r in (COLUMN, ROW):
        return f"{r} ÷ {lay.tp}" if lay.tp > 1 else "whole"
    if r == KV_HEADS:
        if lay.tp == 1:
            return "whole"
        split = min(lay.tp, it.kv_heads)
        return f"KV heads ÷ {split}" + (f", × {lay.tp // split} copies" if lay.tp > it.kv_heads else "")
    slots = (it.t.copies + lay.redundant_experts) // lay.ep
    split = f", {r.removeprefix('expert_')} ÷ {lay.moe_tp}" if lay.moe_tp > 1 and r != EXPERT else ""
    return f"{slots} experts/GPU{split}"


def _kv_layouts(m: ShardedModel, lay: Layout, w: Workload, kv_tl: int, budget: int, overhead: int, knobs: Knobs,
                gpu: GPU, engine: EngineConfig) -> list[KVLayout]:
    """The current layout beside all-TP and all-DP attention over the same GPUs of a stage."""
    g = lay.stage_gpus
    cands = [(lay.tp, lay.dp)]
    for tp, dp in ((g, 1), (1, g)):
        if (tp, dp) not in cands:
            cands.append((tp, dp))
    out = []
    for tp, dp in cands:
        alt = lay.model_copy(update={"tp": tp, "dp_attention": dp})
        if layout_problem(m, alt):
            continue
        ev = _evaluate(_stage_memory(m, alt, w, kv_tl), alt, w, budget, overhead, knobs)
        fits, max_batch, tokens = ev.fits, ev.max_batch, ev.kv_tokens
        if engine.engine != "generic":
            ee = _engine_eval(m, alt, w, kv_tl, gpu, engine, knobs)
            fits, max_batch, tokens = ee.fits, ee.max_batch, ee.mem.kv_tokens
        out.append(KVLayout(layout=alt, layout_label=alt.label(), sequences_per_gpu=ceil(w.batch / dp), kv_cache=ev.kv,
                            weights=ev.stage.weights, fits=fits, max_batch=max_batch, kv_tokens=tokens,
                            current=(tp, dp) == (lay.tp, lay.dp)))
    return out


def _resolved(spec: ModelSpec, w: Workload) -> Workload:
    """The workload with its KV dtype as k2calc names it (`auto`, `fp8_e4m3`: as the engines spell it)."""
    from .kv import resolve_kv_dtype

    return w.model_copy(update={"kv_dtype": resolve_kv_dtype(w.kv_dtype, spec.config)})


def _check_inputs(w: Workload, knobs: Knobs) -> None:
    """The workload and knobs, wherever they came from (negative overrides: knobs() rejects them)."""
    if w.batch < 1:
        raise InputError(f"--batch {w.batch}: must be at least 1")
    if w.batch > MAX_INT:
        raise InputError(f"--batch {w.batch}: too large (at most 2^40 = {MAX_INT:,} sequences)")
    if w.chunk < 1:
        raise InputError(f"--chunk {w.chunk}: must be at least 1 token")
    if not 0 < knobs.mem_fraction <= 1:  # NaN fails this comparison too
        raise InputError(f"--mem-fraction {knobs.mem_fraction:g}: must be in (0, 1]")


# ---------------------------------------------------------------------------------------------------
# Search


class SearchRow(BaseModel):
    rank: int
    gpu: str
    gpus: int
    nodes: int
    layout: Layout
    layout_label: str
    weights: int  # per GPU
    kv_cache: int  # per GPU
    free: int  # per GPU
    max_batch: int
    kv_tokens: int
    cost_per_hour_usd: float | None
    # with speed targets (k2calc.analysis.perf, an estimate): the figures at the batch they are for (a PD
    # prefill pool: input tokens/s and TTFT of that many prompts prefilled together)
    batch: int | None = None
    tpot_ms: float | None = None
    tokens_per_s: float | None = None
    ttft_ms: float | None = None


class Reached(BaseModel):
    """The best figure any layout that fits memory reached for one speed target (k2calc perf's estimate)."""

    target: str  # max_tpot_ms | min_tokens_per_s | max_ttft_ms
    limit: float  # the target asked for
    value: float  # tpot_ms, tokens_per_s or ttft_ms reached
    gpu: str
    gpus: int
    layout_label: str
    batch: int  # the batch of the figure (TTFT: one prompt; a prefill pool's: the batch it runs)


class SearchReport(BaseModel):
    model: str
    workload: Workload
    weight_format: WeightFormat
    weight_format_description: str
    mem_fraction: float
    gpu_types: list[str]
    max_nodes: int
    layouts_evaluated: int
    layouts_fitting: int
    elapsed_ms: float
    results: list[SearchRow]  # best layout per (GPU type, GPU count), smallest first, then cheapest
    # with speed targets no fitting layout meets: the best figure reached for each target, and where
    closest: list[Reached] = []
    notes: list[str]


def _divisors(n: int) -> list[int]:
    """The divisors of n, ascending, in O(sqrt n) steps."""
    small = [d for d in range(1, isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def _cost_key(gpu: GPU, n: int) -> tuple[bool, float]:
    """How a deployment's $/hour ranks: priced ones first, cheapest first (a price of 0 counts as none)."""
    price = gpu.price_per_gpu_hour_usd
    return (not price, n * price if price else 0.0)


def _ranked_before(found, rank: tuple, kv_tokens: int | None, top: int) -> bool:
    """Do at least `top` rows found rank strictly before a row of `rank` (GPUs, cost) holding `kv_tokens`
    (None: any number) - the search's ranking, so that such a row could not be shown."""
    ahead = 0
    for entry in found:
        ev, their = entry[1], entry[6]
        if their < rank or (kv_tokens is not None and their == rank and ev.kv_tokens > kv_tokens):
            ahead += 1
    return ahead >= top


def _closest(estimated: list, unmet: list, targets, missing: dict) -> dict[str, tuple]:
    """The best figure any fitting layout reaches, per target, when none meets them all (for the note):
    {figure: (value, GPU, GPUs, layout label, batch)}. Each from as few estimates as give it exactly:
    tokens/s from the layouts in the order of their bound, while one could still beat the best found; with
    a tokens/s target, the lowest TPOT is batch 1's (TPOT grows with the batch), already estimated for the
    bound; TTFT one prompt's (a prefill pool: at its batch)."""
    out: dict[str, tuple] = {}

    def keep(name: str, value: float, better, ls, gpu, n: int, batch: int) -> None:
        if name not in out or better(value, out[name][0]) != out[name][0]:
            out[name] = (value, gpu.name, n, ls.lay.label(), batch)

    from .perf import MissingLink

    everyone, bounds = [], []
    for i, (ls, gpu, lay, n) in enumerate(estimated + unmet):
        try:
            if targets.phase == "prefill":
                fit = ls.fit()
                keep("tokens_per_s", fit.tokens_per_s, max, ls, gpu, n, fit.batch)
                keep("ttft_ms", fit.ttft_ms, min, ls, gpu, n, fit.batch)
                continue
            if targets.min_tokens_per_s is not None:
                keep("tpot_ms", ls.at(1).tpot_ms, min, ls, gpu, n, 1)
                bounds.append((ls.upper_tokens_per_s(), i, ls, gpu, n))
            else:
                fit = ls.fit()
                keep("tpot_ms", fit.tpot_ms, min, ls, gpu, n, fit.batch)
            if targets.max_ttft_ms is not None:
                keep("ttft_ms", ls.ttft_ms(), min, ls, gpu, n, 1)
        except MissingLink as e:
            missing.setdefault((e.gpu, e.field), e)
    for bound, i, ls, gpu, n in sorted(bounds, key=lambda c: (-c[0], c[1])):
        beat = out["tokens_per_s"][0] if "tokens_per_s" in out else None
        if beat is not None and bound < beat:
            break  # no layout left can reach the best found
        fit = ls.fit(beat=beat)
        if fit is not None:
            keep("tokens_per_s", fit.tokens_per_s, max, ls, gpu, n, fit.batch)
    return out


def search(spec: ModelSpec, gpus: list[GPU], workload: Workload, *, weights: str | None = None,
           knobs: Knobs | None = None, max_nodes: int = 8, mtp: bool = False, top: int = 10,
           redundant_experts: int = 0, targets=None, dtype: str = "auto") -> SearchReport:
    """Every valid layout on whole nodes of each GPU type; the smallest (then cheapest) that fit.

    Layouts: pp divides the node count (pipeline stages between nodes), tp divides the GPUs of a
    stage and the heads, dp = stage GPUs / tp, ep any divisor of the stage GPUs that divides the
    experts (plus `redundant_experts`, held by every layout). Weights, KV and activations per GPU do
    not depend on the GPU type, so each layout is computed once and compared with every type's budget.
    With `targets` (k2calc.analysis.perf.SpeedTargets), a fitting layout must also meet them (an estimate,
    `perf.LayoutSpeed`); per (GPU type, count) the one serving the most decode tokens/s is kept. The estimate
    is what costs, so it is skipped wherever it cannot change the rows: deployments that would rank after
    `top` rows already met, layouts whose tokens/s bound stays below their deployment's best, layouts a
    few points show out of reach (README: Memory plans, Speed targets).
    """
    knobs = knobs or Knobs()
    workload = _resolved(spec, workload)
    _check_inputs(workload, knobs)
    if max_nodes < 1:
        raise InputError(f"--max-nodes {max_nodes}: must be at least 1")
    if max_nodes > MAX_SEARCH_NODES:
        raise InputError(f"--max-nodes {max_nodes}: too large (at most {MAX_SEARCH_NODES}; the search tries every "
                         "layout on up to that many nodes)")
    if top < 1:
        raise InputError(f"--top {top}: must be at least 1")
    if not gpus:
        raise InputError("--gpu: no GPU types to search")
    t0 = time.perf_counter()
    cfg = spec.arch
    fmt = serving_format(spec, weights, dtype)
    if mtp and not cfg.num_nextn_predict_layers:
        raise InputError("--mtp: this model has no MTP module (num_nextn_predict_layers is 0)")
    m = ShardedModel(spec, fmt)
    problem = layout_problem(m, Layout(redundant_experts=redundant_experts))  # what every layout holds
    if problem:
        raise InputError(problem)
    kv_tl = layer_bytes(cfg.attention, workload.kv_dtype)
    speed_on = targets is not None and targets.any()
    if speed_on:
        from .perf import LayoutSpeed, MissingLink

        targets.check()
    layouts: dict[tuple, tuple[Layout, list[_Stage]] | None] = {}
    evaluated = fitting = 0
    best: dict[tuple[str, int], tuple] = {}
    closest: dict[str, tuple] = {}  # with targets none meets: the best figure any fitting layout reached
    estimated, unmet = [], []  # layouts estimated in full; out of reach of the targets, not estimated in full
    prefill = speed_on and targets.phase == "prefill"
    missing: dict[tuple[str, str], Exception] = {}  # (GPU, link field) a layout's communication needed, absent
    # (GPU count, GPU type, nodes): the order rows are ranked in when all else is equal.
    plan_order = sorted(((nodes * g.gpus_per_node, i, nodes) for i, g in enumerate(gpus)
                         for nodes in range(1, max_nodes + 1)))
    position = {key: i for i, key in enumerate(plan_order)}
    if speed_on:
        # The speed estimate is what costs: deployments in the order they rank (GPUs, then cost), so that
        # once `top` rows meet the targets every deployment that cannot rank among them is left out.
        plan_order.sort(key=lambda t: (t[0], *_cost_key(gpus[t[1]], t[0]), t[1], t[2]))
    for n, gi, nodes in plan_order:
        gpu = gpus[gi]
        if speed_on and _ranked_before(best.values(), (n, *_cost_key(gpu, n)), None, top):
            break  # every deployment left ranks after `top` that meet the targets
        budget = int(knobs.mem_fraction * gpu.memory_bytes)
        fits = []  # (layout, evaluation) of every layout of this deployment that fits memory
        for pp in _divisors(nodes):
            g = n // pp
            for tp in _divisors(g):
                if cfg.num_attention_heads % tp:
                    continue
                for ep in _divisors(g):
                    key = (tp, g // tp, pp, ep)
                    if key not in layouts:
                        lay = Layout(tp=tp, dp=g // tp, pp=pp, ep=ep, redundant_experts=redundant_experts,
                                     mtp=mtp)
                        layouts[key] = (None if layout_problem(m, lay)
                                        else (lay, _stage_memory(m, lay, workload, kv_tl, distinct=True)))
                    entry = layouts[key]
                    if entry is None:
                        continue
                    lay, stages = entry
                    evaluated += 1
                    ovh = knobs.overhead_bytes if knobs.overhead_bytes is not None else sum(_overhead(lay).values())
                    ev = _evaluate(stages, lay, workload, budget, ovh, knobs)
                    if ev.fits:
                        fits.append((lay, ev))
        fitting += len(fits)
        if not fits:
            continue
        rank = (n, *_cost_key(gpu, n))
        if speed_on and _ranked_before(best.values(), rank, max(ev.kv_tokens for _, ev in fits), top):
            continue  # even the layout holding the most KV tokens would rank after `top` rows
        k = (gpu.name, n)
        if not speed_on:
            for idx, (lay, ev) in enumerate(fits):
                score = (0, ev.kv_tokens, ev.free, -idx)  # the first of equals stays
                if k not in best or score > best[k][5]:
                    best[k] = (lay, ev, gpu, nodes, None, score, rank, position[(n, gi, nodes)])
            continue
        # Fastest first: a layout whose tokens/s cannot exceed the best met so far is not estimated in full.
        # (A prefill pool's layouts all serve about the rate asked for: the one with the lowest TTFT there.)
        cands = []
        for idx, (lay, ev) in enumerate(fits):
            ls = LayoutSpeed(spec, gpu, lay, m, targets, context=workload.context, batch=workload.batch,
                             max_batch=ev.max_batch, kv_dtype=workload.kv_dtype, chunk=workload.chunk)
            if ls.out_of_reach():  # known without a point
                unmet.append((ls, gpu, lay, n))
                continue
            try:
                cands.append((ls.upper_tokens_per_s(estimate=False), idx, lay, ev, ls))
            except MissingLink as e:
                missing.setdefault((e.gpu, e.field), e)
        for bound, idx, lay, ev, ls in sorted(cands, key=lambda c: (-c[0], c[1])):
            if k in best and not prefill and bound < best[k][5][0]:
                continue
            try:
                if ls.cannot_meet():
                    unmet.append((ls, gpu, lay, n))
                    continue
                if k in best and not prefill and ls.upper_tokens_per_s(estimate=False) < best[k][5][0]:
                    continue  # the climb's points narrow the bound below the best met
                speed = ls.fit(beat=best[k][5][0] if k in best and not prefill else None)
            except MissingLink as e:
                missing.setdefault((e.gpu, e.field), e)
                continue
            if speed is None:  # its tokens/s stay below the best met: it cannot be this row
                continue
            estimated.append((ls, gpu, lay, n))
            if not speed.meets:
                continue
            score = (-speed.ttft_ms if prefill else speed.tokens_per_s, ev.kv_tokens, ev.free, -idx)
            if k not in best or score > best[k][5]:
                best[k] = (lay, ev, gpu, nodes, speed, score, rank, position[(n, gi, nodes)])
    if speed_on and not best:  # the best figures reached, for the note that says how far off the targets are
        closest = _closest(estimated, unmet, targets, missing)
    if missing and not best and not closest:  # nothing could be estimated: the first reason, as an error
        raise next(iter(missing.values()))
    rows = []
    # as the deployments were listed in (GPU count, type, nodes) order: the tie order of the ranking below
    for (name, n), (lay, ev, gpu, nodes, speed, *_) in sorted(best.items(), key=lambda kv: kv[1][7]):
        cost = n * gpu.price_per_gpu_hour_usd if gpu.price_per_gpu_hour_usd else None
        rows.append(SearchRow(rank=0, gpu=name, gpus=n, nodes=nodes, layout=lay, layout_label=lay.label(),
                              weights=ev.stage.weights, kv_cache=ev.kv, free=ev.free,
                              max_batch=ev.max_batch, kv_tokens=ev.kv_tokens, cost_per_hour_usd=cost,
                              **({} if speed is None else {"batch": speed.batch, "tpot_ms": speed.tpot_ms,
                                                           "tokens_per_s": speed.tokens_per_s,
                                                           "ttft_ms": speed.ttft_ms})))
    # equals in GPUs and cost: a prefill pool's purpose is its TTFT (it holds only the prompts in flight),
    # anything else's the KV-cache tokens it holds (the batch it can serve)
    ranked = sorted(rows, key=lambda r: (r.gpus, r.cost_per_hour_usd is None, r.cost_per_hour_usd or 0.0,
                                         r.ttft_ms if prefill else 0.0, -r.kv_tokens))[:top]
    for i, r in enumerate(ranked, 1):
        r.rank = i
    elapsed = (time.perf_counter() - t0) * 1000
    notes = list(spec.notes) + ([fmt.assumed_note] if fmt.assumed_note else [])
    long_note = beyond_max_position_note(cfg, [workload.context], "context")  # as plan and perf note it
    if long_note:
        notes.append(long_note)
    if not any(g.price_per_gpu_hour_usd for g in gpus):
        notes.append("the catalog has no prices: ranked by GPU count, then " +
                     ("TTFT" if prefill else "KV-cache tokens held"))
    reached: list[Reached] = []
    if speed_on:
        wanted = ", ".join(f"{k} {plain_number(v)}" for k, v in targets.model_dump().items()
                           if v is not None and k not in ("phase", "fastest"))
        if targets.phase == "prefill":
            how = (f"prefill of {workload.context:,}-token prompts at the fewest prompts prefilled together that "
                   "serve the input tokens/s (at most a full --chunk of them per replica; TTFT: that batch's "
                   "prefill); per (GPU type, count), the layout with the lowest TTFT there is shown")
        else:  # the batch the figures are at, as LayoutSpeed.fit runs it
            if targets.min_tokens_per_s is not None:
                at = "the largest batch that fits memory" + (" and keeps TPOT within its target"
                                                             if targets.max_tpot_ms is not None else "")
            else:
                at = f"--batch {workload.batch}"
            how = (f"decode of {workload.context:,}-token sequences (--context) at {at}"
                   + ("; TTFT: one prompt of --context tokens" if targets.max_ttft_ms is not None else "")
                   + "; per (GPU type, count), the layout serving the most tokens/s is shown")
        notes.append(f"speed targets ({wanted}): k2calc perf's estimate of {how}")
        if mtp:  # the layouts hold the draft layers; the estimate does not run them (it has no acceptance rate)
            notes.append("--mtp: the layouts hold the MTP modules, but the speed figures decode one token per step "
                         "without them (k2calc perf --mtp N --acceptance A estimates speculative decoding on a layout)")
        if not best and fitting:
            figure = {"max_tpot_ms": "tpot_ms", "min_tokens_per_s": "tokens_per_s", "max_ttft_ms": "ttft_ms"}
            for target, limit in targets.model_dump().items():
                if target in figure and limit is not None and figure[target] in closest:
                    value, name, n, label, b = closest[figure[target]]
                    reached.append(Reached(target=target, limit=limit, value=value, gpu=name, gpus=n,
                                           layout_label=label, batch=b))
            rate = ("highest input tokens/s" if targets.phase == "prefill" else
                    "highest decode tokens/s within the TPOT target (batch 1's where none meets it)"
                    if targets.max_tpot_ms is not None else "highest decode tokens/s")
            what = {"max_tpot_ms": ("lowest TPOT", "ms"), "min_tokens_per_s": (rate, ""),
                    "max_ttft_ms": ("lowest TTFT", "ms")}
            best_text = "; ".join(
                f"{what[r.target][0]} {r.value:,.1f}{' ' * bool(what[r.target][1])}{what[r.target][1]} (target "
                f"{plain_number(r.limit)}) on {r.gpus}×{r.gpu} {r.layout_label} at batch {r.batch:,}" for r in reached)
            notes.insert(0, f"no layout meets the speed targets: none of the {fitting:,} layouts that fit memory on "
                         f"1-{max_nodes} nodes does; best reached: {best_text}")
    else:
        notes.append("per (GPU type, count), the layout holding the most KV-cache tokens is shown")
    for (name, field), e in missing.items():
        notes.append(f"{name}: the catalog ({e.gpu_source}) has no {field}: the layouts whose communication needs it "
                     "are left out of the speed search (add it to a --gpu-file entry)")
    if redundant_experts:
        notes.append(f"every layout holds {redundant_experts} redundant expert copies (--redundant-experts); "
                     f"ep divides n_routed_experts + {redundant_experts}")
    return SearchReport(model=spec.name, workload=workload, weight_format=fmt, weight_format_description=fmt.describe(),
                        mem_fraction=knobs.mem_fraction, gpu_types=[g.name for g in gpus], max_nodes=max_nodes,
                        layouts_evaluated=evaluated, layouts_fitting=fitting, elapsed_ms=round(elapsed, 1),
                        results=ranked, closest=reached, notes=notes)
