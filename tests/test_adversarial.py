"""Hostile input, class by class: each ends with one clear line and exit 2 (or a correct verdict), never a
hang, a memory blow-up, a traceback or a silently wrong answer.

The classes of issue 9: files that are not files, files too big for what they claim to be, YAML alias
bombs, deep nesting, huge integers, NaN, duplicate keys, paths the OS refuses, non-UTF-8 names, a
malformed quantization_config, hostile GPU catalogs, corrupt checkpoints. Guards live in one place
(k2calc/inputs.py) and the tests go through the commands users run. scripts/adversarial.py runs the same
classes as subprocesses with time and memory limits.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from k2calc.config import load, load_path
from k2calc.inputs import MAX_DEPTH, echo, printable
from tests.test_verify import CONFIG, expected_tensors, write_checkpoint

DATA = Path(__file__).parent / "data"
GOOD = json.loads((DATA / "deepseek-v3.config.json").read_text())
PRESET_YAML = "config:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in GOOD.items())
# without hidden_size and rope_scaling, for a test to give them (a repeated key is refused on its own)
BARE_YAML = "config:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in GOOD.items()
                                  if k not in ("hidden_size", "rope_scaling"))


def one_line_error(r, *needles: str) -> str:
    """The result is exit 2 with exactly one `error:` line on stderr, containing every needle."""
    lines = r.stderr.splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (r.exit_code, r.stderr[:500])
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def config_with(tmp_path: Path, name: str, text: str | bytes) -> str:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(p)


# ---------------------------------------------------------------------------------------------------
# Files that are not files, or bigger than any config


def test_a_fifo_as_config_is_refused_without_blocking(tmp_path, run):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    one_line_error(run("params", "--config", str(fifo)), "not a regular file")
    one_line_error(run("gpus", "--gpu-file", str(fifo)), "not a regular file")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_an_endless_device_is_refused_before_reading(run, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    one_line_error(run("params", "--config", device), "not a regular file")
    one_line_error(run("gpus", "--gpu-file", device), "not a regular file")


def test_a_folder_as_gpu_file_is_refused(tmp_path, run):
    one_line_error(run("gpus", "--gpu-file", str(tmp_path)), "is a folder")


def test_a_file_larger_than_any_config_says_so(tmp_path, run):
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(5 * 2**20)  # sparse: nothing is written, nothing need be read
    one_line_error(run("params", "--config", str(big)), "5,242,880 bytes is larger than any config file could be")
    one_line_error(run("gpus", "--gpu-file", str(big)), "larger than any GPU catalog")


def test_a_checkpoint_index_that_is_a_fifo_is_refused(tmp_path, run):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    os.mkfifo(folder / "model.safetensors.index.json")
    one_line_error(run("verify", str(folder)), "not a regular file")


def test_a_safetensors_shard_that_is_a_device_is_refused(tmp_path, run):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (folder / "model.safetensors").symlink_to("/dev/zero")
    one_line_error(run("verify", str(folder)), "not a regular file")


def test_a_safetensors_header_over_the_cap_is_refused_before_it_is_read(tmp_path, run):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    n = 98 * 10**6
    with (folder / "model.safetensors").open("wb") as f:
        f.write(struct.pack("<Q", n))
        f.truncate(8 + n)
    one_line_error(run("verify", str(folder)), "a safetensors header of 98,000,000 bytes is larger than k2calc reads")


# ---------------------------------------------------------------------------------------------------
# Parsing: depth, alias bombs, huge integers, NaN, duplicate keys


def test_deep_nesting_is_refused_by_depth_not_recursion(tmp_path, run):
    deep = 100_000
    one_line_error(run("params", "--config", config_with(tmp_path, "deep.json", "[" * deep + "]" * deep)),
                   f"nested deeper than {MAX_DEPTH} levels")
    field = json.dumps(GOOD)[:-1] + ', "extra_deep": ' + '{"a":' * deep + "1" + "}" * deep + "}"
    one_line_error(run("params", "--config", config_with(tmp_path, "deep2.json", field)), "nested deeper")
    one_line_error(run("params", "--config", config_with(tmp_path, "deep.yaml", "config: " + "[" * deep + "]" * deep)),
                   "nested deeper")
    one_line_error(run("params", "-p", "kimi-k2", "--set", "rope_scaling=" + "[" * 5000 + "]" * 5000), "nested deeper")


def test_a_depth_below_python_recursion_limit_is_still_bounded(tmp_path, run):
    field = json.dumps(GOOD)[:-1] + ', "extra_deep": ' + '{"a":' * 800 + "1" + "}" * 800 + "}"
    one_line_error(run("compare", config_with(tmp_path, "d800.json", field), "kimi-k2"), "nested deeper")


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


@pytest.mark.parametrize("where", ["  hidden_size: *i\n", "  hidden_size: 7168\n  rope_scaling: {x: *i}\n"])
def test_a_yaml_alias_bomb_is_refused_at_load(tmp_path, run, where):
    path = config_with(tmp_path, "bomb.yaml", BOMB + BARE_YAML + where)
    one_line_error(run("params", "--config", path), "YAML aliases expand to more than")
    one_line_error(run("compare", path, "deepseek-v3"), "YAML aliases expand")


def test_a_yaml_merge_key_bomb_is_refused_at_load(tmp_path, run):
    merge = "a0: &a0 {k0: 1, k1: 1, k2: 1, k3: 1}\n" + "".join(
        f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 8)}], z{i}: 1}}\n" for i in range(1, 9))
    one_line_error(run("params", "--config", config_with(tmp_path, "merge.yaml", merge + PRESET_YAML)),
                   "YAML aliases expand")


def test_a_shared_anchor_within_the_bound_still_loads(tmp_path):
    text = BARE_YAML + "  hidden_size: &h 7168\n  extra_copy: *h\n"
    assert load_path(config_with(tmp_path, "ok.yaml", text)).config.hidden_size == 7168


def test_integers_beyond_python_conversion_limit_are_one_line(tmp_path, run):
    digits = "9" * 5000
    js = json.dumps(GOOD)[:-1] + f', "hidden_size": {digits}}}'
    one_line_error(run("params", "--config", config_with(tmp_path, "big.json", js)), "an integer of 5,000 digits")
    yml = BARE_YAML + f"  hidden_size: {digits}\n"
    one_line_error(run("params", "--config", config_with(tmp_path, "big.yaml", yml)), "an integer of 5,000 digits")
    one_line_error(run("params", "-p", "kimi-k2", "--set", f"hidden_size={digits}"), "--set hidden_size=999")


def test_a_huge_hex_integer_is_echoed_without_being_printed_in_full(run):
    line = one_line_error(run("params", "-p", "kimi-k2", "--set", "hidden_size=0x" + "f" * 3000))
    assert "hidden_size" in line and len(line) < 600


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_json_numbers_are_refused(tmp_path, run, constant):
    js = json.dumps(GOOD)[:-1] + f', "rope_theta": {constant}}}'
    one_line_error(run("params", "--config", config_with(tmp_path, "nan.json", js)), constant)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_float_fields_are_refused(run, value):
    one_line_error(run("params", "-p", "kimi-k2", "--set", f"routed_scaling_factor={value}"), "routed_scaling_factor")


def test_a_duplicate_key_is_refused_naming_it(tmp_path, run):
    js = json.dumps(GOOD)[:-1] + ', "hidden_size": 1}'
    one_line_error(run("params", "--config", config_with(tmp_path, "dup.json", js)), "key 'hidden_size' appears twice")
    yml = PRESET_YAML + "  hidden_size: 1\n"
    one_line_error(run("params", "--config", config_with(tmp_path, "dup.yaml", yml)), "key 'hidden_size' appears twice")


# ---------------------------------------------------------------------------------------------------
# Echoed values are bounded


def test_a_3_mb_value_is_not_written_whole(tmp_path, run):
    js = json.dumps({**GOOD, "hidden_size": "7" * (3 * 2**20)})  # under the file cap: a 31 MB file is refused whole
    line = one_line_error(run("params", "--config", config_with(tmp_path, "huge.json", js)), "hidden_size")
    assert len(line) < 1000


def test_echo_bounds_length_depth_and_huge_integers():
    assert echo(2**20000).startswith("<an integer of about 6,021 digits")
    assert len(echo("x" * 10**6)) <= 120 and echo("x" * 10**6).endswith("… (1,000,000 characters)")
    loop: list = []
    loop.append(loop)  # what an alias bomb looks like after loading: shared, not copied
    assert echo(loop) == "[[[[…]]]]"
    assert echo({"a": list(range(100))}) == "{'a': [0, 1, 2, 3, 4, 5, 6, 7, … (100 items)]}"
    assert printable(os.fsdecode(b"caf\xe9")) == "caf\\xe9"


# ---------------------------------------------------------------------------------------------------
# Paths


def test_a_path_too_long_for_the_os_is_one_line(run):
    long = "/tmp/" + "a" * 5000 + ".json"
    one_line_error(run("params", "--config", long), "path too long for the OS")
    one_line_error(run("compare", long, "kimi-k2"), "path too long")
    one_line_error(run("verify", long, "-p", "kimi-k2"), "path too long")
    one_line_error(run("gpus", "--gpu-file", long), "path too long")


def test_an_unknown_user_in_a_tilde_path_is_one_line(run):
    one_line_error(run("params", "--config", "~nosuchuser_k2calc/x.json"), "no user 'nosuchuser_k2calc'")
    one_line_error(run("gpus", "--gpu-file", "~nosuchuser_k2calc/g.yaml"), "no user")
    one_line_error(run("verify", "~nosuchuser_k2calc/ckpt", "-p", "kimi-k2"), "no user")


def test_a_non_utf8_file_name_is_shown_escaped(tmp_path, run):
    path = tmp_path / os.fsdecode(b"caf\xe9.config.json")
    path.write_text(json.dumps(GOOD))
    spec = load(path)
    assert spec.name == "caf\\xe9" and spec.source.endswith("caf\\xe9.config.json")
    r = run("params", "--config", str(path), "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["model"] == "caf\\xe9"
    bad = tmp_path / os.fsdecode(b"bad\xff.json")
    bad.write_text("{")
    one_line_error(run("params", "--config", str(bad)), "bad\\xff.json: malformed JSON")


# ---------------------------------------------------------------------------------------------------
# quantization_config: the whole schema validated at load

CT = {"quant_method": "compressed-tensors", "format": "pack-quantized",
      "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "group_size": 32,
                                                                        "symmetric": True}}}}


@pytest.mark.parametrize("q, where", [
    ({**CT, "ignore": [1]}, "quantization_config.ignore.0: Input should be a valid string"),
    ({**CT, "ignore": ["re:("]}, "pattern 're:(' is not a valid regular expression"),
    ({**CT, "ignore": "lm_head"}, "quantization_config.ignore: Input should be a valid list"),
    ({**CT, "ignore": ["re:(.*.*)*x"]}, "pattern 're:(.*.*)*x' repeats a repeat"),
    ({**CT, "config_groups": {"g": {"weights": "int4"}}}, "quantization_config.config_groups.g.weights:"),
    ({**CT, "config_groups": [{"weights": {}}]}, "quantization_config.config_groups: Input should be a valid dict"),
    ({**CT, "config_groups": {"g": {"weights": {"num_bits": 4, "group_size": True}}}},
     "quantization_config.config_groups.g.weights.group_size"),
    ({"quant_method": "fp8", "weight_block_size": 5}, "quantization_config.weight_block_size:"),
    ({"quant_method": "fp8", "weight_block_size": [True, True]}, "quantization_config.weight_block_size.0:"),
    ({"quant_method": "fp8", "weight_block_size": [128, 128, 128]}, "quantization_config.weight_block_size:"),
    ({"quant_method": ["fp8"]}, "quantization_config.quant_method:"),
    ({"quant_method": "fp8", "fmt": 5}, "quantization_config.fmt:"),
])
def test_a_malformed_quantization_config_is_one_line_naming_the_field(tmp_path, run, q, where):
    path = config_with(tmp_path, "q.json", json.dumps({**GOOD, "quantization_config": q}))
    for cmd in (["params"], ["checkpoint"], ["plan", "--gpu", "h200", "--tp", "8"]):
        one_line_error(run(*cmd, "--config", path), path, where)


def test_the_quantization_configs_of_real_releases_validate():
    for ref in ("deepseek-v3", "deepseek-v3.2", "kimi-k2", "kimi-k2.5", "kimi-k2-thinking"):
        assert load(ref).config.quantization_config
    for name in ("nvidia-kimi-k2.5-nvfp4.config.json", "kimi-k2.6.config.TRANSCRIBED.json"):
        assert load(DATA / name).config.quantization_config


# ---------------------------------------------------------------------------------------------------
# GPU catalogs

ENTRY = {"name": "zz", "memory_bytes": "85899345920", "hbm_bandwidth_tb_per_s": "3", "bf16_dense_tflops": "900",
         "link_bandwidth_gb_per_s": "900", "gpus_per_node": "8"}


def catalog(tmp_path: Path, **fields: str) -> str:
    entry = {**ENTRY, **fields}
    return config_with(tmp_path, "gpus.yaml", "gpus:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in entry.items()))


@pytest.mark.parametrize("field, value", [
    ("gpus_per_node", "1000000000000"), ("memory_bytes", "9" * 400), ("memory_bytes", "1e30"),
    ("price_per_gpu_hour_usd", ".inf"), ("hbm_bandwidth_tb_per_s", ".nan"), ("bf16_dense_tflops", ".inf"),
    ("price_per_gpu_hour_usd", "1e300"), ("gpus_per_node", "true"), ("price_per_gpu_hour_usd", "-1"),
])
def test_a_catalog_value_out_of_bounds_is_one_line(tmp_path, run, field, value):
    path = catalog(tmp_path, **{field: value})
    one_line_error(run("gpus", "--gpu-file", path, "--format", "json"), f"gpus[zz]: {field}:")
    one_line_error(run("plan", "-p", "deepseek-v3", "--search", "--gpu", "zz", "--gpu-file", path), field)


def test_a_catalog_integer_key_is_one_line(tmp_path, run):
    path = config_with(tmp_path, "g.yaml", "gpus:\n  - 5: 1\n    name: x\n")
    one_line_error(run("gpus", "--gpu-file", path), "key 5: field names are strings")


def test_a_priced_catalog_gives_strict_json(tmp_path, run):
    path = catalog(tmp_path, price_per_gpu_hour_usd="2.5")
    r = run("plan", "-p", "deepseek-v3", "--search", "--gpu", "zz", "--gpu-file", path, "--format", "json")
    assert r.exit_code == 0

    def refuse(c):
        raise ValueError(c)

    rows = json.loads(r.stdout, parse_constant=refuse)["results"]
    assert rows and all(row["cost_per_hour_usd"] == 2.5 * row["gpus"] for row in rows)


def test_divisors_are_found_in_square_root_steps():
    from k2calc.analysis.plan import _divisors

    assert _divisors(36) == [1, 2, 3, 4, 6, 9, 12, 18, 36]
    assert _divisors(2**40) == [2**k for k in range(41)]  # a linear scan would take hours
    assert _divisors(1) == [1] and _divisors(97) == [1, 97]


# ---------------------------------------------------------------------------------------------------
# verify: corrupt checkpoints, names outside the folder, hostile index values, 2^30 experts


def single_file(folder: Path, header: dict, data: bytes) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    raw = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return folder


def sound_header() -> tuple[dict, int]:
    """The hand-written tensors of test_verify laid out back to back, as safetensors writes them."""
    sizes = {"BF16": 2, "F32": 4, "F8_E4M3": 1}
    header, pos = {}, 0
    for name, (dtype, shape) in expected_tensors().items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [pos, pos + n]}
        pos += n
    return header, pos


def test_a_sound_single_file_checkpoint_still_verifies(tmp_path):
    header, size = sound_header()
    folder = single_file(tmp_path / "ok", header, bytes(size))
    r = verify_folder(folder)
    assert r.ok and not r.corrupt


def verify_folder(folder: Path):
    from k2calc.analysis.checkpoint import verify

    return verify(folder, load_path(folder))


def test_a_header_without_its_data_is_corrupt(tmp_path):
    header, size = sound_header()
    r = verify_folder(single_file(tmp_path / "nodata", header, b""))
    assert not r.ok and any("past the end of the 0-byte data section" in p for p in r.corrupt)


def test_every_tensor_at_offset_zero_is_corrupt(tmp_path, run):
    header, size = sound_header()
    for info in header.values():
        b, e = info["data_offsets"]
        info["data_offsets"] = [0, e - b]
    r = verify_folder(single_file(tmp_path / "zero", header, bytes(size)))
    assert not r.ok and any("overlaps" in p for p in r.corrupt)
    assert run("verify", str(tmp_path / "zero")).exit_code == 1


def test_one_tensor_10_bytes_short_and_the_next_10_long_is_corrupt(tmp_path):
    header, size = sound_header()
    first, second = list(header)[:2]
    header[first]["data_offsets"][1] -= 10
    header[second]["data_offsets"][0] -= 10
    r = verify_folder(single_file(tmp_path / "shortlong", header, bytes(size)))
    assert not r.ok and r.size_difference == 0  # the totals agree: only the layout check catches it
    assert sum(f"{first}: holds" in p or f"{second}: holds" in p for p in r.corrupt) == 2


def test_index_shard_names_that_leave_the_folder_are_refused(tmp_path, run):
    for i, escape in enumerate(["../../etc/passwd", "/etc/passwd", "a/../../x.safetensors"]):
        folder = write_checkpoint(tmp_path / f"esc{i}", expected_tensors(), write_files=False)
        index = json.loads((folder / "model.safetensors.index.json").read_text())
        index["weight_map"]["lm_head.weight"] = escape
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
        one_line_error(run("verify", str(folder)), "a shard must be a file inside the checkpoint folder")


@pytest.mark.parametrize("total", ["Infinity", "1e400", "-5", "NaN", '"many"', "true", "5.5"])
def test_a_hostile_index_total_size_is_one_line(tmp_path, run, total):
    folder = write_checkpoint(tmp_path / "ts", expected_tensors(), write_files=False)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    text = json.dumps(index).replace(f'"total_size": {index["metadata"]["total_size"]}', f'"total_size": {total}')
    (folder / "model.safetensors.index.json").write_text(text)
    one_line_error(run("verify", str(folder), "--format", "json"), "model.safetensors.index.json")


def test_verify_with_2_30_experts_streams_the_names(tmp_path):
    folder = write_checkpoint(tmp_path / "ok", expected_tensors())
    from k2calc.analysis.checkpoint import MAX_LISTED, verify

    spec = load_path(folder, ["n_routed_experts=1073741824"])
    r = verify(folder, spec)
    # the checkpoint holds 4 experts × 3 projections × (weight + scale); the model wants 2^30 experts
    assert r.missing_count == 2**30 * 3 * 2 - 4 * 3 * 2
    assert len(r.missing) == MAX_LISTED and r.missing[0] == "model.layers.1.mlp.experts.4.gate_proj.weight"
    assert not r.ok


# ---------------------------------------------------------------------------------------------------
# Bounds and decisions


def test_a_context_list_is_bounded(run):
    one_line_error(run("kv", "-p", "kimi-k2", "--context", ",".join(map(str, range(1, 1002)))),
                   "1,001 context lengths; at most 1,000")
    assert run("kv", "-p", "kimi-k2", "--context", ",".join(map(str, range(1, 1001))), "-f", "json").exit_code == 0


@pytest.mark.parametrize("value", ["4k\n", "\t4k", "4\x00k"])
def test_a_size_with_a_control_character_is_refused(run, value):
    one_line_error(run("kv", "-p", "kimi-k2", "--context", value), "contains a control character")


def test_n_group_must_divide_n_routed_experts(run):
    one_line_error(run("params", "-p", "deepseek-v3", "--set", "n_group=7"),
                   "n_group (7) does not divide n_routed_experts (256)")


def test_a_model_type_contradicting_the_fields_is_read_with_a_note(tmp_path, run):
    llama = load_path(config_with(tmp_path, "mt.json", json.dumps({**GOOD, "model_type": "llama"})))
    assert any("model_type 'llama' reads no kv_lora_rank, qk_rope_head_dim" in n for n in llama.notes)
    v32 = load_path(config_with(tmp_path, "v32.json", json.dumps({**GOOD, "model_type": "deepseek_v32"})))
    assert any("without index_n_heads" in n for n in v32.notes)
    one_line_error(run("params", "--config", config_with(tmp_path, "x.json", json.dumps({**GOOD, "model_type": "x" * 5000}))),
                   "is not supported")


def test_compare_is_bounded_in_models(run):
    one_line_error(run("compare", *["kimi-k2"] * 17), "17 models; at most 16")


# ---------------------------------------------------------------------------------------------------
# check files, --baseline, --quant-config: the same boundary

CHECK = ("deployments:\n  - name: a\n    model: kimi-k2\n    gpu: h200\n    gpus: 16\n    tp: 8\n    dp_attention: 2\n"
         "    ep: 16\n    weights: fp8\n    workload: {context: 4096}\n")


def test_check_files_and_baselines_go_through_the_input_boundary(tmp_path, run):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    one_line_error(run("check", str(fifo)), "not a regular file")
    bomb = config_with(tmp_path, "bomb.yaml", BOMB + "deployments: *i\n")
    one_line_error(run("check", bomb), "YAML aliases expand")
    ok = config_with(tmp_path, "ok.yaml", CHECK)
    assert run("check", ok).exit_code == 0
    deep = config_with(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    one_line_error(run("check", ok, "--baseline", deep), "--baseline", "nested deeper")
    one_line_error(run("check", ok, "--baseline", str(fifo)), "not a regular file")


def test_an_hf_quant_config_is_validated_like_a_quantization_config(tmp_path, run):
    q = config_with(tmp_path, "hf_quant_config.json", json.dumps(
        {"quantization": {"quant_algo": "NVFP4", "group_size": 16, "exclude_modules": ["re:("]}}))
    one_line_error(run("checkpoint", "-p", "deepseek-v3", "--quant-config", q),
                   "quantization.exclude_modules", "pattern 're:(' is not a valid regular expression")


def test_a_perf_sweep_echoes_a_bounded_value_and_refuses_huge_integers(run):
    perf = ["perf", "-p", "kimi-k2", "--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2", "--ep", "16"]
    line = one_line_error(run(*perf, "--sweep", "batch=" + "9" * 5000), "must be a whole number")
    assert len(line) < 300
    line = one_line_error(run(*perf, "--sweep", "context=" + ",".join(map(str, range(1, 20001)))), "at most 256 points")
    assert len(line) < 300


def test_a_long_list_field_is_summarized_in_one_pass_and_bounded():
    from k2calc.views import _config_value

    text = _config_value(list(range(50_000)))  # counting each distinct value by rescanning would take minutes
    assert text.startswith("1× 0, 1× 1, ") and text.endswith("… 49,992 more")
    assert _config_value(["full", "sliding", "sliding", "full", "sliding"]) == "2× full, 3× sliding"
