"""The Python API: `k2calc.load("kimi-k2")` and the same typed reports the CLI renders.

    >>> import k2calc
    >>> m = k2calc.load("kimi-k2")
    >>> m.params().total
    1026408232448
    >>> m.kv(context=131072).bytes_per_token
    70272

Context lengths take ints or the CLI's strings ("128k" = 131072, binary k). Every method returns a
pydantic model (`.model_dump()` gives the JSON the CLI prints with `--format json`).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from .config import ModelSpec, load as _load
from .defaults import DEFAULT_CHUNK, DEFAULT_MEM_FRACTION

if TYPE_CHECKING:  # the analysis modules load on first use, keeping `import k2calc` light
    from .analysis.checkpoint import CheckpointReport
    from .analysis.comparison import CompareReport
    from .explain import Formula
    from .analysis.flops import FlopsReport, TrainingFlops
    from .analysis.kv import KVReport
    from .analysis.params import ParamReport
    from .analysis.perf import PerfReport
    from .analysis.plan import PlanReport, SearchReport
    from .arch.tensors import Tensor


def _context(value: int | str, option: str = "context") -> int:
    from .sizes import parse_context

    return parse_context(str(value), option)


class Model:
    """A loaded, validated model and every analysis of it."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    def __repr__(self) -> str:
        return f"k2calc.Model({self.spec.name!r}, source={self.spec.source!r})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def config(self):
        """The validated `ModelConfig` (Hugging Face field names)."""
        return self.spec.config

    @property
    def arch(self):
        """The normalized architecture (k2calc.arch.description.Architecture) every figure derives from."""
        return self.spec.arch

    @property
    def notes(self) -> list[str]:
        """What the loader wants the user to know (e.g. a vision tower that is not counted)."""
        return self.spec.notes

    @cached_property
    def tensors(self) -> list[Tensor]:
        """Every weight tensor of the checkpoint: the symbolic model all figures derive from."""
        from .arch.tensors import build_tensors

        return build_tensors(self.spec.arch)

    def _context_or_window(self, context: int | str | None) -> int:
        """A context as typed, or the model's context window (the one default rule, `sizes.CONTEXT_RULE`)."""
        from .sizes import context_window

        return context_window([self.spec]) if context is None else _context(context)

    def params(self) -> ParamReport:
        """Total, active and MTP parameters with their breakdowns."""
        from .analysis.params import count_params

        return count_params(self.spec)

    def explain(self) -> list[Formula]:
        """Each parameter figure as a formula over config fields, numbers substituted."""
        from .explain import explain_params

        return explain_params(self.spec.config)

    def flops(self, context: int | str | list[int | str] | None = None, *, phase: str = "decode",
              attention: str | None = None, all_logits: bool = False, mtp: bool = False) -> FlopsReport:
        """Forward FLOPs per token at one or more contexts (`phase` decode or prefill; MLA `attention`
        naive or absorbed, default as serving engines run each phase)."""
        from .analysis.flops import count_flops, parse_form, parse_phase

        contexts = None if context is None else [_context(c) for c in (context if isinstance(context, list)
                                                                        else [context])]
        return count_flops(self.spec, parse_phase(phase), contexts, parse_form(attention), all_logits=all_logits,
                           mtp=mtp)

    def training(self, seq_len: int | str = 4096, train_tokens: int | None = None, *,
                 tokens_per_s: float | None = None, gpus: int | None = None, peak_tflops: float | None = None,
                 gpu: str | None = None, gpu_dtype: str = "bf16") -> TrainingFlops:
        """Training FLOPs per token (3 × forward, with and without MTP), for `train_tokens` in total, and
        MFU from a measured `tokens_per_s` over `gpus` (peak from `peak_tflops` or the catalog's `gpu`)."""
        from .analysis.flops import training_report

        return training_report(self.spec, _context(seq_len, "seq_len"), train_tokens, tokens_per_s=tokens_per_s,
                               gpus=gpus, peak_tflops=peak_tflops, gpu=gpu, gpu_dtype=gpu_dtype)

    def kv(self, context: int | str | list[int | str] | None = None, *, batch: int = 1, kv_dtype: str = "bf16",
           gqa: int | None = None, page_size: int | None = None, mtp: bool = False) -> KVReport:
        """KV-cache bytes per token, per sequence of `context` tokens and per `batch` of them."""
        from .analysis.kv import kv_cache

        contexts = None if context is None else [_context(c) for c in (context if isinstance(context, list) else [context])]
        return kv_cache(self.spec, contexts, kv_dtype=kv_dtype, batch=batch, gqa=gqa, page_size=page_size, mtp=mtp)

    def checkpoint(self, weights: str | None = None) -> CheckpointReport:
        """Checkpoint bytes in the config's weight format, or in `weights` (checkpoint.FORMATS)."""
        from .analysis.checkpoint import checkpoint_report

        return checkpoint_report(self.spec, weights)

    def plan(self, gpu: str, *, gpus: int | None = None, tp: int | None = None, dp_attention: int | None = None,
             ep: int | None = None, pp: int | None = None, redundant_experts: int = 0, mtp: bool = False, context: int | str | None = None, batch: int = 1,
             chunk: int | str = DEFAULT_CHUNK, weights: str | None = None, kv_dtype: str = "bf16",
             mem_fraction: float | None = None, activations_gib: float | None = None,
             overhead_gib: float | None = None, gpu_file: list[str] | None = None, engine: str = "generic",
             max_num_batched_tokens: int | None = None, max_num_seqs: int | None = None,
             block_size: int | None = None, avg_context: int | str | None = None, dtype: str = "auto",
             mm_encoder_tp_mode: str = "weights", language_model_only: bool = False) -> PlanReport:
        """Per-GPU memory of one deployment on tp × dp_attention × pp GPUs, and whether it fits; with
        `engine` (vllm, sglang, trtllm), as that engine accounts it, `mem_fraction` being its fraction flag.
        `gpus` alone means tensor parallelism over all of them (`plan("h200", gpus=8)` is TP8). A multimodal
        model's vision tower as vLLM's `--mm-encoder-tp-mode` places it, or left out (`--language-model-only`)."""
        from .analysis import plan as planlib
        from .hardware import get_gpu

        layout = planlib.default_layout(gpus, tp=tp, dp_attention=dp_attention, ep=ep, pp=pp,
                                        redundant_experts=redundant_experts, mtp=mtp)
        workload = planlib.Workload(context=self._context_or_window(context), batch=batch, chunk=_context(chunk, "chunk"),
                                    kv_dtype=kv_dtype)
        knobs = planlib.knobs(DEFAULT_MEM_FRACTION if mem_fraction is None else mem_fraction, activations_gib,
                              overhead_gib)
        eng = planlib.engine_options(engine, mem_fraction, max_num_batched_tokens, max_num_seqs, block_size)
        avg = None if avg_context is None else _context(avg_context, "avg_context")
        return planlib.plan(self.spec, get_gpu(gpu, gpu_file), layout, workload, weights=weights, knobs=knobs,
                            gpus=gpus, engine=eng, avg_context=avg, dtype=dtype, mm_encoder_tp_mode=mm_encoder_tp_mode,
                            language_model_only=language_model_only)

    def search(self, gpus: list[str] | None = None, *, context: int | str | None = None, batch: int = 1,
               weights: str | None = None, kv_dtype: str = "bf16", max_nodes: int = 8, top: int = 10,
               mtp: bool = False, redundant_experts: int = 0, mem_fraction: float = DEFAULT_MEM_FRACTION,
               gpu_file: list[str] | None = None, dtype: str = "auto") -> SearchReport:
        """The smallest deployments that fit, over the GPU catalog (or the named `gpus`)."""
        from .analysis import plan as planlib
        from .hardware import get_gpu, list_gpus

        # an empty list is an error (no GPU types to search), not the whole catalog
        types = [get_gpu(g, gpu_file) for g in gpus] if gpus is not None else list_gpus(gpu_file)
        workload = planlib.Workload(context=self._context_or_window(context), batch=batch, kv_dtype=kv_dtype)
        return planlib.search(self.spec, types, workload, weights=weights, knobs=planlib.knobs(mem_fraction),
                              max_nodes=max_nodes, mtp=mtp, top=top, redundant_experts=redundant_experts,
                              dtype=dtype)


    def perf(self, gpu: str, *, tp: int = 1, dp_attention: int = 1, ep: int = 1, pp: int = 1,
             redundant_experts: int = 0, phase: str = "decode", batch: int = 1, context: int | str = 4096,
             chunk: int | str = DEFAULT_CHUNK, weights: str | None = None, expert_weights: str | None = None,
             kv_dtype: str = "bf16", mtp: int = 0, acceptance: float | None = None,
             input_tokens: int | str | None = None, output_tokens: int | str | None = None,
             price_per_gpu_hour: float | None = None, overlap: bool = True, gpu_file: list[str] | None = None,
             engine: str | None = None, mem_fraction: float | None = None, max_num_batched_tokens: int | None = None,
             max_num_seqs: int | None = None, block_size: int | None = None, dtype: str = "auto",
             **knobs: float | None) -> PerfReport:
        """Serving speed (an estimate, `k2calc perf`): step time, TPOT/TTFT, tokens/s; `knobs` override the
        defaults by name (compute_efficiency=0.6, layer_latency_us=100, ...); with `engine`, the batch that
        engine's memory accounting holds (`max_batch`, `fits`)."""
        from .analysis import perf as perflib
        from .hardware import get_gpu
        from .analysis.plan import Layout, engine_options

        layout = Layout(tp=tp, dp=dp_attention, pp=pp, ep=ep, redundant_experts=redundant_experts)
        return perflib.perf(
            self.spec, get_gpu(gpu, gpu_file), layout, phase=phase, batch=batch, context=_context(context),
            chunk=_context(chunk, "chunk"), weights=weights, expert_weights=expert_weights, kv_dtype=kv_dtype,
            mtp=mtp, acceptance=acceptance,
            input_tokens=None if input_tokens is None else _context(input_tokens, "input"),
            output_tokens=None if output_tokens is None else _context(output_tokens, "output"),
            price_per_gpu_hour=price_per_gpu_hour, knobs=perflib.perf_knobs(overlap=overlap, **knobs),
            engine=None if engine is None else engine_options(engine, mem_fraction, max_num_batched_tokens,
                                                              max_num_seqs, block_size),
            mem_fraction=mem_fraction, dtype=dtype)


