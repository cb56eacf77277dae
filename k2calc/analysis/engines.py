"""GPU memory as each serving engine accounts it at start-up: what it gives the KV cache, the token count
it logs, and what it holds per GPU afterwards (what nvidia-smi shows).

`plan` computes the per-GPU weights and an activation estimate from the tensor list and hands them here;
this module only applies each engine's own rule (read in the engine's source, cited per engine) and its
own defaults, named after the engine's flags. Nothing here imports `plan`.

**vLLM** (`vllm/v1/worker/gpu_worker.py` `Worker.determine_available_memory` and
`vllm/utils/mem_utils.py` `memory_profiling`, vllm-project/vllm commit 35d5cda, the v0.12 series; batch
defaults from `vllm/engine/arg_utils.py` `EngineArgs.get_batch_defaults`): `--gpu-memory-utilization`
(0.9) × the GPU's memory caps the whole process. The KV cache gets that minus the weights, the peak
PyTorch memory of a profiling forward pass of `--max-num-batched-tokens` tokens (8192 for `vllm serve` on
GPUs of 70 GiB or more other than A100, else 2048) plus the sampler's logits for
`min(--max-num-seqs, --max-num-batched-tokens)` sequences (`--max-num-seqs` 1024, resp. 256), and the
non-PyTorch memory added since the start-up snapshot (the expert-parallel all-to-all buffers, set up with
the model). `Worker.init_device` takes that snapshot after the distributed environment is up, so the CUDA
context, NCCL and custom all-reduce buffers sit outside the cap, in the `1 - --gpu-memory-utilization`
left over. CUDA graphs are captured after the KV cache is allocated and also come on top of the cap,
unless `VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS` is set (later versions; `estimate_cudagraphs` here). It logs
"Available KV cache memory: X GiB", then allocates whole blocks (`--block-size`; 64, FlashMLA's, for MLA on
Hopper) of `kv_bytes_per_token` each and logs "GPU KV cache size: N tokens", N = blocks × block size. With
pipeline stages every stage gets the smallest stage's block count. With data parallelism each engine core
(one per DP rank) logs its own figure.

**SGLang** (`python/sglang/srt/server_args.py` `ServerArgs._handle_gpu_memory_settings` and
`python/sglang/srt/model_executor/model_runner.py` `profile_max_num_token`, sgl-project/sglang main as of
2026): `--mem-fraction-static` covers the weights and the KV pool only. Its default is
`round((M − reserved) / M, 3)`, M the GPU memory in MiB, reserved (MiB) = 512 + 1.5 × max(chunked prefill
size, 2048) + 2 × cuda_graph_max_bs + 1024 × tp × pp / 8, with DP attention + 3 × cuda_graph_max_bs × dp
(+ 1.5 × cuda_graph_max_bs × dp more above 300), at least 10,240 on GPUs over 60 GiB, + 2,048 with
EAGLE/MTP; `--chunked-prefill-size` and `--cuda-graph-max-bs` default by M (2048/8 below 20 GiB … 16384/512
from 160 GiB) and tp. The pool is `mem_fraction_static × F − weights`, F the memory free once the
distributed environment is up; its token count is that over the bytes one token caches in all layers,
rounded down to `--page-size`; its buffers hold one page more (`memory_pool.py`). It logs "KV Cache is
allocated. #tokens: N, KV size: X GB" (X in GiB).
Activations and CUDA graphs come out of the remaining `(1 − mem_fraction_static) × F`.

**TensorRT-LLM** (`tensorrt_llm/_torch/pyexecutor/_util.py` `KvCacheCreator.configure_kv_cache_capacity`
and `_cal_max_memory`, NVIDIA/TensorRT-LLM commit d8ae02c; `KvCacheConfig.free_gpu_memory_fraction`
default 0.9 in `tensorrt_llm/llmapi/llm_args.py`): after loading the weights it runs a dry run of
`max_num_tokens` (8192) tokens; the KV cache gets `free_gpu_memory_fraction × (memory − peak)`, peak = the
PyTorch peak (weights + activations) + everything outside PyTorch (CUDA context, NCCL, CUDA graphs). Its
token count is that over the bytes per token, in blocks of `tokens_per_block` (32).

**generic** keeps k2calc's own rule (plan.py): one `mem_fraction` covering everything.

Estimated, not read from a run: the activation peak (plan.py's estimate at the engine's batch), and the
fixed parts below (one set of documented defaults, the same as `plan`'s generic overhead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from ..errors import InputError, suggest
from ..sizes import GIB

MIB = 2**20
ENGINES = ("generic", "vllm", "sglang", "trtllm")
Engine = Literal["generic", "vllm", "sglang", "trtllm"]

# Fixed parts, documented defaults (the values of plan.py's OVERHEAD_DEFAULTS, not fitted to any log).
CUDA_CONTEXT_BYTES = 1 * GIB  # CUDA context + libraries of a PyTorch process
NCCL_BYTES = 1 * GIB  # NCCL / custom all-reduce buffers
EP_ALL_TO_ALL_BYTES = 2 * GIB  # expert-parallel dispatch/combine buffers, only when ep > 1
CUDA_GRAPH_BYTES = 1 * GIB  # captured CUDA graphs' private memory pool

# The fraction flag of each engine, by the engine's own name, and its default (None: computed).
FRACTION_FLAG = {"generic": "--mem-fraction", "vllm": "--gpu-memory-utilization",
                 "sglang": "--mem-fraction-static", "trtllm": "free_gpu_memory_fraction"}
VLLM_GPU_MEMORY_UTILIZATION = 0.9
TRTLLM_FREE_GPU_MEMORY_FRACTION = 0.9
TRTLLM_MAX_NUM_TOKENS = 8192
TRTLLM_MAX_BATCH_SIZE = 2048
TRTLLM_TOKENS_PER_BLOCK = 32
VLLM_MLA_BLOCK_SIZE = 64  # FlashMLA's block size, which vLLM forces for MLA models on Hopper
SGLANG_PAGE_SIZE = 1


class EngineConfig(BaseModel):
    """The engine and its memory flags, each by the engine's own name; None takes the engine's default.

    `max_num_batched_tokens` is the tokens of one profiling forward pass: vLLM's
    `--max-num-batched-tokens`, SGLang's `--chunked-prefill-size`, TensorRT-LLM's `max_num_tokens`.
    `max_num_seqs`: vLLM's `--max-num-seqs`, SGLang's `--max-running-requests`, TensorRT-LLM's
    `max_batch_size`. `block_size`: vLLM's `--block-size`, SGLang's `--page-size`, TensorRT-LLM's
    `tokens_per_block`.
    """

    engine: Engine = "generic"
    gpu_memory_utilization: float | None = None  # vLLM
    mem_fraction_static: float | None = None  # SGLang
    free_gpu_memory_fraction: float | None = None  # TensorRT-LLM
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    block_size: int | None = None
    cuda_graph_max_bs: int | None = None  # SGLang --cuda-graph-max-bs
    estimate_cudagraphs: bool = False  # vLLM VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1


def engine_config(engine: str = "generic", mem_fraction: float | None = None, **flags) -> EngineConfig:
    """An EngineConfig from a generic `mem_fraction` (put on the engine's own fraction flag)."""
    if engine not in ENGINES:
        raise InputError(f"--engine {engine}: unknown engine (choose from {', '.join(ENGINES)}){suggest(engine, ENGINES)}")
    given = {k: v for k, v in flags.items() if v is not None}
    if engine == "generic" and given:  # the generic accounting has no blocks, profiling pass or sequence cap
        k, v = next(iter(given.items()))
        raise InputError(f"--{k.replace('_', '-')} {v}: an engine's setting (engine vllm, sglang or trtllm); the "
                         "generic accounting has none")
    cfg = EngineConfig(engine=engine, **given)
    if mem_fraction is not None and engine != "generic":
        cfg = cfg.model_copy(update={_FRACTION_FIELD[engine]: mem_fraction})
    return cfg


_FRACTION_FIELD = {"vllm": "gpu_memory_utilization", "sglang": "mem_fraction_static",
                   "trtllm": "free_gpu_memory_fraction"}


class Resolved(BaseModel):
    """An EngineConfig with every default filled in for one GPU and layout."""

    engine: Engine
    fraction: float
    fraction_flag: str
    fraction_source: str  # "given" or how the default was derived
    max_num_batched_tokens: int
    max_num_seqs: int | None
    block_size: int
    cuda_graph_max_bs: int | None = None
    estimate_cudagraphs: bool = False


def _vllm_batch_defaults(memory_bytes: int, gpu_name: str) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) of `vllm serve` (EngineArgs.get_batch_defaults)."""
    if memory_bytes >= 70 * GIB and "a100" not in gpu_name.lower():
        return 8192, 1024
    return 2048, 256


def _sglang_memory_defaults(gpu_mib: float, tp: int) -> tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) by GPU memory in MiB (server_args.py)."""
    if gpu_mib < 20 * 1024:
        return 2048, 8
    if gpu_mib < 35 * 1024:
        return 2048, (24 if tp < 4 else 80)
    if gpu_mib < 60 * 1024:
        return 4096, (32 if tp < 4 else 160)
    if gpu_mib < 160 * 1024:
        return 8192, (256 if tp < 4 else 512)
    return 16384, 512


