"""Engine memory accounting: each engine's rule and defaults, by hand from the engine's source (engines.py
cites the files), and `plan --engine`."""

from __future__ import annotations

import pytest

from k2calc.config import load_preset
from k2calc.analysis.engines import (
    CUDA_CONTEXT_BYTES, CUDA_GRAPH_BYTES, NCCL_BYTES, EngineConfig, StageNeeds, account, concurrency, resolve,
    sglang_mem_fraction_static, sglang_tokens, vllm_tokens,
)
from k2calc.errors import InputError
from k2calc.hardware import get_gpu
from k2calc.analysis.plan import Layout, Workload, plan

GIB = 2**30
MIB = 2**20
K128 = 131_072
KIMI_BF16_PER_TOKEN = (512 + 64) * 2 * 61  # kv_lora_rank + qk_rope_head_dim, bf16, 61 layers = 70,272


@pytest.fixture(scope="module")
def k2t():
    return load_preset("kimi-k2-thinking")


# --- SGLang's default --mem-fraction-static (server_args.py _handle_gpu_memory_settings), by hand ---

def test_sglang_default_fraction_h200_tp8():
    # H200 143,771 MiB: chunked prefill 8192, cuda_graph_max_bs 512 (tp >= 4);
    # reserved = 512 + 8192·1.5 + 512·2 + 8·1/8·1024 = 14,848 MiB (above the 10,240 floor)
    assert sglang_mem_fraction_static(143_771, tp=8, dp=1, pp=1, chunk=8192, cuda_graph_max_bs=512) == \
        round((143_771 - 14_848) / 143_771, 3) == 0.897


def test_sglang_default_fraction_b200_dp_attention():
    # B200 183,359 MiB, --tp 8 --dp 8 --enable-dp-attention: chunk 16384, bs 512;
    # 512 + 24,576 + 1,024 + 1,024 + 512·8·3 + 512·8·1.5 (bs > 300) = 45,568 MiB
    assert sglang_mem_fraction_static(183_359, tp=8, dp=8, pp=1, chunk=16384, cuda_graph_max_bs=512) == 0.751


def test_sglang_default_fraction_has_a_10_gib_floor_and_adds_2_gib_for_mtp():
    # H100 81,559 MiB, tp 1: 512 + 12,288 + 256·2 + 128 = 13,440 MiB; with MTP + 2,048
    assert sglang_mem_fraction_static(81_559, 1, 1, 1, 8192, 256) == round((81_559 - 13_440) / 81_559, 3)
    assert sglang_mem_fraction_static(81_559, 1, 1, 1, 8192, 256, spec=True) == round((81_559 - 15_488) / 81_559, 3)
    assert sglang_mem_fraction_static(81_559, 1, 1, 1, 2048, 8) == round((81_559 - 10_240) / 81_559, 3)


def test_resolve_sglang_counts_dp_replicas_in_its_tp():
    # k2calc's tp 1 × dp-attention 8 is SGLang's --tp 8 --dp 8
    h200 = get_gpu("h200")
    r = resolve(EngineConfig(engine="sglang"), h200.memory_bytes, h200.name, tp=1, dp=8, pp=1, mtp=False,
                generic_fraction=0.9)
    assert r.max_num_batched_tokens == 8192 and r.cuda_graph_max_bs == 512
    assert r.fraction == sglang_mem_fraction_static(143_771, 8, 8, 1, 8192, 512)


# --- vLLM batch defaults (arg_utils.py get_batch_defaults) ---

def test_vllm_serve_defaults_by_gpu():
    for name, expected in (("h200", (8192, 1024)), ("h100", (8192, 1024)), ("a100", (2048, 256))):
        g = get_gpu(name)
        r = resolve(EngineConfig(engine="vllm"), g.memory_bytes, g.name, tp=8, dp=1, pp=1, mtp=False,
                    generic_fraction=0.9)
        assert (r.max_num_batched_tokens, r.max_num_seqs) == expected
        assert r.fraction == 0.9 and r.block_size == 64


