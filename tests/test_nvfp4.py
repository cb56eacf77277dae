"""NVIDIA ModelOpt NVFP4 checkpoints: the format read from hf_quant_config.json or the config, sized by hand."""

from __future__ import annotations

import json
import shutil

import pytest

from k2calc.analysis.checkpoint import checkpoint_report, checkpoint_tensors, spec_format
from k2calc.config import load_path
from k2calc.errors import InputError

from .conftest import DATA

V31 = DATA / "nvidia-deepseek-v3.1-nvfp4.config.json"
K25 = DATA / "nvidia-kimi-k2.5-nvfp4.config.json"


def _stored(spec) -> dict[str, tuple]:
    stored, _ = checkpoint_tensors(spec, spec_format(spec))
    return {s.name: (s.dtype, s.shape, s.copies) for s in stored}


def test_hf_quant_config_beside_the_config_is_read():
    spec = load_path(V31)
    assert spec.quant_config_path.endswith("nvidia-deepseek-v3.1-nvfp4.hf_quant_config.json")
    fmt = spec_format(spec)
    assert fmt.name == "nvfp4" and fmt.from_config and fmt.group_size == 16
    assert "hf_quant_config.json" in fmt.describe()


def test_nvfp4_linear_is_packed_bytes_fp8_block_scales_and_two_float32_scalars():
    s = _stored(load_path(V31))
    p = "model.layers.3.mlp.experts.{e}.down_proj"  # [hidden 7168, moe_intermediate 2048]
    assert s[f"{p}.weight"] == ("U8", (7168, 2048 // 2), 256)  # two e2m1 values per byte
    assert s[f"{p}.weight_scale"] == ("F8_E4M3", (7168, 2048 // 16), 256)  # one scale per 16 values
    assert s[f"{p}.weight_scale_2"] == ("F32", (), 256)  # 0-dim global scale
    assert s[f"{p}.input_scale"] == ("F32", (), 256)  # 0-dim activation scale


def test_exclude_modules_stay_bf16_and_o_proj_is_quantized():
    # hf_quant_config.json excludes lm_head, q_a/q_b/kv_a/kv_b of every layer and the MTP layer 61.
    s = _stored(load_path(V31))
    assert s["model.layers.0.self_attn.q_a_proj.weight"][0] == "BF16"
    assert s["model.layers.0.self_attn.kv_b_proj.weight"][0] == "BF16"
    assert s["model.layers.0.self_attn.o_proj.weight"][0] == "U8"
    assert s["model.layers.0.mlp.gate_proj.weight"][0] == "U8"  # dense MLP
    assert s["model.layers.3.mlp.shared_experts.up_proj.weight"][0] == "U8"
    assert s["lm_head.weight"][0] == "BF16"
    assert s["model.layers.3.mlp.gate.weight"][0] == "BF16"  # the router is not a Linear
    assert s["model.layers.3.mlp.gate.e_score_correction_bias"][0] == "F32"
    assert s["model.layers.61.mlp.experts.{e}.gate_proj.weight"][0] == "BF16"  # model.layers.61*
    assert not any(name.endswith("_scale_inv") for name in s)  # no fp8 block scales left


def test_deepseek_v3_1_nvfp4_bytes_by_hand():
    # DeepSeek-V3.1's config fields: hidden 7168, vocab 129280, 61 layers (3 dense, 58 MoE) + 1 MTP layer,
    # 128 heads, q_lora_rank 1536, kv_lora_rank 512, qk 128+64, v 128, dense 18432, expert 2048, 256 experts.
    H, V = 7168, 129280
    q_a, q_b = 1536 * H, 128 * 192 * 1536
    kv_a, kv_b, o = 576 * H, 128 * (128 + 128) * 512, H * 128 * 128
    layer_norms = 2 * H + 1536 + 512
    dense, expert, router = 3 * 18432 * H, 3 * 2048 * H, 256 * H
    # NVFP4 Linears: o_proj in 61 layers, 3 dense MLPs, 58 × (256 routed + 1 shared) experts
    n_linear = 61 + 3 * 3 + 58 * (256 + 1) * 3
    p_nvfp4 = 61 * o + 3 * dense + 58 * 257 * expert
    nvfp4 = p_nvfp4 // 2 + p_nvfp4 // 16 + 8 * n_linear  # packed + fp8 scales + 2 float32 scalars each
    # bf16: embeddings, head, final norm, MLA projections but o_proj, norms, router weights
    bf16_main = 2 * V * H + H + 61 * (q_a + q_b + kv_a + kv_b + layer_norms) + 58 * router
    # MTP layer 61 (excluded): embed, enorm, hnorm, eh_proj, one full MoE layer, shared_head norm and head
    mtp = V * H + 2 * H + 2 * H * H + (q_a + q_b + kv_a + kv_b + o + layer_norms) + 257 * expert + router + H + V * H
    bias = 59 * 256 * 4  # e_score_correction_bias, float32, 58 MoE layers + the MTP layer
    r = checkpoint_report(load_path(V31))
    assert r.total_bytes == nvfp4 + 2 * (bf16_main + mtp) + bias == 413_306_995_616
    assert r.by_dtype["U8"].tensors == n_linear == 44_788
    assert 0.40e12 < r.total_bytes < 0.42e12  # issue 8: "roughly 0.4 TB", not bf16's 1.37 TB


# SOURCES.md: Hugging Face counts the elements stored in nvidia/DeepSeek-R1-0528-FP4-v2 (o_proj quantized,
# like V3.1-NVFP4, same shapes) as 393.6B and in nvidia/DeepSeek-R1-FP4 (o_proj in bf16) as 396.8B.
def test_stored_elements_match_the_published_r1_nvfp4_counts():
    spec = load_path(V31)
    assert round(checkpoint_report(spec).elements / 1e8) == 3936
    fmt = spec_format(spec)
    v1 = fmt.model_copy(update={"exclude": fmt.exclude + ("*.o_proj",)})
    stored, _ = checkpoint_tensors(spec, v1)
    assert round(sum(s.elements for s in stored) / 1e8) == 3968


def test_kimi_k2_5_nvfp4_from_its_config_keeps_attention_and_vision_in_bf16():
    spec = load_path(K25)  # quantization_config: quant_method modelopt, NVFP4, ignore globs
    s = _stored(spec)
    p = "language_model.model.layers.1.mlp.experts.{e}.gate_proj"
    assert s[f"{p}.weight"] == ("U8", (2048, 7168 // 2), 384)
    assert s[f"{p}.weight_scale"] == ("F8_E4M3", (2048, 7168 // 16), 384)
    assert s["language_model.model.layers.1.self_attn.q_b_proj.weight"][0] == "BF16"  # ...self_attn*
    assert s["language_model.lm_head.weight"][0] == "BF16"
    assert s["vision_tower.encoder.blocks.0.wqkv.weight"][0] == "BF16"
    assert s["mm_projector.proj.0.weight"][0] == "BF16"
    # the ignore list does not name the shared experts: they are NVFP4 like the routed ones
    assert s["language_model.model.layers.1.mlp.shared_experts.down_proj.weight"][0] == "U8"


def test_quant_config_flag_reads_a_file_from_anywhere(tmp_path, run_json):
    config = tmp_path / "config.json"
    shutil.copy(V31, config)  # no hf_quant_config.json beside it
    bare = run_json("checkpoint", "--config", str(config))
    assert bare["weight_format"]["name"] == "bf16"
    assert any("no quantization_config" in n and "--quant-config" in n for n in bare["notes"])
    q = DATA / "nvidia-deepseek-v3.1-nvfp4.hf_quant_config.json"
    data = run_json("checkpoint", "--config", str(config), "--quant-config", str(q))
    assert data["weight_format"]["name"] == "nvfp4" and data["total_bytes"] == 413_306_995_616
    # a model folder with hf_quant_config.json beside config.json needs no flag
    shutil.copy(q, tmp_path / "hf_quant_config.json")
    assert run_json("checkpoint", "--config", str(tmp_path))["total_bytes"] == 413_306_995_616


def test_an_unknown_format_is_never_silently_bf16(run):
    r = run("checkpoint", "--preset", "moonlight-16b-a3b")  # its config names no quantization
    assert r.exit_code == 0 and "sized as BF16" in r.stdout


def test_a_bad_hf_quant_config_is_one_line_naming_it(tmp_path, run):
    raw = json.loads((DATA / "nvidia-deepseek-v3.1-nvfp4.hf_quant_config.json").read_text())
    raw["quantization"]["group_size"] = 32
    q = tmp_path / "hf_quant_config.json"
    q.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=r"hf_quant_config.json: quantization: group_size: NVFP4 has one scale per 16"):
        checkpoint_report(load_path(V31, quant_config=q))
    r = run("checkpoint", "--config", str(V31), "--quant-config", str(q))
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "group_size" in r.stderr
    q.write_text("[1, 2]")
    r = run("checkpoint", "--config", str(V31), "--quant-config", str(q))
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_plan_sizes_nvfp4_weights_too(run_json):
    nvfp4 = run_json("plan", "--config", str(V31), "--gpu", "b200", "--tp", "8")
    bf16 = run_json("plan", "--config", str(V31), "--gpu", "b200", "--tp", "8", "--weights", "bf16")
    assert nvfp4["weight_format"]["name"] == "nvfp4"
    assert nvfp4["per_gpu"]["weights"] < bf16["per_gpu"]["weights"] / 3


def test_forced_nvfp4_keeps_attention_heads_and_mtp_projections_in_bf16():
    from k2calc.analysis.checkpoint import weight_format
    from k2calc.config import load_preset

    spec = load_preset("deepseek-v3")
    fmt = weight_format(spec.config, "nvfp4")
    assert fmt.name == "nvfp4" and not fmt.from_config and fmt.group_size == 16
    stored, _ = checkpoint_tensors(spec, fmt)
    s = {x.name: (x.dtype, x.shape) for x in stored}
    assert s["model.layers.0.self_attn.o_proj.weight"][0] == "BF16"
    assert s["model.layers.61.eh_proj.weight"][0] == "BF16"
    assert s["model.layers.61.shared_head.head.weight"][0] == "BF16"
    assert s["model.layers.61.mlp.experts.{e}.up_proj.weight"] == ("U8", (2048, 7168 // 2))


def test_a_modelopt_algorithm_other_than_nvfp4_is_one_line(tmp_path, run):
    raw = json.loads((DATA / "nvidia-deepseek-v3.1-nvfp4.hf_quant_config.json").read_text())
    raw["quantization"]["quant_algo"] = "FP8"
    q = tmp_path / "hf_quant_config.json"
    q.write_text(json.dumps(raw))
    r = run("checkpoint", "--config", str(V31), "--quant-config", str(q))
    assert r.exit_code == 2
    assert r.stderr == (f"error: {q}: quantization: quant_method 'modelopt' (quant_algo 'FP8') is not a weight "
                        "format k2calc models; pass --weights bf16|fp8|fp8-channel|int4|mxfp4|nvfp4\n")
