"""Side by side: two or more models through the very analyses the single-model commands run.

Nothing is computed here that those commands do not compute: each section calls `count_params`,
`count_flops`, `kv_cache`, `checkpoint_report` and `plan.search` per model and lines the results
up, with the difference and ratio against the first model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .checkpoint import WeightFormat
from ..config import ModelSpec
from ..errors import InputError
from .plan import Layout
from ..sizes import format_context

MAX_MODELS = 16  # models side by side: a column each, and every analysis run for each
DEFAULT_SERVE_BATCH = 64  # the serving rows' sequences when --batch is not given

# Fields that are bookkeeping, not architecture: left out of the config section.
_NOT_ARCHITECTURE = {"architectures", "torch_dtype"}


class FieldRow(BaseModel):
    field: str
    values: list[Any]  # raw config values, one per model
    differs: bool


class MetricRow(BaseModel):
    """One figure for every model, with the difference and ratio against the first model."""

    section: str
    key: str  # stable: the figure's key in its own command's JSON ("total", "bytes_per_token", "prefill_4096")
    label: str  # what people read; may change with options ("per token (bf16)")
    unit: str  # "params", "FLOP", "bytes", "tensors"
    values: list[int | float | None]  # float: DeepSeek-V4's growing KV bytes per token (an entry per 4 or 128)
    diff: list[int | float | None]  # value - first model's value
    ratio: list[float | None]  # value / first model's value


class PlanRow(BaseModel):
    model: str
    fits: bool
    layout: Layout | None  # the layout holding the most KV-cache tokens on these GPUs
    layout_label: str | None
    max_batch: int
    kv_tokens: int
    weights: int | None  # bytes per GPU, as plan --search rows and plan's per_gpu name them
    free: int | None  # bytes per GPU


class ServeRow(BaseModel):
    """k2calc perf's decode estimate for a model on the fastest layout holding the batch on these GPUs."""

    model: str
    layout: Layout | None = None  # the layout the figures are for
    layout_label: str | None = None
    batch: int | None  # the batch the figures are for: --batch, at most what fits
    tpot_ms: float | None
    tokens_per_s_per_gpu: float | None
    cost_per_million_tokens_usd: float | None  # per million output tokens (perf's decode point)


class CompareReport(BaseModel):
    models: list[str]
    sources: list[str]
    config: list[FieldRow]  # every architecture field (equal ones too; the table folds them)
    differing_fields: list[str]
    params: list[MetricRow]
    flops: list[MetricRow]
    kv: list[MetricRow]
    checkpoint: list[MetricRow]
    weight_formats: list[WeightFormat]
    weight_format_descriptions: list[str]
    kv_dtype: str
    contexts: list[int]
    plan: list[PlanRow] | None
    plan_target: str | None
    serve: list[ServeRow] | None = None  # with --gpu: decode speed on the plan's layout (an estimate)
    serve_target: str | None = None
    serve_problem: str | None = None  # why there are no serving figures (a catalog field the estimate needs)
    explain: dict[str, list[dict[str, Any]]] | None = None  # model -> params formulas
    notes: list[str]


def _row(section: str, key: str, label: str, unit: str, values: list[int | float | None]) -> MetricRow:
    first = values[0]
    diff = [None if v is None or first is None else v - first for v in values]
    ratio = [None if v is None or not first else round(v / first, 6) for v in values]
    return MetricRow(section=section, key=key, label=label, unit=unit, values=values, diff=diff, ratio=ratio)


