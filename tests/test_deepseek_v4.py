"""DeepSeek-V4 (Pro, Flash): parameters, checkpoint bytes, KV cache and FLOPs against published figures,
transformers 5.24's DeepseekV4ForCausalLM, the released checkpoints' tensor lists and hand arithmetic.

Published figures and their sources: tests/data/v4-k3-published.json and SOURCES.md; every formula is
derived in docs/arch-notes/deepseek-v4-kimi-k3.md.
"""

from __future__ import annotations

import json
from math import ceil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k2calc.arch.description import AttentionKind
from k2calc.arch.tensors import build_tensors
from k2calc.analysis.checkpoint import checkpoint_report, verify
from k2calc.config import load_path
from k2calc.errors import InputError
from k2calc.analysis.params import count_params

DATA = Path(__file__).parent / "data"
PUBLISHED = json.loads((DATA / "v4-k3-published.json").read_text())
PRO, FLASH = DATA / "deepseek-v4-pro.config.json", DATA / "deepseek-v4-flash.config.json"


@pytest.fixture(scope="module")
def pro():
    return load_path(PRO)


@pytest.fixture(scope="module")
def flash():
    return load_path(FLASH)


# ---------------------------------------------------------------------------------------------------
# Layer schedule


def test_compress_ratios_choose_each_layers_branch_and_the_tail_is_mtps(pro, flash):
    def ratios(spec):
        return [lay.attention.shared_kv.compress_ratio.value for lay in spec.arch.layers]

    # Pro: 128, 128, then 4/128 alternating; Flash: 0, 0, then 4/128 alternating, layer 42 = 4.
    assert ratios(pro) == [128, 128] + [4, 128] * 29 + [4]
    assert ratios(flash) == [0, 0] + [4, 128] * 20 + [4]
    assert [lay.attention.shared_kv.compress_ratio.value for lay in pro.arch.mtp] == [0]
    assert all(lay.attention.kind is AttentionKind.SHARED_KV for lay in pro.arch.all_layers)
    assert [i for i, lay in enumerate(pro.arch.layers) if lay.attention.indexer] == list(range(2, 61, 2))


def test_first_num_hash_layers_route_by_table_and_every_layer_is_moe(pro):
    assert [lay.mlp.hash_routed for lay in pro.arch.layers[:4]] == [True, True, True, False]
    assert all(lay.is_moe for lay in pro.arch.all_layers)
    assert not pro.arch.mtp[0].mlp.hash_routed


def test_a_short_compress_ratios_list_is_an_error_naming_the_field(tmp_path, run):
    raw = json.loads(FLASH.read_text())
    raw["compress_ratios"] = raw["compress_ratios"][:43]  # the MTP block's entry missing
    (tmp_path / "config.json").write_text(json.dumps(raw))
    result = run("params", "--config", str(tmp_path / "config.json"))
    assert result.exit_code == 2
    assert "compress_ratios" in result.stderr and "44" in result.stderr


# ---------------------------------------------------------------------------------------------------
# Parameters


def test_parameters_equal_transformers_meta_device_count(pro, flash):
    # transformers 5.24.0 DeepseekV4ForCausalLM on the meta device (router bias and tid2eid are buffers).
    assert count_params(pro).transformers_count == 1_572_997_179_491
    assert count_params(flash).transformers_count == 284_332_230_231


def test_pro_is_1_6t_with_its_mtp_block_and_49b_active(pro):
    r = count_params(pro)
    assert round((r.total + r.mtp) / 1e11) == 16  # "1.6T"
    assert round(r.active / 1e9) == 49  # "49B": no input embedding, 6 of 384 experts, no MTP


def test_flash_is_284b_without_mtp_and_13b_active(flash):
    r = count_params(flash)
    assert round(r.total / 1e9) == 284 and round(r.active / 1e9) == 13


def test_active_is_main_model_minus_embedding_and_idle_experts_by_hand(flash):
    # 43 layers x (256 - 6) idle experts x 3·2048·4096 values; embedding 129280 x 4096; router biases
    # (43 - 3 hash layers) x 256 are buffers counted in total (the V3 convention).
    r = count_params(flash)
    assert r.active == r.total - 129280 * 4096 - 43 * (256 - 6) * 3 * 2048 * 4096
    assert r.buffers == (43 - 3) * 256


