"""Kimi-K3 (KimiLinearForCausalLM text model + MoonViT): the released checkpoint's tensor list, "2.8T / 104B",
the KDA state and MLA cache, FLOPs, against published figures and hand arithmetic from config fields.

transformers does not build K3 (its kimi_linear is Kimi-Linear-48B): exactness is proven against the
released checkpoint (tests/data/v4-k3-published.json, SOURCES.md; shapes in
docs/arch-notes/deepseek-v4-kimi-k3.md section 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k2calc.arch.description import AttentionKind
from k2calc.analysis.checkpoint import checkpoint_report, checkpoint_tensors, weight_format
from k2calc.config import build_config, load_preset
from k2calc.errors import InputError
from k2calc.analysis.flops import AttentionForm, FlopsModel, Phase
from k2calc.analysis.kv import kv_cache
from k2calc.analysis.params import count_params

DATA = Path(__file__).parent / "data"
PUBLISHED = json.loads((DATA / "v4-k3-published.json").read_text())
RAW = json.loads((DATA / "kimi-k3.config.json").read_text())
M = 2**20
H, V, L = 7168, 163840, 93
NH, DK, CONV = 96, 128, 4  # linear_attn_config
P = NH * DK


@pytest.fixture(scope="module")
def k3():
    return load_preset("kimi-k3")


def test_full_attn_layers_are_1_based_mla_the_rest_kda_and_layer_0_dense(k3):
    arch = k3.arch
    mla = [i for i, lay in enumerate(arch.layers) if lay.attention.kind is AttentionKind.MLA]
    assert mla == [i - 1 for i in range(4, 93, 4)] + [92] and len(mla) == 24
    assert sum(lay.attention.kind is AttentionKind.LINEAR for lay in arch.layers) == 69
    assert [lay.is_moe for lay in arch.layers[:2]] == [False, True]
    assert all(not lay.attention.rope and lay.attention.output_gate for lay in arch.layers if lay.attention.mla)


def test_checkpoint_tensors_elements_and_bytes_equal_the_release(k3):
    pub = PUBLISHED["checkpoints"]["kimi-k3"]
    r = checkpoint_report(k3)
    assert (r.tensors, r.elements, r.total_bytes) == (pub["tensors"], pub["stored_elements"], pub["tensor_bytes"])
    assert f"{r.total_gib:.2f}" == "1453.66"  # the model report's "1453.66 GB" (GiB)


def test_routed_experts_are_mxfp4_uint8_packed_with_a_scale_per_32(k3):
    stored, _ = checkpoint_tensors(k3, weight_format(k3.config))
    by_name = {s.name: (s.dtype, s.shape) for s in stored}
    e = "language_model.model.layers.1.block_sparse_moe.experts.{e}."
    assert by_name[e + "w1.weight_packed"] == ("U8", (3072, 3584 // 2))  # moe_intermediate × latent / 2
    assert by_name[e + "w1.weight_scale"] == ("U8", (3072, 3584 // 32))
    assert by_name[e + "w2.weight_packed"] == ("U8", (3584, 3072 // 2))
    assert by_name["language_model.model.layers.1.block_sparse_moe.routed_expert_down_proj.weight"] == \
        ("BF16", (3584, H))
    assert by_name["language_model.model.layers.0.self_attn.q_conv1d.weight"] == ("F32", (P, 1, CONV))
    assert by_name["language_model.lm_head.weight"] == ("BF16", (V, H))


def kda_layer() -> int:
    # q, k, v projections + fp32 convolutions, f_a/f_b, dt_bias, A_log, b_proj, g_proj, o_norm, o_proj
    return 3 * (P * H + P * CONV) + DK * H + P * DK + P + DK + NH * H + P * H + DK + H * P


def mla_layer() -> int:
    n, ql, r, nope, rope, v = 96, 1536, 512, 128, 64, 128
    return (ql * H + ql + n * (nope + rope) * ql + (r + rope) * H + r + n * (nope + v) * r
            + n * v * H + H * n * v)  # + g_proj (output gate) and o_proj


def test_text_model_parameters_by_hand(k3):
    E, I, lat, shared = 896, 3072, 3584, 2 * 3072
    common = 4 * H + 2 * H  # four norms and two [1, hidden] attention-residual pseudo-queries
    moe = E * H + lat * H + lat + H * lat + E * 3 * I * lat + 3 * shared * H
    dense = 3 * 33792 * H
    text = (69 * kda_layer() + 24 * mla_layer() + L * common + dense + 92 * moe
            + 2 * V * H + 2 * H + H)  # embed, lm_head; norm, output_attn_res_norm, output_attn_res_proj
    r = count_params(k3)
    assert r.transformers_count == text == 2_779_484_395_776
    assert r.buffers == 92 * E  # e_score_correction_bias


def test_vision_tower_by_hand(k3):
    vt, inter, qkv, text_h = 1024, 4096, 1536, H
    blocks = 27 * (3 * qkv * vt + vt * qkv + 2 * vt + 2 * inter * vt)
    projector = (4 * vt) ** 2 + text_h * 4 * vt + text_h
    assert count_params(k3).vision.total == vt * 3 * 14 * 14 + 64 * 64 * vt + blocks + vt + projector == 447_358_976


def test_2_8t_total_104b_active_and_the_hugging_face_page_count(k3):
    r = count_params(k3)
    assert round((r.transformers_count + r.vision.total) / 1e11) == 28  # "2.8T"
    # Hugging Face's page counts the router bias too (SOURCES.md, second-hand).
    assert r.total + r.vision.total == PUBLISHED["parameters"]["kimi-k3"]["hf_page_count"]
    # "104B": no input embedding, no vision, 16 of 896 experts; latent projections and shared experts count.
    assert r.active == r.total - V * H - 92 * (896 - 16) * 3 * 3072 * 3584
    assert round(r.active / 1e9) == 104


def test_kda_state_is_the_constant_part_and_mla_the_growing_part(k3):
    r = kv_cache(k3, [M])
    # vLLM kda_state_shape: recurrent (heads, dk, dk) fp32 + conv tails (K-1, heads·dk) for q, k, v in bf16.
    assert r.constant_bytes_per_request == 69 * (NH * DK * DK * 4 + 3 * (CONV - 1) * P * 2) == 449_372_160
    assert r.growing_bytes_per_token == 24 * (512 + 64) * 2 == 27_648  # the NoPE MLA still caches 576 values
    assert r.bytes_per_sequence == M * 27_648 + 449_372_160


def test_decode_flops_kda_constant_mla_grows(k3):
    n = 4096
    p = FlopsModel(k3.arch).point(Phase.decode, n, AttentionForm.absorbed)
    kda = 69 * 8 * NH * DK * DK  # read (S·k, q·S) and write (decay, rank-1 update) every head's state
    mla = 24 * 2 * 96 * ((512 + 64) + 512) * (n + 1)
    assert p.attention == kda + mla


def test_a_config_without_k3s_latent_moe_is_an_error_naming_the_field():
    text = {k: v for k, v in RAW["text_config"].items() if k != "routed_expert_hidden_size"}
    with pytest.raises(InputError, match="routed_expert_hidden_size"):
        build_config({**RAW, "text_config": text}, "config.json")


def test_compare_lines_up_the_five_models(run_json):
    r = run_json("compare", "deepseek-v3", "deepseek-v4-pro", "deepseek-v4-flash", "kimi-k2", "kimi-k3",
                 "--context", "1M")
    kv = {row["key"]: row["values"] for row in r["kv"]}
    assert kv["constant_bytes_per_request"][4] == 449_372_160
    assert kv["bytes_per_sequence"][0] == 61 * 576 * 2 * M  # DeepSeek-V3 bf16 MLA, per 1M sequence
    ck = {row["key"]: row["values"] for row in r["checkpoint"]}
    assert ck["tensors"] == [91_991, 145_116, 69_187, 139_644, 497_220]


@st.composite
def k3_configs(draw):
    L = draw(st.integers(1, 8))
    full = sorted(draw(st.sets(st.integers(1, L), max_size=L)))
    E = draw(st.integers(1, 8))
    text = {
        **RAW["text_config"], "num_hidden_layers": L, "hidden_size": draw(st.sampled_from([64, 96])),
        "vocab_size": draw(st.integers(10, 300)), "intermediate_size": draw(st.integers(1, 50)),
        "moe_intermediate_size": draw(st.sampled_from([32, 64])), "routed_expert_hidden_size": draw(st.sampled_from([32, 64])),
        "num_experts": E, "num_experts_per_token": draw(st.integers(1, E)), "num_shared_experts": draw(st.integers(0, 2)),
        "first_k_dense_replace": draw(st.integers(0, L)), "num_attention_heads": draw(st.integers(1, 4)),
        "q_lora_rank": draw(st.integers(1, 40)), "kv_lora_rank": draw(st.integers(1, 40)),
        "linear_attn_config": {**RAW["text_config"]["linear_attn_config"], "full_attn_layers": full,
                               "kda_layers": [i for i in range(1, L + 1) if i not in full],
                               "num_heads": draw(st.integers(1, 4)), "head_dim": draw(st.sampled_from([8, 16])),
                               "short_conv_kernel_size": draw(st.integers(2, 4))},
    }
    return {**RAW, "text_config": text}


@settings(max_examples=30, deadline=None)
@given(raw=k3_configs(), n=st.integers(0, 10**6))
def test_random_k3_configs_count_and_cache_by_hand(raw, n):
    from k2calc.config import ModelSpec

    c, la = raw["text_config"], raw["text_config"]["linear_attn_config"]
    h, nh, dk, k = c["hidden_size"], la["num_heads"], la["head_dim"], la["short_conv_kernel_size"]
    p, heads, ql, r = nh * dk, c["num_attention_heads"], c["q_lora_rank"], c["kv_lora_rank"]
    I, lat, E, shared = c["moe_intermediate_size"], c["routed_expert_hidden_size"], c["num_experts"], \
        c["moe_intermediate_size"] * c["num_shared_experts"]
    kda = 3 * (p * h + p * k) + dk * h + p * dk + p + dk + nh * h + p * h + dk + h * p
    mla = ql * h + ql + heads * 192 * ql + (r + 64) * h + r + heads * 256 * r + 2 * heads * 128 * h
    moe = E * h + 2 * lat * h + lat + E * 3 * I * lat + 3 * shared * h
    L, full = c["num_hidden_layers"], la["full_attn_layers"]
    text = sum((mla if i + 1 in full else kda) + 6 * h
               + (3 * c["intermediate_size"] * h if i < c["first_k_dense_replace"] else moe) for i in range(L))
    text += 2 * c["vocab_size"] * h + 3 * h
    cfg, _ = build_config(raw, "generated")
    spec = ModelSpec("x", cfg, "generated")
    assert count_params(spec).transformers_count == text
    kv = kv_cache(spec, [n + 1])
    state = (L - len(full)) * (nh * dk * dk * 4 + 3 * (k - 1) * p * 2)
    assert kv.bytes_per_sequence == (n + 1) * len(full) * (r + 64) * 2 + state


def test_plan_splits_kda_states_by_heads_and_replicates_the_mla_latent(k3):
    from k2calc.hardware import get_gpu
    from k2calc.analysis.plan import Layout, Workload, plan

    r = plan(k3, get_gpu("h200"), Layout(tp=8, dp=2, ep=16), Workload(context=M, batch=2))
    state = 69 * (NH * DK * DK * 4 + 3 * (CONV - 1) * P * 2) // 8  # 96 heads over 8 GPUs
    assert r.per_gpu.kv_cache == M * 24 * 576 * 2 + state  # one sequence per DP replica


def test_readme_k3_figures_are_the_ones_tested_here():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    state = 69 * (NH * DK * DK * 4 + 3 * (CONV - 1) * P * 2)
    for shown in ("497,220 tensors", "1,560,860,324,864", "447,358,976", "2,779,484,395,776", "104.19B",
                  f"{state / 2**20:.2f} MiB", f"{24 * 576 * 2:,} bytes per token"):
        assert shown in readme, shown


def test_explained_kv_sums_to_the_report(k3):
    from k2calc.explain import explain_kv

    r = kv_cache(k3, [M])
    f = {x.name: x.value for x in explain_kv(k3.arch, r)}
    assert f["bytes_per_sequence"] == r.bytes_per_sequence and f["bytes_per_token"] == r.bytes_per_token


def test_perf_reads_each_kda_state_and_the_mla_cache_once_per_step(run_json):
    r = run_json("perf", "-p", "kimi-k3", "--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2",
                 "--ep", "16", "--batch", "32", "--context", "64k")
    att = {o["name"]: o["bytes"] for o in r["components"] if o["kind"] == "attention"}
    seqs = 32 // 2  # per DP-attention replica
    assert att["attention (KDA)"] == 69 * seqs * (NH * DK * DK * 4 + 3 * (CONV - 1) * P * 2) // 8  # heads ÷ TP 8
    assert att["attention (absorbed MLA)"] == 24 * seqs * 65536 * 576 * 2
