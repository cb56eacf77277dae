"""GLM-4.5 / 4.6 / 4.7 (model_type glm4_moe): GQA with partial RoPE, DeepSeek-style MoE, one MTP layer.

Attention: q/k/v projections biased when `attention_bias` (o_proj never), q_norm/k_norm of head_dim when
`use_qk_norm`, RoPE on `partial_rotary_factor` of each head. MLP: dense `intermediate_size` in the first
`first_k_dense_replace` layers, then a router (`mlp.gate` with its `e_score_correction_bias`) over
`n_routed_experts` experts of `moe_intermediate_size` plus `n_shared_experts` shared ones fused into one
MLP. `num_nextn_predict_layers` MTP layers follow the decoder layers in the checkpoint (DeepSeek's layout:
embed_tokens, enorm, hnorm, eh_proj, a full MoE layer, shared_head); transformers does not build them.
Optional fields take the defaults of transformers' (5.x) Glm4MoeConfig.
"""

from __future__ import annotations

from dataclasses import replace

from .description import Architecture, MoE, QKNorm
from .llama import GQAConfig
from .schema import Count, Dim, LayerCount


class Glm4MoeConfig(GQAConfig):
    """model_type glm4_moe; defaults of transformers' Glm4MoeConfig: num_key_value_heads 8, head_dim
    hidden_size / num_attention_heads when absent, partial_rotary_factor 0.5, n_shared_experts 1,
    first_k_dense_replace 1, use_qk_norm false, attention_bias false, untied, one MTP layer
    (num_mtp_layers 1; the released configs say num_nextn_predict_layers). The expert shape fields are
    required."""

    MODEL_TYPES = ("glm4_moe",)
    ARCHITECTURES = ("Glm4MoeForCausalLM",)
    num_key_value_heads: Dim | None = 8
    partial_rotary_factor: float = 0.5
    n_routed_experts: Dim
    num_experts_per_tok: Dim
    moe_intermediate_size: Dim
    n_shared_experts: Count = 1
    first_k_dense_replace: Count = 1
    use_qk_norm: bool = False
    num_nextn_predict_layers: LayerCount | None = None  # the released configs' name for the MTP layers
    num_mtp_layers: LayerCount = 1  # transformers' name and default, read when the other is absent
    n_group: Dim | None = None
    topk_group: Dim | None = None
    routed_scaling_factor: float | None = None
    norm_topk_prob: bool | None = None

    EXPERTS_FIELD = "n_routed_experts"

    def attention(self, i: int):
        return replace(super().attention(i), qkv_bias=self.attention_bias, o_bias=False,
                       qk_norm=QKNorm.PER_HEAD if self.use_qk_norm else QKNorm.NONE,
                       partial_rotary_factor=self.partial_rotary_factor)

    def mlp(self, i: int):
        if i < self.first_k_dense_replace:
            return super().mlp(i)
        shared = self.f("moe_intermediate_size") * self.f("n_shared_experts") if self.n_shared_experts else None
        return MoE(num_experts=self.f("n_routed_experts"), top_k=self.f("num_experts_per_tok"),
                   expert_width=self.f("moe_intermediate_size"), shared_width=shared, router_bias=True,
                   activation=self.hidden_act)

    def describe(self) -> Architecture:
        n = self.num_hidden_layers
        mtp = self.num_mtp_layers if self.num_nextn_predict_layers is None else self.num_nextn_predict_layers
        return replace(super().describe(), mtp=tuple(self.layer(n + j) for j in range(mtp)))