# --- token counts: whole blocks / pages ---

def test_vllm_tokens_are_whole_blocks():
    # 10 blocks of 64 tokens fit in 10.9 blocks' bytes
    assert vllm_tokens(int(10.9 * 64 * 1000), 1000, 64) == 640
    assert vllm_tokens(-5, 1000, 64) == 0


def test_sglang_tokens_round_down_to_a_page():
    assert sglang_tokens(1000 * 100 + 99, 100, 1) == 1000
    assert sglang_tokens(1000 * 100 + 99, 100, 64) == 960


# --- each engine's rule on one GPU, by hand ---

def _needs(weights=70 * GIB, act=2 * GIB, logits=MIB, per_token=KIMI_BF16_PER_TOKEN):
    return [StageNeeds(weights=weights, activations=act, logits_per_seq=logits, kv_bytes_per_token=per_token)]


def _resolved(engine, **kw):
    h200 = get_gpu("h200")
    return resolve(EngineConfig(engine=engine, **kw), h200.memory_bytes, h200.name, tp=8, dp=1, pp=1, mtp=False,
                   generic_fraction=0.9), h200.memory_bytes


def test_vllm_kv_is_the_capped_budget_minus_weights_and_profile_peak():
    # NCCL is up before vLLM's start-up snapshot (gpu_worker.py init_device): it is not charged to the cap
    r, mem = _resolved("vllm")
    e = account(r, mem, _needs(), ep=1, dp=1, context=K128)
    sampled = min(1024, 8192)  # the sampler's dummy run: min(max_num_seqs, max_num_batched_tokens) logits
    expected = int(0.9 * mem) - 70 * GIB - (2 * GIB + sampled * MIB)
    assert e.kv_available == expected
    assert e.kv_tokens_per_replica == expected // (64 * KIMI_BF16_PER_TOKEN) * 64
    assert e.log[0] == f"Available KV cache memory: {expected / GIB:.2f} GiB"
    # CUDA graphs come on top of the cap unless the profiler estimates them
    with_graphs = account(_resolved("vllm", estimate_cudagraphs=True)[0], mem, _needs(), ep=1, dp=1, context=K128)
    assert with_graphs.kv_available == expected - CUDA_GRAPH_BYTES


def test_vllm_charges_the_expert_parallel_all_to_all_buffers_to_the_cap():
    # set up with the model, after the start-up snapshot: the profile's non-PyTorch increase (2 GiB default)
    r, mem = _resolved("vllm")
    assert (account(r, mem, _needs(), ep=1, dp=1, context=K128).kv_available
            - account(r, mem, _needs(), ep=8, dp=1, context=K128).kv_available) == 2 * GIB


def test_sglang_pool_is_the_static_fraction_of_free_memory_minus_weights():
    r, mem = _resolved("sglang", mem_fraction_static=0.85)
    e = account(r, mem, _needs(), ep=1, dp=1, context=K128)
    free = mem - CUDA_CONTEXT_BYTES - NCCL_BYTES
    pool = int(0.85 * free) - 70 * GIB
    assert e.kv_available == pool and e.kv_tokens_per_replica == pool // KIMI_BF16_PER_TOKEN
    assert e.runtime_reserve == free - int(0.85 * free)
    assert e.log[0].startswith(f"KV Cache is allocated. #tokens: {pool // KIMI_BF16_PER_TOKEN}, KV size: ")


def test_sglang_too_high_a_fraction_leaves_no_room_for_activations():
    r, mem = _resolved("sglang", mem_fraction_static=0.99)
    e = account(r, mem, _needs(act=4 * GIB), ep=1, dp=1, context=K128)
    assert e.problem and "out of memory at run time" in e.problem


def test_trtllm_kv_is_the_fraction_of_what_the_dry_run_leaves():
    r, mem = _resolved("trtllm")
    e = account(r, mem, _needs(), ep=1, dp=1, context=K128)
    peak = 70 * GIB + 2 * GIB + CUDA_CONTEXT_BYTES + NCCL_BYTES + CUDA_GRAPH_BYTES
    assert e.kv_available == int(0.9 * (mem - peak))
    assert e.kv_tokens_per_replica == int(0.9 * (mem - peak)) // KIMI_BF16_PER_TOKEN // 32 * 32


