"""The dtype an engine serves unquantized weights in (`--dtype`, vLLM's and SGLang's flag) apart from the dtype
the checkpoint stores them in; expert options rejected on dense models."""

from __future__ import annotations

import json

import pytest

from k2calc.config import load_preset
from k2calc.hardware import get_gpu
from k2calc.analysis.perf import perf
from k2calc.analysis.plan import Layout

# OLMo-2-1124-13B (tests/data/olmo-2-1124-13b.config.json, torch_dtype float32): hidden 5120, 40 layers of 40
# query = 40 KV heads of 128, intermediate 13824, vocab 100352, untied. Per layer q, k, v, o 4 × 5120²,
# MLP 3 × 5120 × 13824, four norms of 5120 (q_norm, k_norm, post-attention, post-feedforward); embeddings and
# lm_head 100352 × 5120 each, final norm 5120.
OLMO2_13B_PARAMS = 40 * (4 * 5120 * 5120 + 3 * 5120 * 13824 + 4 * 5120) + 2 * 100352 * 5120 + 5120
assert OLMO2_13B_PARAMS == 13_716_198_400


def _weights(run_json, *args):
    return run_json("plan", "-p", "olmo-2-13b", "--gpu", "h100", *args)


def test_a_float32_checkpoint_is_served_in_bf16_under_dtype_auto(run_json):
    # vLLM --dtype auto: float32 -> the platform's first dtype, bfloat16 since Ampere (vllm/config/model.py)
    r = _weights(run_json)
    assert r["per_gpu"]["weights"] == 2 * OLMO2_13B_PARAMS
    assert r["weight_format_description"].endswith("served in BF16 (--dtype auto)")
    assert "bf16 weights" in r["reason"]


def test_the_checkpoint_still_counts_the_stored_float32_bytes(run_json):
    r = run_json("checkpoint", "-p", "olmo-2-13b")
    assert r["total_bytes"] == 4 * OLMO2_13B_PARAMS
    assert r["by_dtype"] == {"F32": {"tensors": 443, "elements": OLMO2_13B_PARAMS, "bytes": 4 * OLMO2_13B_PARAMS}}


def test_dtype_float32_serves_four_bytes_per_weight(run_json):
    r = _weights(run_json, "--dtype", "float32")
    assert r["per_gpu"]["weights"] == 4 * OLMO2_13B_PARAMS
    assert "fp32 weights" in r["reason"]


def test_weights_bf16_means_bf16_weights(run_json):
    r = _weights(run_json, "--weights", "bf16")
    assert r["per_gpu"]["weights"] == 2 * OLMO2_13B_PARAMS
    assert r["weight_format_description"] == "bf16 (BF16), forced by --weights"
    assert run_json("checkpoint", "-p", "olmo-2-13b", "--weights", "bf16")["total_bytes"] == 2 * OLMO2_13B_PARAMS


def test_sglang_serves_a_float32_checkpoint_in_float16(run_json):
    # SGLang's _get_and_verify_dtype: float32 -> float16 under auto (2 bytes as well)
    r = _weights(run_json, "--engine", "sglang")
    assert r["per_gpu"]["weights"] == 2 * OLMO2_13B_PARAMS
    assert "served in F16" in r["weight_format_description"] and "fp16 weights" in r["reason"]


def test_a_bf16_checkpoint_is_served_as_stored(run_json):
    # Qwen3-32B is bf16: auto changes nothing, float32 doubles it (the parameters, 32.76B, twice over)
    auto = run_json("plan", "-p", "qwen3-32b", "--gpu", "h200")
    fp32 = run_json("plan", "-p", "qwen3-32b", "--gpu", "h200", "--dtype", "float32")
    assert auto["weight_format_description"] == "bf16 (BF16), from the config"
    assert fp32["per_gpu"]["weights"] == 2 * auto["per_gpu"]["weights"]


def test_an_unknown_dtype_is_one_line_and_exit_2(run):
    r = run("plan", "-p", "olmo-2-13b", "--gpu", "h100", "--dtype", "fp32")
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: --dtype fp32: unknown dtype (choose from auto, bfloat16, float16, float32)"


