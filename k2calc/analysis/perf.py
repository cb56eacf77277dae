"""Serving speed: an analytical estimate of one decode or prefill step of a deployment, per GPU.

An ESTIMATE, not a measurement: a roofline over the tensor list at the layout's shard shapes, plus
communication and fixed latencies, with one set of documented defaults (`PerfKnobs`). The validation
table in the README (scripts/validate_serving.py) compares it with published deployments.

**Step.** A decode step: the busiest DP-attention replica holds `ceil(batch / dp)` sequences (its attention
and dense layers), each computing `1 + mtp` query tokens (the token, plus `mtp` draft tokens to verify)
against `context` cached tokens; the MoE sees the batch's actual tokens (an uneven batch leaves some
replicas a sequence short, a batch below dp leaves some idle). A prefill: `ceil(batch / dp)` prompts of
`context` tokens per replica, laid end to end in chunks of `chunk` tokens; a chunk may hold the end of one
prompt, whole prompts and the start of the next, each piece attending to its own prompt's earlier tokens;
TTFT is the sum of the chunks. A full chunk's work depends only on where it starts in its prompt: chunks
starting alike are computed once; beyond PREFILL_SAMPLES distinct starts, they interpolate between that
many (`_prefill_chunks`), so a larger batch never prefills faster.
Pipeline stages run one after the other (TPOT sums them, plus one activation transfer per stage
boundary); micro-batches are not pipelined across stages.

**Per operation, on one GPU of the stage** (shapes from `plan`'s sharding rules, bytes in the stored
format of the weights: fp8 with block scales, int4 with group scales, nvfp4 = e2m1 + one e4m3 scale
per 16 values, as `checkpoint` stores each; activations bf16):
    time = max(FLOPs / (peak × compute_efficiency), bytes / (HBM bandwidth × memory_efficiency))
- matmul: FLOPs = 2 × tokens × shard elements; bytes = weights + 2 × tokens × (in + out); the peak of
  the weight's format (fp8 → FP8 peak; nvfp4 and mxfp4 → FP4 peak on GPUs with one, Blackwell and MI355X;
  elsewhere nvfp4 → FP8 and mxfp4 weight-only → BF16; bf16 and int4 weight-only → BF16 peak).
- attention, per layer from its description (flops.py's coefficients and `attended`, query heads ÷ tp):
  MLA decodes in the absorbed form, FLOPs = query tokens × attended × (scores + values), bytes = the KV
  cache read once per step (sequences × context × cache bytes per token per layer: the latent is not split
  over tp); prefills in the naive form, causal (a prompt of N tokens attends N(N+1)/2 times). GQA reads
  its KV heads ÷ tp; sliding windows and chunks as flops counts them. DeepSeek-V3.2's sparse attention is
  absorbed in both phases over at most index_topk tokens, its indexer scoring every past token at the FP8
  peak; a decode step reads only the index_topk gathered entries plus every cached indexer key (V4's ratio-4
  layers likewise, of their compressed entries); a prefill chunk reads the prompt's cache once.
  Efficiencies: `attention_*`; an fp8 cache is attended at the FP8 peak.
- routed experts: the GPU holds `(n_routed_experts + redundant) / ep` expert slots, each split over
  `moe_tp`; a stage's T tokens make T·k token copies, `1/ep` of them per GPU, times `imbalance` when
  ep > 1 (all-to-all waits for the busiest rank); T is the batch's actual tokens. Weights read = slots × P(slot touched) with
  P = 1 − (1 − k / slots_total)^T (uniform routing), so decode streams more experts as the batch grows.
- lm_head: vocab-parallel over tp, for every decode query token and the last token of each prompt.

**Communication**, time = bytes / (link × efficiency) + latency, the NVLink and network parts in parallel;
on a fully connected mesh (`fabric_links`: AMD Infinity Fabric, one link per peer) traffic to p peers of
the node uses min(p, links) of its links (a TP2 all-reduce gets one link, TP8 all seven):
- TP all-reduce of the hidden state after attention and after the MLP when tp > 1 (ring:
  2(n−1)/n × bytes), bf16.
- DP-attention without expert parallelism: an all-gather of the stage's tokens before the MLP and a
  reduce-scatter after it.
- EP dispatch (fp8, 1 byte per value, scales not counted) and combine (bf16) as DeepEP: decode
  ("low-latency" kernels) sends every token copy bound for another GPU to it (a copy for the GPU itself
  stays local); prefill ("normal" kernels) sends a token once per remote node (NVLink fan-out inside).
  The bytes are the busiest GPU's (the exchange waits for it): the larger of its own tokens' copies
  (the busiest replica's) and `imbalance` times the stage's mean, as for the experts; even: imbalance × mean. Traffic leaving the node takes the network, unless the stage fits in the GPU's NVLink domain
  (`scaleup_domain_gpus`, GB200 NVL72).
- Pipeline: one hidden-state transfer per stage boundary.

**Overlap** (`overlap=True`, SGLang's two-batch overlap / DeepEP's receive hooks): in decode with ep > 1
the tokens may be split into two micro-batches; per layer and micro-batch, attention computes while the
other micro-batch dispatches, and the MoE computes while the other combines:
    layer = Σ over micro-batches [max(attention, dispatch) + max(MoE, combine) + all-reduces]
so weights are read twice and fixed latencies paid twice, and communication longer than the compute
beside it stays exposed. The step takes the faster of one and two micro-batches (an operator turns
overlap on where it pays). Prefill does not overlap: DeepEP's normal kernels occupy SMs and wait on the
CPU for the received token counts. Without overlap (`--no-overlap`, or ep = 1) everything adds up.

**Fixed latency per layer and micro-batch** (`layer_latency_us`, default kernels_per_layer ×
kernel_latency_us): launches, synchronisation and small kernels that no roofline sees; collectives carry
their own latency. It is why batch-1 decode takes ≈9 ms where streaming the weights alone takes ≈1 ms.

**Aggregated serving** (`input_tokens`/`output_tokens`, `_aggregated`): a cycle prefills the batch's B
prompts and decodes O − 1 steps; in steady state a request lives one cycle, so e2e = the cycle = TTFT +
(O − 1) × TPOT and output tokens/s = B × O / e2e = B × tokens/s per user (O / e2e; Little's law). Without
DP attention the batch is prefilled together (TTFT = its prefill), then decoded (TPOT = the decode step per
token at the mean context input + output/2). With DP attention, in steady state B/O prompts start per decode
step, each prefilled on its own replica while replicas without one wait in the expert exchange: min(dp,
max(1, B/O)) replicas prefill at a time (their prompts' tokens meet in the MoE), so the batch's prompts take
B / that rounds of one prompt's prefill; TTFT is the request's own round, and TPOT = the decode step per
token + the other rounds / (O − 1) (they interrupt its decode steps; `step_ms` stays the decode step).
A sweep with `input_tokens` runs this per point; its tokens/s and cost count prefill + decode time too.

**MTP** (`mtp` draft tokens, `acceptance` = probability each draft token is accepted): each step runs the
main model on 1 + mtp query tokens per sequence and the MTP module `mtp` times on one token per
sequence; it yields 1 + a + a² + … + a^mtp tokens per sequence on average (a chain stops at the first
rejection). A prefill with MTP also runs the MTP module once over the prompt (it fills its own KV cache:
SGLang's draft extend, vLLM's drafter prefill).

**Defaults** (`PerfKnobs`, one set for every GPU; the kernel figures are Hopper's, the only complete set
published (DeepGEMM, FlashMLA, DeepEP), applied to Blackwell and AMD as well): see `DEFAULT_SOURCES`.

Not modelled: CPU scheduling gaps, page-table and sampling kernels, elementwise kernels beyond the fixed
latency, power throttling, network congestion, non-uniform routing beyond `imbalance`.
"""

from __future__ import annotations

from bisect import bisect_right
from math import ceil, gcd, isfinite

from pydantic import BaseModel

from .checkpoint import FORMATS, WeightFormat, config_where, parts_bytes, serving_format, stored_parts, weight_format
from ..config import ModelSpec
from .engines import EngineConfig
from ..errors import InputError
from ..arch.description import Attention
from .flops import AttentionForm, Phase, attended, coefficients, default_form
from ..hardware import GPU
from .kv import beyond_max_position_note, layer_decode_read_bytes, layer_sequence_bytes
from .plan import ShardedTensor, ShardedModel, Layout, SearchReport, SearchRow, gpus_named, layout_problem
from ..sizes import MAX_INT, plain_number
from ..arch.tensors import Kind

ACT_BYTES = 2  # bf16 activations, all-reduces and EP combine
DISPATCH_BYTES = 1  # fp8 EP dispatch (DeepEP)
PREFILL_SAMPLES = 256  # distinct prefill chunks computed one by one; beyond, chunks interpolate between that many
MIN_EFFICIENCY = 1e-3  # the least share of a peak an efficiency option takes: a step's time stays finite
MAX_PRICE = 1e6  # USD per GPU-hour: a cost per million tokens stays finite
PREFILL_OFFSETS_WALKED = 16_384  # chunk starts counted one by one; beyond, spread evenly over the prompt

# A prefill chunk's parts: (tokens of the prompt before the part, tokens in the part, prompts with that part)
Pieces = tuple[tuple[int, int, int], ...]


class PerfKnobs(BaseModel):
    """The model's defaults; every one is overridable (`k2calc perf --help`), sources in DEFAULT_SOURCES."""

    compute_efficiency: float = 0.70
    memory_efficiency: float = 0.60
    attention_compute_efficiency: float = 0.67
    attention_memory_efficiency: float = 0.85
    nvlink_efficiency: float = 0.78
    network_efficiency: float = 0.88
    kernel_latency_us: float = 3.0
    kernels_per_layer: int = 30
    collective_latency_us: float = 10.0
    ep_latency_us: float = 35.0
    imbalance: float = 1.18
    layer_latency_us: float | None = None  # overrides kernels × kernel latency (+ collectives)
    overlap: bool = True


DEFAULT_SOURCES = {
    "compute_efficiency": "DeepGEMM FP8 on H800, M=4096 N=7168 K=16384: 1,358 of 1,979 TFLOPS = 0.69 "
                          "(SOURCES.md, Serving performance; large shapes 0.69-0.78)",
    "memory_efficiency": "DeepGEMM grouped decode GEMM on H800: 2,064 of 3,350 GB/s = 0.62; "
                         "(SOURCES.md, Serving performance)",
    "attention_compute_efficiency": "FlashMLA on H800: 660 of 989 BF16 TFLOPS = 0.67 (SOURCES.md, Serving performance)",
    "attention_memory_efficiency": "FlashMLA on H100, batch 128: 2,826 of 3,350 GB/s = 0.84; "
                                   "H800 headline 3,000 = 0.90 (SOURCES.md, Serving performance)",
    "nvlink_efficiency": "DeepEP intranode on H800: 153-158 of 200 GB/s one direction = 0.78 (SOURCES.md, Serving performance)",
    "network_efficiency": "DeepEP low-latency EP128 dispatch on H800: 6.9 MB over the network in 192 - 35 µs "
                          "= 44 of 50 GB/s = 0.88 (SOURCES.md, Serving performance)",
    "kernel_latency_us": "aiconfigurator's constant per memory-bound kernel: 3 µs (SOURCES.md, Serving performance)",
    "kernels_per_layer": "kernels of a DeepSeek decode layer: 2 norms, 5 projections, RoPE, 2 absorbed bmm, "
                         "attention, router, top-k, shared expert (3), routed experts (4), activation, residuals, "
                         "cache write, quantization: about 30; one default for every family (a dense GQA layer runs fewer)",
    "collective_latency_us": "aiconfigurator's 10 µs per transfer (SOURCES.md, Serving performance), per all-reduce or gather",
    "ep_latency_us": "DeepEP low-latency EP8 on H800: dispatch 77 µs for 6.4 MB over NVLink at 156 GB/s "
                     "(41 µs) leaves 36 µs; combine 114 - 82 = 32 µs (SOURCES.md, Serving performance)",
    "imbalance": "SGLang prefill, 4K prompts: 59,337 tok/s per node with perfectly balanced experts vs 50,302 "
                 "with its load balancer = 1.18 (SOURCES.md, Serving performance); applied when ep > 1",
    "overlap": "SGLang two-batch overlap: +25.5% decode throughput at 256 tokens per GPU (SOURCES.md, Serving performance); "
               "modelled as two micro-batches, not as hidden communication",
}


