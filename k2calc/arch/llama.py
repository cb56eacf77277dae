"""Llama-style decoders with grouped-query attention: Llama, Mistral, Qwen2, Qwen3, Qwen3-MoE, OLMo 2, SmolLM3.

They share one layer: q/k/v/o projections over `num_attention_heads` query heads and
`num_key_value_heads` KV heads of `head_dim`, a SwiGLU MLP of `intermediate_size`, RMSNorms. Each family
differs by a few switches (biases, QK-norm, norm placement, windows, NoPE layers, MoE), set in its
`describe()`. Shape fields are required; every optional field takes the default of transformers' (5.x)
config class of that model_type, named in each class's docstring, never another family's numbers.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from .description import (
    FULL, Architecture, Attention, AttentionKind, DenseMLP, Layer, MoE, NormPlacement, QKNorm, Window, WindowKind,
)
from .schema import Count, Dim, FamilyConfig


class GQAConfig(FamilyConfig):
    """The fields every Llama-style decoder has. Defaults: LlamaConfig's (num_key_value_heads None ->
    num_attention_heads; head_dim None -> hidden_size / num_attention_heads; biases off; untied)."""

    intermediate_size: Dim
    num_key_value_heads: Dim | None = None
    head_dim: Dim | None = None
    hidden_act: str = "silu"
    attention_bias: bool = False
    mlp_bias: bool = False
    sliding_window: Dim | None = None

    @model_validator(mode="after")
    def _experts(self) -> GQAConfig:
        """An MoE family names its expert count in EXPERTS_FIELD: top-k cannot exceed it."""
        if self.EXPERTS_FIELD is not None:
            experts, top_k = getattr(self, self.EXPERTS_FIELD), getattr(self, "num_experts_per_tok")
            if top_k > experts:
                raise ValueError(f"num_experts_per_tok ({top_k}) is larger than {self.EXPERTS_FIELD} ({experts})")
        return self

    @model_validator(mode="after")
    def _heads(self) -> GQAConfig:
        if self.num_key_value_heads is not None and self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads ({self.num_attention_heads}) is not a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads})")
        if self.head_dim is None and self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) is not divisible by num_attention_heads "
                             f"({self.num_attention_heads}) and no head_dim is given")
        return self

    # --- the family's switches; subclasses override
    QKV_BIAS_ALWAYS: ClassVar[bool] = False  # Qwen2: q/k/v biased whatever attention_bias says, o_proj never
    QK_NORM: ClassVar[QKNorm] = QKNorm.NONE
    EXPERTS_FIELD: ClassVar[str | None] = None  # MoE families: the field holding the routed expert count
    NORM: ClassVar[NormPlacement] = NormPlacement.PRE

    def kv_heads(self):
        return self.f("num_key_value_heads") if self.num_key_value_heads is not None else self.f("num_attention_heads")

    def head_dim_expr(self):
        if self.head_dim is not None:
            return self.f("head_dim")
        return self.f("hidden_size") // self.f("num_attention_heads")

    def window(self, i: int) -> Window:
        """Full attention unless the family says otherwise (Mistral: sliding_window on every layer)."""
        return FULL

    def sliding_or_full(self, i: int, sliding_by_rule: bool) -> Window:
        """Layer i's window: `layer_types[i]` when the config lists it, else the family's rule; a sliding
        layer without a sliding_window attends fully."""
        types = getattr(self, "layer_types", None)
        sliding = types[i] == "sliding_attention" if types is not None and i < len(types) else sliding_by_rule
        if sliding and self.sliding_window is not None:
            return Window(WindowKind.SLIDING, self.f("sliding_window"))
        return FULL

    def rope(self, i: int) -> bool:
        return True

    def mlp(self, i: int):
        return DenseMLP(self.f("intermediate_size"), activation=self.hidden_act, bias=self.mlp_bias)

    def attention(self, i: int) -> Attention:
        qkv_bias = True if self.QKV_BIAS_ALWAYS else self.attention_bias
        o_bias = False if self.QKV_BIAS_ALWAYS else self.attention_bias
        return Attention(AttentionKind.GQA, num_heads=self.f("num_attention_heads"),
                         num_key_value_heads=self.kv_heads(), head_dim=self.head_dim_expr(), window=self.window(i),
                         rope=self.rope(i), qk_norm=self.QK_NORM, qkv_bias=qkv_bias, o_bias=o_bias)

    def layer(self, i: int) -> Layer:
        return Layer(self.attention(i), self.mlp(i), self.NORM)

    def describe(self) -> Architecture:
        layers = tuple(self.layer(i) for i in range(self.num_hidden_layers))
        return Architecture(
            model_type=self.model_type or self.MODEL_TYPES[0], vocab_size=self.f("vocab_size"),
            hidden_size=self.f("hidden_size"), layers=layers, tie_word_embeddings=self.tie_word_embeddings,
            max_position_embeddings=self.max_position_embeddings,
        )


class LlamaConfig(GQAConfig):
    """model_type llama; defaults of transformers' LlamaConfig."""

    MODEL_TYPES = ("llama",)
    ARCHITECTURES = ("LlamaForCausalLM",)


