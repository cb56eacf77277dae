"""Llama 4 (model_type llama4_text, and llama4's text_config): GQA, MoE on every
`interleave_moe_layer_step`-th layer, NoPE layers, chunked attention.

MoE layers (`moe_layers`, else every interleave_moe_layer_step-th layer, the last of each step) route each
token to `num_experts_per_tok` of `num_local_experts` experts of `intermediate_size` plus one always-on
`shared_expert` of the same width; the other layers are dense MLPs of `intermediate_size_mlp`. Every
`no_rope_layer_interval`-th layer has no RoPE and full attention (`no_rope_layers`, 1 = RoPE, wins when
given); the RoPE layers attend within chunks of `attention_chunk_size` tokens. The QK-norm (use_qk_norm)
is an L2 norm without weights. Module names follow the checkpoint: `feed_forward.router`,
`feed_forward.shared_expert`. Optional fields take the defaults of transformers' (5.x) Llama4TextConfig.
"""

from __future__ import annotations

from .description import FULL, DenseMLP, Layer, MoE, Window, WindowKind
from .llama import GQAConfig
from .schema import Dim


class Llama4TextConfig(GQAConfig):
    """model_type llama4_text; defaults of transformers' Llama4TextConfig: num_key_value_heads 8,
    head_dim 128, intermediate_size_mlp 16384, num_local_experts 16, num_experts_per_tok 1,
    interleave_moe_layer_step 1, no_rope_layer_interval 4, attention_chunk_size 8192, untied."""

    MODEL_TYPES = ("llama4_text",)
    ARCHITECTURES = ("Llama4ForCausalLM",)
    num_key_value_heads: Dim | None = 8
    head_dim: Dim | None = 128
    intermediate_size_mlp: Dim = 16384
    num_local_experts: Dim = 16
    num_experts_per_tok: Dim = 1
    interleave_moe_layer_step: Dim = 1
    moe_layers: list[int] | None = None
    no_rope_layers: list[int] | None = None
    no_rope_layer_interval: Dim = 4
    attention_chunk_size: Dim | None = 8192
    use_qk_norm: bool = True
    layer_types: list[str] | None = None

    EXPERTS_FIELD = "num_local_experts"

    def is_moe_layer(self, i: int) -> bool:
        if self.moe_layers is not None:
            return i in self.moe_layers
        step = self.interleave_moe_layer_step
        return i % step == step - 1

    def rope(self, i: int) -> bool:
        if self.no_rope_layers:  # transformers: an empty or absent list means the interval rule
            return bool(self.no_rope_layers[i]) if i < len(self.no_rope_layers) else True
        return (i + 1) % self.no_rope_layer_interval != 0

    def window(self, i: int) -> Window:
        """Chunked on RoPE layers (transformers' layer_types rule); `layer_types` given in the config wins."""
        types = self.layer_types
        chunked = types[i] == "chunked_attention" if types is not None and i < len(types) else self.rope(i)
        if chunked and self.attention_chunk_size is not None:
            return Window(WindowKind.CHUNKED, self.f("attention_chunk_size"))
        return FULL

    def mlp(self, i: int):
        if self.is_moe_layer(i):
            return MoE(num_experts=self.f("num_local_experts"), top_k=self.f("num_experts_per_tok"),
                       expert_width=self.f("intermediate_size"), shared_width=self.f("intermediate_size"),
                       activation=self.hidden_act, router_name="router", shared_name="shared_expert",
                       fused_experts=True)
        return DenseMLP(self.f("intermediate_size_mlp"), activation=self.hidden_act)

    def layer(self, i: int) -> Layer:
        return Layer(self.attention(i), self.mlp(i), self.NORM, mlp_name="feed_forward")
