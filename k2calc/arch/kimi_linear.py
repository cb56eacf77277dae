"""Kimi-K3's language model (`text_config`, model_type kimi_linear, KimiLinearForCausalLM): Kimi Delta
Attention (KDA) on most layers, gated MLA without positional encoding on the others, a latent MoE.

Written from Kimi-K3's released checkpoint (tensor by tensor: docs/arch-notes/deepseek-v4-kimi-k3.md,
section 2), which transformers 5.24 does not build: its kimi_linear is the earlier Kimi-Linear-48B, without
K3's latent MoE, attention residuals, MLA output gate and full-rank KDA gate. Those K3 fields are therefore
required here; a config without them (Kimi-Linear-48B) is an error naming the first missing one.

- layers: `linear_attn_config.full_attn_layers` (1-based) are MLA, the others KDA; the first
  `first_k_dense_replace` layers have a dense MLP, the rest MoE.
- KDA (`self_attn.`): q/k/v projections of num_heads·head_dim with short causal convolutions (fp32),
  a low-rank decay gate (f_a, f_b), dt_bias and A_log (fp32), beta (b_proj), a full-rank output gate
  (g_proj), an fp32 output norm, o_proj. Per request: a fixed recurrent state, no cache that grows.
- MLA: DeepSeek's projections with an output gate `g_proj` (mla_use_output_gate); no RoPE (mla_use_nope),
  yet kv_a_proj_with_mqa still emits kv_lora_rank + qk_rope_head_dim values, all cached.
- MoE (`block_sparse_moe.`): router + bias buffer; the routed experts work in `routed_expert_hidden_size`:
  hidden -> routed_expert_down_proj -> norm -> experts -> routed_expert_up_proj -> hidden; 2 shared experts
  in the hidden width. Routed experts are MXFP4 (compressed-tensors, group 32), the rest bf16.
- attention residuals: per layer `self_attention_res_{norm,proj}` and `mlp_res_{norm,proj}` ([1, hidden]
  pseudo-queries), and `output_attn_res_{norm,proj}` before the head.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .description import (
    MLA, Architecture, Attention, AttentionKind, DenseMLP, Expr, Layer, LinearAttention, MoE,
)
from .schema import MAX_LAYERS, Count, Dim, FamilyConfig
from .tensors import Kind, Tensor, Use

LayerIndex = Annotated[int, Field(ge=1, le=MAX_LAYERS, strict=True)]


class LinearAttnConfig(BaseModel):
    """`linear_attn_config`: the KDA layers' widths and the 1-based layer lists."""

    model_config = ConfigDict(extra="allow", frozen=True)

    full_attn_layers: list[LayerIndex]
    kda_layers: list[LayerIndex]
    num_heads: Dim
    head_dim: Dim
    short_conv_kernel_size: Dim
    use_full_rank_gate: bool = True