def sglang_mem_fraction_static(gpu_mib: float, tp: int, dp: int, pp: int, chunk: int, cuda_graph_max_bs: int,
                               spec: bool = False) -> float:
    """SGLang's default --mem-fraction-static (server_args.py). `tp` is SGLang's --tp (all GPUs of a stage)."""
    reserved = 512 + max(chunk, 2048) * 1.5 + cuda_graph_max_bs * 2 + tp * pp / 8 * 1024
    if dp > 1:  # --enable-dp-attention
        reserved += cuda_graph_max_bs * dp * 3
        if cuda_graph_max_bs > 300:
            reserved += cuda_graph_max_bs * dp * 1.5
    if gpu_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    if spec:
        reserved += 2 * 1024  # EAGLE / MTP draft model and its CUDA graphs
    return round((gpu_mib - reserved) / gpu_mib, 3)


def resolve(cfg: EngineConfig, memory_bytes: int, gpu_name: str, *, tp: int, dp: int, pp: int, mtp: bool,
            generic_fraction: float) -> Resolved:
    """Fill in the engine's defaults for this GPU and layout (tp, dp, pp as k2calc counts them)."""
    for name in ("gpu_memory_utilization", "mem_fraction_static", "free_gpu_memory_fraction"):
        v = getattr(cfg, name)
        if v is not None and not 0 < v <= 1:
            raise InputError(f"--{name.replace('_', '-')} {v:g}: must be in (0, 1]")
    for name in ("max_num_batched_tokens", "max_num_seqs", "block_size", "cuda_graph_max_bs"):
        v = getattr(cfg, name)
        if v is not None and v < 1:
            raise InputError(f"--{name.replace('_', '-')} {v}: must be at least 1")
    e = cfg.engine
    if e == "vllm":
        mnbt, seqs = _vllm_batch_defaults(memory_bytes, gpu_name)
        frac, src = ((cfg.gpu_memory_utilization, "given") if cfg.gpu_memory_utilization is not None
                     else (VLLM_GPU_MEMORY_UTILIZATION, "vLLM default"))
        return Resolved(engine=e, fraction=frac, fraction_flag=FRACTION_FLAG[e], fraction_source=src,
                        max_num_batched_tokens=cfg.max_num_batched_tokens or mnbt,
                        max_num_seqs=cfg.max_num_seqs or seqs, block_size=cfg.block_size or VLLM_MLA_BLOCK_SIZE,
                        estimate_cudagraphs=cfg.estimate_cudagraphs)
    if e == "sglang":
        gpu_mib = memory_bytes / MIB
        sg_tp = tp * dp  # SGLang's --tp spans the DP-attention replicas
        chunk, cg = _sglang_memory_defaults(gpu_mib, sg_tp)
        chunk = cfg.max_num_batched_tokens or chunk
        cg = cfg.cuda_graph_max_bs or cg
        if cfg.mem_fraction_static is not None:
            frac, src = cfg.mem_fraction_static, "given"
        else:
            frac = sglang_mem_fraction_static(gpu_mib, sg_tp, dp, pp, chunk, cg, mtp)
            src = f"SGLang default for {gpu_mib:,.0f} MiB, --tp {sg_tp}" + (f", --dp {dp}" if dp > 1 else "")
            if not 0 < frac <= 1:
                raise InputError(f"--mem-fraction-static: SGLang's default comes out at {frac:g} on a GPU of "
                                 f"{gpu_mib:,.0f} MiB; give it explicitly")
        return Resolved(engine=e, fraction=frac, fraction_flag=FRACTION_FLAG[e], fraction_source=src,
                        max_num_batched_tokens=chunk, max_num_seqs=cfg.max_num_seqs,
                        block_size=cfg.block_size or SGLANG_PAGE_SIZE, cuda_graph_max_bs=cg)
    if e == "trtllm":
        frac, src = ((cfg.free_gpu_memory_fraction, "given") if cfg.free_gpu_memory_fraction is not None
                     else (TRTLLM_FREE_GPU_MEMORY_FRACTION, "TensorRT-LLM default"))
        return Resolved(engine=e, fraction=frac, fraction_flag=FRACTION_FLAG[e], fraction_source=src,
                        max_num_batched_tokens=cfg.max_num_batched_tokens or TRTLLM_MAX_NUM_TOKENS,
                        max_num_seqs=cfg.max_num_seqs or TRTLLM_MAX_BATCH_SIZE,
                        block_size=cfg.block_size or TRTLLM_TOKENS_PER_BLOCK)
    return Resolved(engine="generic", fraction=generic_fraction, fraction_flag=FRACTION_FLAG["generic"],
                    fraction_source="k2calc", max_num_batched_tokens=cfg.max_num_batched_tokens or 0,
                    max_num_seqs=cfg.max_num_seqs, block_size=cfg.block_size or 1)


