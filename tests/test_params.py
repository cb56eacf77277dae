"""Parameter counts: pinned to published figures and to arithmetic over config fields."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k2calc.config import ModelConfig, ModelSpec, load_preset
from k2calc.analysis.params import BREAKDOWN_KEYS, count_params
from k2calc.arch.tensors import Kind, build_tensors


def report(name: str, *sets: str):
    return count_params(load_preset(name, list(sets)))


def test_deepseek_v3_is_671b_total_37b_active_685b_with_mtp():
    # DeepSeek-V3 README / tech report (arXiv 2412.19437): 671B main model, 37B activated
    # (README_WEIGHTS: 36.7B in the main model), 685B on Hugging Face with the 14B MTP module.
    r = report("deepseek-v3")
    assert round(r.total / 1e9) == 671
    assert r.active == pytest.approx(36.7e9, rel=0.005)
    assert round((r.total + r.mtp) / 1e9) in (684, 685)  # 684.49B weights; HF's 685B also counts fp8 scales
    assert r.mtp == pytest.approx(14e9, rel=0.05)


def test_kimi_k2_is_about_1_03t_total_32b_active():
    # Kimi-K2 model card: 1T total / 32B activated; the checkpoint holds 1,026,408,232,448 weight
    # parameters (SOURCES.md), which is exactly k2calc's total (router biases included).
    r = report("kimi-k2")
    assert r.total == 1_026_408_232_448
    assert r.active == pytest.approx(32e9, rel=0.015)
    assert r.mtp == 0


def test_total_counts_router_bias_that_transformers_keeps_as_buffer():
    r = report("kimi-k2")
    moe_layers = 61 - 1  # first_k_dense_replace = 1
    assert r.buffers == moe_layers * 384
    assert r.transformers_count == 1_026_408_209_408  # SOURCES.md, transformers on meta device


def test_routed_experts_by_hand():
    # 60 MoE layers × 384 experts × 3 projections × hidden 7168 × moe_intermediate 2048
    assert report("kimi-k2").breakdown["routed_experts"] == 60 * 384 * 3 * 7168 * 2048 == 1_014_686_023_680


def test_attention_by_hand_for_deepseek_v3():
    h, heads, q, kv, nope, rope, v = 7168, 128, 1536, 512, 128, 64, 128
    per_layer = h * q + q * heads * (nope + rope) + h * (kv + rope) + kv * heads * (nope + v) + heads * v * h
    assert report("deepseek-v3").breakdown["attention"] == 61 * per_layer


def test_active_counts_k_routed_experts_and_excludes_embedding_only():
    r = report("deepseek-v3")
    b, a = r.breakdown, r.active_breakdown
    assert a["embedding"] == 0
    assert a["routed_experts"] == b["routed_experts"] * 8 // 256
    for key in ("attention", "dense_mlp", "shared_experts", "router", "norms", "lm_head"):
        assert a[key] == b[key]


def test_breakdown_has_the_contract_keys_and_sums_to_total():
    r = report("deepseek-v3")
    assert list(r.breakdown) == ["embedding", "lm_head", "attention", "dense_mlp", "routed_experts",
                                 "shared_experts", "router", "norms"]
    assert sum(r.breakdown.values()) == r.total
    assert sum(r.active_breakdown.values()) == r.active
    assert sum(r.mtp_breakdown.values()) == r.mtp


def test_layer_types_sum_to_the_decoder_layers():
    r = report("deepseek-v3")
    dense, moe = r.layer_types
    assert (dense.type, dense.count, moe.type, moe.count) == ("dense", 3, "moe", 58)
    outside = r.breakdown["embedding"] + r.breakdown["lm_head"] + 7168  # final norm
    assert dense.params + moe.params + outside == r.total


def test_mtp_module_holds_its_own_embedding_head_and_eh_proj():
    # SOURCES.md: DeepSeek-V3's layer 61 stores embed_tokens, shared_head.head and eh_proj [7168, 14336].
    names = {t.name: t.dims for t in build_tensors(load_preset("deepseek-v3").config) if t.mtp}
    assert names["model.layers.61.embed_tokens.weight"] == (129280, 7168)
    assert names["model.layers.61.shared_head.head.weight"] == (129280, 7168)
    assert names["model.layers.61.eh_proj.weight"] == (7168, 14336)
    assert "model.layers.61.enorm.weight" in names and "model.layers.61.hnorm.weight" in names
    assert "model.layers.61.shared_head.norm.weight" in names


def test_moonlight_without_q_lora_uses_q_proj():
    mods = {t.module for t in build_tensors(load_preset("moonlight-16b-a3b").config)}
    assert "q_proj" in mods and "q_a_proj" not in mods and "q_b_proj" not in mods


def test_deepseek_v2_has_no_router_bias():
    assert report("deepseek-v2.5").buffers == 0  # topk_method group_limited_greedy


def test_tied_embeddings_drop_lm_head_and_make_the_table_active():
    r = report("moonlight-16b-a3b", "tie_word_embeddings=true")
    assert r.breakdown["lm_head"] == 0
    assert r.active_breakdown["embedding"] == 163840 * 2048


def test_moe_layer_freq_makes_every_other_layer_dense():
    r = report("moonlight-16b-a3b", "moe_layer_freq=2")  # 27 layers, first 1 dense, MoE at even indices >= 1
    counts = {lt.type: lt.count for lt in r.layer_types}
    assert counts == {"dense": 1 + 13, "moe": 13}


def test_shape_formula_names_config_fields():
    t = next(t for t in build_tensors(load_preset("kimi-k2").config) if t.module == "q_b_proj")
    assert t.formula == "num_attention_heads·(qk_nope_head_dim+qk_rope_head_dim) × q_lora_rank"
    assert t.dims == (64 * 192, 1536)
    assert t.name == "model.layers.0.self_attn.q_b_proj.weight"


# ---------------------------------------------------------------------------------------------------
# Properties over generated configs


@st.composite
def configs(draw):
    layers = draw(st.integers(1, 6))
    experts = draw(st.integers(1, 64))
    return ModelConfig(
        vocab_size=draw(st.integers(1, 5000)), hidden_size=draw(st.integers(1, 512)),
        intermediate_size=draw(st.integers(1, 1024)), moe_intermediate_size=draw(st.integers(1, 256)),
        num_hidden_layers=layers, num_attention_heads=draw(st.integers(1, 32)),
        kv_lora_rank=draw(st.integers(1, 128)), qk_nope_head_dim=draw(st.integers(1, 64)),
        qk_rope_head_dim=draw(st.integers(1, 64)), v_head_dim=draw(st.integers(1, 64)),
        n_routed_experts=experts, num_experts_per_tok=draw(st.integers(1, experts)),
        q_lora_rank=draw(st.none() | st.integers(1, 128)), n_shared_experts=draw(st.integers(0, 3)),
        first_k_dense_replace=draw(st.integers(0, layers)), moe_layer_freq=draw(st.integers(1, 3)),
        num_nextn_predict_layers=draw(st.integers(0, 2)), tie_word_embeddings=draw(st.booleans()),
        attention_bias=draw(st.booleans()), topk_method=draw(st.sampled_from(["noaux_tc", "greedy"])),
    )


@settings(max_examples=150, deadline=None)
@given(configs())
def test_breakdown_sums_to_total_and_active_never_exceeds_total(cfg):
    r = count_params(ModelSpec("x", cfg, "generated"))
    assert sum(r.breakdown.values()) == r.total
    assert set(BREAKDOWN_KEYS) <= set(r.breakdown)
    assert 0 < r.active <= r.total
    assert sum(r.mtp_breakdown.values()) == r.mtp


@settings(max_examples=100, deadline=None)
@given(configs(), st.integers(1, 64))
def test_more_experts_never_means_fewer_parameters(cfg, extra):
    more = cfg.model_copy(update={"n_routed_experts": cfg.n_routed_experts + extra})
    a, b = count_params(ModelSpec("a", cfg, "g")), count_params(ModelSpec("b", more, "g"))
    assert b.total >= a.total
    # A token still runs num_experts_per_tok experts; only the router (one row per expert) grows.
    assert b.active - a.active == b.breakdown["router"] - a.breakdown["router"]


@settings(max_examples=100, deadline=None)
@given(configs())
def test_every_tensor_has_a_positive_shape_and_a_unique_name(cfg):
    tensors = build_tensors(cfg)
    names = [t.name for t in tensors]
    assert len(names) == len(set(names))
    assert all(d > 0 for t in tensors for d in t.dims)
    assert all(t.kind in Kind for t in tensors)
