"""Gemma 3, gpt-oss, Llama 4, GLM-4.5/4.7 and Mistral Small 3.1: windows, chunks, sinks, fused experts.

Every figure is pinned to a published one (SOURCES.md, "Other families (Gemma 3, gpt-oss, ...)"), to
hand arithmetic over the config fields written out here, or to transformers (golden files in
tests/golden, recomputed live in tests/test_transformers_crosscheck.py and below for random configs).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from k2calc.arch.description import QKNorm, WindowKind
from k2calc.analysis.checkpoint import checkpoint_report, checkpoint_tensors, weight_format
from k2calc.cli import app
from k2calc.config import load_preset
from k2calc.analysis.flops import AttentionForm, FlopsModel, Phase
from k2calc.hardware import get_gpu
from k2calc.analysis.kv import kv_cache
from k2calc.analysis.params import count_params
from k2calc.analysis.plan import Layout, Workload, plan

from .conftest import generated_spec, live

runner = CliRunner()
B = 10**9


# ---------------------------------------------------------------------------------------------------
# Published figures (SOURCES.md)


def test_gpt_oss_120b_is_117b_with_5_1b_active():
    r = count_params(load_preset("gpt-oss-120b"))
    assert round(r.total / B) == 117
    assert round(r.active / B, 1) == 5.1  # input embedding left out, output head counted, as published


def test_llama_4_maverick_is_400b_total_17b_active_counting_the_embedding_table():
    r = count_params(load_preset("llama-4-maverick"))
    assert 400 * B <= r.total < 401 * B  # 400.7B: the card truncates
    assert 17 * B <= r.active + r.breakdown["embedding"] < 17.5 * B


def test_glm_4_5_is_355b_total_32b_active_without_vocabulary_tables():
    # GLM's figures leave out every vocabulary table (embeddings and heads, the MTP copies too) and count
    # the MTP layer: 4 tables of vocab_size × hidden_size.
    r = count_params(load_preset("glm-4.5"))
    table = 151552 * 5120
    assert r.breakdown["embedding"] == r.breakdown["lm_head"] == table
    assert round((r.total + r.mtp - 4 * table) / B) == 355
    assert round((r.active - table) / B) == 32


def test_glm_4_5_fp8_checkpoint_holds_358_458_543_424_elements_in_88_543_tensors():
    r = checkpoint_report(load_preset("glm-4.5"), "fp8-channel")
    assert (r.elements, r.tensors) == (358_458_543_424, 88_543)


def test_mistral_small_3_1_text_model_is_23_6b_with_its_head_untied():
    spec = load_preset("mistral-small-3.1")
    r = count_params(spec)
    assert round(r.total / B, 1) == 23.6
    assert not spec.arch.tie_word_embeddings
    assert r.breakdown["lm_head"] == 131072 * 5120  # the released checkpoint's separate output head


def test_mistral_small_3_1_with_its_pixtral_tower_is_24b():
    r = count_params(load_preset("mistral-small-3.1"))
    assert r.vision is not None and r.vision.tower == "Pixtral"
    assert round((r.total + r.vision.total) / B) == 24


# ---------------------------------------------------------------------------------------------------
# Gemma 3: compact config, transformers' Gemma3TextConfig defaults, 5 sliding layers per global one


def test_gemma3_compact_config_takes_gemma3_text_defaults():
    arch = load_preset("gemma-3-27b").arch
    assert arch.model_type == "gemma3_text"
    assert arch.vocab_size.value == 262_208  # absent from text_config: Gemma3TextConfig's default
    assert arch.tie_word_embeddings  # Gemma3TextConfig default
    assert arch.attention.head_dim.value == 128 != 5376 // 32  # its own field, not hidden / heads


def test_gemma3_every_sixth_layer_is_global():
    arch = load_preset("gemma-3-27b").arch
    full = [i for i, lay in enumerate(arch.layers) if lay.attention.window.kind is WindowKind.FULL]
    assert full == list(range(5, 62, 6))  # 10 global layers, 52 sliding over 1024 tokens
    assert {lay.attention.window.cap for lay in arch.layers} == {None, 1024}


def test_gemma3_sandwich_norms_and_qk_norm_by_hand():
    # 4 norms of hidden_size and q_norm/k_norm of head_dim per layer, plus the final norm.
    r = count_params(load_preset("gemma-3-27b"))
    assert r.breakdown["norms"] == 62 * (4 * 5376 + 2 * 128) + 5376
    assert r.breakdown["lm_head"] == 0  # tied


def test_gemma3_kv_of_a_128k_sequence_respects_the_windows():
    # 16 KV heads × 128 × K and V × bf16 = 8,192 bytes per token per layer; 10 global layers keep every
    # token, 52 sliding layers keep 1,024.
    r = kv_cache(load_preset("gemma-3-27b"), [131072])
    assert r.bytes_per_token == 62 * 8192
    assert r.bytes_per_sequence == 10 * 131072 * 8192 + 52 * 1024 * 8192
    assert {(t.count, t.window, t.tokens_kept, t.bytes_per_sequence) for t in r.layer_types} == {
        (52, 1024, 1024, 52 * 1024 * 8192), (10, None, 131072, 10 * 131072 * 8192)}
    assert r.full_attention_bytes_per_sequence == 62 * 131072 * 8192  # what no window would cost


def test_kv_view_shows_a_row_per_layer_type_and_the_full_attention_cost():
    result = runner.invoke(app, ["kv", "--preset", "gpt-oss-120b", "--context", "4k"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["18", "GQA", "8×64,", "sliding", "128,", "sinks", "2,048", "128", "4.50", "MiB"] in rows  # 18 × 2,048 × 128
    assert ["18", "GQA", "8×64,", "sinks", "2,048", "4,096", "144.00", "MiB"] in rows
    assert ["36", "every", "layer", "with", "full", "attention", "4,096", "288.00", "MiB"] in rows


# ---------------------------------------------------------------------------------------------------
# gpt-oss: sinks, alternating 128-token window, biased experts, MXFP4


def test_gpt_oss_attention_by_hand_with_biases_and_sinks():
    # q: 64·64 × 2880 + bias, k and v: 8·64 × 2880 + bias, o: 2880 × 64·64 + bias, sinks: one per head.
    r = count_params(load_preset("gpt-oss-120b"))
    per_layer = (4096 * 2880 + 4096) + 2 * (512 * 2880 + 512) + (2880 * 4096 + 2880) + 64
    assert r.breakdown["attention"] == 36 * per_layer
    assert r.breakdown["router"] == 36 * (128 * 2880 + 128)  # router weight and bias


def test_gpt_oss_experts_carry_biases_and_no_shared_expert():
    r = count_params(load_preset("gpt-oss-120b"))
    assert r.breakdown["routed_experts"] == 36 * 128 * (3 * 2880 * 2880 + 2 * 2880 + 2880)
    assert r.breakdown["shared_experts"] == 0


def test_gpt_oss_kv_keeps_128_tokens_in_sliding_layers():
    # 8 KV heads × 64 × 2 × 2 bytes = 2,048 per token per layer; even layers slide over 128 tokens.
    r = kv_cache(load_preset("gpt-oss-120b"), [100, 131072])
    assert r.sweep[0].bytes_per_sequence == 100 * 36 * 2048
    assert r.sweep[1].bytes_per_sequence == 18 * 131072 * 2048 + 18 * 128 * 2048


def test_gpt_oss_decode_attends_to_at_most_128_tokens_in_sliding_layers():
    # 4,096 cached tokens: full layers attend to 4,097, sliding ones to 128; 2·heads·head_dim each.
    p = FlopsModel(load_preset("gpt-oss-120b").arch).point(Phase.decode, 4096, AttentionForm.absorbed)
    assert p.by_component["attention_scores"] == 2 * 64 * 64 * (18 * 4097 + 18 * 128)


def test_gpt_oss_mxfp4_checkpoint_by_hand():
    # Per layer and expert: gate_up [2·2880, 2880] and down [2880, 2880] as uint8 blocks (two values a
    # byte: in/2 per row) and uint8 scales (in/32 per row); everything else bf16 elements.
    r = checkpoint_report(load_preset("gpt-oss-120b"))
    H, I, E, L, V = 2880, 2880, 128, 36, 201088
    packed = E * (2 * I * H // 2 + H * I // 2) + E * (2 * I * H // 32 + H * I // 32)
    bf16 = (4096 * H + 4096) + 2 * (512 * H + 512) + (H * 4096 + H) + 64 + 2 * H + (E * H + E) + E * (2 * I + H)
    assert r.elements == L * (packed + bf16) + 2 * V * H + H
    assert r.total_bytes == L * (packed + 2 * bf16) + 2 * (2 * V * H + H)
    assert r.by_dtype["U8"].elements == L * packed


def test_gpt_oss_checkpoint_fuses_each_layers_experts_as_released():
    spec = load_preset("gpt-oss-120b")
    stored = {s.name: (s.shape, s.dtype) for s in checkpoint_tensors(spec, weight_format(spec.config))[0]}
    p = "model.layers.0.mlp.experts"
    assert stored[f"{p}.gate_up_proj_blocks"] == ((128, 5760, 90, 16), "U8")
    assert stored[f"{p}.gate_up_proj_scales"] == ((128, 5760, 90), "U8")
    assert stored[f"{p}.gate_up_proj_bias"] == ((128, 5760), "BF16")
    assert stored[f"{p}.down_proj_blocks"] == ((128, 2880, 90, 16), "U8")
    assert stored["model.layers.0.mlp.router.weight"] == ((128, 2880), "BF16")
    assert stored["model.layers.0.self_attn.sinks"] == ((64,), "BF16")


def test_gpt_oss_plan_splits_its_8_kv_heads_and_caps_sliding_layers():
    r = plan(load_preset("gpt-oss-120b"), get_gpu("h100"), Layout(tp=8), Workload(context=32768, batch=1))
    per_head = 64 * 2 * 2  # one KV head per GPU
    assert r.kv_bytes_per_token_layer == per_head
    assert r.per_gpu.kv_cache == 18 * 32768 * per_head + 18 * 128 * per_head


# ---------------------------------------------------------------------------------------------------
# Llama 4: MoE on alternate layers, dense layers of intermediate_size_mlp, NoPE + chunked attention


def test_llama4_moe_on_odd_layers_nope_every_fourth_derived_as_transformers_does():
    arch = load_preset("llama-4-maverick").arch
    assert [i for i, lay in enumerate(arch.layers) if lay.is_moe] == list(range(1, 48, 2))
    nope = [i for i, lay in enumerate(arch.layers) if not lay.attention.rope]
    assert nope == list(range(3, 48, 4))
    chunked = [i for i, lay in enumerate(arch.layers) if lay.attention.window.kind is WindowKind.CHUNKED]
    assert chunked == [i for i in range(48) if i not in nope]


def test_llama4_mlp_widths_by_hand():
    # 24 dense layers of intermediate_size_mlp 16384; 24 MoE layers: 128 experts + 1 shared of 8192.
    r = count_params(load_preset("llama-4-maverick"))
    assert r.breakdown["dense_mlp"] == 24 * 3 * 5120 * 16384
    assert r.breakdown["routed_experts"] == 24 * 128 * 3 * 5120 * 8192
    assert r.breakdown["shared_experts"] == 24 * 3 * 5120 * 8192
    assert r.breakdown["router"] == 24 * 128 * 5120


def test_llama4_chunked_layers_cache_at_most_one_chunk():
    # 8 KV heads × 128 × 2 × 2 bytes = 4,096 per token per layer; 36 chunked layers keep 8,192 tokens.
    r = kv_cache(load_preset("llama-4-maverick"), [131072])
    assert r.bytes_per_sequence == 12 * 131072 * 4096 + 36 * 8192 * 4096


def test_llama4_decode_attends_within_the_current_chunk():
    # 10,000 cached tokens: the new token is position 10,000, the 1,809th of its chunk of 8,192.
    p = FlopsModel(load_preset("llama-4-maverick").arch).point(Phase.decode, 10_000, AttentionForm.absorbed)
    assert p.by_component["attention_scores"] == 2 * 40 * 128 * (12 * 10_001 + 36 * (10_000 % 8192 + 1))


def test_llama4_checkpoint_stores_fused_experts_under_feed_forward():
    spec = load_preset("llama-4-maverick")
    stored = {s.name: s.shape for s in checkpoint_tensors(spec, weight_format(spec.config))[0]}
    p = "language_model.model.layers.1.feed_forward"
    assert stored[f"{p}.experts.gate_up_proj"] == (128, 5120, 2 * 8192)
    assert stored[f"{p}.experts.down_proj"] == (128, 8192, 5120)
    assert stored[f"{p}.router.weight"] == (128, 5120)
    assert stored[f"{p}.shared_expert.down_proj.weight"] == (5120, 8192)
    assert stored["language_model.model.layers.0.feed_forward.gate_proj.weight"] == (16384, 5120)


# ---------------------------------------------------------------------------------------------------
# GLM-4.5 / 4.7: DeepSeek-style MoE on GQA, partial RoPE, QK-norm, q/k/v bias, one MTP layer


def test_glm_attention_by_hand():
    # q: 96·128 × 5120 + bias, k and v: 8·128 × 5120 + bias, o: 5120 × 96·128 (no bias), q/k norms of 128.
    spec = load_preset("glm-4.5")
    r = count_params(spec)
    per_layer = (12288 * 5120 + 12288) + 2 * (1024 * 5120 + 1024) + 5120 * 12288
    assert r.breakdown["attention"] == 92 * per_layer
    att = spec.arch.attention
    assert att.qk_norm is QKNorm.PER_HEAD and att.partial_rotary_factor == 0.5


def test_glm_mtp_layer_is_a_moe_layer_with_its_own_embedding_and_head():
    r = count_params(load_preset("glm-4.5"))
    H, V = 5120, 151552
    layer = ((12288 * H + 12288) + 2 * (1024 * H + 1024) + H * 12288 + 2 * 128 + 2 * H  # attention, norms
             + 160 * H + 160 + 160 * 3 * H * 1536 + 3 * H * 1536)  # router + bias, experts, shared expert
    assert r.mtp == layer + 2 * V * H + 2 * H + H * 2 * H + H  # embed, head, enorm, hnorm, eh_proj, head norm


def test_glm_mtp_draft_layer_caches_like_a_decoder_layer():
    # 92 decoder layers + 1 MTP layer, each 8 KV heads × 128 × K and V × bf16 = 4,096 bytes per token;
    # the draft layer's weights are the MTP parameters written out above, 2 bytes each in the bf16 release,
    # but the router's 160-value e_score_correction_bias in float32 (transformers' Glm4MoeTopkRouter buffer).
    H, V = 5120, 151552
    layer = ((12288 * H + 12288) + 2 * (1024 * H + 1024) + H * 12288 + 2 * 128 + 2 * H
             + 160 * H + 160 + 160 * 3 * H * 1536 + 3 * H * 1536)
    mtp_params = layer + 2 * V * H + 2 * H + H * 2 * H + H  # = 5,539,962,272
    r = kv_cache(load_preset("glm-4.5"), [131072], mtp=True)
    assert r.layers == 93 and r.bytes_per_token == 93 * 4096
    assert r.bytes_per_sequence == 93 * 4096 * 131072
    assert (r.mtp_params, r.mtp_weight_bytes) == (mtp_params, 2 * mtp_params + 160 * 2)


def test_glm_4_7_differs_from_glm_4_5_only_in_context():
    a, b = count_params(load_preset("glm-4.5")), count_params(load_preset("glm-4.7"))
    assert (a.total, a.mtp) == (b.total, b.mtp)
    assert load_preset("glm-4.7").arch.max_position_embeddings == 202_752


# ---------------------------------------------------------------------------------------------------
# Every command works across the families


def test_done_when_compare_prints_one_side_by_side_report():
    models = ["kimi-k2", "deepseek-v3", "llama-4-maverick", "qwen3-235b-a22b", "gemma-3-27b", "gpt-oss-120b"]
    result = runner.invoke(app, ["compare", *models, "-f", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["models"] == models
    attention = next(r for r in data["config"] if r["field"] == "attention")["values"]
    assert attention == ["MLA 576 latent", "MLA 576 latent",
                         "GQA 8×128, chunked 8192 (36) + GQA 8×128, no RoPE (12)", "GQA 4×128",
                         "GQA 16×128, sliding 1024 (52) + GQA 16×128 (10)",
                         "GQA 8×64, sliding 128, sinks (18) + GQA 8×64, sinks (18)"]
    total = next(r for r in data["params"] if r["key"] == "total")["values"]
    assert total == [count_params(load_preset(m)).total for m in models]


@pytest.mark.parametrize("preset", ["gemma-3-27b", "gpt-oss-120b", "llama-4-maverick", "glm-4.5", "glm-4.7",
                                    "mistral-small-3.1"])
@pytest.mark.parametrize("command", [["params", "--explain"], ["flops", "--explain", "--context", "32k"],
                                     ["kv", "--explain", "--context", "32k"], ["checkpoint"],
                                     ["plan", "--gpu", "h100", "--gpus", "8", "--tp", "8", "--context", "32k"]])
def test_every_command_runs_on_every_new_preset(preset, command):
    result = runner.invoke(app, [*command, "--preset", preset, "-f", "json"])
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)


def test_explained_kv_sequence_of_gemma3_sums_its_layer_types():
    from k2calc.explain import explain_kv

    spec = load_preset("gemma-3-27b")
    report = kv_cache(spec, [4096])
    f = {x.name: x for x in explain_kv(spec.arch, report)}
    assert f["bytes_per_sequence"].value == 10 * 4096 * 8192 + 52 * 1024 * 8192


# ---------------------------------------------------------------------------------------------------
# Properties over random valid configs of each family, against hand arithmetic


@st.composite
def family_configs(draw, model_type: str, live: bool = False):
    """Random valid fields of one family; `live` keeps what transformers also checks (hidden_size a
    multiple of the heads, special token ids inside the vocabulary, an even head_dim for RoPE)."""
    kv = draw(st.integers(1, 4))
    heads = kv * draw(st.integers(1, 4))
    hidden = heads * draw(st.integers(1, 8)) if live else draw(st.integers(1, 256))
    head_dim = 2 * draw(st.integers(1, 16)) if live or model_type == "glm4_moe" else draw(st.integers(1, 64))
    L = draw(st.integers(1, 8))
    f = dict(model_type=model_type, vocab_size=draw(st.integers(262_300, 263_000)) if live else draw(st.integers(1, 3000)),
             hidden_size=hidden, intermediate_size=draw(st.integers(1, 256)), num_hidden_layers=L,
             num_attention_heads=heads, num_key_value_heads=kv, head_dim=head_dim,
             tie_word_embeddings=draw(st.booleans()), attention_bias=draw(st.booleans()))
    experts = draw(st.integers(1, 8))
    top_k = draw(st.integers(1, experts))
    if model_type == "gemma3_text":
        f.update(sliding_window=draw(st.integers(1, 4096)), sliding_window_pattern=draw(st.integers(1, 8)))
    elif model_type == "gpt_oss":
        f.update(num_local_experts=experts, num_experts_per_tok=top_k, sliding_window=draw(st.integers(1, 512)))
    elif model_type == "llama4_text":
        f.update(num_local_experts=experts, num_experts_per_tok=top_k,
                 intermediate_size_mlp=draw(st.integers(1, 256)), interleave_moe_layer_step=draw(st.integers(1, 3)),
                 no_rope_layer_interval=draw(st.integers(1, 5)), attention_chunk_size=draw(st.integers(1, 9000)),
                 use_qk_norm=draw(st.booleans()))
    elif model_type == "glm4_moe":
        f.update(n_routed_experts=experts, num_experts_per_tok=top_k, moe_intermediate_size=draw(st.integers(1, 128)),
                 n_shared_experts=draw(st.integers(1 if live else 0, 2)),  # transformers: 0 = an empty MLP
                 first_k_dense_replace=draw(st.integers(0, L)),
                 use_qk_norm=draw(st.booleans()), num_nextn_predict_layers=draw(st.integers(0, 2)),
                 n_group=1, topk_group=1)
    return f


def hand_total(c: dict) -> int:
    """Main-model parameters of a config of these families, written out independently of k2calc."""
    mt, H, L, V, hd = c["model_type"], c["hidden_size"], c["num_hidden_layers"], c["vocab_size"], c["head_dim"]
    q, kv, I = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd, c["intermediate_size"]
    bias = c["attention_bias"]
    attn = H * q + 2 * H * kv + q * H
    if mt == "glm4_moe":
        attn += (q + 2 * kv if bias else 0) + (2 * hd if c["use_qk_norm"] else 0)
    else:
        attn += q + 2 * kv + H if bias else 0
    norms = 2 * H
    if mt == "gemma3_text":
        norms, attn = 4 * H, attn + 2 * hd  # sandwich norms, q_norm/k_norm
    if mt == "gpt_oss":
        attn += c["num_attention_heads"]  # sinks
    total = 0
    for i in range(L):
        if mt == "gpt_oss":
            E = c["num_local_experts"]
            mlp = E * H + E + E * (3 * H * I + 2 * I + H)
        elif mt == "llama4_text":
            step = c["interleave_moe_layer_step"]
            E = c["num_local_experts"]
            mlp = E * H + (E + 1) * 3 * H * I if i % step == step - 1 else 3 * H * c["intermediate_size_mlp"]
        elif mt == "glm4_moe":
            E, W = c["n_routed_experts"], c["moe_intermediate_size"]
            moe = E * H + E + E * 3 * H * W + 3 * H * W * c["n_shared_experts"]
            mlp = 3 * H * I if i < c["first_k_dense_replace"] else moe
        else:
            mlp = 3 * H * I
        total += attn + norms + mlp
    return total + V * H * (1 if c["tie_word_embeddings"] else 2) + H


def _windows(c: dict) -> list[int | None]:
    """Tokens each layer keeps (None: all), from the family's documented rule, by hand."""
    mt, L = c["model_type"], c["num_hidden_layers"]
    if mt == "gemma3_text":
        return [c["sliding_window"] if (i + 1) % c["sliding_window_pattern"] else None for i in range(L)]
    if mt == "gpt_oss":
        return [c["sliding_window"] if i % 2 == 0 else None for i in range(L)]
    if mt == "llama4_text":
        return [c["attention_chunk_size"] if (i + 1) % c["no_rope_layer_interval"] else None for i in range(L)]
    return [None] * L