def test_perf_streams_the_served_weights():
    # One decoded token at batch 1 reads every matmul weight once: 2 bytes each under auto, 4 with float32
    spec, gpu = load_preset("olmo-2-13b"), get_gpu("h100")
    auto = perf(spec, gpu, Layout(tp=1), batch=1, context=1024)
    fp32 = perf(spec, gpu, Layout(tp=1), batch=1, context=1024, dtype="float32")
    matmul_elements = 40 * 5120 * (4 * 5120 + 3 * 13824) + 100352 * 5120  # the embedding is a lookup
    assert (fp32.tpot_ms - auto.tpot_ms) / 1e3 == pytest.approx(2 * matmul_elements / (3.35e12 * 0.60))


@pytest.mark.parametrize("command", [
    ("plan", "--gpu", "h100", "--gpus", "8", "--tp", "8", "--ep", "8"),
    ("perf", "--gpu", "h100", "--tp", "8", "--ep", "8"),
])
def test_ep_on_a_dense_model_is_rejected(run, command):
    r = run(command[0], "-p", "qwen3-32b", *command[1:])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: --ep 8: qwen3-32b has no routed experts (a dense model; expert options "
                                "apply to MoE models)")


@pytest.mark.parametrize("command", [
    ("plan", "--gpu", "h100", "--redundant-experts", "2"),
    ("plan", "--search", "--gpu", "h100", "--redundant-experts", "2"),
    ("perf", "--gpu", "h100", "--redundant-experts", "2"),
])
def test_redundant_experts_on_a_dense_model_are_rejected(run, command):
    r = run(command[0], "-p", "qwen3-32b", *command[1:])
    assert r.exit_code == 2 and "--redundant-experts 2: qwen3-32b has no routed experts" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_the_search_never_offers_ep_on_a_dense_model(run_json):
    r = run_json("plan", "-p", "qwen3-32b", "--search", "--gpu", "h100", "--max-nodes", "2")
    assert r["results"] and {row["layout"]["ep"] for row in r["results"]} == {1}


def test_a_check_file_with_ep_on_a_dense_model_is_rejected(run, tmp_path):
    path = tmp_path / "dense.yaml"
    path.write_text("deployments:\n  - name: dense\n    model: qwen3-32b\n    gpu: h100\n    tp: 8\n    ep: 8\n"
                    "    workload: {context: 4k, batch: 1}\n    require: {fits: true}\n")
    r = run("check", str(path))
    assert r.exit_code == 2 and "ep 8: qwen3-32b has no routed experts" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_an_moe_model_still_takes_ep(run_json):
    r = run_json("plan", "-p", "qwen3-30b-a3b", "--gpu", "h100", "--gpus", "8", "--tp", "8", "--ep", "8")
    assert r["layout"]["ep"] == 8


def test_a_check_file_takes_dtype(run, tmp_path):
    # the same deployment at auto (2 bytes per weight) and float32 (4): the plans differ by the weights alone
    path = tmp_path / "olmo.yaml"
    one = "  - name: {n}\n    model: olmo-2-13b\n    gpu: h200\n    dtype: {d}\n    workload: {{context: 4k, batch: 1}}\n"
    path.write_text("deployments:\n" + one.format(n="auto", d="auto") + one.format(n="fp32", d="float32"))
    d = json.loads(run("check", str(path), "--format", "json").stdout)
    used = {row["name"]: row["per_gpu"]["used"] for row in d["deployments"]}
    assert used["fp32"] - used["auto"] == 2 * OLMO2_13B_PARAMS
    path.write_text("deployments:\n" + one.format(n="bad", d="fp32"))
    r = run("check", str(path))
    assert r.exit_code == 2 and "deployment bad: dtype fp32: unknown dtype" in r.stderr


def test_kimi_k3_plan_names_its_weights_as_released(run):
    # Kimi-K3's format is its release's per-tensor layout, not a format called "release"
    r = run("plan", "-p", "kimi-k3", "--gpu", "b200", "--gpus", "16", "--tp", "8", "--dp-attention", "2", "--ep", "16",
            "--check")
    assert ", as-released weights, " in r.stdout


def test_perf_says_float32_matmuls_are_timed_at_the_bf16_peak(run_json):
    fp32 = run_json("perf", "-p", "olmo-2-13b", "--gpu", "h100", "--dtype", "float32")
    assert any("timed at the BF16 peak" in n for n in fp32["notes"])
    served_16 = run_json("perf", "-p", "olmo-2-13b", "--gpu", "h100")
    assert not any("timed at the BF16 peak" in n for n in served_16["notes"])