# ---------------------------------------------------------------------------------------------------
# Accounting


@dataclass(frozen=True)
class StageNeeds:
    """What one pipeline stage needs per GPU, from plan.py: weights, the activation peak of a forward pass
    of the engine's batched tokens (without logits), the logits of one sampled sequence, KV per token."""

    weights: int
    activations: int
    logits_per_seq: int
    kv_bytes_per_token: int


class EngineMemory(BaseModel):
    """One GPU of the stage that holds the fewest KV tokens, as the engine accounts it (bytes)."""

    engine: str
    source: str  # the engine source the rule follows
    fraction_flag: str
    fraction: float
    fraction_source: str
    max_num_batched_tokens: int
    max_num_seqs: int | None
    block_size: int
    memory: int
    budget: int  # what the fraction covers
    weights: int
    activations: int  # profiled / reserved activation peak (estimate)
    non_torch: int  # NCCL and all-to-all buffers (documented default)
    cuda_graphs: int  # documented default
    cuda_context: int
    kv_available: int  # what the engine gives the KV cache ("Available KV cache memory")
    kv_cache: int  # bytes it allocates (whole blocks / pages)
    kv_bytes_per_token: int
    kv_tokens_per_replica: int  # as logged by one engine core / DP rank
    kv_tokens: int  # all DP replicas
    used: int  # bytes held per GPU after start-up
    runtime_reserve: int | None = None  # SGLang: (1 - mem_fraction_static) × free memory
    log: list[str]  # the start-up lines the engine would print
    problem: str | None = None  # why the engine would refuse to start or run out of memory