CATALOG_LATENCIES = ("collective_latency_us", "ep_latency_us")


def check_price(price_per_gpu_hour: float | None) -> None:
    """A price per GPU-hour is a positive number up to MAX_PRICE (beyond, a cost overflows to inf)."""
    if price_per_gpu_hour is not None and not (isfinite(price_per_gpu_hour) and 0 < price_per_gpu_hour <= MAX_PRICE):
        raise InputError(f"--price-per-gpu-hour {price_per_gpu_hour:g}: must be a positive number up to "
                         f"{MAX_PRICE:,.0f} (USD)")


def catalog_knobs(knobs: PerfKnobs, gpu: GPU) -> tuple[PerfKnobs, dict[str, str]]:
    """The knobs with the GPU catalog's per-message latencies where the command line set none, and each
    default's source (a catalog figure names its GPU and source)."""
    update = {name: getattr(gpu, name) for name in CATALOG_LATENCIES
              if getattr(gpu, name) is not None and name not in knobs.model_fields_set}
    sources = dict(DEFAULT_SOURCES)
    for name in update:
        sources[name] = f"{gpu.name} catalog entry: {gpu.latency_source or 'no source given'}"
    return (knobs.model_copy(update=update) if update else knobs), sources


class Component(BaseModel):
    """One operation of a step on one GPU, summed over the layers (and micro-batches) it occurs in."""

    name: str
    kind: str  # matmul | attention | communication | latency
    count: int  # occurrences per step
    flops: float
    bytes: float  # HBM bytes
    comm_bytes: float  # bytes the GPU sends (NVLink + network); EP exchanges: the busiest GPU's (× imbalance)
    time_ms: float  # all occurrences, as if nothing overlapped
    bound: str  # compute | memory | nvlink | network | latency


class PerfPoint(BaseModel):
    """One phase at one batch and context."""

    phase: str
    batch: int
    context: int
    step_ms: float  # one step (decode) or the whole prompt batch (prefill, all chunks)
    tpot_ms: float | None  # decode: step / accepted tokens per step (+ other prompts' prefills per token with
    #                        --input/--output, dp > 1)
    ttft_ms: float | None  # prefill: all chunks of the batch; --input/--output: a request's
    # The deployment's tokens/s: output tokens over the decode step (decode), input tokens over the prefill
    # (prefill), output tokens over prefill + decode time (--input/--output: batch × output / e2e).
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float  # one sequence's: tokens_per_s / batch (--input/--output: output / e2e)
    tokens_per_step: float  # per sequence (decode: accepted tokens; prefill: the prompt)
    bound: str  # what limits the step: compute | memory | communication | latency
    compute_ms: float
    communication_ms: float
    latency_ms: float
    cost_per_million_tokens_usd: float | None = None  # the GPUs' price per million of the tokens tokens_per_s counts
    # the batch memory holds at this context (--engine: as that engine accounts it; else plan's), and whether
    # `batch` is within it
    max_batch: int | None = None
    fits: bool | None = None
    components: list[Component]


class PerfReport(PerfPoint):
    model: str
    gpu: str
    gpus: int
    layout: Layout
    layout_label: str
    weight_format: WeightFormat
    weight_format_description: str
    expert_weights: str
    kv_dtype: str
    mtp: int
    acceptance: float | None
    overlap: bool
    price_per_gpu_hour_usd: float | None
    engine: str | None = None  # --engine: memory as that engine accounts it (max_batch, fits); else plan's
    # --input/--output: both phases
    input_tokens: int | None = None
    output_tokens: int | None = None
    e2e_latency_ms: float | None = None
    prefill: PerfPoint | None = None  # the batch's prompts; tokens/s (per user: ÷ batch) and cost: input tokens over the batch's prefill time
    sweep: list[PerfPoint] = []
    sweep_axis: str | None = None
    knobs: PerfKnobs
    sources: dict[str, str]
    notes: list[str]


# ---------------------------------------------------------------------------------------------------
# The machine


class MissingLink(InputError):
    """A layout's communication needs a link bandwidth the GPU's catalog entry lacks (speed searches skip
    the layout and say so; one layout's estimate cannot go on)."""

    def __init__(self, gpu: GPU, field: str):
        self.gpu, self.field, self.gpu_source = gpu.name, field, gpu.source
        super().__init__(f"--gpu {gpu.name}: the catalog ({gpu.source}) has no {field}, which this layout's "
                         "communication needs; add it to a --gpu-file entry")


class _Hw:
    def __init__(self, gpu: GPU, knobs: PerfKnobs):
        self.gpu, self.k = gpu, knobs
        self.bw = gpu.hbm_bandwidth_tb_per_s * 1e12
        self.nvlink = gpu.nvlink_gb_per_s * 1e9 * knobs.nvlink_efficiency if gpu.nvlink_gb_per_s else None
        self.network = gpu.network_gb_per_s * 1e9 * knobs.network_efficiency if gpu.network_gb_per_s else None
        self.domain = max(gpu.gpus_per_node, gpu.scaleup_domain_gpus or 0)

    def peak(self, fmt: str) -> tuple[float, str]:
        """Dense FLOP/s a matmul on weights of this format runs at: nvfp4 and mxfp4 at the FP4 peak where the
        GPU has one (Blackwell and MI355X tensor cores run both block-scaled e2m1 formats at the FP4 rate);
        otherwise nvfp4 at FP8 and weight-only mxfp4 and int4 dequantized to bf16."""
        g = self.gpu
        if fmt in ("nvfp4", "mxfp4") and g.fp4_dense_tflops:
            return g.fp4_dense_tflops * 1e12, "fp4"
        if fmt in ("fp8", "fp8-channel", "nvfp4") and g.fp8_dense_tflops:
            return g.fp8_dense_tflops * 1e12, "fp8"
        return g.bf16_dense_tflops * 1e12, "bf16"

    def roofline(self, flops: float, nbytes: float, peak: float, ce: float, me: float) -> tuple[float, str]:
        tc, tm = flops / (peak * ce), nbytes / (self.bw * me)
        return (tc, "compute") if tc >= tm else (tm, "memory")

    def transfer(self, local: float, remote: float, latency_us: float, peers: int | None = None
                 ) -> tuple[float, str]:
        """Seconds to send `local` bytes over NVLink and `remote` over the network, in parallel, + latency.
        `peers`: the GPUs of the node the local bytes spread over; on a mesh (fabric_links) they use only
        that many of the GPU's links."""
        for nbytes, bw, field in ((local, self.nvlink, "nvlink_gb_per_s"), (remote, self.network, "network_gb_per_s")):
            if nbytes and bw is None:
                raise MissingLink(self.gpu, field)
        links = self.gpu.fabric_links
        share = min(peers, links) / links if links and peers else 1.0
        tl = local / (self.nvlink * share) if local else 0.0
        tr = remote / self.network if remote else 0.0
        return max(tl, tr) + latency_us * 1e-6, "network" if tr > tl else "nvlink"


class _Op:
    __slots__ = ("name", "kind", "flops", "bytes", "comm", "time", "bound", "stream")

    def __init__(self, name, kind, flops, nbytes, comm, time, bound, stream):
        self.name, self.kind, self.flops, self.bytes, self.comm = name, kind, flops, nbytes, comm
        self.time, self.bound, self.stream = time, bound, stream  # stream: attn | moe | dispatch | combine | serial | other


# ---------------------------------------------------------------------------------------------------
# The model


