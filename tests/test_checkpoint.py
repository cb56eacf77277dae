"""Checkpoint bytes per weight format, tied to published checkpoint totals and hand arithmetic."""

from __future__ import annotations

from k2calc.analysis.checkpoint import checkpoint_report, checkpoint_tensors, weight_format
from k2calc.config import load_preset
from k2calc.analysis.params import count_params


def _stored(preset: str, weights: str | None = None) -> dict[str, tuple]:
    spec = load_preset(preset)
    stored, _ = checkpoint_tensors(spec, weight_format(spec.config, weights))
    return {s.name: (s.dtype, s.shape, s.copies) for s in stored}


# SOURCES.md, "Checkpoints": DeepSeek-V3 (same shapes as R1 and V3.1), 163 shards.
def test_deepseek_v3_fp8_matches_published_index_total_to_the_byte():
    r = checkpoint_report(load_preset("deepseek-v3"))
    assert r.total_bytes == 688_574_839_360
    assert r.tensors == 91_991
    assert r.elements == 684_531_386_000


def test_deepseek_r1_and_v3_1_have_the_v3_checkpoint_size():
    for preset in ("deepseek-r1", "deepseek-v3.1"):
        assert checkpoint_report(load_preset(preset)).total_bytes == 688_574_839_360


# SOURCES.md: Kimi-K2-Instruct model.safetensors.index.json metadata.total_size, 139,644 tensors,
# including 61 rotary_emb.inv_freq buffers of 56 bf16 values.
def test_kimi_k2_fp8_matches_published_index_total_to_the_byte():
    r = checkpoint_report(load_preset("kimi-k2"))
    assert r.total_bytes == 1_029_173_256_720
    assert r.tensors == 139_644
    assert r.by_component["extra"] == 61 * 56 * 2


def test_fp8_scale_is_one_float32_per_128x128_block():
    s = _stored("deepseek-v3")
    # kv_a_proj_with_mqa: [kv_lora_rank + qk_rope_head_dim, hidden] = [576, 7168] -> ceil(576/128) x 7168/128
    assert s["model.layers.0.self_attn.kv_a_proj_with_mqa.weight"][:2] == ("F8_E4M3", (576, 7168))
    assert s["model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv"][:2] == ("F32", (5, 56))
    assert s["model.layers.3.mlp.experts.{e}.down_proj.weight_scale_inv"] == ("F32", (56, 16), 256)


def test_fp8_keeps_embeddings_heads_router_and_mtp_eh_proj_in_bf16():
    s = _stored("deepseek-v3")
    assert s["model.embed_tokens.weight"][0] == "BF16"
    assert s["lm_head.weight"][0] == "BF16"
    assert s["model.layers.3.mlp.gate.weight"][0] == "BF16"
    assert s["model.layers.3.mlp.gate.e_score_correction_bias"][0] == "F32"
    # SOURCES.md: the MTP layer 61 stores embed_tokens, shared_head.head and eh_proj [7168, 14336] in bf16.
    assert s["model.layers.61.eh_proj.weight"][:2] == ("BF16", (7168, 14336))
    assert s["model.layers.61.embed_tokens.weight"][0] == "BF16"
    assert s["model.layers.61.shared_head.head.weight"][0] == "BF16"
    assert "model.layers.61.eh_proj.weight_scale_inv" not in s
    assert s["model.layers.61.self_attn.q_b_proj.weight"][0] == "F8_E4M3"


def test_breakdowns_add_up_to_the_total():
    r = checkpoint_report(load_preset("deepseek-v3"))
    assert sum(d.bytes for d in r.by_dtype.values()) == r.total_bytes
    assert sum(d.tensors for d in r.by_dtype.values()) == r.tensors
    assert sum(r.by_component.values()) == r.total_bytes
    assert r.main.bytes + r.mtp.bytes == r.total_bytes
    assert r.total_gib == r.total_bytes / 2**30 and r.total_gb == r.total_bytes / 1e9