SOURCES = {
    "vllm": "vllm-project/vllm vllm/v1/worker/gpu_worker.py determine_available_memory, vllm/utils/mem_utils.py "
            "(commit 35d5cda, v0.12 series)",
    "sglang": "sgl-project/sglang python/sglang/srt/server_args.py _handle_gpu_memory_settings, "
              "model_executor/model_runner.py profile_max_num_token (main, 2026)",
    "trtllm": "NVIDIA/TensorRT-LLM tensorrt_llm/_torch/pyexecutor/_util.py KvCacheCreator (commit d8ae02c)",
}

# What each engine's budget covers (the module docstring has the rule and its source).
BUDGET_COVERS = {
    "vllm": "the budget covers weights, the profiled activation peak, the all-to-all buffers and the KV cache; "
            "the CUDA context, NCCL and CUDA graphs sit outside it",
    "sglang": "the budget (of the memory free after the CUDA context and NCCL) covers weights and the KV pool; "
              "activations and CUDA graphs come out of the rest",
    "trtllm": "the KV cache gets the fraction of what is left after the dry run's peak (weights, activations, "
              "CUDA context, NCCL, CUDA graphs); the budget is the whole GPU",
}


def _floor_to(n: int, unit: int) -> int:
    return max(0, n) // unit * unit