FAMILIES_2025 = ["gemma3_text", "gpt_oss", "llama4_text", "glm4_moe"]


@pytest.mark.parametrize("model_type", FAMILIES_2025)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_configs_count_as_written_by_hand(model_type, data):
    fields = data.draw(family_configs(model_type))
    r = count_params(generated_spec(fields))
    assert r.total == hand_total(fields)
    assert sum(r.breakdown.values()) == r.total
    assert 0 < r.active <= r.total


@pytest.mark.parametrize("model_type", FAMILIES_2025)
@settings(max_examples=30, deadline=None)
@given(data=st.data(), n=st.integers(0, 20_000))
def test_random_configs_cache_and_attend_within_their_windows(model_type, data, n):
    fields = data.draw(family_configs(model_type))
    spec = generated_spec(fields)
    per_layer = fields["num_key_value_heads"] * fields["head_dim"] * 2 * 2  # K and V, bf16
    windows = _windows(fields)
    kept = sum(n + 1 if w is None else min(n + 1, w) for w in windows)
    assert kv_cache(spec, [n + 1]).bytes_per_sequence == kept * per_layer
    # Decode: sliding layers attend to the last `w` tokens, chunked layers (Llama 4) to their chunk so far.
    chunked = model_type == "llama4_text"
    attended = sum(n + 1 if w is None else (n % w) + 1 if chunked else min(n + 1, w) for w in windows)
    p = FlopsModel(spec.arch).point(Phase.decode, n, AttentionForm.absorbed)
    heads, hd = fields["num_attention_heads"], fields["head_dim"]
    assert p.by_component["attention_scores"] + p.by_component["attention_values"] == 4 * heads * hd * attended