def _config_rows(specs: list[ModelSpec]) -> list[FieldRow]:
    from .checkpoint import weight_format

    rows = []
    # The first model's fields in its schema's order, then fields only the other families have.
    fields = dict.fromkeys(f for s in specs for f in type(s.config).field_names())
    for field in fields:
        if field in _NOT_ARCHITECTURE:
            continue
        if field == "quantization_config":
            values = [weight_format(s.config).describe().removesuffix(", from the config") for s in specs]
        else:
            values = [getattr(s.config, field, None) for s in specs]
        rows.append(FieldRow(field=field, values=values, differs=any(v != values[0] for v in values)))
    # Derived counts a reader compares first.
    for name, fn in (("attention", _attention_kinds),
                     ("moe_layers", lambda a: sum(lay.is_moe for lay in a.layers)),
                     ("routed experts (per token)", lambda a: f"{a.n_routed_experts} ({a.num_experts_per_tok})"
                      if a.moe else None),
                     ("shared expert width", lambda a: a.moe.shared_width.value if a.moe and a.moe.shared_width
                      else None),
                     ("sparsity (n_routed_experts / num_experts_per_tok)",
                      lambda a: round(a.n_routed_experts / a.num_experts_per_tok, 2) if a.moe else None)):
        values = [fn(s.arch) for s in specs]
        rows.append(FieldRow(field=name, values=values, differs=any(v != values[0] for v in values)))
    return rows


def _attention_kinds(arch) -> str:
    """The decoder layers' attention kinds with their counts when they differ: 'GQA 16×128, sliding 1024
    (52) + GQA 16×128 (10)'; one kind alone: 'MLA 576 latent'."""
    kinds = [lay.attention.describe() for lay in arch.layers]
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    return kinds[0] if len(counts) == 1 else " + ".join(f"{k} ({n})" for k, n in counts.items())