class MistralConfig(GQAConfig):
    """model_type mistral; defaults of transformers' MistralConfig: num_key_value_heads 8, sliding_window
    4096 on every layer (null: full attention), no biases."""

    MODEL_TYPES = ("mistral",)
    ARCHITECTURES = ("MistralForCausalLM",)
    num_key_value_heads: Dim | None = 8
    sliding_window: Dim | None = 4096

    def window(self, i: int) -> Window:
        if self.sliding_window is None:
            return FULL
        return Window(WindowKind.SLIDING, self.f("sliding_window"))


class _QwenWindows(GQAConfig):
    """Qwen2/Qwen3 sliding windows: with use_sliding_window, layers from max_window_layers on slide
    (transformers' layer_types rule); `layer_types` given in the config wins."""

    use_sliding_window: bool = False
    sliding_window: Dim | None = 4096
    max_window_layers: Count = 28
    layer_types: list[str] | None = None

    def window(self, i: int) -> Window:
        return self.sliding_or_full(i, self.use_sliding_window and i >= self.max_window_layers)


class Qwen2Config(_QwenWindows):
    """model_type qwen2; defaults of transformers' Qwen2Config (num_key_value_heads 32 when absent).
    q/k/v projections always carry a bias, o_proj never (Qwen2Attention)."""

    MODEL_TYPES = ("qwen2",)
    ARCHITECTURES = ("Qwen2ForCausalLM",)
    num_key_value_heads: Dim | None = 32
    QKV_BIAS_ALWAYS = True


class Qwen3Config(_QwenWindows):
    """model_type qwen3; defaults of transformers' Qwen3Config: num_key_value_heads 32, head_dim 128,
    attention_bias off. q_norm/k_norm RMSNorms of head_dim, shared by every head."""

    MODEL_TYPES = ("qwen3",)
    ARCHITECTURES = ("Qwen3ForCausalLM",)
    num_key_value_heads: Dim | None = 32
    head_dim: Dim | None = 128
    QK_NORM = QKNorm.PER_HEAD


class Qwen3MoeConfig(_QwenWindows):
    """model_type qwen3_moe; defaults of transformers' Qwen3MoeConfig: num_key_value_heads 4, head_dim
    hidden_size / num_attention_heads when absent, decoder_sparse_step 1, mlp_only_layers none; routed
    experts only (no shared expert, no router bias). The expert shape fields are required."""

    MODEL_TYPES = ("qwen3_moe",)
    ARCHITECTURES = ("Qwen3MoeForCausalLM",)
    num_key_value_heads: Dim | None = 4
    num_experts: Dim
    num_experts_per_tok: Dim
    moe_intermediate_size: Dim
    decoder_sparse_step: Dim = 1
    mlp_only_layers: list[int] | None = None
    norm_topk_prob: bool = False
    QK_NORM = QKNorm.PER_HEAD

    EXPERTS_FIELD = "num_experts"

    def mlp(self, i: int):
        """MoE unless listed in mlp_only_layers, on the decoder_sparse_step grid (Qwen3MoeDecoderLayer)."""
        if i not in (self.mlp_only_layers or []) and (i + 1) % self.decoder_sparse_step == 0:
            return MoE(num_experts=self.f("num_experts"), top_k=self.f("num_experts_per_tok"),
                       expert_width=self.f("moe_intermediate_size"), activation=self.hidden_act)
        return super().mlp(i)


class Olmo2Config(GQAConfig):
    """model_type olmo2; defaults of transformers' Olmo2Config. Norms after each block
    (post_attention_layernorm, post_feedforward_layernorm, no input_layernorm) and q_norm/k_norm over
    the whole q and k projections (num_attention_heads·head_dim, num_key_value_heads·head_dim)."""

    MODEL_TYPES = ("olmo2",)
    ARCHITECTURES = ("Olmo2ForCausalLM",)
    QK_NORM = QKNorm.PROJECTION
    NORM = NormPlacement.POST


class SmolLM3Config(GQAConfig):
    """model_type smollm3; defaults of transformers' SmolLM3Config: num_key_value_heads 4, tied
    embeddings, no RoPE in every no_rope_layer_interval-th layer unless no_rope_layers (1 = RoPE) is given."""

    MODEL_TYPES = ("smollm3",)
    ARCHITECTURES = ("SmolLM3ForCausalLM",)
    num_key_value_heads: Dim | None = 4
    tie_word_embeddings: bool = True
    no_rope_layers: list[int] | None = None
    no_rope_layer_interval: Dim = 4
    use_sliding_window: bool = False
    layer_types: list[str] | None = None

    def rope(self, i: int) -> bool:
        if self.no_rope_layers is not None and i < len(self.no_rope_layers):
            return bool(self.no_rope_layers[i])
        return (i + 1) % self.no_rope_layer_interval != 0

    def window(self, i: int) -> Window:
        return self.sliding_or_full(i, self.use_sliding_window and not self.rope(i))