class KimiLinearConfig(FamilyConfig):
    """Kimi-K3's text_config (model_type kimi_linear), fields named as in config.json."""

    MODEL_TYPES = ("kimi_linear",)
    ARCHITECTURES = ("KimiLinearForCausalLM",)
    RELEASE_FORMAT: ClassVar[str] = ("as released: routed experts MXFP4 (compressed-tensors mxfp4-pack-quantized: "
                                     "uint8 weight_packed two values per byte, uint8 e8m0 weight_scale per 32), "
                                     "everything else bf16, KDA convolutions, dt_bias, A_log, o_norm float32")
    FIELD_ORDER = (
        "model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size",
        "routed_expert_hidden_size", "num_hidden_layers", "num_attention_heads", "kv_lora_rank", "qk_nope_head_dim",
        "qk_rope_head_dim", "v_head_dim", "q_lora_rank", "linear_attn_config", "num_experts",
        "num_experts_per_token", "num_shared_experts", "first_k_dense_replace", "attn_res_block_size",
        "mla_use_nope", "mla_use_output_gate", "num_nextn_predict_layers", "max_position_embeddings",
        "tie_word_embeddings", "torch_dtype", "quantization_config",
    )

    intermediate_size: Dim
    moe_intermediate_size: Dim
    routed_expert_hidden_size: Dim  # K3's latent MoE width
    kv_lora_rank: Dim
    qk_nope_head_dim: Dim
    qk_rope_head_dim: Dim
    v_head_dim: Dim
    q_lora_rank: Dim
    num_experts: Dim
    num_experts_per_token: Dim
    num_shared_experts: Count = 0
    first_k_dense_replace: Count = 0
    linear_attn_config: LinearAttnConfig
    attn_res_block_size: Dim  # K3's attention residuals
    mla_use_nope: bool = True
    mla_use_output_gate: bool = True
    latent_moe_use_norm: bool = True
    num_nextn_predict_layers: Annotated[int, Field(ge=0, le=0, strict=True)] = 0  # K3 has none

    @model_validator(mode="after")
    def _consistent(self) -> KimiLinearConfig:
        la, n = self.linear_attn_config, self.num_hidden_layers
        full, kda = set(la.full_attn_layers), set(la.kda_layers)
        if full & kda or full | kda != set(range(1, n + 1)):
            raise ValueError(f"linear_attn_config: full_attn_layers and kda_layers (1-based) must split layers "
                             f"1..{n} between them")
        if self.num_experts_per_token > self.num_experts:
            raise ValueError(f"num_experts_per_token ({self.num_experts_per_token}) is larger than num_experts "
                             f"({self.num_experts})")
        if not la.use_full_rank_gate:
            raise ValueError("linear_attn_config.use_full_rank_gate: only Kimi-K3's full-rank KDA gate is modelled")
        return self

    def describe(self) -> Architecture:
        f, la = self.f, self.linear_attn_config
        full = {i - 1 for i in la.full_attn_layers}  # 1-based in the config
        mla = Attention(AttentionKind.MLA, num_heads=f("num_attention_heads"), rope=not self.mla_use_nope,
                        output_gate=self.mla_use_output_gate,
                        mla=MLA(f("kv_lora_rank"), f("qk_nope_head_dim"), f("qk_rope_head_dim"), f("v_head_dim"),
                                f("q_lora_rank")))
        kda = Attention(AttentionKind.LINEAR, num_heads=Expr("linear_attn_config.num_heads", la.num_heads),
                        linear=LinearAttention(Expr("linear_attn_config.num_heads", la.num_heads),
                                               Expr("linear_attn_config.head_dim", la.head_dim),
                                               Expr("linear_attn_config.short_conv_kernel_size",
                                                    la.short_conv_kernel_size)))
        moe = MoE(num_experts=f("num_experts"), top_k=f("num_experts_per_token"),
                  expert_width=f("moe_intermediate_size"),
                  shared_width=f("moe_intermediate_size") * f("num_shared_experts") if self.num_shared_experts else None,
                  router_bias=True, latent_width=f("routed_expert_hidden_size"))
        dense = DenseMLP(f("intermediate_size"))
        layers = tuple(Layer(mla if i in full else kda, dense if i < self.first_k_dense_replace else moe)
                       for i in range(self.num_hidden_layers))
        return Architecture(model_type="kimi_linear", vocab_size=f("vocab_size"), hidden_size=f("hidden_size"),
                            layers=layers, tie_word_embeddings=self.tie_word_embeddings,
                            max_position_embeddings=self.max_position_embeddings, builder=build_k3_tensors)