def compare(specs: list[ModelSpec], contexts: list[int] | None = None, *, kv_dtype: str = "bf16",
            kv_context: int | None = None,
            gpu: str | None = None, gpus: int | None = None, gpu_file: list[str] | None = None,
            explain: bool = False, batch: int | None = None, price_per_gpu_hour: float | None = None) -> CompareReport:
    """Every section for every model; `gpu` and `gpus` together add a memory plan and, on its layout, the
    decode speed at `batch` (default 64) sequences of `kv_context` tokens (k2calc perf; at most the batch that
    fits)."""
    from .checkpoint import checkpoint_report
    from .flops import FlopsModel, Phase, count_flops
    from .kv import beyond_max_position_note, kv_cache
    from .params import count_params
    from .perf import MissingLink, check_price

    if len(specs) > MAX_MODELS:
        raise InputError(f"compare: {len(specs):,} models; at most {MAX_MODELS} side by side (each runs every analysis)")
    from ..sizes import DEFAULT_SWEEP, context_window

    # the one default rule; in a comparison the KV and plan rows follow the longest --context given
    kv_context = kv_context or (max(contexts) if contexts else context_window(specs))
    contexts = contexts or DEFAULT_SWEEP
    names = _unique([s.name for s in specs])
    notes = [f"{s.name}: {n}" for s in specs for n in s.notes]
    for name, s in zip(names, specs):  # the KV and plan rows' sequences, as plan notes it
        long_note = beyond_max_position_note(s.config, [kv_context], "the KV and plan rows' context")
        if long_note:
            notes.append(f"{name}: {long_note}")

    p = [count_params(s) for s in specs]
    params = [_row("params", "total", "total", "params", [r.total for r in p]),
              _row("params", "active", "active per token", "params", [r.active for r in p]),
              _row("params", "mtp", "MTP modules", "params", [r.mtp for r in p])]
    keys = dict.fromkeys(k for r in p for k in r.breakdown)  # a family's own kinds (V4's mHC) too
    params += [_row("params", f"breakdown.{key}", key, "params", [r.breakdown.get(key, 0) for r in p])
               for key in keys]

    flops = []
    models = [FlopsModel(s.arch) for s in specs]  # a model's linear costs, once for both phases
    any_mla = any(s.arch.is_mla for s in specs)
    for phase in (Phase.prefill, Phase.decode):
        reports = [count_flops(s, phase, contexts, model=m) for s, m in zip(specs, models)]
        for i, ctx in enumerate(contexts):
            form = f" ({reports[0].sweep[i].attention_form})" if any_mla else ""  # the form only matters to MLA
            label = f"{phase.value} {format_context(ctx)}{form}"
            flops.append(_row("flops", f"{phase.value}_{ctx}", label, "FLOP", [r.sweep[i].total for r in reports]))
        forms = {r.sweep[0].attention_form for r in reports}
        if len(forms) > 1 and any_mla:
            notes.append(f"{phase.value}: the models default to different MLA forms ({', '.join(sorted(forms))})")

    kv = [kv_cache(s, [kv_context], kv_dtype=kv_dtype) for s in specs]
    kv_dtype = kv[0].dtype if len({r.dtype for r in kv}) == 1 else kv_dtype  # as k2calc names it ("auto" -> bf16)
    kv_rows = [_row("kv", "bytes_per_token", f"per token ({kv_dtype})", "bytes", [r.bytes_per_token for r in kv])]
    if any(r.constant_bytes_per_request for r in kv):  # windows, compressed caches, recurrent states
        kv_rows += [_row("kv", "growing_bytes_per_token", "growing part per token of context", "bytes",
                         [r.growing_bytes_per_token for r in kv]),
                    _row("kv", "constant_bytes_per_request", "constant part per request", "bytes",
                         [r.constant_bytes_per_request for r in kv])]
    kv_rows += [_row("kv", "bytes_per_sequence", f"per {format_context(kv_context)} sequence", "bytes",
                     [r.bytes_per_sequence for r in kv]),
                _row("kv", "mha_bytes_per_token", "MHA would cache per token", "bytes",
                     [r.mha_bytes_per_token for r in kv])]

    ck = [checkpoint_report(s) for s in specs]
    checkpoint = [_row("checkpoint", "total_bytes", "total bytes (own format)", "bytes", [c.total_bytes for c in ck]),
                  _row("checkpoint", "tensors", "tensors", "tensors", [c.tensors for c in ck])]

    plan_rows = plan_target = serve = serve_target = serve_problem = None
    planned = gpu is not None or gpus is not None  # `--gpus 0` is a plan asked for, and a bad one
    if price_per_gpu_hour is not None:
        if not planned:
            raise InputError("--price-per-gpu-hour goes with --gpu and --gpus (the serving rows' cost)")
        check_price(price_per_gpu_hour)
    if batch is not None and not planned:
        raise InputError(f"--batch {batch} goes with --gpu and --gpus (the serving rows' batch)")
    batch = DEFAULT_SERVE_BATCH if batch is None else batch
    if planned:
        plan_rows, plan_target, hits = _plans(specs, names, gpu, gpus, gpu_file, kv_context, kv_dtype)
        serve_target = (f"decode at batch {batch} (at most what fits) × {format_context(kv_context)} tokens on "
                        f"each model's fastest layout on {gpus} GPUs; k2calc perf's estimate")
        try:
            serve = _serve(specs, names, hits, gpu, gpus, gpu_file, kv_context, kv_dtype, batch, price_per_gpu_hour)
        except MissingLink as e:  # the GPU lacks a bandwidth the estimate needs: the other sections stand
            serve, serve_problem = [], str(e)

    config = _config_rows(specs)
    return CompareReport(
        models=names, sources=[s.source for s in specs], config=config,
        differing_fields=[r.field for r in config if r.differs], params=params, flops=flops, kv=kv_rows,
        checkpoint=checkpoint, weight_formats=[c.weight_format for c in ck],
        weight_format_descriptions=[c.weight_format_description for c in ck], kv_dtype=kv_dtype,
        contexts=contexts, plan=plan_rows, plan_target=plan_target, serve=serve, serve_target=serve_target,
        serve_problem=serve_problem,
        explain=_explain(specs, names) if explain else None, notes=notes,
    )