def test_mhc_mixers_and_grouped_output_projection_by_hand(pro):
    mods = {t.name: t.dims for t in build_tensors(pro.arch) if t.layer == 5}
    H, hc = 7168, 4
    assert mods["layers.5.hc_attn_fn"] == ((2 + hc) * hc, hc * H)
    assert mods["layers.5.hc_ffn_scale"] == (3,)
    assert mods["layers.5.attn.wkv.weight"] == (512, H)  # one KV head, K = V
    assert mods["layers.5.attn.wo_a.weight"] == (16 * 1024, 128 * 512 // 16)
    assert mods["layers.5.attn.wo_b.weight"] == (H, 16 * 1024)
    assert mods["layers.5.attn.compressor.wkv.weight"] == (512, H)  # ratio 128: one series


def test_ratio_4_layers_have_two_series_and_an_indexer_without_wk(pro):
    mods = {t.name: t.dims for t in build_tensors(pro.arch) if t.layer == 4}
    assert mods["layers.4.attn.compressor.wkv.weight"] == (2 * 512, 7168)
    assert mods["layers.4.attn.compressor.ape"] == (4, 2 * 512)
    assert mods["layers.4.attn.indexer.wq_b.weight"] == (64 * 128, 1536)
    assert mods["layers.4.attn.indexer.compressor.wkv.weight"] == (2 * 128, 7168)
    assert not any(n.endswith("indexer.wk.weight") for n in mods)


# ---------------------------------------------------------------------------------------------------
# Checkpoint bytes as released


@pytest.mark.parametrize("name", ["deepseek-v4-pro", "deepseek-v4-flash"])
def test_checkpoint_tensors_elements_and_bytes_equal_the_released_index(name):
    pub = PUBLISHED["checkpoints"][name]
    r = checkpoint_report(load_path(DATA / f"{name}.config.json"))
    assert (r.tensors, r.elements, r.total_bytes) == (pub["tensors"], pub["stored_elements"], pub["tensor_bytes"])


def test_pro_checkpoint_is_805_32_gib_as_the_model_report_prints(pro):
    assert f"{checkpoint_report(pro).total_gib:.2f}" == "805.32"


def test_flash_tensors_per_dtype_and_under_mtp_equal_the_released_manifest(flash):
    pub = PUBLISHED["checkpoints"]["deepseek-v4-flash"]
    r = checkpoint_report(flash)
    assert {d: v.tensors for d, v in r.by_dtype.items()} == pub["dtype_counts"]
    assert r.mtp.tensors == pub["mtp_tensors"]


# A two-layer V4 with every branch: layer 0 hash-routed, window only; layer 1 ratio 4 (indexer); MTP ratio 128.
TINY = {
    "model_type": "deepseek_v4", "architectures": ["DeepseekV4ForCausalLM"], "torch_dtype": "bfloat16",
    "vocab_size": 64, "hidden_size": 256, "moe_intermediate_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 128, "qk_rope_head_dim": 32,
    "q_lora_rank": 96, "o_groups": 2, "o_lora_rank": 64, "sliding_window": 16, "compress_ratios": [0, 4, 128],
    "index_n_heads": 2, "index_head_dim": 64, "index_topk": 8, "hc_mult": 2, "n_routed_experts": 2,
    "num_experts_per_tok": 1, "n_shared_experts": 1, "num_hash_layers": 1, "num_nextn_predict_layers": 1,
    "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "scale_fmt": "ue8m0",
                            "weight_block_size": [128, 128], "activation_scheme": "dynamic"},
}