class _Perf:
    def __init__(self, spec: ModelSpec, gpu: GPU, lay: Layout, fmt: WeightFormat, expert_fmt: str, kv_dtype: str,
                 knobs: PerfKnobs, model: ShardedModel | None = None):
        knobs, self.sources = catalog_knobs(knobs, gpu)  # the defaults used, and where each came from
        self.spec, self.cfg, self.lay, self.fmt, self.k = spec, spec.config, lay, fmt, knobs
        self.expert_fmt = expert_fmt
        self.hw = _Hw(gpu, knobs)
        self.m = model or ShardedModel(spec, fmt)
        problem = layout_problem(self.m, lay)
        if problem:
            raise InputError(problem)
        self.arch, self.kv_dtype = spec.arch, kv_dtype
        # DP-attention replicas' worth of tokens in this step: the stage's tokens ÷ the busiest replica's (_point)
        self.replicas: float = lay.dp
        self._coefficients: dict = {}  # (Attention, form) -> flops.coefficients
        self._shards: dict[int, tuple] = {}  # id(ShardedTensor) -> _shard (self.m keeps the tensors alive)
        self._groups: dict[int, dict[tuple[str, Attention], int]] = {}  # stage -> _layer_groups (lay is fixed)
        self._layer_cache: dict[tuple, tuple[list, list[_Op], list[_Op]]] = {}  # layer_ops without attention
        # An fp8 cache is attended in fp8 (FlashMLA's and TensorRT-LLM's fp8 MLA kernels), bf16 otherwise.
        self.attention_peak = self.hw.peak("fp8" if kv_dtype.startswith("fp8") else "bf16")[0]

    # -- matmuls ------------------------------------------------------------------------------------

    def _weight_fmt(self, it: ShardedTensor) -> str:
        if it.t.kind is Kind.ROUTED_EXPERTS:
            return self.expert_fmt
        return self.fmt.name if it.is_q else "bf16"

    def _shard(self, it: ShardedTensor) -> tuple[tuple[int, ...], int, int]:
        """(shard shape, copies on this GPU, bytes of one copy in its stored format), once per tensor."""
        got = self._shards.get(id(it))
        if got is None:
            got = self._shards[id(it)] = self._shard_of(it)
        return got

    def _shard_of(self, it: ShardedTensor) -> tuple[tuple[int, ...], int, int]:
        shape, copies = self.m.shard_shape(it, self.lay)
        fmt = self._weight_fmt(it)
        if it.t.kind is Kind.ROUTED_EXPERTS and fmt != self.fmt.name:  # --expert-weights: stored quantized
            alt = weight_format(self.cfg, fmt, config_where(self.spec)).model_copy(
                update={"base_dtype": self.fmt.base_dtype})  # its unquantized tensors as the engine serves them
            # only the expert matmul weights take that format; gpt-oss's expert biases stay as they are
            one = parts_bytes(stored_parts(it.t, shape, alt, self.cfg, fmt != "bf16" and it.t.matmul))
        else:
            one = parts_bytes(stored_parts(it.t, shape, self.fmt, self.cfg, it.is_q))
        return shape, copies, one

    def matmul(self, it: ShardedTensor, tokens: float, stream: str, touched: float | None = None) -> _Op:
        """One tensor's matmul on this GPU for `tokens` rows (token copies for routed experts)."""
        shape, copies, one = self._shard(it)
        out_f, in_f = shape
        n_w = copies if touched is None else touched
        flops = 2.0 * tokens * out_f * in_f
        nbytes = n_w * one + ACT_BYTES * tokens * (in_f + out_f)
        peak, _ = self.hw.peak(self._weight_fmt(it))
        t, bound = self.hw.roofline(flops, nbytes, peak, self.k.compute_efficiency, self.k.memory_efficiency)
        return _Op(it.t.module, "matmul", flops, nbytes, 0.0, t, bound, stream)

    # -- one layer ----------------------------------------------------------------------------------

    def layer_ops(self, items: list[ShardedTensor], moe: bool, att: Attention, q_tokens: float, seqs: float,
                  context: int, phase: str, pieces: Pieces | None = None) -> list[_Op]:
        """Operations of one decoder layer on one GPU for one micro-batch: `seqs` sequences per replica with
        `q_tokens` query tokens in all (decode: seqs × (1 + mtp); prefill: the chunk, made of `pieces`)."""
        # The matmuls and exchanges depend only on the tokens, not on the context: a prompt's chunks and a
        # search's steps share them (kept with `items` itself, so a list reusing a freed id never matches).
        key = (id(items), moe, q_tokens, phase, self.replicas)
        got = self._layer_cache.get(key)
        if got is None or got[0] is not items:
            mm: list[_Op] = []
            stage_tokens = q_tokens * self.replicas  # tokens entering the MoE of one pipeline stage
            for it in items:
                t = it.t
                if not t.matmul or t.kind is Kind.EMBEDDING:
                    continue
                if t.kind is Kind.ROUTED_EXPERTS:
                    mm.append(self.experts(it, stage_tokens))
                elif t.kind in (Kind.DENSE_MLP, Kind.SHARED_EXPERTS, Kind.ROUTER):
                    mm.append(self.matmul(it, q_tokens, "moe"))
                elif t.kind is Kind.LM_HEAD:
                    continue  # once per step, not per layer
                else:
                    mm.append(self.matmul(it, q_tokens, "attn"))
            got = self._layer_cache[key] = (items, mm, self.comm(q_tokens, moe, phase))
        _, mm, comm = got
        # fresh copies: a caller may rename its ops (the MTP module's "mtp: " prefix)
        return ([_Op(o.name, o.kind, o.flops, o.bytes, o.comm, o.time, o.bound, o.stream) for o in mm]
                + [self.attention(att, q_tokens, seqs, context, phase, pieces)]
                + [_Op(o.name, o.kind, o.flops, o.bytes, o.comm, o.time, o.bound, o.stream) for o in comm])

    def experts(self, it: ShardedTensor, stage_tokens: float) -> _Op:
        lay, arch = self.lay, self.arch
        kk = arch.num_experts_per_tok
        slots_total = arch.n_routed_experts + lay.redundant_experts
        _, slots, _ = self._shard(it)
        imb = self.k.imbalance if lay.ep > 1 else 1.0
        copies = stage_tokens * kk / lay.ep * imb
        touched = slots * (1 - (1 - kk / slots_total) ** stage_tokens)
        return self.matmul(it, copies, "moe", touched=min(slots, touched))

    def attention(self, att: Attention, q_tokens: float, seqs: float, context: int, phase: str,
                  pieces: Pieces | None = None) -> _Op:
        """One layer's attention core on one GPU, query heads ÷ tp, in the form engines run the phase
        (flops.default_form: MLA decode absorbed, reading the cache; prefill naive and causal; DeepSeek-V3.2's
        sparse attention absorbed in both, over at most index_topk tokens, its indexer scoring every past
        token); GQA reads its KV heads ÷ tp; windows and chunks as flops.attended counts them. A prefill
        chunk is `pieces` (default: `seqs` equal slices of q_tokens continuing `context` cached tokens)."""
        lay, k = self.lay, self.k
        form = default_form(self.arch, Phase(phase))
        c = self._coefficients.get((att, form))
        if c is None:
            c = self._coefficients[(att, form)] = coefficients(att, form)
        per = (c.scores.value + c.values.value) / lay.tp  # FLOPs per query token per attended token
        divisor = lay.tp if att.mla is None else 1  # GQA KV heads and KDA states split by TP; MLA's latent not
        if phase == "decode":
            a = attended(att, Phase.decode, context, form)
            seen, scored = q_tokens * a.last, q_tokens * a.indexed
            # what the layer holds for a sequence (kept tokens, V4's compressed entries, a KDA state), but of a
            # sparse layer only the index_topk entries gathered, with every indexer key
            nbytes = seqs * layer_decode_read_bytes(att, context, self.kv_dtype, divisor)
        else:
            # Each piece: `count` prompts' causal slices of n tokens continuing `done` tokens of the same prompt
            # (cached by earlier chunks): what a prompt of done + n attends, less its first done. The cache is
            # read once per chunk, sparse layers' too: a chunk's queries each gather their own top-k entries,
            # together nearly all of the prompt's.
            seen = scored = nbytes = 0.0
            for done, n, count in pieces or ((context, round(q_tokens / seqs), seqs),):
                upto = attended(att, Phase.prefill, done + n, form)
                before = attended(att, Phase.prefill, done, form) if done else None
                seen += count * (upto.total - (before.total if before else 0))
                scored += count * (upto.indexed - (before.indexed if before else 0))
                nbytes += count * layer_sequence_bytes(att, done + n, self.kv_dtype, divisor)
            # the cache once, and q, k, v, o of the chunk: 2·(key + value width) per head = per FLOPs / 1 token
            nbytes += ACT_BYTES * q_tokens * per
        main, indexer = seen * per, (scored * c.indexer.value if c.indexer else 0)
        flops = main + indexer
        # The indexer scores its fp8 keys at the FP8 peak (one rate for both: the peak-weighted mix).
        peak = flops / (main / self.attention_peak + indexer / self.hw.peak("fp8")[0]) if flops else self.attention_peak
        t, bound = self.hw.roofline(flops, nbytes, peak, k.attention_compute_efficiency,
                                    k.attention_memory_efficiency)
        name = (f"attention ({form.value} MLA)" if att.mla is not None
                else f"attention ({att.kind.value})" if att.shared_kv or att.linear else "attention (GQA)")
        return _Op(name, "attention", flops, nbytes, 0.0, t, bound, "attn")

    # -- communication ------------------------------------------------------------------------------

    def _remote_share(self, group: int) -> tuple[float, float]:
        """(share of peers in this GPU's NVLink domain, share beyond it) in a group of `group` GPUs."""
        if group <= 1:
            return 0.0, 0.0
        local = min(group, self.hw.domain)
        return (local - 1) / group, (group - local) / group

    def _peers(self, group: int) -> int:
        """Other GPUs of this GPU's node (or NVLink domain) in a group of `group` GPUs."""
        return min(group, self.hw.domain) - 1

    def all_reduce(self, name: str, n: int, nbytes: float, stream: str) -> _Op:
        moved = 2 * (n - 1) / n * nbytes
        inside, beyond = self._remote_share(n)
        share = inside + beyond
        t, bound = self.hw.transfer(moved * inside / share, moved * beyond / share, self.k.collective_latency_us,
                                    self._peers(n))
        return _Op(name, "communication", 0.0, 0.0, moved, t, bound, stream)

    def comm(self, q_tokens: float, moe: bool, phase: str) -> list[_Op]:
        lay, k = self.lay, self.k
        h = self.arch.hidden_size.value
        ops: list[_Op] = []
        if lay.tp > 1:
            ops.append(self.all_reduce("tp all-reduce (attention)", lay.tp, q_tokens * h * ACT_BYTES, "serial"))
        if not moe:  # the dense MLP is split over tp only: each replica computes its own tokens
            if lay.tp > 1:
                ops.append(self.all_reduce("tp all-reduce (mlp)", lay.tp, q_tokens * h * ACT_BYTES, "serial"))
            return ops
        if lay.dp == 1:  # every GPU of the stage holds every token: one all-reduce sums experts and shared
            if lay.stage_gpus > 1:
                ops.append(self.all_reduce("tp all-reduce (mlp)", lay.stage_gpus, q_tokens * h * ACT_BYTES,
                                           "serial"))
            return ops
        if lay.ep > 1:
            ops += self.ep_exchange(q_tokens, phase)
            if lay.tp > 1:  # the shared experts, split over tp
                ops.append(self.all_reduce("tp all-reduce (mlp)", lay.tp, q_tokens * h * ACT_BYTES, "serial"))
            return ops
        if lay.dp > 1:  # DP-attention, experts split over the stage: gather every replica's tokens, scatter back
            gathered = q_tokens * (lay.dp - 1) * h * ACT_BYTES
            inside, beyond = self._remote_share(lay.stage_gpus)
            share = inside + beyond
            for name, stream in (("dp-attention all-gather", "dispatch"), ("dp-attention reduce-scatter", "combine")):
                t, bound = self.hw.transfer(gathered * inside / share, gathered * beyond / share,
                                            k.collective_latency_us, self._peers(lay.stage_gpus))
                ops.append(_Op(name, "communication", 0.0, 0.0, gathered, t, bound, stream))
        elif lay.tp > 1:
            ops.append(self.all_reduce("tp all-reduce (mlp)", lay.tp, q_tokens * h * ACT_BYTES, "serial"))
        return ops

    def ep_exchange(self, q_tokens: float, phase: str) -> list[_Op]:
        """DeepEP dispatch (fp8) and combine (bf16) for the tokens this GPU owns."""
        lay, k = self.lay, self.k
        h, kk = self.arch.hidden_size.value, self.arch.num_experts_per_tok
        own = q_tokens / lay.tp  # the busiest replica's tokens are split over its tp ranks for the exchange
        # The busiest GPU sends its own tokens' copies and receives the stage's mean × imbalance (an uneven
        # batch leaves replicas with fewer tokens: the experts see the actual tokens); even: own × imbalance.
        busiest = max(own, own * self.replicas / lay.dp * k.imbalance)
        g = lay.stage_gpus
        inside, beyond = self._remote_share(g)
        copies = busiest * kk * lay.moe_tp
        if phase == "decode" or beyond == 0:
            local_copies, remote_copies = copies * inside, copies * beyond
        else:  # normal kernels: once per remote node touched, fanned out over NVLink inside it
            nodes = g / self.hw.domain
            p_node = 1 - (1 - 1 / nodes) ** kk
            remote_copies = busiest * (nodes - 1) * p_node
            local_copies = copies * (inside + beyond)
        ops = []
        for name, width, stream in (("ep dispatch (fp8)", DISPATCH_BYTES, "dispatch"),
                                    ("ep combine (bf16)", ACT_BYTES, "combine")):
            lb, rb = local_copies * h * width, remote_copies * h * width
            t, bound = self.hw.transfer(lb, rb, k.ep_latency_us, self._peers(g))
            ops.append(_Op(name, "communication", 0.0, 0.0, lb + rb, t, bound, stream))
        return ops

    # -- a step -------------------------------------------------------------------------------------

    def layer_latency_s(self) -> float:
        k = self.k
        if k.layer_latency_us is not None:
            return k.layer_latency_us * 1e-6
        return k.kernels_per_layer * k.kernel_latency_us * 1e-6  # collectives carry their own latency

    def _layer_groups(self, si: int, layers) -> dict[tuple[str, Attention], int]:
        """Stage `si`'s layers counted by (MLP type, attention): layers alike cost alike. Once per stage (a
        search times thousands of steps of one layout; hashing each layer's attention every step was most
        of it)."""
        got = self._groups.get(si)
        if got is None:
            got = self._groups[si] = {}
            for i in layers:
                key = (self.m.layer_type[i], self.arch.layer(i).attention)
                got[key] = got.get(key, 0) + 1
        return got

    def step(self, phase: str, seqs: float, q_tokens: float, context: int, draft_passes: int = 0,
             pieces: Pieces | None = None) -> tuple[float, list[Component], dict[str, float]]:
        """One step (one prefill chunk or one decode step) through every pipeline stage: seconds, components,
        and the compute / communication / latency split. Decode with ep > 1 uses two micro-batches when that
        is faster (an operator turns overlap on where it pays: it reads the weights twice)."""
        one = self._step(phase, seqs, q_tokens, context, draft_passes, False, pieces)
        if self.k.overlap and self.lay.ep > 1 and q_tokens >= 2 and phase == "decode":
            two = self._step(phase, seqs, q_tokens, context, draft_passes, True)
            if two[0] < one[0]:
                return two
        return one

    def _step(self, phase: str, seqs: float, q_tokens: float, context: int, draft_passes: int, two: bool,
              pieces: Pieces | None = None) -> tuple[float, list[Component], dict[str, float]]:
        lay, m, k = self.lay, self.m, self.k
        mbs = 2 if two else 1
        total = 0.0
        split = {"compute": 0.0, "communication": 0.0, "latency": 0.0}
        acc: dict[tuple[str, str], list] = {}

        def add(ops: list[_Op], times: int) -> None:
            for o in ops:
                a = acc.setdefault((o.name, o.kind), [0, 0.0, 0.0, 0.0, 0.0, {}])
                a[0] += times
                a[1] += o.flops * times
                a[2] += o.bytes * times
                a[3] += o.comm * times
                a[4] += o.time * times
                a[5][o.bound] = a[5].get(o.bound, 0.0) + o.time * times

        def layer_time(ops: list[_Op]) -> tuple[float, float, float]:
            """(seconds, compute seconds, communication seconds) of one layer for one micro-batch."""
            s = {n: sum(o.time for o in ops if o.stream == n) for n in ("attn", "moe", "dispatch", "combine",
                                                                        "serial")}
            comp, comm = s["attn"] + s["moe"], s["dispatch"] + s["combine"] + s["serial"]
            if two:  # all-reduces stay on the critical path
                return max(s["attn"], s["dispatch"]) + max(s["moe"], s["combine"]) + s["serial"], comp, comm
            return comp + comm, comp, comm

        lat = self.layer_latency_s()
        stages = m.stages(lay)
        for si, layers in enumerate(stages):
            for (typ, att), n in self._layer_groups(si, layers).items():
                ops = self.layer_ops(m.per_type[typ], typ == "moe", att, q_tokens / mbs, seqs / mbs, context,
                                     phase, pieces)
                t, comp, comm = layer_time(ops)
                total += n * mbs * (t + lat)
                split["compute"] += n * mbs * comp
                split["communication"] += n * mbs * (t - comp)
                split["latency"] += n * mbs * lat
                add(ops, n * mbs)
            if si == len(stages) - 1:
                # lm_head: every decode query token, the last token of each prompt
                heads = [it for it in m.last if it.t.kind is Kind.LM_HEAD or
                         (it.t.kind is Kind.EMBEDDING and it.t.matmul)]
                rows = q_tokens if phase == "decode" else seqs
                head_ops = [self.matmul(it, rows, "attn") for it in heads]
                if draft_passes and m.mtp:
                    draft = self.arch.mtp[0]
                    layer_items = [it for it in m.mtp if it.t.kind not in (Kind.LM_HEAD,)]
                    # decode: one token per sequence per draft pass; prefill: the draft module runs once over
                    # the chunk's tokens to fill its own KV cache (SGLang's draft extend, vLLM's drafter
                    # prefill), with the main model's attention form, and proposes from each prompt's last token
                    q_draft = seqs if phase == "decode" else q_tokens
                    dops = self.layer_ops(layer_items, draft.is_moe, draft.attention, q_draft, seqs, context, phase,
                                          None if phase == "decode" else pieces)
                    dops += [self.matmul(it, seqs, "attn") for it in m.mtp if it.t.kind is Kind.LM_HEAD]
                    for o in dops:
                        o.name = "mtp: " + o.name
                    # no micro-batches, nothing overlapped
                    comp = sum(o.time for o in dops if o.kind != "communication")
                    comm = sum(o.time for o in dops if o.kind == "communication")
                    t = comp + comm
                    total += draft_passes * (t + lat)
                    split["compute"] += draft_passes * comp
                    split["communication"] += draft_passes * comm
                    split["latency"] += draft_passes * lat
                    add(dops, draft_passes)
                ht = sum(o.time for o in head_ops)
                total += ht
                split["compute"] += ht
                add(head_ops, 1)
            if si < len(stages) - 1:  # hand the hidden states to the next stage
                nbytes = q_tokens * self.arch.hidden_size.value * ACT_BYTES
                local = self.hw.domain >= lay.gpus
                t, bound = self.hw.transfer(nbytes if local else 0.0, 0.0 if local else nbytes,
                                            k.collective_latency_us, 1)  # to one GPU of the next stage
                op = _Op("pipeline send", "communication", 0.0, 0.0, nbytes, t, bound, "other")
                total += t
                split["communication"] += t
                add([op], 1)
        comps = [Component(name=name, kind=kind, count=a[0], flops=a[1], bytes=a[2], comm_bytes=a[3],
                           time_ms=a[4] * 1e3, bound=max(a[5], key=a[5].get))
                 for (name, kind), a in acc.items()]
        n_lat = sum(n for n in (len(layers) * mbs for layers in stages)) + draft_passes
        comps.append(Component(name="fixed per-layer latency", kind="latency", count=n_lat, flops=0.0, bytes=0.0,
                                comm_bytes=0.0, time_ms=n_lat * lat * 1e3, bound="latency"))
        return total, comps, split


