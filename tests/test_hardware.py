"""The GPU catalog: driver-reported memory from SOURCES.md, validation, user files."""

from __future__ import annotations

import pytest

from k2calc.errors import InputError
from k2calc.hardware import get_gpu, list_gpus

# SOURCES.md, "GPUs": driver totals (nvidia-smi MiB, rocm-smi bytes).
DRIVER_MIB = {"a100": 81_920, "h100": 81_559, "h800": 81_559, "h20": 97_871, "h200": 143_771,
              "b200": 183_359, "gb200": 189_471}
DRIVER_BYTES = {"mi300x": 205_822_885_888, "mi355x": 309_220_868_096}


def test_catalog_has_the_required_gpus():
    names = {g.name for g in list_gpus()}
    assert {"h100", "h800", "h20", "h200", "b200", "gb200", "a100", "mi300x", "mi325x", "mi355x"} <= names


def test_memory_is_the_driver_total_in_bytes():
    for name, mib in DRIVER_MIB.items():
        assert get_gpu(name).memory_bytes == mib * 2**20, name
    for name, b in DRIVER_BYTES.items():
        assert get_gpu(name).memory_bytes == b, name


def test_mi325x_memory_is_flagged_as_an_estimate():
    g = get_gpu("mi325x")
    assert g.memory_estimated and "ESTIMATE" in g.memory_source


def test_datasheet_defaults_from_published_table():
    h200 = get_gpu("h200")
    assert (h200.hbm_bandwidth_tb_per_s, h200.bf16_dense_tflops, h200.fp8_dense_tflops) == (4.8, 989, 1979)
    assert get_gpu("b200").fp4_dense_tflops == 9000
    assert get_gpu("a100").fp8_dense_tflops is None


def test_names_and_aliases_are_case_insensitive():
    assert get_gpu("H100-SXM").name == "h100"
    with pytest.raises(InputError, match="did you mean h200"):
        get_gpu("h2000")


def test_user_file_overrides_and_adds(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("gpus:\n"
                 "  - {name: h200, memory_bytes: 1000, hbm_bandwidth_tb_per_s: 1, bf16_dense_tflops: 1,\n"
                 "     link_bandwidth_gb_per_s: 1, gpus_per_node: 8, price_per_gpu_hour_usd: 3.5}\n"
                 "  - {name: toy, memory_bytes: 2000, hbm_bandwidth_tb_per_s: 1, bf16_dense_tflops: 1,\n"
                 "     link_bandwidth_gb_per_s: 1, gpus_per_node: 4}\n")
    assert get_gpu("h200", [f]).memory_bytes == 1000
    assert get_gpu("toy", [f]).gpus_per_node == 4


def test_typo_in_a_catalog_is_one_line_naming_the_field(tmp_path, run):
    f = tmp_path / "typo.yaml"
    f.write_text("gpus:\n  - {name: x, memory_byte: 1, hbm_bandwidth_tb_per_s: 1, bf16_dense_tflops: 1,\n"
                 "     link_bandwidth_gb_per_s: 1, gpus_per_node: 8}\n")
    with pytest.raises(InputError, match=r"gpus\[x\]: unknown field 'memory_byte' \(did you mean memory_bytes"):
        list_gpus([f])
    r = run("gpus", "--gpu-file", str(f))
    assert r.exit_code == 2 and "memory_byte" in r.stderr


def test_cli_gpus_lists_the_catalog(run, run_json):
    data = run_json("gpus")
    assert {g["name"] for g in data} >= {"h200", "mi355x"}
    assert "h200" in run("gpus").stdout


def test_gpu_catalog_is_not_a_model_preset(run_json):
    assert "gpus" not in {p["name"] for p in run_json("presets")}
