"""`plan`'s per-GPU rows partition the GPU's memory for every engine: weights + KV cache + activations +
overhead + free + unallocated = memory. The sum is an identity, so each engine also has one row written out
by hand from its own rule (engines.py cites the source)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from k2calc.cli import app
from k2calc.config import load_preset
from k2calc.analysis.engines import EngineConfig
from k2calc.hardware import get_gpu
from k2calc.analysis.plan import Layout, Workload, plan

GIB = 2**30
H100 = 85_520_809_984  # 81,559 MiB
# Qwen3-32B at TP2: 64 layers × (8 KV heads / 2) × head_dim 128 × (K + V) × 2 bytes
QWEN3_32B_TP2_PER_TOKEN = 64 * 4 * 128 * 2 * 2

CASES = [("qwen3-32b", "h100", Layout(tp=2), Workload(context=32_768, batch=2)),
         ("kimi-k2-thinking", "h200", Layout(tp=8), Workload(context=131_072)),
         ("deepseek-v3", "h200", Layout(tp=1, dp=8, ep=8), Workload(context=8192, batch=16))]


def _plan(model, gpu, layout, workload, engine):
    return plan(load_preset(model), get_gpu(gpu), layout, workload, engine=EngineConfig(engine=engine))


@pytest.mark.parametrize("engine", ["generic", "vllm", "sglang", "trtllm"])
@pytest.mark.parametrize("model,gpu,layout,workload", CASES, ids=[c[0] for c in CASES])
def test_per_gpu_rows_add_up_to_the_gpu_memory(engine, model, gpu, layout, workload):
    p = _plan(model, gpu, layout, workload, engine).per_gpu
    assert p.weights + p.kv_cache + p.activations + p.overhead + p.free + p.unallocated == p.memory
    assert p.memory == get_gpu(gpu).memory_bytes


def test_generic_leaves_one_minus_mem_fraction_outside_its_budget():
    p = _plan("qwen3-32b", "h100", Layout(tp=2), Workload(context=32_768, batch=2), "generic").per_gpu
    assert p.unallocated == H100 - int(0.9 * H100)
    assert p.free == p.budget - p.weights - p.kv_cache - p.activations - p.overhead


def test_vllm_holds_cuda_context_and_graphs_outside_gpu_memory_utilization():
    # gpu_worker.py: the start-up snapshot is taken with the CUDA context and NCCL up; graphs are captured
    # after the KV cache is allocated. So what vLLM leaves on the GPU is 10% of it, plus the part of
    # "Available KV cache memory" short of a whole block, less the context, NCCL and graphs (1 GiB each).
    r = _plan("qwen3-32b", "h100", Layout(tp=2), Workload(context=32_768, batch=2), "vllm")
    e, p = r.engine_memory, r.per_gpu
    assert e.kv_bytes_per_token == QWEN3_32B_TP2_PER_TOKEN
    blocks = e.kv_available // (64 * QWEN3_32B_TP2_PER_TOKEN)
    assert p.kv_cache + p.free == blocks * 64 * QWEN3_32B_TP2_PER_TOKEN
    assert p.unallocated == H100 - int(0.9 * H100) + (e.kv_available - blocks * 64 * QWEN3_32B_TP2_PER_TOKEN) - 3 * GIB


def test_sglang_budget_is_mem_fraction_static_of_the_memory_free_after_init():
    # server_args.py, H100 81,559 MiB at --tp 2: chunked prefill 8192, cuda_graph_max_bs 256;
    # reserved = 512 + 8192 × 1.5 + 256 × 2 + 2 × 1024 / 8 = 13,568 MiB -> round(67,991 / 81,559, 3) = 0.834,
    # of the memory free once the CUDA context (1 GiB) and NCCL (1 GiB) are up.
    r = _plan("qwen3-32b", "h100", Layout(tp=2), Workload(context=32_768, batch=2), "sglang")
    e, p = r.engine_memory, r.per_gpu
    assert e.fraction == 0.834
    assert e.budget == int(0.834 * (H100 - 2 * GIB))
    # the pool (budget - weights) in whole tokens, plus one page; what is left on the GPU is the
    # runtime reserve less activations and graphs, plus the pool's remainder
    tokens = (e.budget - p.weights) // QWEN3_32B_TP2_PER_TOKEN
    assert p.kv_cache + p.free == (tokens + 1) * QWEN3_32B_TP2_PER_TOKEN
    assert p.unallocated == (H100 - 2 * GIB - e.budget) - p.activations - GIB \
        + (e.budget - p.weights) - (tokens + 1) * QWEN3_32B_TP2_PER_TOKEN


def test_trtllm_leaves_one_minus_free_gpu_memory_fraction_of_what_the_dry_run_left():
    # _util.py: KV = 0.9 × (memory - peak), peak = weights + activations + context + NCCL + graphs (1 GiB each),
    # in blocks of 32 tokens.
    r = _plan("qwen3-32b", "h100", Layout(tp=2), Workload(context=32_768, batch=2), "trtllm")
    p = r.per_gpu
    peak = p.weights + p.activations + 3 * GIB
    tokens = int(0.9 * (H100 - peak)) // QWEN3_32B_TP2_PER_TOKEN // 32 * 32
    assert p.kv_cache + p.free == tokens * QWEN3_32B_TP2_PER_TOKEN
    assert p.unallocated == H100 - peak - tokens * QWEN3_32B_TP2_PER_TOKEN


@pytest.mark.parametrize("engine", ["generic", "vllm", "sglang", "trtllm"])
def test_plan_json_rows_add_up_through_the_cli(engine):
    out = CliRunner().invoke(app, ["plan", "-p", "qwen3-32b", "--gpu", "h100", "--tp", "2", "--engine", engine,
                                   "-f", "json"])
    assert out.exit_code == 0, out.output
    p = json.loads(out.stdout)["per_gpu"]
    assert sum(p[k] for k in ("weights", "kv_cache", "activations", "overhead", "free", "unallocated")) == p["memory"]


def test_plan_table_shows_the_partition_and_its_total():
    out = CliRunner().invoke(app, ["plan", "-p", "qwen3-32b", "--gpu", "h100", "--tp", "2", "--engine", "vllm"])
    assert out.exit_code == 0, out.output
    assert "left unallocated by vllm" in out.stdout and "GPU memory (the rows above add up to it)" in out.stdout