def _bound(split: dict[str, float], comps: list[Component]) -> str:
    top = max(split, key=split.get)
    if top != "compute":
        return top
    c = sum(x.time_ms for x in comps if x.kind != "communication" and x.bound == "compute")
    mm = sum(x.time_ms for x in comps if x.kind != "communication" and x.bound == "memory")
    return "compute" if c >= mm else "memory"


def _merge(parts: list[tuple[float, list[Component]]]) -> list[Component]:
    """Components of several steps, each repeated `n` times, added by name."""
    # summed in plain lists, one Component built per name at the end (a search merges thousands of steps)
    acc: dict[tuple[str, str], list] = {}
    for n, comps in parts:
        for c in comps:
            a = acc.get((c.name, c.kind))
            if a is None:
                a = acc[(c.name, c.kind)] = [c, 0, 0.0, 0.0, 0.0, 0.0]
            a[1] += round(c.count * n)
            a[2] += c.flops * n
            a[3] += c.bytes * n
            a[4] += c.comm_bytes * n
            a[5] += c.time_ms * n
    return [c.model_copy(update={"count": count, "flops": flops, "bytes": nbytes, "comm_bytes": comm,
                                 "time_ms": time_ms})
            for c, count, flops, nbytes, comm, time_ms in acc.values()]


def _tokens_per_step(mtp: int, acceptance: float | None) -> float:
    if not mtp:
        return 1.0
    a = acceptance or 0.0
    return sum(a ** i for i in range(mtp + 1))


def _cost(price: float | None, gpus: int, tokens_per_s: float) -> float | None:
    if not price or tokens_per_s <= 0:
        return None
    return price * gpus / 3600 / tokens_per_s * 1e6


def _chunk_pieces(lo: int, hi: int, context: int) -> Pieces:
    """Tokens [lo, hi) of prompts of `context` tokens laid end to end, as pieces (done, n, count): a prompt
    straddling `lo` continues from its `done` earlier tokens, the prompts inside start from zero."""
    first, last = lo // context, (hi - 1) // context
    if first == last:
        return ((lo - first * context, hi - lo, 1),)
    pieces = [(lo - first * context, (first + 1) * context - lo, 1)]
    if last - first > 1:
        pieces.append((0, context, last - first - 1))
    pieces.append((0, hi - last * context, 1))
    return tuple(pieces)


def _offset_grid(context: int, chunk: int, step: int) -> list[int]:
    """PREFILL_SAMPLES chunk offsets (multiples of `step`) spread evenly over a prompt: over the offsets whose
    chunk stays inside the prompt (up to context − chunk) and over those whose chunk runs into the next, in
    proportion to their lengths, at least two each (a chunk's work jumps between the two)."""
    last = (context - 1) // step  # offsets are k·step, k = 0..last
    inside = max(0, context - chunk) // step  # k <= inside: the chunk stays in its prompt
    if inside == 0 or inside >= last:
        spans = [(0, last, PREFILL_SAMPLES)]
    else:
        n = min(PREFILL_SAMPLES - 2, max(2, round(PREFILL_SAMPLES * inside / last)))
        spans = [(0, inside, n), (inside + 1, last, PREFILL_SAMPLES - n)]
    return sorted({(a + round(j * (b - a) / max(1, n - 1))) * step for a, b, n in spans for j in range(n)})