def test_engine_fractions_are_validated():
    with pytest.raises(InputError, match="--gpu-memory-utilization 1.5"):
        _resolved("vllm", gpu_memory_utilization=1.5)
    with pytest.raises(InputError, match="--max-num-seqs 0"):
        _resolved("vllm", max_num_seqs=0)


# --- concurrency ---

def test_concurrency_at_an_average_context_is_kv_tokens_over_it_capped_by_max_num_seqs():
    c = concurrency(800_000, dp=2, context=K128, avg_context=8192, max_num_seqs=None, at_context=12)
    assert c.sequences_at_avg_context == 800_000 // 8192 * 2 and c.limited_by == "KV cache"
    c = concurrency(800_000, dp=2, context=K128, avg_context=8192, max_num_seqs=64, at_context=12)
    assert c.sequences_at_avg_context == 128 and c.limited_by == "--max-num-seqs"


# --- plan --engine ---

def test_plan_generic_keeps_todays_numbers(k2t):
    w = Workload(context=K128, batch=4)
    a = plan(k2t, get_gpu("h200"), Layout(tp=8), w)
    b = plan(k2t, get_gpu("h200"), Layout(tp=8), w, engine=EngineConfig())
    assert a.model_dump() == b.model_dump() and a.engine == "generic" and a.engine_memory is None
    p = a.per_gpu
    assert p.used == p.weights + p.kv_cache + p.activations + p.overhead


def test_plan_vllm_verdict_is_whether_its_kv_cache_holds_the_batch(k2t):
    r = plan(k2t, get_gpu("h200"), Layout(tp=8), Workload(context=K128, batch=4), engine=EngineConfig(engine="vllm"))
    e = r.engine_memory
    assert r.engine == "vllm" and r.kv_tokens == e.kv_tokens_per_replica
    assert r.max_batch == e.kv_tokens_per_replica // K128  # 131,072 is a whole number of 64-token blocks
    assert r.fits == (4 <= r.max_batch)
    assert e.weights == plan(k2t, get_gpu("h200"), Layout(tp=8), Workload(context=K128)).per_gpu.weights


def test_plan_engine_with_dp_attention_reports_tokens_per_replica_and_in_all(k2t):
    r = plan(k2t, get_gpu("h200"), Layout(tp=2, dp=4, ep=8), Workload(context=K128, batch=8),
             engine=EngineConfig(engine="sglang"))
    assert r.kv_tokens == 4 * r.engine_memory.kv_tokens_per_replica


def test_cli_plan_engine_json_has_engine_kv_tokens_and_used(run_json):
    d = run_json("plan", "-p", "kimi-k2-thinking", "--gpu", "h200", "--tp", "8", "--context", "128k",
                 "--engine", "vllm", "--avg-context", "8k", "--max-num-seqs", "64")
    assert d["engine"] == "vllm" and d["kv_tokens"] == d["engine_memory"]["kv_tokens_per_replica"]
    assert d["per_gpu"]["used"] == d["engine_memory"]["used"]
    assert d["concurrency"]["sequences_at_avg_context"] == 64 and d["concurrency"]["limited_by"] == "--max-num-seqs"


def test_cli_plan_mem_fraction_goes_to_the_engines_flag(run_json):
    d = run_json("plan", "-p", "kimi-k2-thinking", "--gpu", "h200", "--tp", "8", "--engine", "sglang",
                 "--mem-fraction", "0.85")
    assert d["engine_memory"]["fraction_flag"] == "--mem-fraction-static" and d["mem_fraction"] == 0.85


def test_cli_plan_unknown_engine_is_one_line(run):
    r = run("plan", "-p", "kimi-k2", "--gpu", "h200", "--tp", "8", "--engine", "vlm")
    assert r.exit_code == 2 and "--engine vlm: unknown engine" in r.stderr and "did you mean vllm" in r.stderr