def load(ref: str, set: dict[str, Any] | list[str] | None = None) -> Model:  # noqa: A002 - mirrors --set
    """A preset name ("kimi-k2"), a config.json, a YAML preset file, or a model folder.

    `set` overrides config fields for what-if analysis, validated like the file:
    `load("kimi-k2", set={"n_routed_experts": 512})`. Bad input raises `k2calc.InputError`.
    """
    sets = [f"{k}={'null' if v is None else v}" for k, v in set.items()] if isinstance(set, dict) else set
    return Model(_load(ref, sets))


def compare(*refs: str | Model, contexts: list[int | str] | None = None, kv_dtype: str = "bf16",
            gpu: str | None = None, gpus: int | None = None) -> CompareReport:
    """Two or more models side by side (what `k2calc compare` prints)."""
    from .analysis.comparison import compare as _compare

    specs = [r.spec if isinstance(r, Model) else load(r).spec for r in refs]
    return _compare(specs, [_context(c) for c in contexts] if contexts else None, kv_dtype=kv_dtype, gpu=gpu,
                    gpus=gpus)


def check_file(path: str, *, baseline: str | None = None, gpu_file: list[str] | None = None):
    """`k2calc check` as a function: the CheckReport of a file of deployments (see k2calc/check.py)."""
    from .check import run_check

    return run_check(path, baseline=baseline, gpu_files=gpu_file)