def _prefill_chunks(total: int, context: int, chunk: int) -> list[tuple[float, int, int]]:
    """The chunks of `total` tokens of prompts of `context` tokens laid end to end, as (weight, lo, hi): a
    full chunk's work depends only on where it starts in its prompt (its offset, i·chunk mod context), so
    full chunks at one offset are computed once and weighted by their number; with more than
    PREFILL_SAMPLES offsets, each counts towards the two nearest of PREFILL_SAMPLES offsets spread evenly
    over the prompt (linear interpolation, never across the offset where chunks begin to run into the next
    prompt: `_offset_grid`). The weights depend on the batch only through the chunks it adds,
    so a longer batch never gets a shorter prefill. The last, partial chunk is computed as it is."""
    full, rest = divmod(total, chunk)
    step = gcd(chunk, context)
    cycle = context // step  # chunk starts repeat every `cycle` chunks, at every multiple of `step`
    weights: dict[int, float] = {}
    if min(full, cycle) <= PREFILL_OFFSETS_WALKED:
        rounds, extra = divmod(full, cycle) if full >= cycle else (0, full)
        for i in range(min(full, cycle)):
            o = i * chunk % context
            weights[o] = weights.get(o, 0) + rounds + (i < extra)
    if len(weights) > PREFILL_SAMPLES or min(full, cycle) > PREFILL_OFFSETS_WALKED:
        grid = _offset_grid(context, chunk, step)
        if not weights:  # starts too many to walk: each offset equally often, as in whole cycles
            spread = range(0, context, max(1, context // PREFILL_OFFSETS_WALKED))
            weights = dict.fromkeys(spread, full / len(spread))
        snapped: dict[int, float] = {}
        for o, w in weights.items():
            j = min(bisect_right(grid, o), len(grid) - 1)
            a, b = grid[j - 1], grid[j]
            share = 1.0 if o >= b else (o - a) / (b - a)  # towards b
            snapped[a] = snapped.get(a, 0.0) + w * (1 - share)
            snapped[b] = snapped.get(b, 0.0) + w * share
        weights = snapped
    out = [(w, o, o + chunk) for o, w in sorted(weights.items()) if w]
    if rest:
        out.append((1.0, full * chunk, total))
    return out


def _point(p: _Perf, phase: str, batch: int, context: int, chunk: int, mtp: int, acceptance: float | None,
           price: float | None, replicas: float | None = None) -> PerfPoint:
    """One phase at `batch` sequences; `replicas`: replicas' worth of tokens the MoE sees (default: the batch's,
    batch / seqs: an uneven or small batch leaves some replicas short or idle)."""
    lay = p.lay
    seqs = ceil(batch / lay.dp)  # the busiest replica's sequences: its attention and dense layers
    full = p.replicas
    p.replicas = batch / seqs if replicas is None else replicas
    try:
        return _point_on(p, phase, batch, context, chunk, mtp, acceptance, price, seqs)
    finally:
        p.replicas = full


def _point_on(p: _Perf, phase: str, batch: int, context: int, chunk: int, mtp: int, acceptance: float | None,
              price: float | None, seqs: int) -> PerfPoint:
    lay = p.lay
    if phase == "decode":
        q = seqs * (1 + mtp)
        t, comps, split = p.step("decode", seqs, q, context, draft_passes=mtp)
        per_step = _tokens_per_step(mtp, acceptance)
        tpot = t / per_step
        tps = batch * per_step / t
        point = PerfPoint(phase=phase, batch=batch, context=context, step_ms=t * 1e3, tpot_ms=tpot * 1e3,
                          ttft_ms=None, tokens_per_s=tps, tokens_per_s_per_gpu=tps / lay.gpus,
                          tokens_per_s_per_user=1 / tpot, tokens_per_step=per_step, bound=_bound(split, comps),
                          compute_ms=split["compute"] * 1e3, communication_ms=split["communication"] * 1e3,
                          latency_ms=split["latency"] * 1e3, components=comps)
    else:
        # chunk i holds tokens [i·c, (i+1)·c) of the replica's prompts laid end to end: the end of one
        # prompt, whole prompts, the start of another (`_chunk_pieces`), each attending to its own prompt.
        parts, t = [], 0.0
        split = {"compute": 0.0, "communication": 0.0, "latency": 0.0}
        for weight, lo, hi in _prefill_chunks(seqs * context, context, chunk):
            pieces = _chunk_pieces(lo, hi, context)
            s_in = sum(count for _, _, count in pieces)
            ti, ci, si = p.step("prefill", s_in, hi - lo, pieces[0][0], draft_passes=1 if mtp else 0, pieces=pieces)
            t += ti * weight
            for key in split:
                split[key] += si[key] * weight
            parts.append((weight, ci))
        comps = _merge(parts)
        tps = batch * context / t
        point = PerfPoint(phase=phase, batch=batch, context=context, step_ms=t * 1e3, tpot_ms=None,
                          ttft_ms=t * 1e3, tokens_per_s=tps, tokens_per_s_per_gpu=tps / lay.gpus,
                          tokens_per_s_per_user=context / t, tokens_per_step=context, bound=_bound(split, comps),
                          compute_ms=split["compute"] * 1e3, communication_ms=split["communication"] * 1e3,
                          latency_ms=split["latency"] * 1e3, components=comps)
    point.cost_per_million_tokens_usd = _cost(price, lay.gpus, point.tokens_per_s)
    return point


def weights_per_gpu(spec: ModelSpec, gpu: GPU, layout: Layout, *, weights: str | None = None,
                    expert_weights: str | None = None, dtype: str = "auto") -> tuple[int, int]:
    """(bytes of the routed experts on one GPU as `plan` stores them, as perf's expert format stores them)."""
    fmt = serving_format(spec, weights, dtype)
    p = _Perf(spec, gpu, layout, fmt, expert_weights or fmt.name, "bf16", PerfKnobs())
    layers = sum(1 for t in p.m.layer_type if t == "moe")
    items = [it for it in p.m.per_type.get("moe", []) if it.t.kind is Kind.ROUTED_EXPERTS]
    as_plan = sum(p.m.item_bytes(it, layout) for it in items) * layers
    as_perf = sum(p._shard(it)[1] * p._shard(it)[2] for it in items) * layers
    return as_plan, as_perf


def max_batch(spec: ModelSpec, gpu: GPU, layout: Layout, context: int, *, weights: str | None = None,
              expert_weights: str | None = None, kv_dtype: str = "bf16", dtype: str = "auto") -> int:
    """The largest batch whose KV cache fits at `context` tokens: `plan`'s memory model, with the routed
    experts in `expert_weights` (plan stores them in the checkpoint's format)."""
    from .plan import Workload, plan

    r = plan(spec, gpu, layout, Workload(context=context, batch=1, kv_dtype=kv_dtype), weights=weights, dtype=dtype)
    as_plan, as_perf = weights_per_gpu(spec, gpu, layout, weights=weights, expert_weights=expert_weights, dtype=dtype)
    if as_plan == as_perf:
        return r.max_batch
    # a sequence per replica costs its KV cache and its logits (plan's activations): the free bytes at 1 and 2
    two = plan(spec, gpu, layout, Workload(context=context, batch=2 * layout.dp, kv_dtype=kv_dtype), weights=weights,
               dtype=dtype)
    per_seq = r.per_gpu.free - two.per_gpu.free
    room = r.per_gpu.free + per_seq + (as_plan - as_perf)  # free at batch 1 + that sequence's bytes
    return max(0, room // per_seq) * layout.dp if per_seq > 0 else 0


def engine_max_batch(spec: ModelSpec, gpu: GPU, layout: Layout, context: int, engine: EngineConfig, *,
                     weights: str | None = None, kv_dtype: str = "bf16", chunk: int = 8192,
                     mem_fraction: float | None = None, dtype: str = "auto") -> int:
    """The sequences of `context` tokens a deployment runs at once as `engine` accounts memory: `plan`'s max
    batch (the engine's KV tokens in whole blocks per sequence), at most --max-num-seqs per DP replica.
    `mem_fraction` is the generic accounting's (an engine's own fraction flag is in `engine`)."""
    from .plan import Workload, knobs as plan_knobs, plan

    pk = plan_knobs(mem_fraction) if mem_fraction is not None and engine.engine == "generic" else None
    r = plan(spec, gpu, layout, Workload(context=context, batch=1, chunk=chunk, kv_dtype=kv_dtype), weights=weights,
             engine=engine, knobs=pk, dtype=dtype)
    seqs = r.concurrency.max_num_seqs if r.concurrency else None
    return r.max_batch if seqs is None else min(r.max_batch, seqs * layout.dp)


def check_knobs(k: PerfKnobs) -> None:
    for name in ("compute_efficiency", "memory_efficiency", "attention_compute_efficiency",
                 "attention_memory_efficiency", "nvlink_efficiency", "network_efficiency"):
        v = getattr(k, name)
        if not (isfinite(v) and MIN_EFFICIENCY <= v <= 1):  # below, a step's time overflows to inf and NaN
            raise InputError(f"--{name.replace('_', '-')} {v:g}: must be in [{MIN_EFFICIENCY:g}, 1]")
    for name in ("kernel_latency_us", "collective_latency_us", "ep_latency_us", "layer_latency_us"):
        v = getattr(k, name)
        if v is not None and not (isfinite(v) and 0 <= v <= 1e6):
            raise InputError(f"--{name.replace('_', '-')} {v:g}: must be a number of microseconds, 0 to 10^6")
    if not (isfinite(k.imbalance) and 1 <= k.imbalance <= 100):
        raise InputError(f"--imbalance {k.imbalance:g}: must be between 1 and 100")
    if not 0 <= k.kernels_per_layer <= 10_000:
        raise InputError(f"--kernels-per-layer {k.kernels_per_layer}: must be between 0 and 10,000")


def _aggregated(p: _Perf, batch: int, input_tokens: int, output_tokens: int, chunk: int, mtp: int,
                acceptance: float | None, price: float | None) -> tuple[PerfPoint, dict]:
    """Aggregated serving (`--input/--output`): the decode point at the mean context, carrying TTFT, a TPOT
    and the throughput of the whole request (prefill + decode), and the report's end-to-end fields.

    A cycle: the batch's B prompts are prefilled and its sequences decode O − 1 steps; in steady state each
    request lives one cycle, so e2e = the cycle = TTFT + (O − 1) × TPOT, and tokens/s = B × O / e2e =
    B × tokens/s per user (Little's law: B requests in flight, each O tokens per e2e).
    dp = 1: the batch is prefilled together (TTFT), then decoded (TPOT = the decode step per token).
    dp > 1, steady state: B/O prompts start per decode step, each prefilled on its own replica while the
    replicas without one wait in the expert exchange (SOURCES.md, Serving performance), so `active` =
    min(dp, max(1, B/O)) replicas prefill at a time and the batch's prompts take B / active rounds of one
    prompt's prefill. TTFT is the request's own round; the other B/active − 1 rounds (the other B − 1
    prompts, less the active − 1 prefilled beside its own) interrupt its O − 1 decode steps: TPOT = the decode
    step per token + those rounds / (O − 1). With O = 1 there is nothing to interrupt: the prompts queue,
    TTFT = every round."""
    lay = p.lay
    if lay.dp > 1:
        active = min(lay.dp, max(1.0, batch / output_tokens))
        # one prompt on each of `active` replicas: their tokens meet in the MoE
        pre = _point(p, "prefill", 1, input_tokens, chunk, mtp, None, price, replicas=active)
        own_s = pre.ttft_ms / 1e3
        prefill_s = batch / active * own_s
        tps_in = batch * input_tokens / prefill_s
        # the point is the batch's prefill (as with dp = 1): its prompts, their input tokens/s, a user's share
        pre = pre.model_copy(update={"batch": batch, "tokens_per_s": tps_in, "tokens_per_s_per_gpu": tps_in / lay.gpus,
                                     "tokens_per_s_per_user": tps_in / batch,
                                     "cost_per_million_tokens_usd": _cost(price, lay.gpus, tps_in)})
        ttft_s = own_s if output_tokens > 1 else prefill_s
    else:
        pre = _point(p, "prefill", batch, input_tokens, chunk, mtp, None, price)
        ttft_s = prefill_s = pre.ttft_ms / 1e3
    dec = _point(p, "decode", batch, input_tokens + output_tokens // 2, chunk, mtp, acceptance, price)
    e2e_s = prefill_s + (output_tokens - 1) * dec.tpot_ms / 1e3
    tpot_ms = dec.tpot_ms
    if output_tokens > 1:  # the other prompts' prefills, spread over the request's decode steps (dp = 1: none)
        tpot_ms += (prefill_s - ttft_s) * 1e3 / (output_tokens - 1)
    tps = batch * output_tokens / e2e_s
    main = dec.model_copy(update={"ttft_ms": ttft_s * 1e3, "tpot_ms": tpot_ms, "tokens_per_s": tps,
                                  "tokens_per_s_per_gpu": tps / lay.gpus,
                                  "tokens_per_s_per_user": output_tokens / e2e_s,
                                  "cost_per_million_tokens_usd": _cost(price, lay.gpus, tps)})
    extra = dict(input_tokens=input_tokens, output_tokens=output_tokens, e2e_latency_ms=e2e_s * 1e3, prefill=pre)
    return main, extra


def perf(spec: ModelSpec, gpu: GPU, layout: Layout, *, phase: str = "decode", batch: int = 1, context: int = 4096,
         chunk: int = 8192, weights: str | None = None, expert_weights: str | None = None, kv_dtype: str = "bf16",
         mtp: int = 0, acceptance: float | None = None, input_tokens: int | None = None,
         output_tokens: int | None = None, price_per_gpu_hour: float | None = None,
         sweep: tuple[str, list[int]] | None = None, knobs: PerfKnobs | None = None,
         gpus: int | None = None, engine: EngineConfig | None = None, mem_fraction: float | None = None,
         dtype: str = "auto") -> PerfReport:
    """Step time, TPOT/TTFT, tokens/s (deployment, per GPU, per user) and the operations behind them.

    With `input_tokens` and `output_tokens`: both phases (`_aggregated`): TTFT, mean TPOT (decode at the mean
    context input + output/2), end-to-end latency = TTFT + (output − 1) × TPOT, throughput.
    With `engine`: each point also carries the batch that engine's memory accounting holds at its context
    (`max_batch`, see `engine_max_batch`) and whether its batch is within it (`fits`); the figures stay at
    the batch asked for, and a note says when the engine could not hold it. Without `engine`, `max_batch`
    and `fits` are `plan`'s (decode: the caches; prefill: the prompts), and a batch beyond it is noted,
    sweep points too.
    """
    knobs = knobs or PerfKnobs()
    check_knobs(knobs)
    if phase not in ("decode", "prefill"):
        raise InputError(f"--phase {phase}: choose decode or prefill")
    if gpus is not None and gpus != layout.gpus:
        raise InputError(f"--gpus {gpus}: the layout uses tp × dp-attention × pp = {layout.tp} × {layout.dp} × "
                         f"{layout.pp} = {layout.gpus} GPUs")
    for opt, v, lo in (("--batch", batch, 1), ("--chunk", chunk, 1), ("--mtp", mtp, 0)):
        if v < lo:
            raise InputError(f"{opt} {v}: must be at least {lo}")
        if v > MAX_INT:
            raise InputError(f"{opt} {v}: too large (at most 2^40 = {MAX_INT:,})")
    if mtp and not spec.arch.num_nextn_predict_layers:
        raise InputError("--mtp: this model has no MTP module (num_nextn_predict_layers is 0)")
    if acceptance is not None:
        if not mtp:
            raise InputError("--acceptance needs --mtp N (draft tokens per step)")
        if not (isfinite(acceptance) and 0 <= acceptance <= 1):
            raise InputError(f"--acceptance {acceptance:g}: the share of draft tokens accepted, in [0, 1]")
        if phase == "prefill":  # it would be ignored: a prefill yields the prompt's logits, no draft tokens
            raise InputError(f"--acceptance {acceptance:g} does not go with --phase prefill: a prefill accepts no "
                             "draft tokens (--input/--output reports both phases)")
    check_price(price_per_gpu_hour)
    if (input_tokens is None) != (output_tokens is None):
        raise InputError("give --input and --output together")
    fmt = serving_format(spec, weights, dtype, engine.engine if engine else "generic")
    efmt = expert_weights or fmt.name
    if efmt not in FORMATS and efmt != fmt.name:  # the model's own format ("release": Kimi-K3) is accepted
        raise InputError(f"--expert-weights {efmt}: choose from {', '.join(FORMATS)}")
    if expert_weights is not None and not spec.arch.n_routed_experts:  # as --ep: nothing it would store
        raise InputError(f"--expert-weights {expert_weights}: {spec.name} has no routed experts (a dense model; "
                         "expert options apply to MoE models)")
    layout = layout.model_copy(update={"mtp": bool(mtp)})
    m = ShardedModel(spec, fmt)
    problem = layout_problem(m, layout)
    if problem:  # --gpus alone means --tp GPUS: name what the user typed
        raise InputError(gpus_named(problem, gpus, layout))
    p = _Perf(spec, gpu, layout, fmt, efmt, kv_dtype, knobs, model=m)
    price = price_per_gpu_hour or gpu.price_per_gpu_hour_usd
    notes = list(spec.notes)
    notes.append("an estimate: a roofline per operation with documented defaults (k2calc perf --help); "
                 "see the README's validation table")
    extra: dict = {}
    if input_tokens is not None:
        if input_tokens < 1 or output_tokens < 1:
            raise InputError("--input and --output: must be at least 1 token each")
        if phase != "decode":
            raise InputError("--phase prefill with --input/--output: --input/--output reports both phases "
                             "(drop --phase, or use --phase prefill --context I alone)")
        if sweep and sweep[0] == "context":
            raise InputError("--sweep context=… with --input/--output: the contexts follow --input and --output; "
                             "sweep batch=…")
        main, extra = _aggregated(p, batch, input_tokens, output_tokens, chunk, mtp, acceptance, price)
        if layout.dp > 1:
            active = min(layout.dp, max(1.0, batch / output_tokens))
            notes.append(f"DP attention in aggregated serving, steady state: {active:g} of {layout.dp} replicas "
                         "prefill a prompt at a time (batch / output prompts start per step) while the others wait; "
                         "TTFT is one prompt's, TPOT the decode step plus the batch's prefills spread over its "
                         "output tokens (step_ms is the decode step alone)")
        else:
            notes.append("--input/--output: the batch is prefilled together (TTFT), then decoded")
        notes.append(f"mean TPOT at the mean context {input_tokens + output_tokens // 2:,}; e2e = TTFT + (output − 1) "
                     "× TPOT; output tokens/s over the batch's prefill + decode time")
    else:
        main = _point(p, phase, batch, context, chunk, mtp, acceptance, price)
    longs = [beyond_max_position_note(spec.config, [input_tokens + output_tokens], "--input + --output")
             if input_tokens is not None else beyond_max_position_note(spec.config, [context])]
    if sweep and sweep[0] == "context":
        longs.append(beyond_max_position_note(spec.config, sorted(set(sweep[1])), "--sweep context"))
    notes += [n for n in longs if n]
    points, axis = [], None
    if sweep:
        axis, values = sweep
        for v in values:
            b, c = (v, context) if axis == "batch" else (batch, v)
            points.append(_aggregated(p, b, input_tokens, output_tokens, chunk, mtp, acceptance, price)[0]
                          if input_tokens is not None else _point(p, phase, b, c, chunk, mtp, acceptance, price))

    def longest(pt: PerfPoint) -> int:
        """The sequences' longest context: a decode's cache, a prompt, or input + output."""
        return input_tokens + output_tokens if input_tokens is not None else pt.context

    held: dict[int, int] = {}  # context -> the batch memory holds: as the engine accounts it, or plan's

    def flag(pt: PerfPoint) -> PerfPoint:
        ctx = longest(pt)
        if ctx not in held:
            held[ctx] = (engine_max_batch(spec, gpu, layout, ctx, engine, weights=weights, kv_dtype=kv_dtype,
                                          chunk=chunk, mem_fraction=mem_fraction, dtype=dtype) if engine is not None
                         else max_batch(spec, gpu, layout, ctx, weights=weights, expert_weights=efmt,
                                        kv_dtype=kv_dtype, dtype=dtype))
        return pt.model_copy(update={"max_batch": held[ctx], "fits": pt.batch <= held[ctx]})

    main = flag(main)
    points = [flag(pt) for pt in points]
    if engine is not None:
        if not main.fits:
            notes.append(f"--engine {engine.engine}: its KV cache holds {main.max_batch:,} sequences of "
                         f"{longest(main):,} tokens (k2calc plan --engine {engine.engine}), not --batch {batch:,}: the "
                         f"engine runs at most {main.max_batch:,} at a time and queues the rest; these figures are "
                         "for a batch it cannot hold")
        if any(not pt.fits for pt in points):
            notes.append(f"--engine {engine.engine}: sweep points beyond the batch it holds: fits = no")
    else:  # a speed for a batch whose KV cache (decode: the cached tokens; prefill: the prompts) cannot be held
        if not main.fits:
            held_text = (f"the largest batch at this context is {main.max_batch:,}" if main.max_batch else
                         f"not one sequence of {longest(main):,} tokens fits beside the weights")
            notes.append(f"batch {batch:,} × {longest(main):,} tokens does not fit in memory: {held_text} (k2calc "
                         "plan); the speed above assumes it did")
        over = [pt for pt in points if not pt.fits]
        if over:
            shown = f"{axis} " + ", ".join(f"{pt.batch if axis == 'batch' else pt.context:,}" for pt in over)
            notes.append(f"sweep points that do not fit in memory (k2calc plan; their speeds assume they did): "
                         f"{shown}")
    if mtp and acceptance is None and phase == "decode":
        notes.append("--mtp without --acceptance: every draft token rejected (1 token per step)")
    if layout.ep > 1 and knobs.overlap and phase == "decode":  # prefill never overlaps
        notes.append("two micro-batches overlap communication with compute (--no-overlap to turn off)")
    if fmt.base_dtype == "F32":
        notes.append("float32 weights are streamed at 4 bytes but their matmuls are timed at the BF16 peak (the "
                     "catalog has no FP32 peak): compute-bound steps are optimistic")
    if gpu.name not in ("h100", "h200", "h800", "h20"):
        notes.append(f"{gpu.name}: efficiencies are Hopper kernel figures (the only complete set published; "
                     "README: Serving speed)")
    return PerfReport(
        **main.model_dump(), **extra, model=spec.name, gpu=gpu.name, gpus=layout.gpus, layout=layout,
        layout_label=layout.label(), weight_format=fmt, weight_format_description=fmt.describe(), expert_weights=efmt, kv_dtype=kv_dtype, mtp=mtp,
        acceptance=acceptance, overlap=knobs.overlap, price_per_gpu_hour_usd=price,
        engine=engine.engine if engine is not None else None, sweep=points, sweep_axis=axis,
        knobs=p.k, sources=p.sources, notes=notes)


def parse_sweep(text: str) -> tuple[str, list[int]]:
    """`batch=1,4,16` or `context=1k,32k` -> ("batch", [1, 4, 16])."""
    from ..inputs import clip
    from ..sizes import parse_context

    shown = clip(text, 80)  # a 100 kB list is not echoed whole
    axis, sep, values = text.partition("=")
    axis = axis.strip()
    if not sep or axis not in ("batch", "context"):
        raise InputError(f"--sweep {shown}: write batch=1,4,16 or context=1k,8k,32k")
    items = [v for v in values.split(",") if v.strip()]
    if not items:
        raise InputError(f"--sweep {shown}: no values after {axis}=")
    if len(items) > 256:
        raise InputError(f"--sweep {shown}: at most 256 points")
    out = []
    for v in items:
        if axis == "context":
            out.append(parse_context(v, "--sweep context"))
            continue
        if not (v.strip().isdigit() and len(v.strip()) <= 15) or not 1 <= int(v) <= MAX_INT:
            raise InputError(f"--sweep {shown}: batch {clip(v.strip(), 40)!r} must be a whole number from 1 to 2^40")
        out.append(int(v))
    return axis, out


def perf_knobs(*, overlap: bool = True, **overrides: float | int | None) -> PerfKnobs:
    """The defaults with the command line's overrides (None = keep the default)."""
    from ..errors import suggest

    for name in overrides:
        if name not in PerfKnobs.model_fields or name == "overlap":
            raise InputError(f"unknown perf default {name!r}{suggest(name, list(PerfKnobs.model_fields))}")
    if overrides.get("layer_latency_us") is not None:  # it replaces kernels × kernel latency: either would be ignored
        for name in ("kernel_latency_us", "kernels_per_layer"):
            if overrides.get(name) is not None:
                opt = f"--{name.replace('_', '-')}"
                raise InputError(f"{opt} {overrides[name]:g} does not go with --layer-latency-us "
                                 f"{overrides['layer_latency_us']:g}, which replaces kernels per layer × kernel latency")
    k = PerfKnobs(overlap=overlap, **{name: v for name, v in overrides.items() if v is not None})
    check_knobs(k)
    return k


# ---------------------------------------------------------------------------------------------------
# Speed targets for `plan --search`


class SpeedTargets(BaseModel):
    """What a deployment must serve (`plan --search`): decode tokens/s, TPOT and TTFT limits."""

    min_tokens_per_s: float | None = None  # decode: output tokens/s; prefill: input tokens/s
    max_tpot_ms: float | None = None
    max_ttft_ms: float | None = None
    phase: str = "decode"  # "prefill": a prefill pool of a PD-disaggregated deployment
    fastest: bool = False  # no limit: estimate every layout and keep the fastest (compare's serving rows)

    def any(self) -> bool:
        return self.fastest or any(v is not None for v in (self.min_tokens_per_s, self.max_tpot_ms,
                                                           self.max_ttft_ms))

    def check(self) -> None:
        for opt, v in (("--min-tokens-per-s", self.min_tokens_per_s), ("--max-tpot-ms", self.max_tpot_ms),
                       ("--max-ttft-ms", self.max_ttft_ms)):
            if v is not None and not (isfinite(v) and v > 0):
                raise InputError(f"{opt} {v:g}: must be a positive number")


class SpeedFit(BaseModel):
    """A layout's speed at the search's workload."""

    meets: bool
    batch: int  # the batch the figures are for
    tpot_ms: float | None  # decode
    tokens_per_s: float  # decode: output tokens/s; prefill: input tokens/s
    ttft_ms: float | None


class LayoutSpeed:
    """One layout's speed at a search's workload (`plan --search`): the estimate's state is built once and
    every decode point it computes is kept, so a bound and the fit share them."""

    def __init__(self, spec: ModelSpec, gpu: GPU, layout: Layout, model: ShardedModel, targets: SpeedTargets, *,
                 context: int, batch: int, max_batch: int, kv_dtype: str = "bf16", chunk: int = 8192,
                 knobs: PerfKnobs | None = None):
        self.p = _Perf(spec, gpu, layout, model.fmt, model.fmt.name, kv_dtype, knobs or PerfKnobs(), model)
        self.lay, self.targets, self.context, self.chunk = layout, targets, context, chunk
        self.batch, self.max_batch = batch, max_batch
        self.points: dict[int, PerfPoint] = {}  # batch -> decode point
        self.prefills: dict[int, PerfPoint] = {}  # batch -> prefill point of prompts of `context` tokens
        self._fit: SpeedFit | None = None
        self._within = 1  # a batch known to keep TPOT within the target (cannot_meet's climb)
        # TPOT floors known without estimating a point: every layer pays its fixed latency once per micro-batch,
        # and reads each of the busiest replica's sequences' cache at most at the attention's memory efficiency
        # (what `_Perf.attention` reads in decode; GQA's heads split over tp, MLA's latent whole).
        # (Pipeline stages run one after the other: every decoder layer once.)
        self.tpot_floor_ms = spec.arch.num_hidden_layers * self.p.layer_latency_s() * 1e3
        bw = self.p.hw.bw * self.p.k.attention_memory_efficiency
        self.sequence_floor_ms = sum(
            n * layer_decode_read_bytes(att, context, kv_dtype, layout.tp if att.mla is None else 1)
            for att, n in model.attention_counts.items()) / bw * 1e3

    def at(self, b: int) -> PerfPoint:
        if b not in self.points:
            self.points[b] = _point(self.p, "decode", b, self.context, self.chunk, 0, None, None)
        return self.points[b]

    def prefill_at(self, b: int) -> PerfPoint:
        """`b` prompts of `context` tokens prefilled together (TTFT: one prompt is b = 1)."""
        if b not in self.prefills:
            self.prefills[b] = _point(self.p, "prefill", b, self.context, self.chunk, 0, None, None)
        return self.prefills[b]

    def floor_ms(self, b: int) -> float:
        """TPOT at batch `b` is at least this (the fixed latency and the busiest replica's cache reads)."""
        return self.tpot_floor_ms + ceil(b / self.lay.dp) * self.sequence_floor_ms

    def _floor_batches(self) -> list[int]:
        """Batches up to the largest the floor keeps within the TPOT limit (and memory) where b / floor(b) is
        largest: b / floor(b) grows within each run of equal ceil(b / dp) and from one run's end to the next,
        so at the last run's end and the one before. Empty when batch 1's floor breaks the limit."""
        t, dp = self.targets, self.lay.dp
        room = t.max_tpot_ms - self.tpot_floor_ms
        if room < self.sequence_floor_ms:
            return []
        top = max(self.batch, self.max_batch)
        if self.sequence_floor_ms > 0:
            top = min(top, int(room / self.sequence_floor_ms) * dp)
        return sorted({top, (ceil(top / dp) - 1) * dp} - {0})

    def _floor_beyond(self) -> int | None:
        """The least batch whose floor breaks the TPOT limit (so its TPOT does), None without a limit or when
        the floor keeps every batch within it."""
        t, dp, s = self.targets, self.lay.dp, self.sequence_floor_ms
        if t.max_tpot_ms is None or s <= 0:
            return None
        b = max(0, int((t.max_tpot_ms - self.tpot_floor_ms) / s)) * dp + 1
        while self.floor_ms(b) <= t.max_tpot_ms:  # rounding: the float comparison decides, as floor_ms computes it
            b += dp
        while b > dp and self.floor_ms(b - dp) > t.max_tpot_ms:
            b -= dp
        return b

    def out_of_reach(self) -> bool:
        """True when the tokens/s and TPOT targets together are out of reach by the TPOT floor alone (no
        point estimated): serving R tokens/s at TPOT t takes a batch b of at least R·t ≥ R·floor(b)."""
        t = self.targets
        if t.phase == "prefill" or t.min_tokens_per_s is None or t.max_tpot_ms is None:
            return False
        return not any(b >= t.min_tokens_per_s * self.floor_ms(b) / 1e3 * (1 - 1e-9) for b in self._floor_batches())

    def _least_batch(self) -> int:
        """A batch no larger than the least that could serve the tokens/s target: cannot_meet's climb over
        the floor instead of TPOT, b <- R·floor(b) from 1 (no point estimated; it stops at the floor's least
        batch, which is at most TPOT's), until it passes memory's batch."""
        r, top = self.targets.min_tokens_per_s, max(self.batch, self.max_batch)
        b = 1
        for _ in range(10_000):
            nxt = max(1, ceil(r * self.floor_ms(b) / 1e3 * (1 - 1e-9)))
            if nxt <= b or nxt > top:
                return max(b, nxt)
            b = nxt
        return b

    def upper_tokens_per_s(self, estimate: bool = True) -> float:
        """At least the tokens/s `fit()` reports, from one point: a prefill pool's full chunk; with a tokens/s
        target, the batch decode runs is at most `max_batch` and its step at least batch 1's (TPOT grows with
        the batch). With a TPOT target too, the points already estimated narrow it: the batch lies below the
        least known to break the limit, and its step is at least the largest known within it; and the floor
        caps it. `estimate=False`: no new decode point (batch 1's TPOT stands in by its floor)."""
        if self.targets.phase == "prefill":
            return self.prefill_at(self._prefill_batches()[-1]).tokens_per_s
        if self.targets.min_tokens_per_s is None:
            return self.at(max(1, self.batch)).tokens_per_s  # the fit's own tokens/s, without its TTFT
        limit, top = self.targets.max_tpot_ms, max(self.batch, self.max_batch)
        one = self.at(1).tpot_ms if estimate or 1 in self.points else self.floor_ms(1)  # TPOT(1), or below it
        if limit is None:
            return top * self.at(1).tokens_per_s if estimate else top / max(one, self.floor_ms(top)) * 1e3
        hi = min((b for b, pt in self.points.items() if pt.tpot_ms > limit), default=top + 1)
        if hi == 1 or one > limit:
            return 1e3 / one  # the fit is batch 1's
        lo = max((b for b, pt in self.points.items() if b < hi and pt.tpot_ms <= limit), default=None)
        known = (hi - 1) * (self.points[lo].tokens_per_s / lo if lo is not None else 1e3 / one)
        # the floor: b / TPOT(b) ≤ b / max(TPOT(1), floor(b)), at most at the batches _floor_batches gives
        floor = max((b / max(one, self.floor_ms(b)) * 1e3 for b in self._floor_batches()), default=known)
        return min(known, floor)

    def fit(self, beat: float | None = None) -> SpeedFit | None:
        """Decode speed at `batch` (TPOT and TTFT targets), or, with a tokens/s target, at the largest batch
        that fits memory (`max_batch`) and keeps TPOT within its target. TTFT: one prompt of `context`
        tokens on an idle deployment. A prefill pool: at the fewest prompts prefilled together that serve the
        tokens/s target (TTFT: that batch's prefill), or, when none does, a full chunk of prompts per replica.
        With `beat`: None as soon as the batch search shows the tokens/s stay below it."""
        if self._fit is None:
            self._fit = self._decode(beat) if self.targets.phase != "prefill" else self._prefill()
        return self._fit

    def cannot_meet(self) -> bool:
        """True when the tokens/s and TPOT targets together are out of reach, found from a few points:
        serving R tokens/s at TPOT t takes a batch of at least R·t, and TPOT only grows with the batch, so
        from b = 1, b <- R·TPOT(b) climbs to the least batch that could; beyond memory or the TPOT limit
        there, none can. (False proves nothing: `fit()` decides.)"""
        t = self.targets
        if t.phase == "prefill" or t.min_tokens_per_s is None or t.max_tpot_ms is None:
            return False
        use = max(self.batch, self.max_batch)
        need = self._least_batch()  # the climb from 1 passes no batch above the least that could: start there
        if need > use or self.floor_ms(1) > t.max_tpot_ms:
            return True
        while True:
            tpot = self.at(need).tpot_ms
            if tpot > t.max_tpot_ms:
                return True
            nxt = ceil(t.min_tokens_per_s * tpot / 1e3 * (1 - 1e-9))  # the margin: rounding never rejects
            if nxt <= need:
                self._within = need
                return False
            if nxt > use:
                return True
            need = nxt

    def _prefill_batches(self) -> list[int]:
        """The prompt batches a prefill pool may run, ascending: 1 to dp (one prompt on each of that many
        replicas), then whole prompts per replica up to a full chunk (`chunk // context`, at least one)."""
        dp = self.lay.dp
        return list(range(1, dp + 1)) + [s * dp for s in range(2, max(1, self.chunk // self.context) + 1)]

    def ttft_ms(self) -> float:
        """One prompt of `context` tokens on an idle deployment."""
        return self.prefill_at(1).ttft_ms

    def _prefill(self) -> SpeedFit:
        """The fewest prompts prefilled together whose tokens/s reach the target (bisected: tokens/s grow with
        the batch up to a full chunk): the pool runs batches of that size, so its TTFT is that batch's
        prefill; with no target, or when even a full chunk falls short, a full chunk."""
        targets, batches = self.targets, self._prefill_batches()
        lo, hi = 0, len(batches) - 1  # the answer lies in [lo, hi]; the last batch is the full chunk
        need = targets.min_tokens_per_s
        if need is not None and self.prefill_at(batches[hi]).tokens_per_s >= need:
            while lo < hi:
                mid = (lo + hi) // 2
                if self.prefill_at(batches[mid]).tokens_per_s >= need:
                    hi = mid
                else:
                    lo = mid + 1
        point = self.prefill_at(batches[hi])
        meets = ((need is None or point.tokens_per_s >= need)
                 and (targets.max_ttft_ms is None or point.ttft_ms <= targets.max_ttft_ms))
        return SpeedFit(meets=meets, batch=point.batch, tpot_ms=None, tokens_per_s=point.tokens_per_s,
                        ttft_ms=point.ttft_ms)

    def _decode(self, beat: float | None = None) -> SpeedFit | None:
        targets, at = self.targets, self.at
        use = self.batch
        if targets.min_tokens_per_s is not None:
            use = max(self.batch, self.max_batch)
            limit = targets.max_tpot_ms
            # a batch whose floor breaks the limit breaks it: the search's top with no point estimated
            beyond = self._floor_beyond()
            if beyond is not None and beyond <= use:
                use = beyond
            if limit is not None and use > 1 and (use == beyond or at(use).tpot_ms > limit):
                # the batch found is below hi and its step at least lo's: tokens/s < hi · lo's tokens/s per sequence
                below = None if beat is None else (
                    lambda lo, hi: (hi - 1) * at(lo).tokens_per_s / lo * (1 + 1e-9) < beat)
                use = _largest_batch_within(lambda b: at(b).tpot_ms, use, limit, self._within, below)
                if use is None:
                    return None
        point = at(max(1, use))
        ttft = self.ttft_ms() if targets.max_ttft_ms is not None else None
        meets = ((targets.min_tokens_per_s is None or point.tokens_per_s >= targets.min_tokens_per_s)
                 and (targets.max_tpot_ms is None or point.tpot_ms <= targets.max_tpot_ms)
                 and (ttft is None or ttft <= targets.max_ttft_ms))
        return SpeedFit(meets=meets, batch=max(1, use), tpot_ms=point.tpot_ms, tokens_per_s=point.tokens_per_s,
                        ttft_ms=ttft)


def _largest_batch_within(tpot, use: int, limit: float, within: int = 1, give_up=None) -> int | None:
    """The largest batch in [1, use] whose `tpot(batch)` is within `limit` (1 when none is), given that
    `tpot(use)` is beyond it and that TPOT grows with the batch: bisection from `within`, a batch known to
    be within the limit (or 1). None as soon as `give_up(lo, hi)` is true of the bracket."""
    lo, hi = within, use  # tpot(lo) within the limit (unless lo = 1), tpot(hi) beyond it
    if tpot(lo) > limit:
        return 1
    while hi - lo > 1:
        if give_up is not None and give_up(lo, hi):
            return None
        mid = (lo + hi) // 2
        if tpot(mid) <= limit:
            lo = mid
        else:
            hi = mid
    return lo


class DecodeAtLoad(BaseModel):
    """The pair's decode pool at the request rate rather than at its capacity: in steady state it holds
    rate × output × TPOT sequences (Little's law: each stays output steps of TPOT), fewer than the largest
    batch its row is sized at, so its users see a shorter TPOT than the row's."""

    batch: int  # sequences in flight: ceil(rate × output × TPOT at that batch)
    tpot_ms: float
    tokens_per_s: float  # batch ÷ TPOT: at least rate × output
    tokens_per_s_per_user: float


def decode_at_load(spec: ModelSpec, gpu: GPU, row, demand_tokens_per_s: float, *, context: int, chunk: int,
                   weights: str | None, kv_dtype: str, dtype: str) -> DecodeAtLoad:
    """The least batch b with b ≥ demand × TPOT(b) on the row's layout (the search's decode point, at its
    sequences' final length): from batch 1, b ← ceil(demand × TPOT(b)) until it stands (TPOT grows with the
    batch, so b only grows); at most the row's batch, which serves the demand."""
    fmt = serving_format(spec, weights, dtype)
    p = _Perf(spec, gpu, row.layout, fmt, fmt.name, kv_dtype, PerfKnobs())
    b, cap = 1, max(1, row.batch or 1)
    for _ in range(200):
        pt = _point(p, "decode", b, context, chunk, 0, None, None)
        need = min(cap, max(1, ceil(demand_tokens_per_s * pt.tpot_ms / 1e3 * (1 - 1e-12))))
        if need <= b:
            break
        b = need
    return DecodeAtLoad(batch=b, tpot_ms=pt.tpot_ms, tokens_per_s=pt.tokens_per_s,
                        tokens_per_s_per_user=pt.tokens_per_s_per_user)


class PDReport(BaseModel):
    """A PD-disaggregated deployment sized for a request rate: a prefill pool and a decode pool."""

    model: str
    request_rate_per_s: float
    input_tokens: int
    output_tokens: int
    prefill: SearchReport  # layouts serving rate × input tokens/s within the TTFT limit
    decode: SearchReport  # layouts serving rate × output tokens/s within the TPOT limit
    # the pair: the best prefill and decode rows of one vendor (engines move KV only between one vendor's
    # GPUs), the vendor whose pair has the fewest GPUs, then the lowest cost
    vendor: str | None = None
    prefill_row: SearchRow | None = None
    decode_row: SearchRow | None = None
    decode_at_load: DecodeAtLoad | None = None  # the pair's decode pool at the request rate
    total_gpus: int | None
    cost_per_hour_usd: float | None
    notes: list[str]


def pd_search(spec: ModelSpec, gpus: list[GPU], *, request_rate: float, input_tokens: int, output_tokens: int,
              max_tpot_ms: float | None = None, max_ttft_ms: float | None = None, weights: str | None = None,
              kv_dtype: str = "bf16", chunk: int = 8192, max_nodes: int = 8, top: int = 10, mtp: bool = False,
              redundant_experts: int = 0, knobs=None, dtype: str = "auto") -> PDReport:
    """Prefill GPUs and decode GPUs sized apart (`plan.search` with speed targets per pool): prefill must serve
    rate × input tokens/s, its TTFT (the prefill of the fewest prompts prefilled together that serve them)
    within `max_ttft_ms`; decode rate × output tokens/s at the largest batch that fits input + output tokens
    per sequence (TPOT within `max_tpot_ms`). Each pool that no layout serves says so in the notes."""
    from .plan import Workload, search

    if not (isfinite(request_rate) and request_rate > 0):
        raise InputError(f"--request-rate {request_rate:g}: must be a positive number of requests per second")
    for opt, v in (("--input", input_tokens), ("--output", output_tokens)):
        if v < 1:
            raise InputError(f"{opt} {v}: must be at least 1 token")
    common = dict(weights=weights, knobs=knobs, max_nodes=max_nodes, mtp=mtp, top=top,
                  redundant_experts=redundant_experts, dtype=dtype)
    report_targets = {"prefill": dict(min_tokens_per_s=request_rate * input_tokens, max_ttft_ms=max_ttft_ms,
                                      phase="prefill"),
                      "decode": dict(min_tokens_per_s=request_rate * output_tokens, max_tpot_ms=max_tpot_ms)}
    pre = search(spec, gpus, Workload(context=input_tokens, batch=1, chunk=chunk, kv_dtype=kv_dtype),
                 targets=SpeedTargets(**report_targets["prefill"]), **common)
    dec = search(spec, gpus, Workload(context=input_tokens + output_tokens, batch=1, chunk=chunk, kv_dtype=kv_dtype),
                 targets=SpeedTargets(**report_targets["decode"]), **common)
    pairs = []
    for vendor, types in _by_vendor(gpus).items():
        names = {g.name for g in types}
        rows = []
        for report, kind in ((pre, "prefill"), (dec, "decode")):
            row = next((r for r in report.results if r.gpu in names), None)
            if row is None and len(report.results) >= top:  # the vendor's best may rank below the rows shown
                again = search(spec, types, report.workload, targets=SpeedTargets(**report_targets[kind]),
                               **{**common, "top": 1})
                row = again.results[0] if again.results else None
            rows.append(row)
        a, b = rows
        if a is not None and b is not None:
            cost = (a.cost_per_hour_usd + b.cost_per_hour_usd
                    if a.cost_per_hour_usd is not None and b.cost_per_hour_usd is not None else None)
            pairs.append((a.gpus + b.gpus, cost is None, cost or 0.0, len(pairs), vendor, a, b, cost))
    notes = [f"prefill pool: {plain_number(request_rate)} requests/s × {input_tokens:,} input tokens; decode pool: "
             f"× {output_tokens:,} output tokens, sequences of {input_tokens + output_tokens:,} tokens (an estimate)",
             "the pair takes both pools from one vendor (engines move the KV cache only between one vendor's GPUs); "
             "a catalog entry without `vendor` pairs only with its own type"]
    long_note = beyond_max_position_note(spec.config, [input_tokens + output_tokens], "--input + --output")
    if long_note:  # as perf --input/--output notes it
        notes.append(long_note)
    # a pool no layout serves says how far off it is (its report's first note), as a search alone prints it
    for kind, r in (("prefill", pre), ("decode", dec)):
        if r.closest:
            notes.append(f"{kind} pool: {r.notes[0]}")
        elif not r.layouts_fitting:
            notes.append(f"{kind} pool: no layout on 1-{max_nodes} nodes fits memory")
    if not pairs:
        notes.append("no layout within --max-nodes meets the targets of both pools on one vendor's GPUs")
        return PDReport(model=spec.name, request_rate_per_s=request_rate, input_tokens=input_tokens,
                        output_tokens=output_tokens, prefill=pre, decode=dec, total_gpus=None, cost_per_hour_usd=None,
                        notes=notes)
    total, _, _, _, vendor, a, b, cost = min(pairs)
    load = decode_at_load(spec, next(g for g in gpus if g.name == b.gpu), b, request_rate * output_tokens,
                          context=input_tokens + output_tokens, chunk=chunk, weights=weights, kv_dtype=kv_dtype,
                          dtype=dtype)
    return PDReport(model=spec.name, request_rate_per_s=request_rate, input_tokens=input_tokens,
                    output_tokens=output_tokens, prefill=pre, decode=dec, vendor=vendor, prefill_row=a, decode_row=b,
                    decode_at_load=load, total_gpus=total, cost_per_hour_usd=cost, notes=notes)


def _by_vendor(gpus: list[GPU]) -> dict[str, list[GPU]]:
    """GPU types by vendor, in catalog order; a type without one stands alone (keyed by its name)."""
    out: dict[str, list[GPU]] = {}
    for g in gpus:
        out.setdefault(g.vendor or f"{g.name} (no vendor)", []).append(g)
    return out
