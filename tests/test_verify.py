"""`k2calc verify` on small checkpoints written here: tiny config, real safetensors files (header + zeros)."""

from __future__ import annotations

import json
import struct
from math import ceil, prod
from pathlib import Path

import pytest

from k2calc.analysis.checkpoint import verify
from k2calc.config import load_path
from k2calc.errors import InputError

# A two-layer DeepSeek-V3-shaped model: layer 0 dense, layer 1 MoE with 4 experts; fp8, 128x128 blocks.
CONFIG = {
    "model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"], "torch_dtype": "bfloat16",
    "vocab_size": 256, "hidden_size": 64, "intermediate_size": 160, "moe_intermediate_size": 32,
    "num_hidden_layers": 2, "first_k_dense_replace": 1, "num_attention_heads": 2, "q_lora_rank": 48,
    "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8,
    "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1, "num_nextn_predict_layers": 0,
    "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128],
                            "activation_scheme": "dynamic"},
}
BYTES = {"BF16": 2, "F32": 4, "F8_E4M3": 1}


def fp8(name: str, out: int, inp: int) -> dict[str, tuple[str, list[int]]]:
    return {f"{name}.weight": ("F8_E4M3", [out, inp]),
            f"{name}.weight_scale_inv": ("F32", [ceil(out / 128), ceil(inp / 128)])}


def expected_tensors() -> dict[str, tuple[str, list[int]]]:
    """Written by hand from the config above, as the DeepSeek-V3 checkpoint names them."""
    t: dict[str, tuple[str, list[int]]] = {
        "model.embed_tokens.weight": ("BF16", [256, 64]),
        "model.norm.weight": ("BF16", [64]),
        "lm_head.weight": ("BF16", [256, 64]),
    }
    for i in (0, 1):
        p = f"model.layers.{i}"
        t[f"{p}.input_layernorm.weight"] = ("BF16", [64])
        t[f"{p}.post_attention_layernorm.weight"] = ("BF16", [64])
        t.update(fp8(f"{p}.self_attn.q_a_proj", 48, 64))
        t[f"{p}.self_attn.q_a_layernorm.weight"] = ("BF16", [48])
        t.update(fp8(f"{p}.self_attn.q_b_proj", 2 * 12, 48))  # heads x (nope + rope)
        t.update(fp8(f"{p}.self_attn.kv_a_proj_with_mqa", 16 + 4, 64))
        t[f"{p}.self_attn.kv_a_layernorm.weight"] = ("BF16", [16])
        t.update(fp8(f"{p}.self_attn.kv_b_proj", 2 * (8 + 8), 16))
        t.update(fp8(f"{p}.self_attn.o_proj", 64, 2 * 8))
    for proj, (o, i) in {"gate_proj": (160, 64), "up_proj": (160, 64), "down_proj": (64, 160)}.items():
        t.update(fp8(f"model.layers.0.mlp.{proj}", o, i))
    t["model.layers.1.mlp.gate.weight"] = ("BF16", [4, 64])
    t["model.layers.1.mlp.gate.e_score_correction_bias"] = ("F32", [4])
    for proj, (o, i) in {"gate_proj": (32, 64), "up_proj": (32, 64), "down_proj": (64, 32)}.items():
        for e in range(4):
            t.update(fp8(f"model.layers.1.mlp.experts.{e}.{proj}", o, i))
        t.update(fp8(f"model.layers.1.mlp.shared_experts.{proj}", o, i))
    return t


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> int:
    """8-byte little-endian header length, JSON header, then zeroed data; returns the data bytes."""
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = prod(shape) * BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return offset


