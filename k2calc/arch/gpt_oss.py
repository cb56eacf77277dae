"""gpt-oss (model_type gpt_oss): GQA with attention sinks, alternating sliding-window layers, MoE.

Every layer: q/k/v/o projections with biases, one learned sink logit per head (`self_attn.sinks`), a
router Linear with a bias (`mlp.router`), `num_local_experts` gated experts of `intermediate_size` with
biases on their projections, no shared expert. Even layers slide over `sliding_window` (128) tokens, odd
layers attend to everything (transformers' default `layer_types`; the released config lists them).
Optional fields take the defaults of transformers' (5.x) GptOssConfig.
"""

from __future__ import annotations

from dataclasses import replace

from .description import MoE, Window
from .llama import GQAConfig
from .schema import Dim


class GptOssConfig(GQAConfig):
    """model_type gpt_oss; defaults of transformers' GptOssConfig: num_key_value_heads 8, head_dim 64,
    sliding_window 128 on even layers unless `layer_types` says otherwise, attention_bias true, untied.
    `intermediate_size` is one expert's width; `num_local_experts` and `num_experts_per_tok` are required."""

    MODEL_TYPES = ("gpt_oss",)
    ARCHITECTURES = ("GptOssForCausalLM",)
    num_key_value_heads: Dim | None = 8
    head_dim: Dim | None = 64
    attention_bias: bool = True
    sliding_window: Dim | None = 128
    layer_types: list[str] | None = None
    num_local_experts: Dim
    num_experts_per_tok: Dim

    EXPERTS_FIELD = "num_local_experts"

    def window(self, i: int) -> Window:
        return self.sliding_or_full(i, i % 2 == 0)

    def attention(self, i: int):
        return replace(super().attention(i), sinks=True)

    def mlp(self, i: int):
        return MoE(num_experts=self.f("num_local_experts"), top_k=self.f("num_experts_per_tok"),
                   expert_width=self.f("intermediate_size"), router_linear_bias=True, expert_bias=True,
                   activation=self.hidden_act, router_name="router", fused_experts=True)