@pytest.mark.parametrize("flag, value", [("--block-size", "64"), ("--max-num-seqs", "2"),
                                         ("--max-num-batched-tokens", "65536")])
def test_cli_plan_refuses_an_engine_setting_without_an_engine(run, flag, value):
    # the generic accounting has no blocks, sequence cap or profiling pass: the flag would change nothing
    r = run("plan", "-p", "deepseek-v3", "--gpu", "h200", "--gpus", "8", flag, value)
    assert r.exit_code == 2 and f"{flag} {value}: an engine's setting (engine vllm, sglang or trtllm)" in r.stderr
    assert run("plan", "-p", "deepseek-v3", "--gpu", "h200", "--gpus", "8", flag, value, "--engine", "vllm").exit_code == 0


def test_a_check_file_refuses_an_engine_setting_without_an_engine(run, tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("deployments:\n  - name: a\n    model: qwen3-32b\n    gpu: h200\n    block_size: 32\n"
                    "    workload: {context: 4k}\n")
    r = run("check", str(path))
    assert r.exit_code == 2 and "deployment a: block_size 32: an engine's setting" in r.stderr


def test_cli_search_with_an_engine_is_refused(run):
    r = run("plan", "-p", "kimi-k2", "--search", "--engine", "vllm")
    assert r.exit_code == 2 and "--engine vllm does not go with --search" in r.stderr


def test_cli_plan_engine_table_names_the_engine_flag_and_its_log(run):
    r = run("plan", "-p", "kimi-k2-thinking", "--gpu", "h200", "--tp", "8", "--engine", "vllm")
    assert r.exit_code == 0
    assert "budget (--gpu-memory-utilization 0.9" in r.stdout and "Available KV cache memory:" in r.stdout


def test_api_plan_with_an_engine_equals_the_library_call(k2t):
    import k2calc

    a = k2calc.load("kimi-k2-thinking").plan("h200", tp=8, context="128k", engine="vllm", avg_context="8k")
    b = plan(k2t, get_gpu("h200"), Layout(tp=8), Workload(context=K128), engine=EngineConfig(engine="vllm"),
             avg_context=8192)
    assert a.model_dump() == b.model_dump()


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_engine_plan_short_by_counts_a_pool_in_deficit_whole(engine):
    # Kimi-K2's fp8 weights on 8×H100 exceed the engine's budget, so its KV pool is negative. The plan is
    # short by that deficit plus one 32k sequence of MLA cache (61 layers × 576 values × 2 bytes = 70,272
    # bytes per token, not split by TP) — not by the sequence alone, as if the pool were merely empty.
    r = plan(load_preset("kimi-k2"), get_gpu("h100"), Layout(tp=8), Workload(context=32768, batch=1),
             engine=EngineConfig(engine=engine))
    assert r.engine_memory.kv_available < 0 and not r.fits
    assert r.per_gpu.free == r.engine_memory.kv_available - 32768 * 61 * 576 * 2
    assert r.per_gpu.free < r.per_gpu.budget - r.per_gpu.weights  # the weights alone overflow the budget


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_engines_cap_sliding_window_layers_like_the_generic_plan(engine):
    # Gemma 3 27B at 128k: 52 sliding layers keep 1,024 tokens, 10 global layers all 131,072, at 8,192
    # bytes per token per layer: 11,173,625,856 bytes a sequence (10.41 GiB), not 62 × 131,072 × 8,192
    # (62 GiB) as if every layer kept every token. One H100 holds it beside 50 GiB of weights.
    seq = 52 * 1024 * 8192 + 10 * 131072 * 8192
    r = plan(load_preset("gemma-3-27b"), get_gpu("h100"), Layout(), Workload(context=131072, batch=1),
             engine=EngineConfig(engine=engine))
    assert r.engine_memory.kv_bytes_per_token == seq // 131072
    assert r.fits and r.max_batch == r.engine_memory.kv_available // seq