def write_checkpoint(folder: Path, tensors: dict, *, shards: int = 2, write_files: bool = True,
                     total_delta: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    names = list(tensors)
    weight_map, total = {}, 0
    for k in range(shards):
        fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[k::shards]}
        weight_map.update(dict.fromkeys(part, fname))
        if write_files:
            total += write_safetensors(folder / fname, part)
        else:
            total += sum(prod(s) * BYTES[d] for d, s in part.values())
    index = {"metadata": {"total_size": total + total_delta}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def test_matching_checkpoint_verifies(tmp_path):
    folder = write_checkpoint(tmp_path / "ok", expected_tensors())
    r = verify(folder, load_path(folder))
    assert r.ok, (r.missing, r.extra, r.mismatched)
    assert r.headers_read == 2 and r.files == 2
    assert r.size_difference == 0 and r.header_bytes == r.index_total_size == r.expected_bytes


def test_missing_extra_and_mismatched_tensors_are_reported(tmp_path):
    t = expected_tensors()
    del t["model.layers.1.mlp.experts.3.up_proj.weight_scale_inv"]
    t["model.layers.0.self_attn.rotary_emb.inv_freq"] = ("BF16", [2])
    t["model.layers.0.self_attn.o_proj.weight"] = ("BF16", [64, 16])
    folder = write_checkpoint(tmp_path / "bad", t)
    r = verify(folder, load_path(folder))
    assert not r.ok
    assert r.missing == ["model.layers.1.mlp.experts.3.up_proj.weight_scale_inv"]
    assert r.extra == ["model.layers.0.self_attn.rotary_emb.inv_freq"]
    [m] = r.mismatched
    assert (m.name, m.expected_dtype, m.found_dtype) == ("model.layers.0.self_attn.o_proj.weight", "F8_E4M3", "BF16")
    # found - expected: o_proj now 2 bytes per value (+64*16), minus one 1x1 float32 scale, plus 2 bf16 values
    assert r.size_difference == 64 * 16 - 4 + 2 * 2


def test_index_without_shard_files_checks_names_only(tmp_path):
    folder = write_checkpoint(tmp_path / "index-only", expected_tensors(), write_files=False, total_delta=100)
    r = verify(folder, load_path(folder))
    assert r.headers_read == 0 and r.header_bytes is None
    assert not r.missing and not r.extra and not r.mismatched
    assert r.size_difference == 100 and not r.ok


def test_cli_verify_exit_codes(tmp_path, run):
    good = write_checkpoint(tmp_path / "good", expected_tensors())
    assert run("verify", str(good)).exit_code == 0
    t = expected_tensors()
    t.pop("lm_head.weight")
    bad = write_checkpoint(tmp_path / "bad", t)
    r = run("verify", str(bad), "--format", "json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["missing"] == ["lm_head.weight"]


def test_corrupt_header_is_one_line_error(tmp_path, run):
    folder = write_checkpoint(tmp_path / "corrupt", expected_tensors(), shards=1)
    (folder / "model-00001-of-00001.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(InputError, match="not a safetensors file"):
        verify(folder, load_path(folder))
    r = run("verify", str(folder))
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_folder_without_checkpoint_is_one_line_error(tmp_path, run):
    r = run("verify", str(tmp_path))
    assert r.exit_code == 2 and "model.safetensors.index.json" in r.stderr


def test_index_metadata_that_is_not_an_object_is_one_line_error(tmp_path, run):
    folder = write_checkpoint(tmp_path / "meta", expected_tensors(), write_files=False)
    index = folder / "model.safetensors.index.json"
    raw = json.loads(index.read_text())
    raw["metadata"] = "total_size=123"
    index.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=r"model\.safetensors\.index\.json: metadata: expected an object"):
        verify(folder, load_path(folder))
    r = run("verify", str(folder))
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "metadata" in r.stderr


@pytest.mark.parametrize(("key", "value"), [("data_offsets", ["0", "4"]), ("shape", "64"), ("shape", [64, "x"])])
def test_header_entry_with_wrong_types_names_file_and_key(tmp_path, run, key, value):
    folder = write_checkpoint(tmp_path / "types", expected_tensors(), shards=1)
    shard = folder / "model-00001-of-00001.safetensors"
    header = {"model.norm.weight": {"dtype": "BF16", "shape": [64], "data_offsets": [0, 128]}}
    header["model.norm.weight"][key] = value
    raw = json.dumps(header).encode()
    shard.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(128))
    with pytest.raises(InputError, match=rf"model-00001-of-00001\.safetensors: 'model\.norm\.weight': {key}:"):
        verify(folder, load_path(folder))
    r = run("verify", str(folder))
    assert r.exit_code == 2 and "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1


def test_checkpoint_written_by_the_safetensors_library_verifies(tmp_path):
    """The header reader against the real writer (safetensors + torch, installed in CI for the cross-check)."""
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    dtypes = {"BF16": torch.bfloat16, "F32": torch.float32, "F8_E4M3": torch.float8_e4m3fn}
    folder = tmp_path / "real"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    tensors = {name: torch.zeros(shape, dtype=dtypes[dtype]) for name, (dtype, shape) in expected_tensors().items()}
    st.save_file(tensors, str(folder / "model.safetensors"))
    report = verify(folder, load_path(folder / "config.json"))
    assert report.ok and report.headers_read == 1
    assert report.expected_bytes == sum(t.numel() * t.element_size() for t in tensors.values())
