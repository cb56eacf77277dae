"""DeepSeek-V2/V3/V3.2, Kimi-K2 (and K2.5's text model), Moonlight: MLA attention and DeepSeek MoE.

Shape fields are required (a missing one is an error that names it: we never fill in DeepSeek-V3's
numbers); optional fields take the defaults of transformers' DeepseekV3Config / DeepseekV2Config (and the
reference inference/model.py), e.g. n_shared_experts 0 -> none, first_k_dense_replace 0, topk_method
"greedy" for deepseek_v2 and "noaux_tc" otherwise. The reference repo's `ModelArgs` JSON is read through
MODEL_ARGS_NAMES.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from .description import (
    MLA, Architecture, Attention, AttentionKind, DenseMLP, Indexer, Layer, MoE,
)
from .schema import MAX_LAYERS, Count, Dim, FamilyConfig


class DeepseekConfig(FamilyConfig):
    """Architecture fields of a DeepSeek-V3-family model, named as in the Hugging Face config.json."""

    MODEL_TYPES = ("deepseek_v3", "deepseek_v32", "deepseek_v2", "kimi_k2")
    ARCHITECTURES = ("DeepseekV3ForCausalLM", "DeepseekV32ForCausalLM", "DeepseekV2ForCausalLM")
    FIELD_ORDER = (
        "model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size",
        "num_hidden_layers", "num_attention_heads", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
        "v_head_dim", "n_routed_experts", "num_experts_per_tok", "q_lora_rank", "n_shared_experts",
        "first_k_dense_replace", "moe_layer_freq", "num_nextn_predict_layers", "tie_word_embeddings",
        "attention_bias", "topk_method", "index_n_heads", "index_head_dim", "index_topk", "n_group", "topk_group",
        "scoring_func", "routed_scaling_factor", "norm_topk_prob", "rope_theta", "rope_scaling",
        "max_position_embeddings", "num_key_value_heads", "torch_dtype", "quantization_config",
    )

    # Shapes: required, every one of them.
    intermediate_size: Dim  # dense MLP width (the first_k_dense_replace layers)
    moe_intermediate_size: Dim  # width of one routed or shared expert
    kv_lora_rank: Dim  # width of the compressed KV latent, the part MLA caches
    qk_nope_head_dim: Dim
    qk_rope_head_dim: Dim  # the decoupled RoPE key, shared by all heads and cached
    v_head_dim: Dim
    n_routed_experts: Dim
    num_experts_per_tok: Dim

    # Optional shapes, defaults as in the reference modeling code.
    q_lora_rank: Dim | None = None  # None: one q_proj instead of q_a_proj / q_b_proj
    n_shared_experts: Count | None = 0
    first_k_dense_replace: Count = 0
    moe_layer_freq: Dim = 1
    num_nextn_predict_layers: Annotated[int, Field(ge=0, le=MAX_LAYERS, strict=True)] = 0
    attention_bias: bool = False
    topk_method: str | None = None  # defaulted by model_type below
    # DeepSeek-V3.2's lightning indexer (all three or none).
    index_n_heads: Dim | None = None
    index_head_dim: Dim | None = None
    index_topk: Dim | None = None

    # Routing: no shape, shown in comparisons.
    n_group: Dim | None = None
    topk_group: Dim | None = None
    scoring_func: str | None = None
    routed_scaling_factor: float | None = None
    norm_topk_prob: bool | None = None
    num_key_value_heads: Dim | None = None  # MLA ignores it (every head reads the one latent)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if data.get("n_shared_experts") is None:
                data["n_shared_experts"] = 0
            if data.get("topk_method") is None:
                # DeepseekV2Config defaults to "greedy" (no bias), DeepseekV3Config to "noaux_tc".
                v2 = data.get("model_type") == "deepseek_v2"
                data["topk_method"] = "greedy" if v2 else "noaux_tc"
        return data

    @model_validator(mode="after")
    def _consistent(self) -> DeepseekConfig:
        if self.num_experts_per_tok > self.n_routed_experts:
            raise ValueError(
                f"num_experts_per_tok ({self.num_experts_per_tok}) is larger than "
                f"n_routed_experts ({self.n_routed_experts})"
            )
        if self.first_k_dense_replace > self.num_hidden_layers:
            raise ValueError(
                f"first_k_dense_replace ({self.first_k_dense_replace}) is larger than "
                f"num_hidden_layers ({self.num_hidden_layers})"
            )
        indexer = [self.index_n_heads, self.index_head_dim, self.index_topk]
        if any(v is not None for v in indexer) and any(v is None for v in indexer):
            raise ValueError("index_n_heads, index_head_dim and index_topk go together: give all three or none")
        if self.index_head_dim is not None and self.index_head_dim < self.qk_rope_head_dim:
            raise ValueError(
                f"index_head_dim ({self.index_head_dim}) is smaller than qk_rope_head_dim ({self.qk_rope_head_dim})"
            )
        if self.n_group and self.topk_group and self.topk_group > self.n_group:
            raise ValueError(f"topk_group ({self.topk_group}) is larger than n_group ({self.n_group})")
        if self.n_group and self.n_routed_experts % self.n_group:
            # Group-limited routing views the scores as [n_group, n_routed_experts / n_group] (reference
            # MoEGate, vLLM's grouped_topk): a remainder is no model.
            raise ValueError(f"n_group ({self.n_group}) does not divide n_routed_experts ({self.n_routed_experts})")
        return self

    # Derived widths, named as in the reference code.
    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def n_shared(self) -> int:
        return self.n_shared_experts or 0

    @property
    def has_router_bias(self) -> bool:
        """`noaux_tc` routing adds `e_score_correction_bias`, one float per routed expert."""
        return self.topk_method == "noaux_tc"

    @property
    def has_indexer(self) -> bool:
        return self.index_n_heads is not None

    def is_moe_layer(self, layer_idx: int) -> bool:
        """MoE when past the first dense layers and on the `moe_layer_freq` grid (reference code, vLLM)."""
        return layer_idx >= self.first_k_dense_replace and layer_idx % self.moe_layer_freq == 0

    def describe(self) -> Architecture:
        f = self.f
        mla = MLA(kv_lora_rank=f("kv_lora_rank"), qk_nope_head_dim=f("qk_nope_head_dim"),
                  qk_rope_head_dim=f("qk_rope_head_dim"), v_head_dim=f("v_head_dim"),
                  q_lora_rank=f("q_lora_rank") if self.q_lora_rank is not None else None)
        indexer = (Indexer(f("index_n_heads"), f("index_head_dim"), f("index_topk")) if self.has_indexer else None)
        att = Attention(AttentionKind.MLA, num_heads=f("num_attention_heads"), mla=mla,
                        qkv_bias=self.attention_bias, o_bias=self.attention_bias, indexer=indexer)
        dense = DenseMLP(f("intermediate_size"))
        moe = MoE(num_experts=f("n_routed_experts"), top_k=f("num_experts_per_tok"),
                  expert_width=f("moe_intermediate_size"),
                  shared_width=f("moe_intermediate_size") * f("n_shared_experts") if self.n_shared else None,
                  router_bias=self.has_router_bias)

        def layer(i: int) -> Layer:
            return Layer(att, moe if self.is_moe_layer(i) else dense)

        n = self.num_hidden_layers
        return Architecture(
            model_type=self.model_type or "deepseek_v3", vocab_size=f("vocab_size"), hidden_size=f("hidden_size"),
            layers=tuple(layer(i) for i in range(n)), tie_word_embeddings=self.tie_word_embeddings,
            mtp=tuple(layer(n + j) for j in range(self.num_nextn_predict_layers)),
            max_position_embeddings=self.max_position_embeddings,
        )


# The DeepSeek-V3 reference repo's `inference/configs/*.json` use `ModelArgs` names.
MODEL_ARGS_NAMES = {
    "dim": "hidden_size",
    "inter_dim": "intermediate_size",
    "moe_inter_dim": "moe_intermediate_size",
    "n_layers": "num_hidden_layers",
    "n_dense_layers": "first_k_dense_replace",
    "n_heads": "num_attention_heads",
    "n_activated_experts": "num_experts_per_tok",
    "n_expert_groups": "n_group",
    "n_limited_groups": "topk_group",
    "route_scale": "routed_scaling_factor",
    "score_func": "scoring_func",
}


def is_model_args(raw: dict[str, Any]) -> bool:
    return "dim" in raw and "hidden_size" not in raw and "n_layers" in raw


def from_model_args(raw: dict[str, Any]) -> dict[str, Any]:
    text = {MODEL_ARGS_NAMES.get(k, k): v for k, v in raw.items()}
    text.setdefault("topk_method", "noaux_tc")  # the reference Gate adds the bias for V3's dim 7168
    return text