def test_int4_pack_quantized_expert_tensors():
    s = _stored("kimi-k2-thinking")
    p = "model.layers.1.mlp.experts.{e}.gate_proj"
    # [moe_intermediate 2048, hidden 7168]: 8 int4 per int32 -> 896 columns; group 32 -> 224 scales per row.
    assert s[f"{p}.weight_packed"] == ("I32", (2048, 896), 384)
    assert s[f"{p}.weight_scale"] == ("BF16", (2048, 224), 384)
    # The Kimi releases store the shape as int32 [2] (SOURCES.md: K2.5's total_size needs it).
    assert s[f"{p}.weight_shape"] == ("I32", (2,), 384)
    assert f"{p}.weight" not in s


def test_int4_leaves_the_ignore_list_in_bf16():
    s = _stored("kimi-k2-thinking")
    assert s["model.layers.1.self_attn.q_b_proj.weight"][0] == "BF16"  # re:.*self_attn.*
    assert s["model.layers.1.mlp.shared_experts.down_proj.weight"][0] == "BF16"  # re:.*shared_experts.*
    assert s["model.layers.0.mlp.down_proj.weight"][0] == "BF16"  # re:.*mlp\.(gate|up|gate_up|down)_proj.*
    assert s["lm_head.weight"][0] == "BF16"
    assert s["model.layers.1.mlp.gate.weight"][0] == "BF16"  # MoEGate is not a Linear


def test_int4_routed_expert_bytes_by_hand():
    r = checkpoint_report(load_preset("kimi-k2-thinking"))
    # one [2048, 7168] or [7168, 2048] matrix: packed = params / 2 bytes, scales = params / 32 * 2 bytes,
    # shape = 2 int32 = 8 bytes
    params = 2048 * 7168
    one = params // 2 + params // 32 * 2 + 8
    assert r.by_component["routed_experts"] == one * 3 * 384 * 60


def test_kimi_k2_5_tensors_carry_the_checkpoint_prefixes():
    s = _stored("kimi-k2.5")
    assert "language_model.model.embed_tokens.weight" in s
    # the language model under language_model., the vision tower and projector at the top level
    assert all(name.startswith(("language_model.", "vision_tower.", "mm_projector.")) for name in s)
    assert s["vision_tower.encoder.blocks.26.wqkv.weight"] == ("BF16", (3 * 1152, 1152), 1)
    assert s["mm_projector.proj.2.weight"] == ("BF16", (7168, 1152 * 2 * 2), 1)


# SOURCES.md: Kimi-K2.5's published index: 64 shards, 208,550 tensors, total_size 595,148,192,736 bytes.
def test_kimi_k2_5_matches_the_published_index_to_the_byte():
    r = checkpoint_report(load_preset("kimi-k2.5"))
    assert r.total_bytes == 595_148_192_736
    assert r.tensors == 208_550
    # the vision tower and projector, bf16 as released: 2 bytes per parameter (SOURCES.md: 471,143,920)
    assert r.vision.bytes == 2 * 471_143_920
    assert r.vision.bytes == r.by_component["vision_tower"] + r.by_component["mm_projector"]
    assert r.main.bytes + r.mtp.bytes + r.vision.bytes == r.total_bytes
    assert "extra" not in r.by_component  # K2.5 stores no rotary_emb.inv_freq buffers


# SOURCES.md: Kimi-K2.6's index has the same 208,550 tensors and 595,148,192,736 bytes as K2.5's; its
# (transcribed) config adds the vision tower and projector to the int4 ignore list, which changes nothing.
def test_kimi_k2_6_matches_its_published_index():
    from k2calc.config import load_path

    from .conftest import DATA

    r = checkpoint_report(load_path(DATA / "kimi-k2.6.config.TRANSCRIBED.json"))
    assert (r.total_bytes, r.tensors) == (595_148_192_736, 208_550)


# SOURCES.md: Kimi-K2-Thinking's published index: 208,276 tensors, total_size 594,205,920,512 bytes.
def test_kimi_k2_thinking_matches_the_published_index_with_its_inv_freq_buffers():
    r = checkpoint_report(load_preset("kimi-k2-thinking"))
    assert r.tensors == 208_276
    assert r.total_bytes == 594_205_920_512
    # its text model is K2.5's (same tensors): the difference is 61 inv_freq buffers less the vision tower
    k25 = checkpoint_report(load_preset("kimi-k2.5"))
    assert r.tensors == k25.tensors - 335 + 61
    assert r.by_component["extra"] == 61 * 256


