"""Families beyond DeepSeek: Llama-style GQA decoders, read through the model_type registry.

Every figure here is checked against hand arithmetic over the config fields (written out in the test),
a published figure, or transformers (tests/test_transformers_crosscheck.py holds the golden counts).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from k2calc.arch import FAMILY_MODULES, family_class, family_classes, family_for
from k2calc.arch.description import AttentionKind, QKNorm, WindowKind
from k2calc.arch.tensors import build_tensors
from k2calc.cli import app
from k2calc.config import build_config, load_path, load_preset
from k2calc.analysis.flops import AttentionForm, FlopsModel, Phase
from k2calc.hardware import get_gpu
from k2calc.analysis.kv import kv_cache
from k2calc.analysis.params import BREAKDOWN_KEYS, count_params
from k2calc.analysis.plan import Layout, Workload, plan

from .conftest import generated_spec, live

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
runner = CliRunner()


# ---------------------------------------------------------------------------------------------------
# Published figures (SOURCES.md)


def test_qwen3_30b_a3b_checkpoint_holds_30_532_122_624_elements():
    assert count_params(load_preset("qwen3-30b-a3b")).total == 30_532_122_624


def test_qwen3_30b_a3b_activates_3_3b_counting_the_embedding_row_table():
    # Qwen's "3.3B activated" counts the input embedding table, which k2calc's `active` leaves out.
    r = count_params(load_preset("qwen3-30b-a3b"))
    assert 3.3e9 <= r.active + r.breakdown["embedding"] < 3.4e9


def test_qwen3_235b_a22b_is_235b_total_22b_active():
    r = count_params(load_preset("qwen3-235b-a22b"))
    assert 235e9 <= r.total < 236e9
    assert 22e9 <= r.active + r.breakdown["embedding"] < 23e9


# ---------------------------------------------------------------------------------------------------
# Hand arithmetic from config fields


def test_qwen3_32b_attention_by_hand():
    # hidden 5120, 64 heads, 8 KV heads, head_dim 128, QK-norm per head: q, k, v, o + q_norm, k_norm.
    r = count_params(load_preset("qwen3-32b"))
    per_layer = 64 * 128 * 5120 + 2 * 8 * 128 * 5120 + 5120 * 64 * 128
    assert r.breakdown["attention"] == 64 * per_layer
    assert r.breakdown["norms"] == 64 * (2 * 5120 + 2 * 128) + 5120


def test_olmo2_normalizes_the_whole_q_and_k_projection_after_each_block():
    spec = load_preset("olmo-2-7b")
    mods = {t.module: t.dims for t in build_tensors(spec.arch) if t.layer == 0}
    assert mods["q_norm"] == (4096,) and mods["k_norm"] == (32 * 128,)  # heads·head_dim, kv_heads·head_dim
    assert "input_layernorm" not in mods
    assert {"post_attention_layernorm", "post_feedforward_layernorm"} <= set(mods)
    assert spec.arch.attention.qk_norm is QKNorm.PROJECTION


def test_smollm3_drops_rope_in_every_fourth_layer_and_ties_embeddings():
    arch = load_preset("smollm3-3b").arch
    assert [i for i, lay in enumerate(arch.layers) if not lay.attention.rope] == [3, 7, 11, 15, 19, 23, 27, 31, 35]
    assert arch.tie_word_embeddings
    assert "lm_head.weight" not in {t.name for t in build_tensors(arch)}


def test_qwen2_biases_q_k_v_but_not_o():
    names = {t.name for t in build_tensors(load_path(DATA / "qwen2-tiny.config.json").arch)}
    assert {"model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.v_proj.bias"} <= names
    assert "model.layers.0.self_attn.o_proj.bias" not in names


def test_gqa_kv_cache_is_kv_heads_times_head_dim_times_two_per_layer():
    # Qwen3-32B: 64 layers × 8 KV heads × 128 × 2 (K and V) × 2 bytes (bf16) = 262,144 bytes per token.
    r = kv_cache(load_preset("qwen3-32b"), [4096])
    assert r.bytes_per_token == 64 * 8 * 128 * 2 * 2
    assert r.bytes_per_sequence == 4096 * 64 * 8 * 128 * 2 * 2


def test_sliding_window_layers_keep_at_most_their_window():
    # mistral-tiny: 4 layers, 5 KV heads of 48, window 512: a 4096-token sequence keeps 512 per layer.
    spec = load_path(DATA / "mistral-tiny.config.json")
    assert spec.arch.attention.window.kind is WindowKind.SLIDING
    r = kv_cache(spec, [100, 4096])
    per_token_layer = 5 * 48 * 2 * 2
    assert r.sweep[0].bytes_per_sequence == 100 * 4 * per_token_layer
    assert r.sweep[1].bytes_per_sequence == 512 * 4 * per_token_layer
    assert any("full attention" in n for n in r.notes)


def test_gqa_decode_attention_flops_use_every_query_head():
    # Qwen3-32B decode at 4,096 cached tokens: 64 layers × (2·64·128 scores + 2·64·128 values) × 4,097.
    p = FlopsModel(load_preset("qwen3-32b").arch).point(Phase.decode, 4096, AttentionForm.absorbed)
    assert p.by_component["attention_scores"] == 64 * 2 * 64 * 128 * 4097
    assert p.by_component["attention_values"] == 64 * 2 * 64 * 128 * 4097
    assert p.by_component["kv_reexpansion"] == 0


def test_sliding_window_caps_attended_tokens_in_prefill():
    # mistral-tiny prefill of 1,000 tokens, window 512: Σ min(t, 512) = 512·513/2 + 488·512.
    p = FlopsModel(load_path(DATA / "mistral-tiny.config.json").arch).point(Phase.prefill, 1000, AttentionForm.naive)
    total = 4 * 2 * 10 * 48 * (512 * 513 // 2 + 488 * 512)
    assert p.by_component["attention_scores"] == (2 * total + 1000) // 2000


def test_plan_splits_gqa_kv_heads_by_tp_then_replicates():
    spec, gpu = load_preset("qwen3-32b"), get_gpu("h200")
    w = Workload(context=8192, batch=1)
    per_gpu = {tp: plan(spec, gpu, Layout(tp=tp), w).kv_bytes_per_token_layer for tp in (1, 2, 8, 16, 32)}
    full = 8 * 128 * 2 * 2  # 8 KV heads × head_dim × K and V × bf16
    assert per_gpu == {1: full, 2: full // 2, 8: full // 8, 16: full // 8, 32: full // 8}


# ---------------------------------------------------------------------------------------------------
# The registry


def test_model_type_picks_the_family():
    assert family_for({"model_type": "qwen3_moe"}).__name__ == "Qwen3MoeConfig"
    assert load_preset("qwen3-235b-a22b").arch.attention.kind is AttentionKind.GQA
    assert load_preset("kimi-k2").arch.attention.kind is AttentionKind.MLA


def test_unsupported_model_type_is_one_line_naming_it_and_the_supported_ones(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "mamba", "hidden_size": 768}))
    result = runner.invoke(app, ["params", "--config", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'mamba'" in lines[0] and "qwen3_moe" in lines[0] and "deepseek_v3" in lines[0]


def test_compare_across_families():
    result = runner.invoke(app, ["compare", "kimi-k2", "deepseek-v3", "qwen3-235b-a22b", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    attention = next(r for r in data["config"] if r["field"] == "attention")
    assert attention["values"] == ["MLA 576 latent", "MLA 576 latent", "GQA 4×128"]


# ---------------------------------------------------------------------------------------------------
# Properties over random valid configs of each family, against hand arithmetic


@st.composite
def gqa_configs(draw, model_type: str, live: bool = False):
    """Random valid fields; `live` keeps what transformers also checks: hidden_size a multiple of the heads,
    the default special token ids (up to 128,004) inside the vocabulary, an even head_dim for RoPE."""
    heads_per_kv = draw(st.integers(1, 4))
    kv = draw(st.integers(1, 4))
    hidden = heads_per_kv * kv * draw(st.integers(1, 16)) if live else draw(st.integers(1, 256))
    vocab = draw(st.integers(130_000, 131_000)) if live else draw(st.integers(1, 3000))
    fields = dict(model_type=model_type, vocab_size=vocab, hidden_size=hidden,
                  intermediate_size=draw(st.integers(1, 512)), num_hidden_layers=draw(st.integers(1, 5)),
                  num_attention_heads=heads_per_kv * kv, num_key_value_heads=kv,
                  head_dim=2 * draw(st.integers(1, 32)) if live else draw(st.integers(1, 64)),
                  tie_word_embeddings=draw(st.booleans()))
    if model_type != "qwen2":
        fields["attention_bias"] = draw(st.booleans())
    if model_type == "qwen3_moe":
        experts = draw(st.integers(1, 16))
        fields.update(num_experts=experts, num_experts_per_tok=draw(st.integers(1, experts)),
                      moe_intermediate_size=draw(st.integers(1, 128)), decoder_sparse_step=draw(st.integers(1, 3)))
    return fields


def hand_total(c: dict) -> int:
    """Parameters of a Llama-style model from its fields, written out independently of k2calc."""
    H, L, V, hd = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"], c["head_dim"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    mt = c["model_type"]
    attn = H * q + 2 * H * kv + q * H
    if mt == "qwen2":
        attn += q + 2 * kv
    elif c.get("attention_bias"):
        attn += q + 2 * kv + H
    norms = 2 * H + {"qwen3": 2 * hd, "qwen3_moe": 2 * hd, "olmo2": q + kv}.get(mt, 0)
    total = 0
    for i in range(L):
        if mt == "qwen3_moe" and (i + 1) % c["decoder_sparse_step"] == 0:
            mlp = c["num_experts"] * (H + 3 * H * c["moe_intermediate_size"])
        else:
            mlp = 3 * H * c["intermediate_size"]
        total += attn + norms + mlp
    return total + V * H * (1 if c["tie_word_embeddings"] else 2) + H


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "olmo2", "smollm3"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_configs_of_each_family_count_as_written_by_hand(model_type, data):
    fields = data.draw(gqa_configs(model_type))
    r = count_params(generated_spec(fields))
    assert r.total == hand_total(fields)
    assert sum(r.breakdown.values()) == r.total and set(BREAKDOWN_KEYS) <= set(r.breakdown)
    assert 0 < r.active <= r.total


def test_every_family_has_a_property_test():
    from tests.test_families_2025 import FAMILIES_2025

    assert set(FAMILY_MODULES) - {"deepseek_v3", "deepseek_v32", "deepseek_v2", "kimi_k2"} == {
        "llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "olmo2", "smollm3", *FAMILIES_2025,
        "deepseek_v4", "kimi_linear"}  # random configs by hand: tests/test_deepseek_v4.py, tests/test_kimi_k3.py



@live
@pytest.mark.parametrize("model_type,family", [("llama", "Llama"), ("qwen3_moe", "Qwen3Moe"), ("olmo2", "Olmo2"),
                                               ("smollm3", "SmolLM3")])
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_random_configs_match_transformers_live(model_type, family, data, tmp_path_factory):
    from tests.test_transformers_crosscheck import live_counts

    ours, theirs = live_counts(data.draw(gqa_configs(model_type, live=True)), family, tmp_path_factory.mktemp("cfg"))
    assert ours == theirs


def test_explained_attention_flops_add_up_with_windowed_layers():
    from k2calc.explain import explain_flops

    # qwen2-tiny with two full layers beside two sliding ones (layer_types as transformers reads them).
    raw = json.loads((DATA / "qwen2-tiny.config.json").read_text())
    raw.update(num_hidden_layers=4, use_sliding_window=True, sliding_window=256, max_window_layers=2)
    cfg, _ = build_config(raw, "generated")
    arch = cfg.describe()
    assert [lay.attention.window.cap for lay in arch.layers] == [None, None, 256, 256]
    point = FlopsModel(arch).point(Phase.prefill, 1000, AttentionForm.naive)
    explained = {f.name: f.value for f in explain_flops(arch, point)}
    assert explained["attention_scores"] == point.by_component["attention_scores"]
    # By hand: 2 full layers × Σ t + 2 sliding layers × Σ min(t, 256), each × 2·12·32 per attended token.
    total = 2 * 12 * 32 * (2 * 1000 * 1001 // 2 + 2 * (256 * 257 // 2 + 744 * 256))
    assert point.by_component["attention_scores"] == (2 * total + 1000) // 2000


def test_qwen3_32b_is_32_8b_total_31_2b_non_embedding():
    r = count_params(load_preset("qwen3-32b"))
    assert round(r.total / 1e9, 1) == 32.8
    assert round((r.total - r.breakdown["embedding"] - r.breakdown["lm_head"]) / 1e9, 1) == 31.2


def test_plan_shards_k_and_v_projections_by_kv_heads_then_replicates():
    # Qwen3-235B-A22B on TP8: 4 KV heads, so each GPU holds one KV head's rows of k_proj (and of v_proj):
    # 94 layers × 128 rows × 4096 columns × 2 bytes, the other four GPUs holding copies.
    r = plan(load_preset("qwen3-235b-a22b"), get_gpu("h200"), Layout(tp=8), Workload(context=32768, batch=1))
    k = next(m for m in r.modules if m.module == "k_proj")
    assert k.bytes == 94 * 128 * 4096 * 2
    assert r.kv_bytes_per_token_layer == 1 * 128 * 2 * 2


def test_explained_kv_sequence_respects_windows():
    from k2calc.explain import explain_kv

    spec = load_path(DATA / "mistral-tiny.config.json")
    report = kv_cache(spec, [4096])
    f = {x.name: x for x in explain_kv(spec.arch, report)}
    assert f["bytes_per_sequence"].value == report.bytes_per_sequence == 4 * 960 * 512  # 4 layers, 512 kept


@pytest.mark.parametrize("model_type", ["llama", "qwen3", "qwen3_moe", "olmo2", "smollm3"])
@settings(max_examples=30, deadline=None)
@given(data=st.data(), n=st.integers(0, 10**6))
def test_random_configs_cache_and_attend_by_hand(model_type, data, n):
    fields = data.draw(gqa_configs(model_type))
    spec = generated_spec(fields)
    L, kv, hd, heads = (fields["num_hidden_layers"], fields["num_key_value_heads"], fields["head_dim"],
                        fields["num_attention_heads"])
    assert kv_cache(spec, [n + 1]).bytes_per_sequence == (n + 1) * L * kv * hd * 2 * 2  # K and V, bf16
    p = FlopsModel(spec.arch).point(Phase.decode, n, AttentionForm.absorbed)
    assert p.by_component["attention_scores"] + p.by_component["attention_values"] == L * 4 * heads * hd * (n + 1)


def test_flashmla_cache_layout_is_refused_for_gqa_models():
    result = runner.invoke(app, ["kv", "--preset", "qwen3-32b", "--kv-dtype", "fp8-flashmla", "--context", "4k"])
    assert result.exit_code == 2 and "fp8-flashmla" in result.stderr and "GQA" in result.stderr


def test_the_registry_names_each_model_type_its_adapter_declares():
    declared = {t: cls for cls in family_classes() for t in cls.MODEL_TYPES}
    assert declared == {t: family_class(t) for t in FAMILY_MODULES}


def test_an_unknown_key_one_edit_from_a_field_of_its_family_is_reported_as_a_typo(tmp_path):
    from k2calc.config import load_path

    preset = tmp_path / "mine.yaml"
    preset.write_text("name: mine\nconfig:\n  model_type: qwen3\n  vocab_size: 1000\n  hidden_size: 64\n"
                      "  intermediate_size: 128\n  num_hidden_layers: 2\n  num_attention_heads: 4\n"
                      "  num_key_value_heads: 2\n  head_dim: 16\n  rope_thetta: 10000\n")
    notes = load_path(preset).notes
    assert any("'rope_thetta'" in n and "'rope_theta'" in n for n in notes)