def tiny_expected() -> dict[str, tuple[str, list[int]]]:
    """The tiny model's checkpoint, written by hand from the notes' table (section 1.2)."""
    H, hc, mix = 256, 2, (2 + 2) * 2
    t: dict[str, tuple[str, list[int]]] = {}

    def fp8(n, o, i):
        t[f"{n}.weight"] = ("F8_E4M3", [o, i])
        t[f"{n}.scale"] = ("F8_E8M0", [ceil(o / 128), ceil(i / 128)])

    def layer(p, ratio, hashed):
        for site in ("attn", "ffn"):
            t[f"{p}hc_{site}_fn"] = ("F32", [mix, hc * H])
            t[f"{p}hc_{site}_base"] = ("F32", [mix])
            t[f"{p}hc_{site}_scale"] = ("F32", [3])
        t[f"{p}attn_norm.weight"] = t[f"{p}ffn_norm.weight"] = ("BF16", [H])
        t[f"{p}attn.attn_sink"] = ("F32", [4])
        fp8(f"{p}attn.wq_a", 96, H)
        t[f"{p}attn.q_norm.weight"] = ("BF16", [96])
        fp8(f"{p}attn.wq_b", 4 * 128, 96)
        fp8(f"{p}attn.wkv", 128, H)
        t[f"{p}attn.kv_norm.weight"] = ("BF16", [128])
        fp8(f"{p}attn.wo_a", 2 * 64, 4 * 128 // 2)
        fp8(f"{p}attn.wo_b", H, 2 * 64)
        if ratio:
            c = 2 if ratio == 4 else 1
            t[f"{p}attn.compressor.wkv.weight"] = t[f"{p}attn.compressor.wgate.weight"] = ("BF16", [c * 128, H])
            t[f"{p}attn.compressor.ape"] = ("F32", [ratio, c * 128])
            t[f"{p}attn.compressor.norm.weight"] = ("BF16", [128])
        if ratio == 4:
            fp8(f"{p}attn.indexer.wq_b", 2 * 64, 96)
            t[f"{p}attn.indexer.weights_proj.weight"] = ("BF16", [2, H])
            t[f"{p}attn.indexer.compressor.wkv.weight"] = ("BF16", [2 * 64, H])
            t[f"{p}attn.indexer.compressor.wgate.weight"] = ("BF16", [2 * 64, H])
            t[f"{p}attn.indexer.compressor.ape"] = ("F32", [4, 2 * 64])
            t[f"{p}attn.indexer.compressor.norm.weight"] = ("BF16", [64])
        t[f"{p}ffn.gate.weight"] = ("BF16", [2, H])
        if hashed:
            t[f"{p}ffn.gate.tid2eid"] = ("I64", [64, 1])
        else:
            t[f"{p}ffn.gate.bias"] = ("F32", [2])
        for e in range(2):
            for w, (o, i) in (("w1", (64, H)), ("w3", (64, H)), ("w2", (H, 64))):
                t[f"{p}ffn.experts.{e}.{w}.weight"] = ("I8", [o, i // 2])
                t[f"{p}ffn.experts.{e}.{w}.scale"] = ("F8_E8M0", [o, i // 32])
        for w, (o, i) in (("w1", (64, H)), ("w3", (64, H)), ("w2", (H, 64))):
            fp8(f"{p}ffn.shared_experts.{w}", o, i)

    t["embed.weight"] = t["head.weight"] = ("BF16", [64, H])
    layer("layers.0.", 0, True)
    layer("layers.1.", 4, False)
    t["norm.weight"] = ("BF16", [H])
    t["hc_head_fn"], t["hc_head_base"], t["hc_head_scale"] = ("F32", [hc, hc * H]), ("F32", [hc]), ("F32", [1])
    layer("mtp.0.", 128, False)
    fp8("mtp.0.e_proj", H, H)
    fp8("mtp.0.h_proj", H, H)
    for n in ("enorm", "hnorm", "norm"):
        t[f"mtp.0.{n}.weight"] = ("BF16", [H])
    t["mtp.0.hc_head_fn"], t["mtp.0.hc_head_base"] = ("F32", [hc, hc * H]), ("F32", [hc])
    t["mtp.0.hc_head_scale"] = ("F32", [1])
    return t


def test_verify_accepts_a_v4_checkpoint_written_from_the_release_layout(tmp_path):
    from tests.test_verify import BYTES, write_safetensors

    BYTES.update({"F8_E8M0": 1, "I8": 1, "I64": 8})
    tensors = tiny_expected()
    folder = tmp_path / "v4"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY))
    total = write_safetensors(folder / "model.safetensors", tensors)
    r = verify(folder, load_path(folder))
    assert r.ok, (r.missing, r.extra, r.mismatched)
    assert r.expected_tensors == len(tensors) and r.header_bytes == total


def test_verify_names_a_missing_expert_scale(tmp_path):
    from tests.test_verify import BYTES, write_safetensors

    BYTES.update({"F8_E8M0": 1, "I8": 1, "I64": 8})
    tensors = tiny_expected()
    del tensors["layers.1.ffn.experts.1.w2.scale"]
    folder = tmp_path / "v4"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY))
    write_safetensors(folder / "model.safetensors", tensors)
    r = verify(folder, load_path(folder))
    assert not r.ok and r.missing == ["layers.1.ffn.experts.1.w2.scale"]


def test_unknown_compress_ratio_is_an_input_error():
    from k2calc.config import build_config

    with pytest.raises(InputError, match="compress_ratios"):
        build_config({**TINY, "compress_ratios": [0, 8, 128]}, "config.json")


@st.composite
def v4_configs(draw):
    L = draw(st.integers(1, 6))
    nh, og = draw(st.sampled_from([(4, 2), (8, 4), (6, 3), (2, 1)]))
    E = draw(st.integers(1, 8))
    return {
        **TINY, "num_hidden_layers": L, "num_nextn_predict_layers": draw(st.integers(0, 2)),
        "compress_ratios": draw(st.lists(st.sampled_from([0, 4, 128]), min_size=L + 2, max_size=L + 2)),
        "hidden_size": draw(st.sampled_from([64, 96, 256])), "num_attention_heads": nh, "o_groups": og,
        "head_dim": draw(st.sampled_from([64, 128])), "o_lora_rank": draw(st.integers(1, 80)),
        "q_lora_rank": draw(st.integers(1, 100)), "hc_mult": draw(st.integers(1, 4)),
        "n_routed_experts": E, "num_experts_per_tok": draw(st.integers(1, E)),
        "n_shared_experts": draw(st.integers(0, 2)), "num_hash_layers": draw(st.integers(0, L)),
        "moe_intermediate_size": draw(st.integers(1, 100)), "index_n_heads": draw(st.integers(1, 4)),
        "index_head_dim": draw(st.sampled_from([32, 64])), "vocab_size": draw(st.integers(10, 500)),
    }


@settings(max_examples=40, deadline=None)
@given(c=v4_configs())
def test_random_v4_configs_count_parameters_by_hand(c):
    # The notes' formulas (section 1.4), parameters only (router bias and tid2eid are buffers).
    from k2calc.config import ModelSpec, build_config

    H, hc, nh, hd, ql = c["hidden_size"], c["hc_mult"], c["num_attention_heads"], c["head_dim"], c["q_lora_rank"]
    og, olr, E, I, ns = c["o_groups"], c["o_lora_rank"], c["n_routed_experts"], c["moe_intermediate_size"], \
        c["n_shared_experts"]
    ih, ihd, V, L = c["index_n_heads"], c["index_head_dim"], c["vocab_size"], c["num_hidden_layers"]

    def layer(r):
        n = 2 * ((2 + hc) * hc * hc * H + (2 + hc) * hc + 3) + 2 * H + nh
        n += ql * H + ql + nh * hd * ql + hd * H + hd + og * olr * (nh * hd // og) + H * og * olr
        if r:
            cc = 2 if r == 4 else 1
            n += 2 * cc * hd * H + r * cc * hd + hd
        if r == 4:
            n += ih * ihd * ql + ih * H + 2 * (2 * ihd * H) + 4 * 2 * ihd + ihd
        return n + E * H + E * 3 * I * H + 3 * I * ns * H

    cfg, _ = build_config(c, "generated")
    r = count_params(ModelSpec("x", cfg, "generated"))
    main = sum(layer(c["compress_ratios"][i]) for i in range(L)) + 2 * V * H + H + hc * hc * H + hc + 1
    assert r.transformers_count == main
    mtp = sum(layer(c["compress_ratios"][L + j]) + 2 * H * H + 3 * H + hc * hc * H + hc + 1
              for j in range(c["num_nextn_predict_layers"]))
    assert r.mtp == mtp + c["num_nextn_predict_layers"] * E  # + the MTP router's bias buffer


# ---------------------------------------------------------------------------------------------------
# KV cache as the engines lay it out (SOURCES.md: SGLang DeepSeekV4SingleKVPool, vLLM fp8_ds_mla)

GiB, M = 2**30, 2**20
ENTRY_FP8 = 448 + 64 * 2 + 8  # NoPE fp8 + RoPE bf16 + 7 tile scales and a pad byte
INDEX_FP8 = 128 + 4  # index_head_dim fp8 + one float32 scale
# Pro: 30 ratio-4 layers, 31 ratio-128; Flash: 21 and 20 (and 2 window-only).
STATE_C4 = 8 * (2 * 2 * 512 + 2 * 2 * 128) * 4  # 8 fp32 rows: kv+score of 2 series, and the indexer's
STATE_C128 = 128 * (2 * 512) * 4


def test_growing_and_constant_parts_in_the_engines_fp8_layout(pro, flash):
    from k2calc.analysis.kv import kv_cache

    r = kv_cache(pro, [M], kv_dtype="fp8")
    assert r.growing_bytes_per_token == 30 * (ENTRY_FP8 + INDEX_FP8) / 4 + 31 * ENTRY_FP8 / 128  # 5,511.44
    assert r.constant_bytes_per_request == 61 * 128 * ENTRY_FP8 + 30 * STATE_C4 + 31 * STATE_C128 == 23_270_400
    assert r.bytes_per_sequence == (30 * (M // 4) * (ENTRY_FP8 + INDEX_FP8) + 31 * (M // 128) * ENTRY_FP8
                                    + 23_270_400)
    f = kv_cache(flash, [M], kv_dtype="fp8")
    assert f.growing_bytes_per_token == 21 * (ENTRY_FP8 + INDEX_FP8) / 4 + 20 * ENTRY_FP8 / 128  # 3,850.25
    assert f.constant_bytes_per_request == 43 * 128 * ENTRY_FP8 + 21 * STATE_C4 + 20 * STATE_C128 == 15_420_416


def test_vllm_blog_9_62_gib_against_83_9_gib_per_million_token_sequence(pro):
    # vLLM blog: "9.62 GiB vs 83.9 GiB, bf16" at 1M = 2^20 tokens, window excluded. V3.2-style stack by hand:
    # 61 layers x (576 MLA + 128 indexer values) x 2 bytes.
    from k2calc.analysis.kv import kv_cache

    v4 = kv_cache(pro, [M], kv_dtype="bf16").growing_bytes_per_token * M / GiB
    v32 = 61 * (576 + 128) * 2 * M / GiB
    assert f"{v4:.2f}" == PUBLISHED["kv"]["vllm_1m_bf16_gib"]["deepseek-v4-pro"] == "9.62"
    assert f"{v32:.1f}" == "83.9" and round(v32 / v4, 1) == 8.7


@pytest.mark.parametrize("key,model,ratio,state", [
    ("deepseek-v4-flash fp8 indexer, fp32 state, swa 0.1", "flash", 0.1, 4),
    ("deepseek-v4-flash fp8 indexer, bf16 state, swa 0.1", "flash", 0.1, 2),
    ("deepseek-v4-pro fp8 indexer, fp32 state, swa 0.15", "pro", 0.15, 4),
])
def test_sglang_bytes_per_full_token(key, model, ratio, state, pro, flash):
    from k2calc.analysis.kv import sglang_bytes_per_full_token

    arch = (pro if model == "pro" else flash).arch
    value = sglang_bytes_per_full_token(arch, ratio, state_bytes=state)
    assert f"{value:.2f}" == PUBLISHED["kv"]["sglang_bytes_per_full_token"][key]


def test_kv_json_shows_growing_and_constant_parts(run_json):
    r = run_json("kv", "--config", str(FLASH), "--context", "1M", "--kv-dtype", "fp8")
    assert r["growing_bytes_per_token"] == 3850.25 and r["constant_bytes_per_request"] == 15_420_416


def test_kv_table_prints_both_parts(run):
    out = run("kv", "--config", str(PRO), "--context", "1M", "--kv-dtype", "fp8").stdout
    assert "growing part, per token of context" in out and "5,511.44" in out
    assert "constant part, per request" in out and "23,270,400" in out


def test_plan_holds_each_request_whole_and_recommends_dp_attention(flash):
    from k2calc.hardware import get_gpu
    from k2calc.analysis.plan import Layout, Workload, plan

    r = plan(flash, get_gpu("h200"), Layout(tp=4, ep=4), Workload(context=M, batch=3, kv_dtype="fp8"))
    per_seq = 21 * (M // 4) * (ENTRY_FP8 + INDEX_FP8) + 20 * (M // 128) * ENTRY_FP8 + 15_420_416
    assert r.per_gpu.kv_cache == 3 * per_seq  # the one KV head is not split by TP
    assert any("DP-attention" in n for n in r.notes)


# ---------------------------------------------------------------------------------------------------
# FLOPs per token at a context (decode; one multiply-add = 2 FLOPs)


def v4_attention_by_hand(T, n4, n128, n0, heads=128, hd=512, window=128, topk=1024, ih=64, ihd=128):
    """The notes' section 1.7: per entry 4·heads·head_dim (QK over all dims, PV over head_dim)."""
    per = 4 * heads * hd
    return {
        "window attention": (n4 + n128 + n0) * min(T, window) * per,
        "compressed attention (ratio 4, top-k)": n4 * min(T // 4, topk) * per,
        "compressed attention (ratio 128)": n128 * (T // 128) * per,
        "indexer scores": n4 * 2 * ih * ihd * (T // 4),
    }


def test_decode_attention_terms_at_1m_by_hand(pro):
    from k2calc.analysis.flops import AttentionForm, FlopsModel, Phase

    p = FlopsModel(pro.arch).point(Phase.decode, 2**20 - 1, AttentionForm.absorbed)  # the 2^20-th token
    expected = v4_attention_by_hand(2**20, 30, 31, 0)
    assert {k: p.parts[k] for k in expected} == expected
    assert p.attention == sum(expected.values())
    assert sum(p.parts.values()) == p.total


def test_grouped_output_projection_and_linear_flops_by_hand(flash):
    from k2calc.analysis.flops import AttentionForm, FlopsModel, Phase

    p = FlopsModel(flash.arch).point(Phase.decode, 0, AttentionForm.absorbed)
    # wo_a: 64·512/8 -> 1024 per group, 8 groups; wo_b: 8·1024 -> 4096; 43 layers, 2 FLOPs per multiply-add.
    assert p.parts["grouped output projection (wo_a, wo_b)"] == 43 * 2 * (8 * 1024 * (64 * 512 // 8) + 4096 * 8 * 1024)
    assert p.parts["routed experts"] == 43 * 6 * 2 * 3 * 2048 * 4096
    r = count_params(flash)
    # Every matmul weight a token touches: active minus what multiplies nothing (router biases, norms, sinks,
    # compressor position biases, mHC base and scale).
    norms = 43 * 2 * 4096 + 4096 + 43 * (1024 + 512) + 41 * 512 + 21 * 128
    position_bias = 21 * (4 * 2 * 512 + 4 * 2 * 128) + 20 * 128 * 512
    not_matmul = (43 - 3) * 256 + norms + 43 * 64 + position_bias + 43 * 2 * (24 + 3) + 4 + 1
    assert p.linear == 2 * (r.active - not_matmul)


def test_pro_and_flash_against_v32_at_1m_are_26_and_12_percent_not_the_cards_27_and_10(pro, flash):
    # README, "DeepSeek-V4 against V3.2": a plain count (2 × active + attention) gives 26.2% and 12.1%;
    # the model cards say 27% and 10% without defining their count.
    from k2calc.config import load_preset
    from k2calc.analysis.flops import AttentionForm, FlopsModel, Phase

    v32 = FlopsModel(load_preset("deepseek-v3.2").arch).point(Phase.decode, 2**20 - 1, AttentionForm.absorbed).total
    ratios = [FlopsModel(s.arch).point(Phase.decode, 2**20 - 1, AttentionForm.absorbed).total / v32
              for s in (pro, flash)]
    assert [round(x, 3) for x in ratios] == [0.262, 0.121]


def test_prefill_sums_window_and_compressed_entries_over_the_prompt(flash):
    from k2calc.analysis.flops import AttentionForm, FlopsModel, Phase

    N = 5000
    m = FlopsModel(flash.arch)
    prefill = m.point(Phase.prefill, N, AttentionForm.absorbed)
    # Prompt token t+1 attends like a decode step at t cached tokens: the prompt's attention is their sum
    # (per-token figures are rounded to whole FLOPs: at most half a FLOP off per key).
    steps = sum(m.point(Phase.decode, t, AttentionForm.absorbed).attention for t in range(N))
    assert abs(prefill.attention * N - steps) <= 4 * N


# ---------------------------------------------------------------------------------------------------
# The README's V4 figures, recomputed


def test_readme_kv_ratios_against_v32_on_each_basis(pro, flash):
    # README "Where the model cards' ratios are and are not reproduced": V3.2 by hand, 61 layers.
    from k2calc.analysis.kv import kv_cache

    readme = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
    bf16 = [kv_cache(s, [M], kv_dtype="bf16").growing_bytes_per_token / (61 * (576 + 128) * 2) for s in (pro, flash)]
    fp8 = [kv_cache(s, [M], kv_dtype="fp8").growing_bytes_per_token / (61 * (656 + 132)) for s in (pro, flash)]
    guess = [kv_cache(s, [M], kv_dtype="fp8").growing_bytes_per_token / (61 * (656 + 256)) for s in (pro, flash)]
    assert [f"{100 * x:.1f}%" for x in bf16] == [f"{100 * x:.1f}%" for x in fp8] == ["11.5%", "8.0%"]
    assert [f"{100 * x:.1f}%" for x in guess] == ["9.9%", "6.9%"]
    for shown in ("**11.5%**", "**8.0%**", "**9.9%**", "**6.9%**", "**26.2%**", "**12.1%**", "5,511.44", "23,270,400"):
        assert shown in readme


def test_compare_prints_every_section_for_v4_and_its_predecessors(run):
    out = run("compare", "deepseek-v3", "deepseek-v4-pro", "deepseek-v4-flash", "kimi-k2", "--context", "1M").stdout
    for label in ("active per", "growing", "constant", "per 1M", "decode 1M", "total", "tensors"):
        assert label in out


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_engine_plans_fit_as_many_million_token_requests_as_the_pool_holds_whole(flash, engine):
    from k2calc.analysis.engines import engine_config
    from k2calc.hardware import get_gpu
    from k2calc.analysis.plan import Layout, Workload, plan

    r = plan(flash, get_gpu("h200"), Layout(tp=4, ep=4), Workload(context=M, batch=1, kv_dtype="fp8"),
             engine=engine_config(engine))
    per_seq = 21 * (M // 4) * (ENTRY_FP8 + INDEX_FP8) + 20 * (M // 128) * ENTRY_FP8 + 15_420_416
    assert r.max_batch == r.engine_memory.kv_cache // per_seq  # not the window entry times every token


def test_sglang_pool_line_from_the_logged_full_capacity(flash):
    from k2calc.analysis.kv import sglang_pool_line

    pub = PUBLISHED["kv"]["sglang_pool_line"]  # V4-Flash TP4: full=1641472, swa=164096, c4=410368, c128=12824
    assert sglang_pool_line(flash.arch, pub["full"]) == {k: pub[k] for k in ("full", "swa", "c4", "c128")}


@pytest.mark.parametrize("kv_dtype", ["bf16", "fp8"])
def test_explained_kv_sums_to_the_report(pro, kv_dtype):
    from k2calc.explain import explain_kv
    from k2calc.analysis.kv import kv_cache

    r = kv_cache(pro, [M], kv_dtype=kv_dtype)
    f = {x.name: x.value for x in explain_kv(pro.arch, r)}
    assert f["bytes_per_sequence"] == r.bytes_per_sequence and f["bytes_per_token"] == r.bytes_per_token


def test_check_files_accept_v4_and_k3_deployments(run, tmp_path):
    path = tmp_path / "deployments.yaml"
    path.write_text("""\
defaults: {engine: sglang}
deployments:
  - {name: v4-flash-1m, model: deepseek-v4-flash, gpu: h200, gpus: 4, tp: 4, ep: 4, kv_dtype: fp8,
     workload: {context: 1M, batch: 4}, require: {fits: true, min_batch_at_context: 4}}
  - {name: k3-256k, model: kimi-k3, gpu: h200, gpus: 16, tp: 8, dp_attention: 2, ep: 16, engine: vllm,
     workload: {context: 256k, batch: 2}, require: {fits: true}}
""")
    result = run("check", str(path))
    assert result.exit_code == 0, result.output