@live
@pytest.mark.parametrize("model_type,family", [("gemma3_text", "Gemma3Text/Gemma3"), ("gpt_oss", "GptOss"),
                                               ("llama4_text", "Llama4Text/Llama4"), ("glm4_moe", "Glm4Moe")])
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_random_configs_match_transformers_live(model_type, family, data, tmp_path_factory):
    from tests.test_transformers_crosscheck import live_counts

    ours, theirs = live_counts(data.draw(family_configs(model_type, live=True)), family, tmp_path_factory.mktemp("cfg"))
    assert ours == theirs


@pytest.mark.parametrize("preset,setting,named", [
    ("gpt-oss-120b", "num_experts_per_tok=200", "num_local_experts (128)"),
    ("glm-4.5", "num_experts_per_tok=161", "n_routed_experts (160)"),
    ("llama-4-maverick", "interleave_moe_layer_step=0", "interleave_moe_layer_step"),
    ("gemma-3-27b", "sliding_window_pattern=0", "sliding_window_pattern"),
])
def test_an_impossible_what_if_is_one_line_naming_the_field(preset, setting, named):
    result = runner.invoke(app, ["params", "--preset", preset, "--set", setting])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in result.stderr


def test_flops_title_names_no_mla_form_for_gqa_models():
    result = runner.invoke(app, ["flops", "--preset", "llama-4-maverick", "--context", "4k", "-f", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["mla"] is False
    table = runner.invoke(app, ["flops", "--preset", "llama-4-maverick", "--context", "4k"]).stdout
    assert "MLA" not in table.splitlines()[0]


def test_glm_attention_label_names_its_partial_rope():
    assert load_preset("glm-4.5").arch.attention.describe() == "GQA 8×128, RoPE on 0.5 of head_dim"


def test_a_gemma3_text_config_without_model_type_reads_with_gemma3_text_defaults(tmp_path):
    # The compact multimodal form: text_config holds a few fields and no model_type.
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "gemma3", "text_config": {"hidden_size": 1152, "num_hidden_layers": 6}}))
    result = runner.invoke(app, ["params", "--config", str(path), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    # Gemma3TextConfig defaults: vocab 262,208 (tied), 8 heads / 4 KV heads of 256, intermediate 9216, window on 5
    # of every 6 layers; sandwich norms and q/k norms.
    H, V, q, kv, I = 1152, 262_208, 8 * 256, 4 * 256, 9216
    per_layer = H * q + 2 * H * kv + q * H + 2 * 256 + 4 * H + 3 * H * I
    assert json.loads(result.stdout)["total"] == 6 * per_layer + V * H + H


def test_plan_splits_gpt_oss_gate_up_biases_with_their_rows_and_keeps_down_biases_whole():
    # TP 8, no EP: every GPU holds all 128 experts; gate/up biases [2880] split in 8, down_proj's [2880] whole.
    r = plan(load_preset("gpt-oss-120b"), get_gpu("h100"), Layout(tp=8), Workload(context=4096, batch=1))
    rows = {m.module: m for m in r.modules}
    assert rows["experts.gate_proj.bias"].bytes == 36 * 128 * 2880 // 8 * 2
    assert rows["experts.down_proj.bias"].bytes == 36 * 128 * 2880 * 2
    assert rows["experts.down_proj.bias"].sharding == "128 experts/GPU"


def test_plan_splits_attention_biases_and_sinks_with_their_heads():
    # gpt-oss-120b on TP 8: q_proj's bias and the 64 sinks by query heads, k/v biases by the 8 KV heads,
    # o_proj's bias whole (added once after the row-parallel reduction); bf16, 36 layers.
    r = plan(load_preset("gpt-oss-120b"), get_gpu("h100"), Layout(tp=8), Workload(context=4096, batch=1))
    rows = {m.module: m.bytes for m in r.modules}
    assert rows["q_proj.bias"] == 36 * 4096 // 8 * 2
    assert rows["k_proj.bias"] == 36 * 64 * 2  # one KV head of 64 per GPU
    assert rows["sinks"] == 36 * 64 // 8 * 2
    assert rows["o_proj.bias"] == 36 * 2880 * 2


def test_kv_window_note_names_only_the_windowed_layers():
    # Gemma 3 27B at 128k: the 52 sliding layers are the windowed ones (not the 10 global layers); full
    # attention everywhere would cache 62 layers × 131,072 tokens × 8,192 bytes = 66,571,993,088 bytes.
    notes = kv_cache(load_preset("gemma-3-27b"), [131072]).notes
    assert ("windowed layers keep at most their window of tokens: 52 × GQA 16×128, sliding 1024; with full "
            "attention in every layer a sequence would cache 66,571,993,088 bytes") in notes
