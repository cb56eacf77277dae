"""One normalized description of a decoder-only architecture, whatever family it comes from.

An adapter (one module per family: deepseek.py, llama.py, qwen3.py, ...) turns that family's config into
an `Architecture`: per layer its attention, its MLP and its norms; at the model level the vocabulary,
hidden width, embeddings and MTP layers (a vision tower is k2calc/arch/vision.py's, built from the spec).
Every width is an `Expr`, an integer that carries its formula over the config's own field names, so
`--explain` can print
`num_key_value_heads·head_dim` with numbers substituted. The tensor list (tensors.py), KV cache, FLOPs
and plans read this description only, never a family's config fields.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:
    from .tensors import Tensor


# ---------------------------------------------------------------------------------------------------
# Symbolic integers


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

    def __sub__(self, other: Expr) -> Expr:
        return Expr(f"{self.text}-{other._wrapped()}", self.value - other.value, True,
                    f"{self.numeric}-{other._wrapped_num()}")

    def __mul__(self, other: Expr) -> Expr:
        return Expr(f"{self._wrapped()}·{other._wrapped()}", self.value * other.value, False,
                    f"{self._wrapped_num()}·{other._wrapped_num()}")

    def __floordiv__(self, other: Expr) -> Expr:
        """Integer division, e.g. the default head_dim = hidden_size/num_attention_heads."""
        return Expr(f"{self._wrapped()}/{other._wrapped()}", self.value // other.value, False,
                    f"{self._wrapped_num()}/{other._wrapped_num()}")

    def ceil_div(self, n: int) -> Expr:
        """ceil(self / n): how many blocks of n values, e.g. scales per 128 cached values."""
        return Expr(f"ceil({self._wrapped()}/{n})", -(-self.value // n), False, f"ceil({self._wrapped_num()}/{n})")


def symbol(cfg: Any, name: str) -> Expr:
    """A config field as a symbol."""
    return Expr(name, getattr(cfg, name))


def const(n: int) -> Expr:
    return Expr(str(n), n)


# ---------------------------------------------------------------------------------------------------
# Attention


class AttentionKind(str, Enum):
    MLA = "MLA"  # multi-head latent attention (DeepSeek-V2/V3, Kimi-K2): caches one compressed latent
    GQA = "GQA"  # MHA (kv heads = heads), GQA (fewer), MQA (one): caches K and V per KV head
    SHARED_KV = "shared-KV"  # DeepSeek-V4: one KV head, K = V, a sliding window + a compressed branch
    LINEAR = "KDA"  # Kimi Delta Attention: a fixed recurrent state per request, no cache that grows


class WindowKind(str, Enum):
    FULL = "full"
    SLIDING = "sliding"  # each token attends to the last `size` tokens; the cache keeps `size` tokens
    CHUNKED = "chunked"  # tokens attend within their chunk of `size` (Llama 4); the cache keeps a chunk


@dataclass(frozen=True)
class Window:
    kind: WindowKind = WindowKind.FULL
    size: Expr | None = None

    @property
    def cap(self) -> int | None:
        """Most tokens one layer keeps in its cache and one token attends to; None: no limit."""
        return None if self.size is None else self.size.value


FULL = Window()


class QKNorm(str, Enum):
    NONE = "none"
    PER_HEAD = "per_head"  # q_norm/k_norm of head_dim, shared by every head (Qwen3, Gemma 3)
    PROJECTION = "projection"  # over the whole q / k projection output (OLMo 2): heads·head_dim


@dataclass(frozen=True)
class MLA:
    """MLA widths (DeepSeek's names); q_lora_rank None means one q_proj instead of q_a/q_b."""

    kv_lora_rank: Expr
    qk_nope_head_dim: Expr
    qk_rope_head_dim: Expr
    v_head_dim: Expr
    q_lora_rank: Expr | None = None

    @property
    def qk_head_dim(self) -> Expr:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def latent(self) -> Expr:
        """Values cached per token per layer: kv_lora_rank + qk_rope_head_dim."""
        return self.kv_lora_rank + self.qk_rope_head_dim


@dataclass(frozen=True)
class Indexer:
    """DeepSeek-V3.2's lightning indexer: scores past tokens and keeps `topk` of them for attention."""

    n_heads: Expr
    head_dim: Expr
    topk: Expr


@dataclass(frozen=True)
class SharedKV:
    """DeepSeek-V4's attention: one KV head of `head_dim` read by every query head as key and value
    (the last `qk_rope_head_dim` dims carry RoPE); queries through `q_lora_rank`; a grouped low-rank
    output (`o_groups` blocks of num_heads·head_dim/o_groups -> `o_lora_rank`, then wo_b). Every layer
    attends to a sliding window; `compress_ratio` (compress_ratios[i]) adds a long-range branch: 0 none,
    4 one entry per 4 tokens and a lightning indexer keeping index_topk of them, 128 one per 128, read densely."""

    head_dim: Expr
    qk_rope_head_dim: Expr
    q_lora_rank: Expr
    o_groups: Expr
    o_lora_rank: Expr
    compress_ratio: Expr

    @property
    def coff(self) -> int:
        """Overlapping compressed series a compressor keeps: 2 at ratio 4 (its entries overlap), else 1."""
        return 2 if self.compress_ratio.value == 4 else 1


@dataclass(frozen=True)
class LinearAttention:
    """Kimi Delta Attention widths (linear_attn_config): `num_heads` heads of `head_dim`, a short
    causal convolution of `conv_kernel` taps on q, k and v; per request a recurrent state
    num_heads·head_dim·head_dim, whatever the length."""

    num_heads: Expr
    head_dim: Expr
    conv_kernel: Expr


@dataclass(frozen=True)
class Attention:
    """One layer's attention. For GQA the q/k/v/o widths follow from heads, KV heads and head_dim; for
    MLA `mla` holds the latent widths and `head_dim`/`num_key_value_heads` are None."""

    kind: AttentionKind
    num_heads: Expr  # num_attention_heads
    num_key_value_heads: Expr | None = None  # GQA only
    head_dim: Expr | None = None  # GQA only: query, key and value width per head
    mla: MLA | None = None
    window: Window = FULL
    rope: bool = True  # False: a NoPE layer (SmolLM3 every 4th, Llama 4 every 4th)
    partial_rotary_factor: float = 1.0  # share of head_dim rotated (GLM: 0.5)
    qk_norm: QKNorm = QKNorm.NONE
    qkv_bias: bool = False
    o_bias: bool = False
    sinks: bool = False  # one learned logit per head (gpt-oss)
    indexer: Indexer | None = None
    shared_kv: SharedKV | None = None  # DeepSeek-V4 (kind SHARED_KV)
    linear: LinearAttention | None = None  # KDA (kind LINEAR)
    output_gate: bool = False  # a sigmoid gate on the attention output, g_proj (Kimi-K3's MLA)

    def __hash__(self) -> int:
        """The fields' hash, computed once: perf groups every layer by its attention on every step."""
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash", h)
        return h

    @property
    def q_width(self) -> Expr:
        if self.mla:
            return self.num_heads * self.mla.qk_head_dim
        return self.num_heads * self.head_dim

    @property
    def kv_width(self) -> Expr:
        """Output rows of k_proj (and of v_proj): num_key_value_heads·head_dim. GQA only."""
        return self.num_key_value_heads * self.head_dim

    @property
    def o_width(self) -> Expr:
        """Input columns of o_proj."""
        if self.mla:
            return self.num_heads * self.mla.v_head_dim
        return self.num_heads * self.head_dim

    def describe(self) -> str:
        """A short kind label for comparisons: 'MLA 576 latent', 'GQA 8×128', 'sliding 4096'."""
        if self.shared_kv:
            v4 = self.shared_kv
            ratio = v4.compress_ratio.value
            text = f"1 KV head×{v4.head_dim.value}, window {self.window.cap}"
            text += f" + compressed {ratio}:1" + (" top-k" if self.indexer else "") if ratio else ""
            return text
        if self.linear:
            return f"KDA {self.linear.num_heads.value}×{self.linear.head_dim.value} state"
        if self.mla:
            text = f"MLA {self.mla.latent.value} latent"
        else:
            text = f"GQA {self.num_key_value_heads.value}×{self.head_dim.value}"
        if self.window.kind is not WindowKind.FULL:
            text += f", {self.window.kind.value} {self.window.cap}"
        if not self.rope:
            text += ", no RoPE"
        elif self.partial_rotary_factor != 1.0:
            text += f", RoPE on {self.partial_rotary_factor:g} of head_dim"
        if self.sinks:
            text += ", sinks"
        return text


# ---------------------------------------------------------------------------------------------------
# MLP


@dataclass(frozen=True)
class DenseMLP:
    """One feed-forward block; gated: down(act(gate(x)) * up(x)), else down(act(up(x)))."""

    width: Expr  # intermediate_size (or the family's name for it)
    activation: str = "silu"
    gated: bool = True
    bias: bool = False


@dataclass(frozen=True)
class MoE:
    """Routed experts chosen by a linear router, plus optional always-on shared experts."""

    num_experts: Expr  # n_routed_experts / num_experts
    top_k: Expr  # num_experts_per_tok
    expert_width: Expr  # moe_intermediate_size
    shared_width: Expr | None = None  # width of the fused shared expert MLP; None: no shared expert
    router_bias: bool = False  # DeepSeek's e_score_correction_bias buffer, one float per expert
    router_linear_bias: bool = False  # a bias on the router Linear itself (gpt-oss)
    expert_bias: bool = False  # biases on each expert's projections (gpt-oss)
    activation: str = "silu"
    gated: bool = True
    # Checkpoint module names: DeepSeek's mlp.gate / mlp.shared_experts, gpt-oss's mlp.router, Llama 4's
    # feed_forward.router / feed_forward.shared_expert.
    router_name: str = "gate"
    shared_name: str = "shared_experts"
    # The checkpoint stores all experts of a layer as one tensor per projection (experts.gate_up_proj,
    # experts.down_proj: Llama 4, gpt-oss) rather than experts.{e}.gate_proj.weight per expert.
    fused_experts: bool = False
    hash_routed: bool = False  # DeepSeek-V4's first num_hash_layers: a fixed token -> experts table (tid2eid)
    latent_width: Expr | None = None  # Kimi-K3: experts run in this width, between routed_expert_down/up_proj


MLPType = Union[DenseMLP, MoE]


# ---------------------------------------------------------------------------------------------------
# Layers and the model


class NormPlacement(str, Enum):
    PRE = "pre"  # input_layernorm, post_attention_layernorm (before the MLP): Llama, DeepSeek, Qwen
    POST = "post"  # post_attention_layernorm, post_feedforward_layernorm after each block (OLMo 2)
    SANDWICH = "sandwich"  # both (Gemma 2/3): four norms per layer


@dataclass(frozen=True)
class Layer:
    attention: Attention
    mlp: MLPType
    norm: NormPlacement = NormPlacement.PRE
    norm_kind: str = "rms"  # "rms" (weight only) or "layer" (weight and bias)
    mlp_name: str = "mlp"  # the MLP's module name in the checkpoint (Llama 4: feed_forward)

    @property
    def is_moe(self) -> bool:
        return isinstance(self.mlp, MoE)


@dataclass(frozen=True)
class Architecture:
    """A whole model. `layers` are the decoder layers in order; `mtp` the multi-token-prediction modules
    (DeepSeek style: embedding and head copies, enorm/hnorm, eh_proj, then a full decoder layer) that
    checkpoints store after them. A vision tower is not part of it: k2calc/arch/vision.py builds one from the
    spec's vision_config, counted apart from the language model."""

    model_type: str
    vocab_size: Expr
    hidden_size: Expr
    layers: tuple[Layer, ...]
    tie_word_embeddings: bool = False
    final_norm: bool = True
    mtp: tuple[Layer, ...] = ()
    max_position_embeddings: int | None = None
    hc_mult: Expr | None = None  # DeepSeek-V4's mHC: the residual stream is hc_mult copies wide
    # A family whose checkpoint names are not Hugging Face's Llama/DeepSeek ones builds its own tensor list
    # from this description (DeepSeek-V4's reference names, Kimi-K3's); None: tensors.py's builder.
    builder: Callable[[Architecture], list[Tensor]] | None = None

    # The names analyses ask by, after the config fields they come from.
    @property
    def num_hidden_layers(self) -> int:
        return len(self.layers)

    @property
    def num_nextn_predict_layers(self) -> int:
        return len(self.mtp)

    def layer(self, i: int) -> Layer:
        """Decoder layer i; indices past the last decoder layer are the MTP modules' layers."""
        return self.layers[i] if i < len(self.layers) else self.mtp[i - len(self.layers)]

    def is_moe_layer(self, i: int) -> bool:
        return self.layer(i).is_moe

    @cached_property
    def tensors(self) -> tuple[Tensor, ...]:
        """Every weight tensor, built once (params, FLOPs, KV, checkpoint and plan each read it): the family's
        own builder, else tensors.py's. The Tensors are frozen, so the tuple is shared safely."""
        from .tensors import assemble

        return tuple(assemble(self))

    @cached_property  # these three are read per layout by plan --search; the Architecture is frozen
    def all_layers(self) -> tuple[Layer, ...]:
        return self.layers + self.mtp

    @cached_property
    def moe(self) -> MoE | None:
        """The routed MLP of the first MoE layer (every family here has one expert shape), or None."""
        return next((lay.mlp for lay in self.all_layers if isinstance(lay.mlp, MoE)), None)

    @property
    def num_experts_per_tok(self) -> int:
        """Experts a token uses per MoE layer (0 for a dense model)."""
        return self.moe.top_k.value if self.moe else 0

    @property
    def n_routed_experts(self) -> int:
        return self.moe.num_experts.value if self.moe else 0

    @cached_property
    def attention(self) -> Attention:
        """The first layer's attention that caches per token (every layer's, up to windows and RoPE, in most
        families; Kimi-K3's KDA layers, which keep a fixed state instead, are passed over)."""
        return next((lay.attention for lay in self.layers if lay.attention.linear is None), self.layers[0].attention)

    @property
    def num_attention_heads(self) -> int:
        return self.attention.num_heads.value

    @property
    def is_mla(self) -> bool:
        return self.attention.mla is not None

    @property
    def indexer(self) -> Indexer | None:
        return self.attention.indexer

    @property
    def has_indexer(self) -> bool:
        return self.indexer is not None

    @property
    def index_topk(self) -> int | None:
        return self.indexer.topk.value if self.indexer else None


def describe(model: Any) -> Architecture:
    """An Architecture from itself or from a family config (which knows its own adapter)."""
    if isinstance(model, Architecture):
        return model
    return model.describe()