def _plans(specs, names, gpu, gpus, gpu_file, context, kv_dtype) -> tuple[list[PlanRow], str, list]:
    """For each model, the best layout on exactly `gpus` GPUs of type `gpu` (whole nodes), batch 1."""
    from ..errors import InputError
    from ..hardware import get_gpu
    from .plan import MAX_SEARCH_NODES, Workload, search

    if gpu is None or gpus is None:
        raise InputError("a memory plan needs both --gpu NAME and --gpus N")
    g = get_gpu(gpu, gpu_file)
    if gpus >= 1 and gpus % g.gpus_per_node:
        raise InputError(f"--gpus {gpus}: not a whole number of {g.name} nodes ({g.gpus_per_node} GPUs each)")
    nodes = gpus // g.gpus_per_node
    if gpus < 1 or nodes > MAX_SEARCH_NODES:  # checked here, so the message names the option the user gave
        raise InputError(f"--gpus {gpus}: must be 1 to {MAX_SEARCH_NODES} whole nodes of {g.name} "
                         f"(at most {MAX_SEARCH_NODES * g.gpus_per_node:,} GPUs)")
    rows, hits = [], []
    for name, s in zip(names, specs):
        report = search(s, [g], Workload(context=context, batch=1, kv_dtype=kv_dtype), max_nodes=nodes, top=10**6)
        hit = next((r for r in report.results if r.gpus == gpus), None)
        hits.append(hit)
        rows.append(PlanRow(model=name, fits=hit is not None, layout=hit.layout if hit else None,
                            layout_label=hit.layout_label if hit else None,
                            max_batch=hit.max_batch if hit else 0, kv_tokens=hit.kv_tokens if hit else 0,
                            weights=hit.weights if hit else None, free=hit.free if hit else None))
    target = f"{gpus}×{g.name}, one {format_context(context)} sequence at least, own weight format, KV {kv_dtype}"
    return rows, target, hits


def _serve(specs, names, hits, gpu, gpus, gpu_file, context, kv_dtype, batch, price) -> list[ServeRow]:
    """Per model, decode TPOT, tokens/s per GPU and cost per million output tokens on the layout of `gpus` GPUs
    serving the most tokens/s at `batch` sequences of `context` tokens (plan.search with no speed limit);
    when no layout holds that batch, the fastest at the batch the memory plan's layout holds."""
    from ..hardware import get_gpu
    from .perf import SpeedTargets, perf
    from .plan import Workload, search

    g = get_gpu(gpu, gpu_file)
    rows = []
    for name, s, hit in zip(names, specs, hits):
        if hit is None or hit.max_batch < 1:
            rows.append(ServeRow(model=name, batch=None, tpot_ms=None, tokens_per_s_per_gpu=None,
                                 cost_per_million_tokens_usd=None))
            continue
        def fastest(b: int):
            fast = search(s, [g], Workload(context=context, batch=b, kv_dtype=kv_dtype),
                          max_nodes=gpus // g.gpus_per_node, top=10**6, targets=SpeedTargets(fastest=True))
            return next((r for r in fast.results if r.gpus == gpus), None)

        b = batch
        row = fastest(b)
        if row is None:  # no layout holds --batch: the fastest at the batch the memory plan holds
            b = min(batch, hit.max_batch)
            row = fastest(b)
        layout = row.layout if row is not None else hit.layout
        r = perf(s, g, layout, batch=b, context=context, kv_dtype=kv_dtype, price_per_gpu_hour=price)
        rows.append(ServeRow(model=name, layout=layout, layout_label=layout.label(), batch=b, tpot_ms=r.tpot_ms,
                             tokens_per_s_per_gpu=r.tokens_per_s_per_gpu,
                             cost_per_million_tokens_usd=r.cost_per_million_tokens_usd))
    return rows


def _explain(specs: list[ModelSpec], names: list[str]) -> dict[str, list[dict[str, Any]]]:
    from ..explain import explain_params

    return {name: [f.__dict__ for f in explain_params(s.config)] for name, s in zip(names, specs)}


def _unique(names: list[str]) -> list[str]:
    """The same model twice stays two columns: 'kimi-k2', 'kimi-k2 (2)'."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out