class _K3Builder:
    def __init__(self, arch: Architecture):
        self.arch, self.H = arch, arch.hidden_size
        self.out: list[Tensor] = []

    def add(self, name: str, shape: tuple[Expr, ...], kind: Kind, i: int | None, *, matmul: bool = False,
            **kw: Any) -> None:
        self.out.append(Tensor(name, shape, kind, i, matmul, **kw))

    def linear(self, name: str, out: Expr, inp: Expr, kind: Kind, i: int | None, **kw: Any) -> None:
        self.add(f"{name}.weight", (out, inp), kind, i, matmul=True, **kw)

    def kda(self, a: str, att: Attention, i: int) -> None:
        A, H, la = Kind.ATTENTION, self.H, att.linear
        width = la.num_heads * la.head_dim
        for x in "qkv":
            self.linear(f"{a}{x}_proj", width, H, A, i)
            self.add(f"{a}{x}_conv1d.weight", (width, Expr("1", 1), la.conv_kernel), A, i, store="F32")
        self.linear(f"{a}f_a_proj", la.head_dim, H, A, i)  # low-rank decay gate
        self.linear(f"{a}f_b_proj", width, la.head_dim, A, i)
        self.add(f"{a}dt_bias", (width,), A, i, store="F32")
        self.add(f"{a}A_log", (la.head_dim,), A, i, store="F32")  # [128] = head_dim in the release
        self.linear(f"{a}b_proj", la.num_heads, H, A, i)  # beta, per head
        self.linear(f"{a}g_proj", width, H, A, i)  # full-rank output gate
        self.add(f"{a}o_norm.weight", (la.head_dim,), Kind.NORMS, i, store="F32")
        self.linear(f"{a}o_proj", H, width, A, i)

    def mla(self, a: str, att: Attention, i: int) -> None:
        A, H, m, n = Kind.ATTENTION, self.H, att.mla, att.num_heads
        self.linear(f"{a}q_a_proj", m.q_lora_rank, H, A, i)
        self.add(f"{a}q_a_layernorm.weight", (m.q_lora_rank,), Kind.NORMS, i)
        self.linear(f"{a}q_b_proj", n * m.qk_head_dim, m.q_lora_rank, A, i)
        self.linear(f"{a}kv_a_proj_with_mqa", m.latent, H, A, i)
        self.add(f"{a}kv_a_layernorm.weight", (m.kv_lora_rank,), Kind.NORMS, i)
        self.linear(f"{a}kv_b_proj", n * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank, A, i)
        if att.output_gate:
            self.linear(f"{a}g_proj", att.o_width, H, A, i)
        self.linear(f"{a}o_proj", H, att.o_width, A, i)

    def moe(self, b: str, moe: MoE, i: int) -> None:
        H, lat, I, E = self.H, moe.latent_width, moe.expert_width, moe.num_experts
        self.linear(f"{b}gate", E, H, Kind.ROUTER, i)
        self.add(f"{b}gate.e_score_correction_bias", (E,), Kind.ROUTER, i, store="F32", buffer=True)
        # The routed experts' own width: hidden -> latent, a norm, the experts, latent -> hidden (every token).
        self.linear(f"{b}routed_expert_down_proj", lat, H, Kind.ROUTED_EXPERTS, i)
        self.add(f"{b}routed_expert_norm.weight", (lat,), Kind.NORMS, i)
        self.linear(f"{b}routed_expert_up_proj", H, lat, Kind.ROUTED_EXPERTS, i)
        for w, shape in (("w1", (I, lat)), ("w3", (I, lat)), ("w2", (lat, I))):
            self.linear(f"{b}experts.{{e}}.{w}", *shape, Kind.ROUTED_EXPERTS, i, use=Use.ROUTED, copies=E.value,
                        store="mxfp4-ct")
        if moe.shared_width is not None:
            for w, shape in (("gate_proj", (moe.shared_width, H)), ("up_proj", (moe.shared_width, H)),
                             ("down_proj", (H, moe.shared_width))):
                self.linear(f"{b}shared_experts.{w}", *shape, Kind.SHARED_EXPERTS, i)

    def model(self) -> list[Tensor]:
        arch, H, V, N = self.arch, self.H, self.arch.vocab_size, Kind.NORMS
        one = Expr("1", 1)
        self.add("model.embed_tokens.weight", (V, H), Kind.EMBEDDING, None, use=Use.LOOKUP)
        for i, lay in enumerate(arch.layers):
            p = f"model.layers.{i}."
            for n in ("input_layernorm", "post_attention_layernorm", "self_attention_res_norm", "mlp_res_norm"):
                self.add(f"{p}{n}.weight", (H,), N, i)
            # Attention residuals: one learned pseudo-query per site, [1, hidden]; scoring earlier block
            # outputs with it is a dot product per block, left out of FLOPs like the norms.
            self.add(f"{p}self_attention_res_proj.weight", (one, H), N, i)
            self.add(f"{p}mlp_res_proj.weight", (one, H), N, i)
            if lay.attention.linear is not None:
                self.kda(f"{p}self_attn.", lay.attention, i)
            else:
                self.mla(f"{p}self_attn.", lay.attention, i)
            if isinstance(lay.mlp, MoE):
                self.moe(f"{p}block_sparse_moe.", lay.mlp, i)
            else:
                for w, shape in (("gate_proj", (lay.mlp.width, H)), ("up_proj", (lay.mlp.width, H)),
                                 ("down_proj", (H, lay.mlp.width))):
                    self.linear(f"{p}mlp.{w}", *shape, Kind.DENSE_MLP, i)
        self.add("model.norm.weight", (H,), N, None)
        self.add("model.output_attn_res_norm.weight", (H,), N, None)
        self.add("model.output_attn_res_proj.weight", (one, H), N, None)
        self.add("lm_head.weight", (V, H), Kind.LM_HEAD, None, matmul=True)
        return self.out


def build_k3_tensors(arch: Architecture) -> list[Tensor]:
    """Kimi-K3's language-model tensors under their released names (the checkpoint adds `language_model.`)."""
    return _K3Builder(arch).model()
