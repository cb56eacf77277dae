"""The symbolic model: every weight tensor of a DeepSeek-V3-family checkpoint, built from its config.

This list is the single source of truth. Parameter counts, FLOPs, checkpoint bytes and per-GPU shards
are all derived from it. Each tensor carries its Hugging Face checkpoint name, its shape both as numbers
and as a formula over config fields, what it is (kind), whether it is a matmul weight, and which tokens
use it. Shapes are in checkpoint order: a Linear weight is [out_features, in_features].

Routed experts are not listed one by one: a tensor with `copies = n_routed_experts` stands for
`...experts.{e}.gate_proj.weight` for every expert e (61 layers x 384 experts x 3 would be 70k objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from enum import Enum
from math import prod

from .config import ModelConfig


class Kind(str, Enum):
    """What a tensor is; the values are the keys of the parameter breakdown."""

    EMBEDDING = "embedding"
    LM_HEAD = "lm_head"
    ATTENTION = "attention"
    DENSE_MLP = "dense_mlp"
    ROUTED_EXPERTS = "routed_experts"
    SHARED_EXPERTS = "shared_experts"
    ROUTER = "router"
    NORMS = "norms"
    MTP_PROJ = "mtp_proj"  # the MTP module's eh_proj, which joins embedding and hidden state
    # A multimodal model's image encoder and the projector into the language model (k2calc/vision.py);
    # counted apart from the language model.
    VISION_TOWER = "vision_tower"
    MM_PROJECTOR = "mm_projector"


VISION_KINDS = frozenset({Kind.VISION_TOWER, Kind.MM_PROJECTOR})
# The language model's breakdown keys (eh_proj lives only in MTP modules; vision is counted apart).
LANGUAGE_KINDS = tuple(k for k in Kind if k is not Kind.MTP_PROJ and k not in VISION_KINDS)


class Use(str, Enum):
    """Which tokens touch a tensor."""

    ALWAYS = "always"  # every token: attention, norms, router, shared experts, dense MLP, lm_head
    ROUTED = "routed"  # a token uses num_experts_per_tok of the `copies` experts
    LOOKUP = "lookup"  # the embedding table: a token reads one row, no matmul


@dataclass(frozen=True)
class Expr:
    """An integer with the formula that produced it, over config fields and with numbers substituted:
    `f("kv_lora_rank") + f("qk_rope_head_dim")` has text 'kv_lora_rank+qk_rope_head_dim', numeric '512+64'
    and value 576."""

    text: str
    value: int
    is_sum: bool = False
    num: str = ""  # the numeric text; a symbol's is its value

    @property
    def numeric(self) -> str:
        return self.num or str(self.value)

    def _wrapped(self) -> str:
        return f"({self.text})" if self.is_sum else self.text

    def _wrapped_num(self) -> str:
        return f"({self.numeric})" if self.is_sum else self.numeric

    def __add__(self, other: Expr) -> Expr:
        return Expr(f"{self.text}+{other.text}", self.value + other.value, True, f"{self.numeric}+{other.numeric}")

    def __mul__(self, other: Expr) -> Expr:
        return Expr(f"{self._wrapped()}·{other._wrapped()}", self.value * other.value, False,
                    f"{self._wrapped_num()}·{other._wrapped_num()}")

    def ceil_div(self, n: int) -> Expr:
        """ceil(self / n): how many blocks of n values, e.g. scales per 128 cached values."""
        return Expr(f"ceil({self.text}/{n})", -(-self.value // n), False, f"ceil({self.numeric}/{n})")


def expand_experts(name: str, copies: int) -> list[str]:
    """'...experts.{e}.gate_proj.weight' -> one name per expert; other names stand alone."""
    if "{e}" not in name:
        return [name]
    return [name.replace("{e}", str(e)) for e in range(copies)]


def symbol(cfg: ModelConfig, name: str) -> Expr:
    """A config field as a symbol."""
    return Expr(name, getattr(cfg, name))


def const(n: int) -> Expr:
    return Expr(str(n), n)


@dataclass(frozen=True)
class Tensor:
    """One weight tensor of the checkpoint (or `copies` of them, one per routed expert)."""

    name: str  # e.g. model.layers.5.self_attn.q_b_proj.weight; experts use "{e}" for the index
    shape: tuple[Expr, ...]
    kind: Kind
    layer: int | None  # decoder layer index (MTP layers continue after the last one); None: outside
    matmul: bool  # a weight that multiplies activations (counts toward FLOPs)
    use: Use = Use.ALWAYS
    copies: int = 1
    mtp: bool = False
    buffer: bool = False  # stored in checkpoints, but transformers keeps it as a buffer, not a parameter

    @cached_property
    def dims(self) -> tuple[int, ...]:
        return tuple(d.value for d in self.shape)

    @cached_property
    def numel(self) -> int:
        """Elements of one copy."""
        return prod(self.dims)

    @property
    def params(self) -> int:
        """Elements of all copies."""
        return self.numel * self.copies

    @cached_property
    def formula(self) -> str:
        return " × ".join(d._wrapped() for d in self.shape)

    @cached_property
    def module(self) -> str:
        """The short module name, e.g. q_b_proj, experts.gate_proj, input_layernorm."""
        parts = self.name.split(".")
        stack = next((p for p in ("layers", "blocks") if p in parts), None)  # blocks: vision towers
        if stack:
            parts = parts[parts.index(stack) + 2 :]
        else:
            parts = parts[1:] if parts[0] == "model" else parts
        parts = [p for p in parts if p not in ("self_attn", "mlp", "{e}")]
        return ".".join(parts).removesuffix(".weight")

    def names(self) -> list[str]:
        """Concrete checkpoint names (one per expert for routed experts)."""
        return expand_experts(self.name, self.copies)

    def active(self, experts_per_tok: int) -> int:
        """Parameters one token touches in this tensor (0 for the embedding lookup)."""
        if self.use is Use.LOOKUP:
            return 0
        if self.use is Use.ROUTED:
            return self.numel * min(experts_per_tok, self.copies)
        return self.params


# ---------------------------------------------------------------------------------------------------
# The model, from small parts up (as in the reference inference/model.py)


class _Builder:
    def __init__(self, cfg: ModelConfig):
        self.cfg = cfg
        self.out: list[Tensor] = []

    def f(self, name: str) -> Expr:
        return symbol(self.cfg, name)

    def add(self, name: str, shape: tuple[Expr, ...], kind: Kind, layer: int | None, *,
            matmul: bool, use: Use = Use.ALWAYS, copies: int = 1, mtp: bool = False, buffer: bool = False) -> None:
        self.out.append(Tensor(name, shape, kind, layer, matmul, use, copies, mtp, buffer))

    def linear(self, prefix: str, out: Expr, inp: Expr, kind: Kind, layer: int | None, *,
               bias: bool = False, use: Use = Use.ALWAYS, copies: int = 1, mtp: bool = False) -> None:
        self.add(f"{prefix}.weight", (out, inp), kind, layer, matmul=True, use=use, copies=copies, mtp=mtp)
        if bias:
            self.add(f"{prefix}.bias", (out,), kind, layer, matmul=False, use=use, copies=copies, mtp=mtp)

    def norm(self, name: str, width: Expr, layer: int | None, mtp: bool = False) -> None:
        self.add(f"{name}.weight", (width,), Kind.NORMS, layer, matmul=False, mtp=mtp)

    def attention(self, p: str, i: int, mtp: bool) -> None:
        """MLA: queries through an optional low-rank bottleneck; keys and values from one cached latent."""
        f, A = self.f, Kind.ATTENTION
        hidden, heads, bias = f("hidden_size"), f("num_attention_heads"), self.cfg.attention_bias
        qk_head = f("qk_nope_head_dim") + f("qk_rope_head_dim")
        if self.cfg.q_lora_rank is None:
            self.linear(f"{p}.q_proj", heads * qk_head, hidden, A, i, mtp=mtp)
        else:
            self.linear(f"{p}.q_a_proj", f("q_lora_rank"), hidden, A, i, bias=bias, mtp=mtp)
            self.norm(f"{p}.q_a_layernorm", f("q_lora_rank"), i, mtp)
            self.linear(f"{p}.q_b_proj", heads * qk_head, f("q_lora_rank"), A, i, mtp=mtp)
        # One projection gives the latent c_kv (kv_lora_rank) and the shared RoPE key: both are cached.
        self.linear(f"{p}.kv_a_proj_with_mqa", f("kv_lora_rank") + f("qk_rope_head_dim"), hidden, A, i,
                    bias=bias, mtp=mtp)
        self.norm(f"{p}.kv_a_layernorm", f("kv_lora_rank"), i, mtp)
        # Up-projection of the latent to per-head keys (nope part) and values.
        self.linear(f"{p}.kv_b_proj", heads * (f("qk_nope_head_dim") + f("v_head_dim")), f("kv_lora_rank"), A, i,
                    mtp=mtp)
        self.linear(f"{p}.o_proj", hidden, heads * f("v_head_dim"), A, i, bias=bias, mtp=mtp)
        if self.cfg.has_indexer:
            self.indexer(f"{p}.indexer", i, mtp)

    def indexer(self, p: str, i: int, mtp: bool) -> None:
        """DeepSeek-V3.2's lightning indexer: scores past tokens to pick index_topk of them."""
        f, A = self.f, Kind.ATTENTION
        q_in = f("q_lora_rank") if self.cfg.q_lora_rank is not None else f("hidden_size")
        self.linear(f"{p}.wq_b", f("index_n_heads") * f("index_head_dim"), q_in, A, i, mtp=mtp)
        self.linear(f"{p}.wk", f("index_head_dim"), f("hidden_size"), A, i, mtp=mtp)
        # k_norm is a LayerNorm (weight and bias), unlike the RMSNorms elsewhere.
        self.add(f"{p}.k_norm.weight", (f("index_head_dim"),), Kind.NORMS, i, matmul=False, mtp=mtp)
        self.add(f"{p}.k_norm.bias", (f("index_head_dim"),), Kind.NORMS, i, matmul=False, mtp=mtp)
        self.linear(f"{p}.weights_proj", f("index_n_heads"), f("hidden_size"), A, i, mtp=mtp)

    def mlp(self, p: str, width: Expr, kind: Kind, i: int, mtp: bool, use: Use = Use.ALWAYS, copies: int = 1) -> None:
        """SwiGLU: down(silu(gate(x)) * up(x))."""
        hidden = self.f("hidden_size")
        self.linear(f"{p}.gate_proj", width, hidden, kind, i, use=use, copies=copies, mtp=mtp)
        self.linear(f"{p}.up_proj", width, hidden, kind, i, use=use, copies=copies, mtp=mtp)
        self.linear(f"{p}.down_proj", hidden, width, kind, i, use=use, copies=copies, mtp=mtp)

    def moe(self, p: str, i: int, mtp: bool) -> None:
        f, cfg = self.f, self.cfg
        self.add(f"{p}.gate.weight", (f("n_routed_experts"), f("hidden_size")), Kind.ROUTER, i, matmul=True, mtp=mtp)
        if cfg.has_router_bias:
            # Aux-loss-free balancing: a per-expert bias added to the scores for top-k selection only.
            self.add(f"{p}.gate.e_score_correction_bias", (f("n_routed_experts"),), Kind.ROUTER, i,
                     matmul=False, mtp=mtp, buffer=True)
        self.mlp(f"{p}.experts.{{e}}", f("moe_intermediate_size"), Kind.ROUTED_EXPERTS, i, mtp,
                 use=Use.ROUTED, copies=cfg.n_routed_experts)
        if cfg.n_shared:
            # n_shared_experts experts fused into one MLP of n_shared_experts x moe_intermediate_size.
            self.mlp(f"{p}.shared_experts", f("moe_intermediate_size") * f("n_shared_experts"),
                     Kind.SHARED_EXPERTS, i, mtp)

    def decoder_layer(self, i: int, mtp: bool = False) -> None:
        p = f"model.layers.{i}"
        self.norm(f"{p}.input_layernorm", self.f("hidden_size"), i, mtp)
        self.attention(f"{p}.self_attn", i, mtp)
        self.norm(f"{p}.post_attention_layernorm", self.f("hidden_size"), i, mtp)
        if self.cfg.is_moe_layer(i):
            self.moe(f"{p}.mlp", i, mtp)
        else:
            self.mlp(f"{p}.mlp", self.f("intermediate_size"), Kind.DENSE_MLP, i, mtp)

    def mtp_module(self, i: int) -> None:
        """One MTP module as checkpoints store it: its own embedding and head copies, then a full layer."""
        f, p = self.f, f"model.layers.{i}"
        self.add(f"{p}.embed_tokens.weight", (f("vocab_size"), f("hidden_size")), Kind.EMBEDDING, i,
                 matmul=False, use=Use.LOOKUP, mtp=True)
        self.norm(f"{p}.enorm", f("hidden_size"), i, mtp=True)
        self.norm(f"{p}.hnorm", f("hidden_size"), i, mtp=True)
        # Joins the normed embedding of token t+k and the hidden state: [hidden, 2·hidden].
        self.linear(f"{p}.eh_proj", f("hidden_size"), const(2) * f("hidden_size"), Kind.MTP_PROJ, i, mtp=True)
        self.decoder_layer(i, mtp=True)
        self.norm(f"{p}.shared_head.norm", f("hidden_size"), i, mtp=True)
        self.add(f"{p}.shared_head.head.weight", (f("vocab_size"), f("hidden_size")), Kind.LM_HEAD, i,
                 matmul=True, mtp=True)

    def model(self) -> list[Tensor]:
        f, cfg = self.f, self.cfg
        tied = cfg.tie_word_embeddings
        # Tied embeddings: the one table is also the output projection, so every token multiplies it.
        self.add("model.embed_tokens.weight", (f("vocab_size"), f("hidden_size")), Kind.EMBEDDING, None,
                 matmul=tied, use=Use.ALWAYS if tied else Use.LOOKUP)
        for i in range(cfg.num_hidden_layers):
            self.decoder_layer(i)
        self.norm("model.norm", f("hidden_size"), None)
        if not tied:
            self.add("lm_head.weight", (f("vocab_size"), f("hidden_size")), Kind.LM_HEAD, None, matmul=True)
        for j in range(cfg.num_nextn_predict_layers):
            self.mtp_module(cfg.num_hidden_layers + j)
        return self.out


def build_tensors(cfg: ModelConfig) -> list[Tensor]:
    """Every weight tensor of the checkpoint, main model first, then the MTP modules."""
    return _Builder(cfg).model()