def vllm_tokens(kv_available: int, kv_bytes_per_token: int, block_size: int) -> int:
    """vLLM's "GPU KV cache size": whole blocks of `block_size` tokens, each `block_size × kv_bytes_per_token`."""
    return max(0, kv_available) // (block_size * kv_bytes_per_token) * block_size


def sglang_tokens(pool: int, kv_bytes_per_token: int, page_size: int) -> int:
    """SGLang's "#tokens": the pool over the bytes per token, rounded down to a page."""
    return _floor_to(max(0, pool) // kv_bytes_per_token, page_size)


def trtllm_tokens(kv_available: int, kv_bytes_per_token: int, tokens_per_block: int) -> int:
    return _floor_to(max(0, kv_available) // kv_bytes_per_token, tokens_per_block)


def account(r: Resolved, memory: int, stages: list[StageNeeds], *, ep: int, dp: int, context: int) -> EngineMemory:
    """The engine's start-up accounting on the stage that holds the fewest KV tokens."""
    non_torch = NCCL_BYTES + (EP_ALL_TO_ALL_BYTES if ep > 1 else 0)
    rows = []
    for st in stages:
        if r.engine == "vllm":
            rows.append(_vllm(r, memory, st, non_torch))
        elif r.engine == "sglang":
            rows.append(_sglang(r, memory, st, non_torch))
        else:
            rows.append(_trtllm(r, memory, st, non_torch))
    worst = min(rows, key=lambda x: x["tokens"])
    tokens = worst["tokens"]
    per_token = worst["kv_bytes_per_token"]
    kv_cache = tokens * per_token
    if r.engine == "sglang":
        kv_cache = (tokens + r.block_size) * per_token  # its buffers hold one page more than the token count
    e = r.engine
    if e == "vllm":
        used = CUDA_CONTEXT_BYTES + worst["weights"] + worst["activations"] + non_torch + kv_cache + CUDA_GRAPH_BYTES
        log = [f"Available KV cache memory: {worst['kv_available'] / GIB:.2f} GiB",
               f"GPU KV cache size: {tokens:,} tokens",
               f"Maximum concurrency for {context:,} tokens per request: {tokens / context:.2f}x"]
    elif e == "sglang":
        used = (memory - worst["free_init"]) + worst["weights"] + kv_cache + CUDA_GRAPH_BYTES
        log = [f"KV Cache is allocated. #tokens: {tokens}, KV size: {kv_cache / GIB:.2f} GB",
               f"Memory pool end. avail mem={(worst['free_init'] - worst['weights'] - kv_cache) / GIB:.2f} GB"]
    else:
        used = worst["peak"] + kv_cache
        log = [f"available KV cache memory when calculating max tokens: {worst['kv_available'] / GIB:.2f} GiB, "
               f"fraction is set {r.fraction}, kv size is {per_token}",
               f"max_tokens={tokens}"]
    problem = None
    if worst["kv_available"] <= 0 or tokens == 0:
        problem = (f"{e}: no memory left for the KV cache ({r.fraction_flag} {r.fraction:g}: "
                   f"{worst['kv_available'] / GIB:.2f} GiB)")
    elif e == "vllm" and tokens < context:
        problem = (f"vllm: the KV cache holds {tokens:,} tokens, fewer than one sequence of {context:,} "
                   "(vLLM refuses to start: lower --max-model-len or raise --gpu-memory-utilization)")
    elif e == "sglang" and worst["reserve"] < worst["activations"] + CUDA_GRAPH_BYTES:
        problem = (f"sglang: {r.fraction_flag} {r.fraction:g} leaves {worst['reserve'] / GIB:.2f} GiB for activations "
                   f"and CUDA graphs, which need about {(worst['activations'] + CUDA_GRAPH_BYTES) / GIB:.2f} GiB "
                   "(out of memory at run time; lower --mem-fraction-static)")
    return EngineMemory(
        engine=e, source=SOURCES[e], fraction_flag=r.fraction_flag, fraction=r.fraction,
        fraction_source=r.fraction_source, max_num_batched_tokens=r.max_num_batched_tokens,
        max_num_seqs=r.max_num_seqs, block_size=r.block_size, memory=memory, budget=worst["budget"],
        weights=worst["weights"], activations=worst["activations"], non_torch=non_torch,
        cuda_graphs=CUDA_GRAPH_BYTES, cuda_context=CUDA_CONTEXT_BYTES, kv_available=worst["kv_available"],
        kv_cache=kv_cache, kv_bytes_per_token=per_token, kv_tokens_per_replica=tokens, kv_tokens=tokens * dp,
        used=used, runtime_reserve=worst.get("reserve"), log=log, problem=problem)


def _vllm(r: Resolved, memory: int, st: StageNeeds, non_torch: int) -> dict:
    budget = int(r.fraction * memory)
    sampled = min(r.max_num_seqs or 0, r.max_num_batched_tokens)
    act = st.activations + sampled * st.logits_per_seq  # the profile run's forward pass + sampler logits
    profiled_non_torch = non_torch - NCCL_BYTES  # NCCL is in the start-up snapshot, outside the cap
    kv = budget - st.weights - act - profiled_non_torch - (CUDA_GRAPH_BYTES if r.estimate_cudagraphs else 0)
    return dict(budget=budget, weights=st.weights, activations=act, kv_available=kv,
                kv_bytes_per_token=st.kv_bytes_per_token, tokens=vllm_tokens(kv, st.kv_bytes_per_token, r.block_size))


def _sglang(r: Resolved, memory: int, st: StageNeeds, non_torch: int) -> dict:
    free_init = memory - CUDA_CONTEXT_BYTES - non_torch  # free once the distributed environment is up
    budget = int(r.fraction * free_init)
    pool = budget - st.weights
    return dict(budget=budget, weights=st.weights, activations=st.activations, kv_available=pool, free_init=free_init,
                reserve=free_init - budget, kv_bytes_per_token=st.kv_bytes_per_token,
                tokens=sglang_tokens(pool, st.kv_bytes_per_token, r.block_size))


def _trtllm(r: Resolved, memory: int, st: StageNeeds, non_torch: int) -> dict:
    peak = st.weights + st.activations + CUDA_CONTEXT_BYTES + non_torch + CUDA_GRAPH_BYTES
    kv = int(r.fraction * (memory - peak))
    return dict(budget=memory, weights=st.weights, activations=st.activations, kv_available=kv, peak=peak,
                kv_bytes_per_token=st.kv_bytes_per_token, tokens=trtllm_tokens(kv, st.kv_bytes_per_token, r.block_size))


# ---------------------------------------------------------------------------------------------------
# Concurrency


class Concurrency(BaseModel):
    """How many sequences the KV cache holds: all at the full context (the worst case) and at an average
    context (requests rarely all hold the maximum), capped by the engine's --max-num-seqs."""

    context: int
    sequences_at_context: int
    avg_context: int | None
    sequences_at_avg_context: int | None
    max_num_seqs: int | None  # per DP replica (engine core)
    limited_by: str | None  # "KV cache" or "--max-num-seqs" at the average context


def concurrency(kv_tokens_per_replica: int, dp: int, context: int, avg_context: int | None,
                max_num_seqs: int | None, at_context: int) -> Concurrency:
    """Sequences that fit at `avg_context` tokens each: KV tokens per replica // avg_context, at most
    max_num_seqs per replica; `at_context` is the plan's worst case at the full context."""
    if avg_context is not None and avg_context < 1:
        raise InputError(f"--avg-context {avg_context}: must be at least 1 token")
    at_avg, limited = None, None
    if avg_context:
        by_kv = kv_tokens_per_replica // avg_context
        at_avg, limited = by_kv, "KV cache"
        if max_num_seqs is not None and max_num_seqs < by_kv:
            at_avg, limited = max_num_seqs, "--max-num-seqs"
        at_avg *= dp
    return Concurrency(context=context, sequences_at_context=at_context, avg_context=avg_context,
                       sequences_at_avg_context=at_avg, max_num_seqs=max_num_seqs, limited_by=limited)
