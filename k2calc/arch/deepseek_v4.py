"""DeepSeek-V4 (Pro, Flash): one shared KV head over a sliding window plus a compressed long-range branch,
mHC residual copies, hash-routed first layers, every layer MoE.

What differs from V3 (docs/arch-notes/deepseek-v4-kimi-k3.md has every shape with its source):
- attention: q through `q_lora_rank`; one KV head of `head_dim` (512) that is both key and value, its last
  `qk_rope_head_dim` dims rotated; a grouped low-rank output (`o_groups` × `o_lora_rank`, then `wo_b`);
  per layer a `sliding_window` plus a branch chosen by `compress_ratios[i]`: 0 none, 4 = KV compressed 4:1
  with a lightning indexer (its own small compressor, no `wk`) keeping `index_topk` entries, 128 = 128:1
  read densely. The list has `num_hidden_layers + num_nextn_predict_layers` entries: the tail is MTP's.
- the residual stream is `hc_mult` copies wide (mHC): mixers `hc_attn_*`, `hc_ffn_*` per layer, `hc_head_*`.
- MoE on every layer; the first `num_hash_layers` route through a fixed token -> experts table (`tid2eid`,
  int64, stored but no parameter), the others through a learned router with a bias buffer.
- names are the released checkpoint's (the reference inference code's: `layers.{i}.attn.wq_a`, ...), not
  transformers' (`model.layers.{i}.self_attn.q_a_proj`); tests map one onto the other.
- weights as released: routed experts MXFP4, most linears fp8 e4m3 with an e8m0 scale per 128×128 block
  (`.scale`), compressors, router, indexer weights_proj, embedding and head bf16, mHC, sinks and the
  compressors' position bias fp32. Count logical parameters (fp4 values, not bytes).

Shape fields are required (never filled with V4-Flash's numbers); the routing and layer-count fields take
transformers 5.24's DeepseekV4Config defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from .description import (
    Architecture, Attention, AttentionKind, Expr, Indexer, Layer, MoE, SharedKV, Window, WindowKind, const,
)
from .schema import MAX_LAYERS, Count, Dim, FamilyConfig
from .tensors import Kind, Tensor, Use

COMPRESS_RATIOS = (0, 4, 128)  # window only, CSA (compressed + indexer), HCA (heavily compressed)


class DeepseekV4Config(FamilyConfig):
    """model_type deepseek_v4 (DeepseekV4ForCausalLM), fields named as in config.json."""

    MODEL_TYPES = ("deepseek_v4",)
    ARCHITECTURES = ("DeepseekV4ForCausalLM",)
    # What the release stores, beyond what quantization_config says (k2calc.analysis.checkpoint reads it).
    RELEASE_FORMAT: ClassVar[str] = ("as released: fp8 (F8_E4M3, one F8_E8M0 `.scale` per 128×128 block), routed "
                                     "experts MXFP4 (e2m1 two per byte, one F8_E8M0 scale per 32), compressors, "
                                     "router, embedding and head bf16, mHC and sinks float32")
    FIELD_ORDER = (
        "model_type", "architectures", "vocab_size", "hidden_size", "moe_intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "qk_rope_head_dim", "q_lora_rank", "o_groups",
        "o_lora_rank", "sliding_window", "compress_ratios", "index_n_heads", "index_head_dim", "index_topk",
        "hc_mult", "n_routed_experts", "num_experts_per_tok", "n_shared_experts", "num_hash_layers",
        "num_nextn_predict_layers", "scoring_func", "topk_method", "routed_scaling_factor", "norm_topk_prob",
        "tie_word_embeddings", "rope_theta", "compress_rope_theta", "rope_scaling", "max_position_embeddings",
        "torch_dtype", "quantization_config",
    )

    moe_intermediate_size: Dim
    head_dim: Dim  # the one KV head's width, also every query head's
    qk_rope_head_dim: Dim
    q_lora_rank: Dim
    o_groups: Dim
    o_lora_rank: Dim
    sliding_window: Dim
    compress_ratios: list[Annotated[int, Field(ge=0, strict=True)]]
    index_n_heads: Dim
    index_head_dim: Dim
    index_topk: Dim
    hc_mult: Dim
    n_routed_experts: Dim
    num_experts_per_tok: Dim
    # Defaults of transformers 5.24's DeepseekV4Config (default_num_hash_layers 3, one MTP layer).
    n_shared_experts: Count = 1
    num_hash_layers: Annotated[int, Field(ge=0, le=MAX_LAYERS, strict=True)] = 3
    num_nextn_predict_layers: Annotated[int, Field(ge=0, le=MAX_LAYERS, strict=True)] = 1
    num_key_value_heads: Dim = 1
    scoring_func: str | None = "sqrtsoftplus"
    topk_method: str | None = "noaux_tc"
    routed_scaling_factor: float | None = 1.5
    norm_topk_prob: bool | None = True
    compress_rope_theta: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DeepseekV4Config:
        n = self.num_hidden_layers + self.num_nextn_predict_layers
        if len(self.compress_ratios) < n:
            raise ValueError(f"compress_ratios has {len(self.compress_ratios)} entries; expected one per layer, "
                             f"num_hidden_layers + num_nextn_predict_layers = {n}")
        bad = [r for r in self.compress_ratios if r not in COMPRESS_RATIOS]
        if bad:
            raise ValueError(f"compress_ratios: {bad[0]} is not a ratio DeepSeek-V4 has (0, 4 or 128)")
        if self.num_key_value_heads != 1:
            raise ValueError(f"num_key_value_heads ({self.num_key_value_heads}): DeepSeek-V4 has one shared KV head")
        if self.num_experts_per_tok > self.n_routed_experts:
            raise ValueError(f"num_experts_per_tok ({self.num_experts_per_tok}) is larger than n_routed_experts "
                             f"({self.n_routed_experts})")
        if self.num_hash_layers > self.num_hidden_layers:
            raise ValueError(f"num_hash_layers ({self.num_hash_layers}) is larger than num_hidden_layers "
                             f"({self.num_hidden_layers})")
        if self.qk_rope_head_dim > self.head_dim:
            raise ValueError(f"qk_rope_head_dim ({self.qk_rope_head_dim}) is larger than head_dim ({self.head_dim})")
        if (self.num_attention_heads * self.head_dim) % self.o_groups:
            raise ValueError(f"o_groups ({self.o_groups}) does not divide num_attention_heads·head_dim "
                             f"({self.num_attention_heads * self.head_dim})")
        return self

    def describe(self) -> Architecture:
        f = self.f
        window = Window(WindowKind.SLIDING, f("sliding_window"))
        indexer = Indexer(f("index_n_heads"), f("index_head_dim"), f("index_topk"))
        shared = f("moe_intermediate_size") * f("n_shared_experts") if self.n_shared_experts else None

        def layer(i: int, mtp: bool) -> Layer:
            ratio = self.compress_ratios[i]
            v4 = SharedKV(head_dim=f("head_dim"), qk_rope_head_dim=f("qk_rope_head_dim"), q_lora_rank=f("q_lora_rank"),
                          o_groups=f("o_groups"), o_lora_rank=f("o_lora_rank"),
                          compress_ratio=Expr("compress_ratios[i]", ratio))
            att = Attention(AttentionKind.SHARED_KV, num_heads=f("num_attention_heads"),
                            num_key_value_heads=f("num_key_value_heads"), head_dim=f("head_dim"), window=window,
                            sinks=True, indexer=indexer if ratio == 4 else None, shared_kv=v4)
            hashed = not mtp and i < self.num_hash_layers  # the MTP block routes with a learned router
            moe = MoE(num_experts=f("n_routed_experts"), top_k=f("num_experts_per_tok"),
                      expert_width=f("moe_intermediate_size"), shared_width=shared, router_bias=not hashed,
                      hash_routed=hashed)
            return Layer(att, moe)

        n = self.num_hidden_layers
        return Architecture(
            model_type="deepseek_v4", vocab_size=f("vocab_size"), hidden_size=f("hidden_size"),
            layers=tuple(layer(i, False) for i in range(n)), tie_word_embeddings=self.tie_word_embeddings,
            mtp=tuple(layer(n + j, True) for j in range(self.num_nextn_predict_layers)),
            max_position_embeddings=self.max_position_embeddings, hc_mult=f("hc_mult"), builder=build_v4_tensors,
        )


# ---------------------------------------------------------------------------------------------------
# The released checkpoint's tensors (reference names), from the description

FP8 = "fp8-e8m0"  # e4m3 weight + `.scale` e8m0 per 128×128 block
MXFP4 = "mxfp4"  # e2m1 two per byte (int8) + `.scale` e8m0 per 32 inputs


class _V4Builder:
    def __init__(self, arch: Architecture):
        self.arch, self.H, self.hc = arch, arch.hidden_size, arch.hc_mult
        self.out: list[Tensor] = []

    def add(self, name: str, shape: tuple[Expr, ...], kind: Kind, i: int | None, *, matmul: bool = False,
            store: str | None = None, mtp: bool = False, **kw: Any) -> None:
        self.out.append(Tensor(name, shape, kind, i, matmul, mtp=mtp, store=store, **kw))

    def hc_mixer(self, p: str, width: Expr, scales: int, i: int | None, mtp: bool) -> None:
        """One mHC mixer: fn [width, hc·H] (a matmul over the flattened copies), base [width], `scales` gains."""
        hc, HC = self.hc, Kind.HYPER_CONNECTIONS
        self.add(f"{p}fn", (width, hc * self.H), HC, i, matmul=True, store="F32", mtp=mtp)
        self.add(f"{p}base", (width,), HC, i, store="F32", mtp=mtp)
        self.add(f"{p}scale", (const(scales),), HC, i, store="F32", mtp=mtp)

    def layer(self, p: str, lay: Layer, i: int, mtp: bool) -> None:
        H, hc, A = self.H, self.hc, Kind.ATTENTION
        att, v4, moe = lay.attention, lay.attention.shared_kv, lay.mlp
        mix = (const(2) + hc) * hc  # pre (hc) + post (hc) + residual mixing (hc·hc) coefficients
        for site in ("attn", "ffn"):
            self.hc_mixer(f"{p}hc_{site}_", mix, 3, i, mtp)  # one gain each for pre, post and mixing
        self.add(f"{p}attn_norm.weight", (H,), Kind.NORMS, i, mtp=mtp)
        self.add(f"{p}ffn_norm.weight", (H,), Kind.NORMS, i, mtp=mtp)
        a = f"{p}attn."
        self.add(f"{a}attn_sink", (att.num_heads,), A, i, store="F32", mtp=mtp)
        self.add(f"{a}wq_a.weight", (v4.q_lora_rank, H), A, i, matmul=True, store=FP8, mtp=mtp)
        self.add(f"{a}q_norm.weight", (v4.q_lora_rank,), Kind.NORMS, i, mtp=mtp)
        self.add(f"{a}wq_b.weight", (att.num_heads * v4.head_dim, v4.q_lora_rank), A, i, matmul=True, store=FP8,
                 mtp=mtp)
        self.add(f"{a}wkv.weight", (v4.head_dim, H), A, i, matmul=True, store=FP8, mtp=mtp)  # the one K = V head
        self.add(f"{a}kv_norm.weight", (v4.head_dim,), Kind.NORMS, i, mtp=mtp)
        # Grouped output: o_groups blocks, each num_heads·head_dim/o_groups -> o_lora_rank, side by side.
        self.add(f"{a}wo_a.weight", (v4.o_groups * v4.o_lora_rank, att.num_heads * v4.head_dim // v4.o_groups), A, i,
                 matmul=True, store=FP8, mtp=mtp)
        self.add(f"{a}wo_b.weight", (H, v4.o_groups * v4.o_lora_rank), A, i, matmul=True, store=FP8, mtp=mtp)
        ratio = v4.compress_ratio
        if ratio.value:
            width = const(v4.coff) * v4.head_dim  # ratio 4 keeps two overlapping series
            self.compressor(f"{a}compressor.", width, ratio, v4.head_dim, i, mtp)
        if att.indexer is not None:
            ix = att.indexer
            self.add(f"{a}indexer.wq_b.weight", (ix.n_heads * ix.head_dim, v4.q_lora_rank), A, i, matmul=True,
                     store=FP8, mtp=mtp)
            self.add(f"{a}indexer.weights_proj.weight", (ix.n_heads, H), A, i, matmul=True, mtp=mtp)
            self.compressor(f"{a}indexer.compressor.", const(2) * ix.head_dim, ratio, ix.head_dim, i, mtp)
        self.moe(f"{p}ffn.", moe, i, mtp)

    def compressor(self, c: str, width: Expr, ratio: Expr, norm: Expr, i: int, mtp: bool) -> None:
        """Pools `ratio` tokens into one entry: a kv and a gate projection, a learned position bias."""
        A, H = Kind.ATTENTION, self.H
        self.add(f"{c}wkv.weight", (width, H), A, i, matmul=True, store="BF16", mtp=mtp)  # bf16 in the release
        self.add(f"{c}wgate.weight", (width, H), A, i, matmul=True, store="BF16", mtp=mtp)
        self.add(f"{c}ape", (ratio, width), A, i, store="F32", mtp=mtp)
        self.add(f"{c}norm.weight", (norm,), Kind.NORMS, i, mtp=mtp)

    def moe(self, f: str, moe: MoE, i: int, mtp: bool) -> None:
        H, R = self.H, Kind.ROUTER
        self.add(f"{f}gate.weight", (moe.num_experts, H), R, i, matmul=True, mtp=mtp)
        if moe.hash_routed:  # a token id -> top_k experts table: stored, int64, no parameter
            self.add(f"{f}gate.tid2eid", (self.arch.vocab_size, moe.top_k), R, i, store="I64", mtp=mtp,
                     buffer=True, counted=False)
        if moe.router_bias:
            self.add(f"{f}gate.bias", (moe.num_experts,), R, i, store="F32", mtp=mtp, buffer=True)
        e, I, E = f"{f}experts.{{e}}.", moe.expert_width, moe.num_experts.value
        for w, shape in (("w1", (I, H)), ("w3", (I, H)), ("w2", (H, I))):  # gate, up, down
            self.add(f"{e}{w}.weight", shape, Kind.ROUTED_EXPERTS, i, matmul=True, store=MXFP4, mtp=mtp,
                     use=Use.ROUTED, copies=E)
        Is = moe.shared_width
        if Is is not None:
            for w, shape in (("w1", (Is, H)), ("w3", (Is, H)), ("w2", (H, Is))):
                self.add(f"{f}shared_experts.{w}.weight", shape, Kind.SHARED_EXPERTS, i, matmul=True, store=FP8,
                         mtp=mtp)

    def head(self, p: str, i: int | None, mtp: bool) -> None:
        """Collapses the hc copies before the final norm: fn [hc, hc·H], base [hc], scale [1]."""
        self.hc_mixer(f"{p}hc_head_", self.hc, 1, i, mtp)

    def model(self) -> list[Tensor]:
        arch, V, H = self.arch, self.arch.vocab_size, self.H
        self.add("embed.weight", (V, H), Kind.EMBEDDING, None, use=Use.LOOKUP)
        for i, lay in enumerate(arch.layers):
            self.layer(f"layers.{i}.", lay, i, False)
        self.add("norm.weight", (H,), Kind.NORMS, None)
        self.head("", None, False)
        self.add("head.weight", (V, H), Kind.LM_HEAD, None, matmul=True)
        n = arch.num_hidden_layers
        for j, lay in enumerate(arch.mtp):
            p, i = f"mtp.{j}.", n + j
            self.layer(p, lay, i, True)
            # Joins the next token's embedding (e_proj) and the hidden state (h_proj); shares embed and head.
            self.add(f"{p}e_proj.weight", (H, H), Kind.MTP_PROJ, i, matmul=True, store=FP8, mtp=True)
            self.add(f"{p}h_proj.weight", (H, H), Kind.MTP_PROJ, i, matmul=True, store=FP8, mtp=True)
            for nm in ("enorm", "hnorm", "norm"):
                self.add(f"{p}{nm}.weight", (H,), Kind.NORMS, i, mtp=True)
            self.head(p, i, True)
        return self.out


def build_v4_tensors(arch: Architecture) -> list[Tensor]:
    """DeepSeek-V4's checkpoint tensors under their released names, MTP blocks after the main model."""
    return _V4Builder(arch).model()
