"""The symbolic model: every weight tensor of a checkpoint, built from its architecture description.

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

from .description import Architecture, Attention, AttentionKind, Expr, MoE, NormPlacement, QKNorm, const, describe, symbol


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
    HYPER_CONNECTIONS = "hyper_connections"  # DeepSeek-V4's mHC mixers of the widened residual stream
    # A multimodal model's image encoder and the projector into the language model (k2calc/arch/vision.py);
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


def expand_experts(name: str, copies: int) -> list[str]:
    """'...experts.{e}.gate_proj.weight' -> one name per expert; other names stand alone."""
    if "{e}" not in name:
        return [name]
    return [name.replace("{e}", str(e)) for e in range(copies)]


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
    # How the released checkpoint stores it when that is a fact of the family, not of quantization_config:
    # a safetensors dtype ("F32") or a scheme of checkpoint.STORAGE ("fp8-e8m0", "mxfp4"); None: the format's rule.
    store: str | None = None
    counted: bool = True  # False: stored but no parameter at all (DeepSeek-V4's tid2eid lookup table)

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
        parts = [p for p in parts if p not in ("self_attn", "mlp", "feed_forward", "{e}")]
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
# The model, from small parts up (Hugging Face checkpoint names)

__all__ = ["LANGUAGE_KINDS", "VISION_KINDS", "Expr", "Kind", "Tensor", "Use", "build_tensors", "const",
           "expand_experts", "symbol"]


class _Builder:
    def __init__(self, arch: Architecture):
        self.arch = arch
        self.hidden = arch.hidden_size
        self.out: list[Tensor] = []

    def add(self, name: str, shape: tuple[Expr, ...], kind: Kind, layer: int | None, *,
            matmul: bool, use: Use = Use.ALWAYS, copies: int = 1, mtp: bool = False, buffer: bool = False) -> None:
        self.out.append(Tensor(name, shape, kind, layer, matmul, use, copies, mtp, buffer))

    def linear(self, prefix: str, out: Expr, inp: Expr, kind: Kind, layer: int | None, *,
               bias: bool = False, use: Use = Use.ALWAYS, copies: int = 1, mtp: bool = False) -> None:
        self.add(f"{prefix}.weight", (out, inp), kind, layer, matmul=True, use=use, copies=copies, mtp=mtp)
        if bias:
            self.add(f"{prefix}.bias", (out,), kind, layer, matmul=False, use=use, copies=copies, mtp=mtp)

    def norm(self, name: str, width: Expr, layer: int | None, mtp: bool = False, bias: bool = False) -> None:
        self.add(f"{name}.weight", (width,), Kind.NORMS, layer, matmul=False, mtp=mtp)
        if bias:  # a LayerNorm (weight and bias), unlike RMSNorm
            self.add(f"{name}.bias", (width,), Kind.NORMS, layer, matmul=False, mtp=mtp)

    def attention(self, p: str, att: Attention, i: int, mtp: bool) -> None:
        if att.kind is AttentionKind.MLA:
            self.mla(p, att, i, mtp)
        else:
            self.gqa(p, att, i, mtp)
        if att.indexer is not None:
            self.indexer(f"{p}.indexer", att, i, mtp)

    def gqa(self, p: str, att: Attention, i: int, mtp: bool) -> None:
        """MHA/GQA/MQA: q_proj for every head, k_proj and v_proj for the KV heads, o_proj back."""
        A, hidden = Kind.ATTENTION, self.hidden
        self.linear(f"{p}.q_proj", att.q_width, hidden, A, i, bias=att.qkv_bias, mtp=mtp)
        self.linear(f"{p}.k_proj", att.kv_width, hidden, A, i, bias=att.qkv_bias, mtp=mtp)
        self.linear(f"{p}.v_proj", att.kv_width, hidden, A, i, bias=att.qkv_bias, mtp=mtp)
        self.linear(f"{p}.o_proj", hidden, att.o_width, A, i, bias=att.o_bias, mtp=mtp)
        if att.qk_norm is QKNorm.PER_HEAD:
            self.norm(f"{p}.q_norm", att.head_dim, i, mtp)
            self.norm(f"{p}.k_norm", att.head_dim, i, mtp)
        elif att.qk_norm is QKNorm.PROJECTION:
            self.norm(f"{p}.q_norm", att.q_width, i, mtp)
            self.norm(f"{p}.k_norm", att.kv_width, i, mtp)
        if att.sinks:
            self.add(f"{p}.sinks", (att.num_heads,), A, i, matmul=False, mtp=mtp)

    def mla(self, p: str, att: Attention, i: int, mtp: bool) -> None:
        """MLA: queries through an optional low-rank bottleneck; keys and values from one cached latent."""
        A, hidden, heads, m, bias = Kind.ATTENTION, self.hidden, att.num_heads, att.mla, att.qkv_bias
        if m.q_lora_rank is None:
            self.linear(f"{p}.q_proj", att.q_width, hidden, A, i, mtp=mtp)
        else:
            self.linear(f"{p}.q_a_proj", m.q_lora_rank, hidden, A, i, bias=bias, mtp=mtp)
            self.norm(f"{p}.q_a_layernorm", m.q_lora_rank, i, mtp)
            self.linear(f"{p}.q_b_proj", att.q_width, m.q_lora_rank, A, i, mtp=mtp)
        # One projection gives the latent c_kv (kv_lora_rank) and the shared RoPE key: both are cached.
        self.linear(f"{p}.kv_a_proj_with_mqa", m.latent, hidden, A, i, bias=bias, mtp=mtp)
        self.norm(f"{p}.kv_a_layernorm", m.kv_lora_rank, i, mtp)
        # Up-projection of the latent to per-head keys (nope part) and values.
        self.linear(f"{p}.kv_b_proj", heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank, A, i, mtp=mtp)
        self.linear(f"{p}.o_proj", hidden, att.o_width, A, i, bias=att.o_bias, mtp=mtp)

    def indexer(self, p: str, att: Attention, i: int, mtp: bool) -> None:
        """DeepSeek-V3.2's lightning indexer: scores past tokens to pick index_topk of them."""
        A, ix, hidden = Kind.ATTENTION, att.indexer, self.hidden
        q_in = att.mla.q_lora_rank if att.mla and att.mla.q_lora_rank is not None else hidden
        self.linear(f"{p}.wq_b", ix.n_heads * ix.head_dim, q_in, A, i, mtp=mtp)
        self.linear(f"{p}.wk", ix.head_dim, hidden, A, i, mtp=mtp)
        self.norm(f"{p}.k_norm", ix.head_dim, i, mtp, bias=True)  # a LayerNorm
        self.linear(f"{p}.weights_proj", ix.n_heads, hidden, A, i, mtp=mtp)

    def mlp(self, p: str, width: Expr, kind: Kind, i: int, mtp: bool, use: Use = Use.ALWAYS, copies: int = 1,
            gated: bool = True, bias: bool = False) -> None:
        """SwiGLU: down(silu(gate(x)) * up(x)); ungated: down(act(up(x)))."""
        hidden = self.hidden
        if gated:
            self.linear(f"{p}.gate_proj", width, hidden, kind, i, use=use, copies=copies, mtp=mtp, bias=bias)
        self.linear(f"{p}.up_proj", width, hidden, kind, i, use=use, copies=copies, mtp=mtp, bias=bias)
        self.linear(f"{p}.down_proj", hidden, width, kind, i, use=use, copies=copies, mtp=mtp, bias=bias)

    def moe(self, p: str, moe: MoE, i: int, mtp: bool) -> None:
        router = f"{p}.{moe.router_name}"
        self.linear(router, moe.num_experts, self.hidden, Kind.ROUTER, i, bias=moe.router_linear_bias, mtp=mtp)
        if moe.router_bias:
            # Aux-loss-free balancing: a per-expert bias added to the scores for top-k selection only.
            self.add(f"{router}.e_score_correction_bias", (moe.num_experts,), Kind.ROUTER, i,
                     matmul=False, mtp=mtp, buffer=True)
        self.mlp(f"{p}.experts.{{e}}", moe.expert_width, Kind.ROUTED_EXPERTS, i, mtp, use=Use.ROUTED,
                 copies=moe.num_experts.value, gated=moe.gated, bias=moe.expert_bias)
        if moe.shared_width is not None:
            # DeepSeek: n_shared_experts experts fused into one MLP of n_shared_experts x moe_intermediate_size.
            self.mlp(f"{p}.{moe.shared_name}", moe.shared_width, Kind.SHARED_EXPERTS, i, mtp, gated=moe.gated)

    def decoder_layer(self, i: int, mtp: bool = False) -> None:
        p, lay, hidden = f"model.layers.{i}", self.arch.layer(i), self.hidden
        ln = lay.norm_kind == "layer"
        if lay.norm is not NormPlacement.POST:
            self.norm(f"{p}.input_layernorm", hidden, i, mtp, bias=ln)
        self.attention(f"{p}.self_attn", lay.attention, i, mtp)
        # PRE: post_attention_layernorm is the norm before the MLP (Llama's name); POST and SANDWICH: after
        # attention, and the MLP's output has post_feedforward_layernorm (SANDWICH adds pre_feedforward).
        self.norm(f"{p}.post_attention_layernorm", hidden, i, mtp, bias=ln)
        if lay.norm is NormPlacement.SANDWICH:
            self.norm(f"{p}.pre_feedforward_layernorm", hidden, i, mtp, bias=ln)
        if isinstance(lay.mlp, MoE):
            self.moe(f"{p}.{lay.mlp_name}", lay.mlp, i, mtp)
        else:
            self.mlp(f"{p}.{lay.mlp_name}", lay.mlp.width, Kind.DENSE_MLP, i, mtp, gated=lay.mlp.gated, bias=lay.mlp.bias)
        if lay.norm is not NormPlacement.PRE:
            self.norm(f"{p}.post_feedforward_layernorm", hidden, i, mtp, bias=ln)

    def mtp_module(self, i: int) -> None:
        """One MTP module as checkpoints store it: its own embedding and head copies, then a full layer."""
        p, vocab, hidden = f"model.layers.{i}", self.arch.vocab_size, self.hidden
        self.add(f"{p}.embed_tokens.weight", (vocab, hidden), Kind.EMBEDDING, i, matmul=False, use=Use.LOOKUP,
                 mtp=True)
        self.norm(f"{p}.enorm", hidden, i, mtp=True)
        self.norm(f"{p}.hnorm", hidden, i, mtp=True)
        # Joins the normed embedding of token t+k and the hidden state: [hidden, 2·hidden].
        self.linear(f"{p}.eh_proj", hidden, const(2) * hidden, Kind.MTP_PROJ, i, mtp=True)
        self.decoder_layer(i, mtp=True)
        self.norm(f"{p}.shared_head.norm", hidden, i, mtp=True)
        self.add(f"{p}.shared_head.head.weight", (vocab, hidden), Kind.LM_HEAD, i, matmul=True, mtp=True)

    def model(self) -> list[Tensor]:
        arch, vocab, hidden = self.arch, self.arch.vocab_size, self.hidden
        tied = arch.tie_word_embeddings
        # Tied embeddings: the one table is also the output projection, so every token multiplies it.
        self.add("model.embed_tokens.weight", (vocab, hidden), Kind.EMBEDDING, None,
                 matmul=tied, use=Use.ALWAYS if tied else Use.LOOKUP)
        n = arch.num_hidden_layers
        for i in range(n):
            self.decoder_layer(i)
        if arch.final_norm:
            self.norm("model.norm", hidden, None, bias=arch.layers[0].norm_kind == "layer")
        if not tied:
            self.add("lm_head.weight", (vocab, hidden), Kind.LM_HEAD, None, matmul=True)
        for j in range(arch.num_nextn_predict_layers):
            self.mtp_module(n + j)
        return self.out


def assemble(arch) -> list[Tensor]:
    """Build the tensor list of an Architecture (uncached: `Architecture.tensors` keeps the one copy)."""
    return arch.builder(arch) if arch.builder else _Builder(arch).model()


def build_tensors(model) -> list[Tensor]:
    """Every weight tensor of the checkpoint, main model first, then the MTP modules (a vision tower apart:
    k2calc/arch/vision.py). Takes an Architecture or a family config."""
    return list(describe(model).tensors)
