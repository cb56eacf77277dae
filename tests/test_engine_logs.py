"""k2calc's engine-faithful figures against engine start-up logs and sizing statements (SOURCES.md, rows
E1–E11; each row's tolerance is stated there and here)."""

from __future__ import annotations

import pytest

from k2calc.config import load_preset
from k2calc.analysis.engines import EngineConfig, Resolved, StageNeeds, account, vllm_tokens
from k2calc.hardware import get_gpu
from k2calc.analysis.kv import cache_bytes_per_token_layer
from k2calc.analysis.plan import Layout, Workload, plan

GIB = 2**30
MIB = 2**20


def _kimi_vllm_tp8():
    return plan(load_preset("kimi-k2-thinking"), get_gpu("h200"), Layout(tp=8), Workload(context=131_072),
                engine=EngineConfig(engine="vllm")).engine_memory


# E1, E2: partially modelled (profiled activations and non-PyTorch memory are estimates): ±12%.
def test_e1_e2_vllm_kimi_k2_thinking_h200_tp8_available_kv_and_tokens():
    e = _kimi_vllm_tp8()
    assert e.kv_available / (46.80 * GIB) == pytest.approx(1, rel=0.12)
    assert e.kv_tokens_per_replica / 715_072 == pytest.approx(1, rel=0.12)


# E3: fully modelled: whole 64-token blocks of (512 + 64) × 2 bytes × 61 layers per token.
def test_e3_vllm_block_rounding_reproduces_the_logged_token_count():
    assert (512 + 64) * 2 * 61 == 70_272
    assert vllm_tokens(int(46.80 * GIB), 70_272, 64) == 715_072


# E5, E7: fully modelled: SGLang's "KV size" is (#tokens + one 64-token page) × bytes per token, printed
# to 2 decimals in GiB. V3.2 with fp8 KV: FlashMLA's 656-byte latent + the indexer's 132 bytes, 61 layers.
def test_e5_e7_sglang_kv_size_of_the_logged_token_counts():
    v32 = load_preset("deepseek-v3.2").config
    per_layer = cache_bytes_per_token_layer(v32, "fp8-flashmla")
    assert per_layer == 656 + 132 and v32.num_hidden_layers == 61
    assert f"{(975_424 + 64) * per_layer * 61 / GIB:.2f}" == "43.67"
    assert f"{(1_462_784 + 64) * 656 * 61 / GIB:.2f}" == "54.52"  # before the indexer was counted
    assert f"{(1_462_784 + 64) * per_layer * 61 / GIB:.2f}" == "65.49"


# E6: partially modelled and not fully explained (SOURCES.md): ±15%.
def test_e6_sglang_deepseek_v32_b200_dp8_token_count():
    r = plan(load_preset("deepseek-v3.2"), get_gpu("b200"), Layout(tp=1, dp=8), Workload(context=4096, kv_dtype="fp8-flashmla"),
             engine=EngineConfig(engine="sglang", block_size=64))
    assert r.engine_memory.fraction == 0.751
    assert r.engine_memory.kv_tokens_per_replica / 975_424 == pytest.approx(1, rel=0.15)


def _one_gpu(engine: str, fraction: float, memory: int, weights: int, per_token: int, block: int, ep: int = 1):
    r = Resolved(engine=engine, fraction=fraction, fraction_flag="", fraction_source="given",
                 max_num_batched_tokens=8192, max_num_seqs=None, block_size=block)
    return account(r, memory, [StageNeeds(weights=weights, activations=0, logits_per_seq=0, kv_bytes_per_token=per_token)],
                   ep=ep, dp=1, context=1)


# E8, E9: TensorRT-LLM on B200, "weights and activation about 80 GB" -> "free KV cache 100GB" (±5%);
# "about 200MB" per 1K+2K bf16 request and "max concurrency of 500" (±10%).
def test_e8_e9_trtllm_b200_sizing_statement():
    e = _one_gpu("trtllm", 0.9, 183_359 * MIB, 80 * 10**9, 70_272, 32)
    assert e.kv_available / 100e9 == pytest.approx(1, rel=0.05)
    r1 = load_preset("deepseek-r1").config
    per_request = 3072 * cache_bytes_per_token_layer(r1, "bf16") * r1.num_hidden_layers
    assert per_request / 200e6 == pytest.approx(1, rel=0.10)
    assert (e.kv_available // per_request) / 500 == pytest.approx(1, rel=0.10)


# E10 exact; E11 ±10%: SGLang on GB200 at static fraction 0.75, weights about 40 GB, EP16.
def test_e10_e11_sglang_gb200_long_context_requests():
    r1 = load_preset("deepseek-r1").config
    per_token = cache_bytes_per_token_layer(r1, "fp8") * r1.num_hidden_layers
    assert per_token == 35_136
    assert f"{136_000 * per_token / GIB:.2f}" == "4.45"
    e = _one_gpu("sglang", 0.75, get_gpu("gb200").memory_bytes, 40 * 10**9, per_token, 1, ep=16)
    assert (e.kv_tokens_per_replica / 136_000) / 24 == pytest.approx(1, rel=0.10)