def test_weights_override_bf16_is_two_bytes_per_weight():
    spec = load_preset("deepseek-v3")
    r = checkpoint_report(spec, "bf16")
    cfg = spec.config
    moe_layers = cfg.num_hidden_layers - cfg.first_k_dense_replace + cfg.num_nextn_predict_layers
    bias = moe_layers * cfg.n_routed_experts  # e_score_correction_bias stays float32
    p = count_params(spec)  # the parameter count, main model and MTP
    assert r.elements == p.total + p.mtp
    assert r.total_bytes == 2 * (p.total + p.mtp) + 2 * bias
    assert "F8_E4M3" not in r.by_dtype
    assert r.weight_format.from_config is False


def test_cli_checkpoint_json(run_json):
    data = run_json("checkpoint", "--preset", "deepseek-v3")
    assert data["total_bytes"] == 688_574_839_360
    assert set(data["by_dtype"]) == {"BF16", "F8_E4M3", "F32"}


def test_unknown_weight_format_is_one_line_exit_2(run):
    r = run("checkpoint", "--preset", "kimi-k2", "--weights", "fp4")
    assert r.exit_code == 2
    assert "--weights fp4" in r.stderr and "Traceback" not in r.output


def test_forced_int4_keeps_the_mtp_projections_in_bf16():
    # The default ignore list (used when --weights int4 is forced on a model that ships no int4) keeps
    # what Kimi-K2.5 keeps, plus the MTP module's eh_proj and shared_head.head, like its lm_head.
    s = _stored("deepseek-v3", "int4")
    assert s["model.layers.61.eh_proj.weight"][0] == "BF16"
    assert s["model.layers.61.shared_head.head.weight"][0] == "BF16"
    assert "model.layers.61.mlp.experts.{e}.gate_proj.weight_packed" in s


def _config_file(tmp_path, **changes):
    """deepseek-v3's config written out as a config.json, with some fields changed."""
    import json

    spec = load_preset("deepseek-v3")
    raw = spec.config.model_dump(mode="json", exclude_none=True)
    raw.update(changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return path


def test_quantization_config_errors_name_the_config_file(tmp_path, run):
    import pytest

    from k2calc.config import load_path
    from k2calc.errors import InputError

    q = {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 0]}
    path = _config_file(tmp_path, quantization_config=q)
    # validated at load, like the architecture fields: the dotted path names the bad block dimension
    with pytest.raises(InputError, match=rf"^{path}: quantization_config.weight_block_size.1: Input should be greater"):
        checkpoint_report(load_path(path))
    r = run("checkpoint", "--config", str(path))
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {path}: quantization_config.weight_block_size.1:")
    r = run("plan", "--config", str(path), "--gpu", "h200", "--tp", "8")
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {path}: quantization_config.")
    # a preset names itself; without a spec the message keeps the bare field name
    spec = load_preset("deepseek-v3", ["quantization_config={'quant_method': 'awq'}"])
    with pytest.raises(InputError, match=r"^preset deepseek-v3: quantization_config: quant_method 'awq'"):
        checkpoint_report(spec)
    with pytest.raises(InputError, match=r"^quantization_config: quant_method 'awq'"):
        weight_format(spec.config)


def test_unknown_torch_dtype_is_an_error_not_bf16(tmp_path, run):
    import pytest

    from k2calc.config import load_path
    from k2calc.errors import InputError

    path = _config_file(tmp_path, torch_dtype="float8")
    with pytest.raises(InputError, match=r"torch_dtype 'float8': .*bfloat16, float16, float32"):
        checkpoint_report(load_path(path))
    r = run("checkpoint", "--config", str(path))
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {path}: torch_dtype 'float8'")
    assert r.stderr.count("\n") == 1
    # the accepted ones give their own dtype
    assert weight_format(load_path(_config_file(tmp_path, torch_dtype="float16")).config).base_dtype == "F16"
