"""`k2calc check FILE.yaml`: a file of named deployments and what each must satisfy, for CI.

The file (YAML, safe-loaded) has `defaults` (any deployment key, merged under each deployment; `workload`
and `require` merge key by key) and `deployments`, each with the words of `plan`: name, model (preset,
HF repo id, config path relative to the file, or NAME@field=value), gpu, gpus, tp, dp_attention, ep,
pp, redundant_experts, mtp, weights, dtype, kv_dtype, engine, mem_fraction (the engine's fraction flag), the
engine flags max_num_batched_tokens / max_num_seqs / block_size, `workload` {context, batch, chunk,
avg_context, and for the serving requirements input, output, acceptance, price_per_gpu_hour: `perf`'s
words} and `require` {fits, min_kv_tokens, min_batch_at_context, min_requests_at_avg_context, max_tpot_ms,
max_ttft_ms, min_tokens_per_s_per_gpu, max_cost_per_mtok}. `mtp` is true (load the MTP layers) or N
(also decode with N draft tokens at workload.acceptance, which the serving requirements then need,
as `perf --mtp N --acceptance A`). `workload.context` is the sequences' length the
memory plan holds; with `input`/`output` it defaults to input + output (their final length) and may not be
shorter. Requirement keys are the file's words (limits a person types), not output keys: each one's
actual is the output key named below.
Validation is strict (unknown key, wrong type, impossible layout, a limit no deployment can meet or that
always passes: one line naming file, deployment, key, value; exit 2). Each deployment is planned with
`plan.plan`; each requirement becomes one result row. A previous run's JSON (`--baseline`) gives what moved.

Serving requirements are estimates from `perf.perf` (the serving model) for the deployment's model, GPU,
layout and workload; the actual of each is the key of the same name in `k2calc perf --format json`:
- without `input`/`output`: max_tpot_ms, min_tokens_per_s_per_gpu and max_cost_per_mtok from
  `perf --batch B --context C` (the decode step: output tokens over the step time, and their cost),
  max_ttft_ms from `perf --phase prefill --batch B --context C` (the batch's prompts of C tokens);
- with `input`/`output`: all four from `perf --input I --output O --batch B`: mean TPOT, TTFT (the batch's;
  with DP attention one prompt's), output tokens/s per GPU over the batch's prefill + decode time (not the
  decode rate alone), and the cost of a million output tokens for all that GPU time.
A serving requirement also fails when the deployment cannot hold the workload's batch in memory (the plan's
verdict, as its engine accounts it): a speed at a batch that does not fit is not served.
"""

from __future__ import annotations

import re
from math import isfinite
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin
from xml.sax.saxutils import quoteattr

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from .errors import InputError, suggest
from .inputs import MAX_INDEX_BYTES, clip, echo, parse_json, read_text, show_path, user_path
from .analysis.plan import Layout, PerGPU

SERVING_KEYS = ("max_tpot_ms", "max_ttft_ms", "min_tokens_per_s_per_gpu", "max_cost_per_mtok")
Context = StrictInt | StrictStr  # 131072 or "128k"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class WorkloadSpec(_Strict):
    context: Context | None = None  # required without input/output; with them, input + output by default
    batch: StrictInt = 1
    chunk: Context | None = None
    avg_context: Context | None = None
    # the serving requirements' workload, as `perf`'s options
    input: Context | None = None
    output: Context | None = None
    acceptance: StrictFloat | StrictInt | None = None
    price_per_gpu_hour: StrictFloat | StrictInt | None = None


class Require(_Strict):
    fits: StrictBool | None = None
    min_kv_tokens: StrictInt | None = None
    min_batch_at_context: StrictInt | None = None
    min_requests_at_avg_context: StrictInt | None = None
    # Serving requirements: estimates from k2calc/analysis/perf.py (see _serving).
    max_tpot_ms: StrictFloat | StrictInt | None = None
    max_ttft_ms: StrictFloat | StrictInt | None = None
    min_tokens_per_s_per_gpu: StrictFloat | StrictInt | None = None
    max_cost_per_mtok: StrictFloat | StrictInt | None = None


class Deployment(_Strict):
    name: StrictStr = Field(min_length=1)
    model: StrictStr = Field(min_length=1)
    gpu: StrictStr
    gpus: StrictInt | None = None
    tp: StrictInt = 1
    dp_attention: StrictInt = 1
    ep: StrictInt = 1
    pp: StrictInt = 1
    redundant_experts: StrictInt = 0
    mtp: StrictBool | StrictInt = False  # true: load the MTP layers; N: also decode with N draft tokens
    weights: StrictStr | None = None
    dtype: StrictStr = "auto"  # --dtype: the dtype the engine serves unquantized weights in
    kv_dtype: StrictStr = "bf16"
    engine: StrictStr = "generic"
    mem_fraction: StrictFloat | None = None
    max_num_batched_tokens: StrictInt | None = None
    max_num_seqs: StrictInt | None = None
    block_size: StrictInt | None = None
    workload: WorkloadSpec
    require: Require = Require()


class _File(_Strict):
    defaults: dict[str, Any] = {}
    deployments: list[dict[str, Any]] = Field(min_length=1)


# ---------------------------------------------------------------------------------------------------
# Results


class RequirementResult(BaseModel):
    deployment: str
    requirement: str
    required: Any
    actual: Any
    passed: bool
    detail: str = ""  # for `fits`: the plan's one-line reason


class DeploymentResult(BaseModel):
    """The figures of one deployment a later run compares against (`--baseline`)."""

    name: str
    model: str
    gpu: str
    layout: Layout  # the same object `plan` reports (JSON vocabulary)
    layout_label: str
    engine: str
    fits: bool
    kv_tokens: int
    max_batch: int
    requests_at_avg_context: int | None
    per_gpu: PerGPU  # the same object `plan` reports (bytes per GPU; `used` is what nvidia-smi would show)
    reason: str
    # serving estimates (k2calc perf, the same keys), present when a requirement asks for them
    tpot_ms: float | None = None
    ttft_ms: float | None = None
    tokens_per_s_per_gpu: float | None = None
    cost_per_million_tokens_usd: float | None = None


class BaselineRow(BaseModel):
    """What `moved` compares of a `--baseline` deployment. Only these keys are read, so a JSON of an earlier
    release (`used_per_gpu`, `cost_per_mtok`, no serving keys) still loads."""

    name: str
    fits: bool
    kv_tokens: int
    max_batch: int
    requests_at_avg_context: int | None = None
    tpot_ms: float | None = None
    ttft_ms: float | None = None
    tokens_per_s_per_gpu: float | None = None
    cost_per_million_tokens_usd: float | None = Field(
        None, validation_alias=AliasChoices("cost_per_million_tokens_usd", "cost_per_mtok"))


class CheckReport(BaseModel):
    file: str
    passed: bool
    results: list[RequirementResult]
    deployments: list[DeploymentResult]
    failures: list[str]  # one line per failed requirement
    moved: list[str]  # what changed since --baseline (empty without it)


# ---------------------------------------------------------------------------------------------------
# Loading


def _where(path: Path, name: str | None) -> str:
    return f"{path}: deployment {name}" if name else f"{path}"


def _expected(model: type[BaseModel], key: str) -> str:
    """What a key of the file takes, in the words of the error line ("a whole number")."""
    if key == "mem_fraction":
        return "a fraction such as 0.9"
    if key == "name" or key == "model":
        return "a non-empty string"
    field = model.model_fields.get(key)
    if field is None or key in ("workload", "require", "defaults"):
        return "a mapping of keys"
    if key == "deployments":
        return "a list of deployments (at least one)"
    # StrictInt is Annotated[int, Strict()]: pydantic unwraps a bare one, not one inside `| None`
    kinds = {get_args(a)[0] if get_origin(a) is Annotated else a
             for a in (get_args(field.annotation) or (field.annotation,)) if a is not type(None)}
    for want, text in (({int, str}, "a token count (131072 or '128k')"), ({int}, "a whole number"),
                       ({float, int}, "a number"), ({float}, "a number"), ({bool}, "true or false"),
                       ({bool, int}, "true, false or a number of draft tokens"), ({str}, "a string")):
        if kinds == want:
            return text
    return "a value of another type"


def _validation_line(path: Path, name: str | None, e: ValidationError) -> InputError:
    """pydantic's first error as k2calc's one line: where, the key, the value, what the key takes."""
    err = e.errors(include_url=False)[0]
    # the key's path in the file: the field, and under workload/require the sub-field (pydantic appends the
    # union member it tried, "price_per_gpu_hour.float", which is no key of the file)
    loc = [str(p) for p in err["loc"]]
    model: type[BaseModel] = _File if name is None else Deployment
    if name is not None and len(loc) > 1 and loc[0] in ("workload", "require"):
        model, loc = {"workload": WorkloadSpec, "require": Require}[loc[0]], loc[:2]
    else:
        loc = loc[:1]
    key, last = ".".join(loc), loc[-1]
    if err["type"] == "extra_forbidden":
        return InputError(f"{_where(path, name)}: unknown key {key!r}{suggest(last, list(model.model_fields))}")
    if err["type"] == "missing":
        return InputError(f"{_where(path, name)}: {key}: required key is missing")
    return InputError(f"{_where(path, name)}: {key} {echo(err['input'])}: must be {_expected(model, last)}")


def load_check_file(path: str | Path) -> list[Deployment]:
    """The deployments of a check file, defaults merged, validated strictly."""
    from .config import read_mapping

    path = user_path(path)
    raw = read_mapping(path, "check file")
    unknown = [k for k in raw if k not in ("defaults", "deployments")]
    if unknown:
        k = clip(str(unknown[0]))
        raise InputError(f"{path}: unknown top-level key {k!r}{suggest(k, ['defaults', 'deployments'])} "
                         "(a check file has `defaults` and `deployments`)")
    try:
        f = _File.model_validate(raw)
    except ValidationError as e:
        raise _validation_line(path, None, e) from None
    if "name" in f.defaults:
        raise InputError(f"{path}: defaults: name: each deployment names itself")
    out: list[Deployment] = []
    seen: set[str] = set()
    for i, d in enumerate(f.deployments):
        name = d.get("name") if isinstance(d, dict) else None
        label = clip(name, 80) if isinstance(name, str) else f"#{i + 1}"
        if not isinstance(d, dict):
            raise InputError(f"{path}: deployment {label}: expected a mapping of keys, got {echo(d)}")
        merged = {**f.defaults, **d}
        for sub in ("workload", "require"):
            base, own = f.defaults.get(sub), d.get(sub)
            if isinstance(base, dict) and isinstance(own, dict):
                merged[sub] = {**base, **own}
        try:
            dep = Deployment.model_validate(merged)
        except ValidationError as e:
            raise _validation_line(path, label, e) from None
        if dep.name in seen:
            raise InputError(f"{path}: deployment {dep.name}: name: used twice")
        seen.add(dep.name)
        own = d.get("workload") if isinstance(d.get("workload"), dict) else {}
        _check_serving_inputs(path, dep, set(own))
        _check_limits(path, dep)
        out.append(_with_context(path, dep))
    return out


# A requirement whose limit no deployment meets, or that every deployment passes, is a slip in the file
# (`max_tpot_ms: -3`, `min_kv_tokens: 0`), refused as `plan --search --max-tpot-ms -5` is.
_COUNTS = ("min_kv_tokens", "min_batch_at_context", "min_requests_at_avg_context")


def _check_limits(path: Path, dep: Deployment) -> None:
    """Each limit of `require` is a positive number (finite; counts at least 1)."""
    for key in (*_COUNTS, *SERVING_KEYS):
        v = getattr(dep.require, key)
        if v is None:
            continue
        if key in _COUNTS and v < 1:
            raise InputError(f"{_where(path, dep.name)}: require.{key} {echo(v)}: must be at least 1 "
                             "(a count of 0 or less always passes)")
        if not (v > 0 and (isinstance(v, int) or isfinite(v))):  # NaN compares false; .inf fails isfinite
            raise InputError(f"{_where(path, dep.name)}: require.{key} {echo(v)}: must be a positive number")


def _with_context(path: Path, dep: Deployment) -> Deployment:
    """The deployment with `workload.context` set: the memory plan holds sequences of that many tokens.
    With `input`/`output` it defaults to input + output (the sequences' final length) and may not be shorter
    (a plan at a shorter context would hold a batch the serving workload overflows)."""
    from .sizes import format_context, parse_context

    w, where = dep.workload, _where(path, dep.name)
    if w.input is None:
        if w.context is None:
            raise InputError(f"{where}: workload.context: required key is missing (or give workload.input and "
                             "workload.output)")
        return dep
    try:
        i, o = parse_context(str(w.input), "--input"), parse_context(str(w.output), "--output")
        context = None if w.context is None else parse_context(str(w.context))
    except InputError as e:
        raise InputError(f"{where}: {_as_key(str(e))}") from None
    if context is None:
        return dep.model_copy(update={"workload": w.model_copy(update={"context": i + o})})
    if context < i + o:
        raise InputError(f"{where}: workload.context {echo(w.context)}: shorter than input + output "
                         f"({format_context(i)} + {format_context(o)} = {format_context(i + o)} tokens, the sequences' "
                         "final length); raise it or leave it out")
    return dep


def _check_serving_inputs(path: Path, dep: Deployment, own_workload: set[str]) -> None:
    """What the serving requirements need beyond the schema (the values themselves `perf` checks).
    `own_workload`: the deployment's own workload keys (a serving key in `defaults` may serve only some)."""
    w, where = dep.workload, _where(path, dep.name)
    if (w.input is None) != (w.output is None):
        raise InputError(f"{where}: workload.input and workload.output go together (got only "
                         f"{'input' if w.output is None else 'output'})")
    if not isinstance(dep.mtp, bool) and dep.mtp < 0:
        raise InputError(f"{where}: mtp: {echo(dep.mtp)}: true, false or a number of draft tokens (0 or more)")
    if w.acceptance is not None and (isinstance(dep.mtp, bool) or dep.mtp == 0):
        raise InputError(f"{where}: workload.acceptance: {echo(w.acceptance)}: needs mtp: N (draft tokens per step)")
    serving = any(getattr(dep.require, k) is not None for k in SERVING_KEYS)
    if serving and not isinstance(dep.mtp, bool) and dep.mtp > 0 and w.acceptance is None:
        # perf would take every draft token as rejected (slower than no MTP) and only `perf` prints that note
        raise InputError(f"{where}: mtp: {dep.mtp} needs workload.acceptance (the share of draft tokens accepted) "
                         "for the serving requirements; without it every draft token would be rejected")
    for key in ("input", "output", "acceptance", "price_per_gpu_hour"):
        if key in own_workload and not any(getattr(dep.require, k) is not None for k in SERVING_KEYS):
            raise InputError(f"{where}: workload.{key}: only the serving requirements ({', '.join(SERVING_KEYS)}) "
                             "use it")


# ---------------------------------------------------------------------------------------------------
# Running


def _model(path: Path, ref: str):
    from .config import is_existing_path, load

    base, at, tail = ref.partition("@")
    local = path.parent / base
    if not Path(base).is_absolute() and is_existing_path(local):
        ref = str(local) + at + tail
    return load(ref)


def _plan(path: Path, dep: Deployment, spec, gpu_files: list[str] | None):
    from .hardware import get_gpu
    from .analysis.plan import engine_options, layout_from_options, parse_avg_context, plan

    w = dep.workload
    try:
        layout, workload, knobs = layout_from_options(
            tp=dep.tp, dp_attention=dep.dp_attention, ep=dep.ep, pp=dep.pp, redundant_experts=dep.redundant_experts,
            mtp=bool(dep.mtp), context=str(w.context), batch=w.batch,
            **({"chunk": str(w.chunk)} if w.chunk is not None else {}), kv_dtype=dep.kv_dtype,
            **({"mem_fraction": dep.mem_fraction} if dep.mem_fraction is not None else {}))
        engine = engine_options(dep.engine, dep.mem_fraction, dep.max_num_batched_tokens, dep.max_num_seqs,
                                dep.block_size)
        avg = parse_avg_context(None if w.avg_context is None else str(w.avg_context))
        return plan(spec, get_gpu(dep.gpu, gpu_files), layout, workload, weights=dep.weights, knobs=knobs,
                    gpus=dep.gpus, engine=engine, avg_context=avg, dtype=dep.dtype)
    except InputError as e:
        raise InputError(f"{_where(path, dep.name)}: {_as_key(str(e))}") from None


def _serving(path: Path, dep: Deployment, spec, r, gpu_files: list[str] | None) -> dict[str, float | None]:
    """The serving figures the deployment's requirements ask for, from `perf.perf` (see the module docstring):
    {requirement key: actual}."""
    from .hardware import get_gpu
    from .analysis.perf import perf
    from .analysis.plan import default_layout
    from .sizes import parse_context

    req, w = dep.require, dep.workload
    asked = [k for k in SERVING_KEYS if getattr(req, k) is not None]
    if not asked:
        return {}
    try:
        layout = default_layout(tp=dep.tp, dp_attention=dep.dp_attention, ep=dep.ep, pp=dep.pp,
                                redundant_experts=dep.redundant_experts)
        gpu = get_gpu(dep.gpu, gpu_files)
        common = dict(batch=w.batch, context=r.workload.context, chunk=r.workload.chunk, weights=dep.weights,
                      dtype=dep.dtype, kv_dtype=dep.kv_dtype, mtp=0 if isinstance(dep.mtp, bool) else dep.mtp,
                      acceptance=None if w.acceptance is None else float(w.acceptance),
                      price_per_gpu_hour=None if w.price_per_gpu_hour is None else float(w.price_per_gpu_hour),
                      gpus=dep.gpus)
        if w.input is not None:
            dec = pre = perf(spec, gpu, layout, input_tokens=parse_context(str(w.input), "--input"),
                             output_tokens=parse_context(str(w.output), "--output"), **common)
        else:
            dec = perf(spec, gpu, layout, **common) if set(asked) - {"max_ttft_ms"} else None
            pre = perf(spec, gpu, layout, phase="prefill", **common) if "max_ttft_ms" in asked else None
    except InputError as e:
        raise InputError(f"{_where(path, dep.name)}: {_as_key(str(e))}") from None
    if "max_cost_per_mtok" in asked and dec.cost_per_million_tokens_usd is None:
        raise InputError(f"{_where(path, dep.name)}: require.max_cost_per_mtok needs workload.price_per_gpu_hour "
                         f"(the GPU catalog has no price for {gpu.name})")
    return {k: v for k, v in (("max_tpot_ms", dec and dec.tpot_ms), ("max_ttft_ms", pre and pre.ttft_ms),
                              ("min_tokens_per_s_per_gpu", dec and dec.tokens_per_s_per_gpu),
                              ("max_cost_per_mtok", dec and dec.cost_per_million_tokens_usd)) if k in asked}


_WORKLOAD_OPTIONS = {"context", "batch", "chunk", "avg_context", "input", "output", "acceptance",
                     "price_per_gpu_hour"}


def _as_key(message: str) -> str:
    """A plan message names the command-line option ("--tp 7: ..."); in a check file it is the key ("tp 7: ...")."""
    m = re.match(r"--([a-z][a-z-]*)", message)
    if not m:
        return message
    key = m.group(1).replace("-", "_")
    return ("workload." if key in _WORKLOAD_OPTIONS else "") + key + message[m.end():]


def _results(dep: Deployment, r, serving: dict[str, float | None]) -> list[RequirementResult]:
    req, out = dep.require, []

    def add(name: str, required, actual, passed: bool, detail: str = "") -> None:
        out.append(RequirementResult(deployment=dep.name, requirement=name, required=required, actual=actual,
                                     passed=passed, detail=detail))

    if req.fits is not None:
        add("fits", req.fits, r.fits, r.fits == req.fits, r.reason)
    if req.min_kv_tokens is not None:
        add("min_kv_tokens", req.min_kv_tokens, r.kv_tokens, r.kv_tokens >= req.min_kv_tokens)
    if req.min_batch_at_context is not None:
        add("min_batch_at_context", req.min_batch_at_context, r.max_batch, r.max_batch >= req.min_batch_at_context)
    if req.min_requests_at_avg_context is not None:
        got = r.concurrency.sequences_at_avg_context
        if got is None:
            raise InputError(f"deployment {dep.name}: require.min_requests_at_avg_context needs workload.avg_context")
        add("min_requests_at_avg_context", req.min_requests_at_avg_context, got, got >= req.min_requests_at_avg_context)
    for key, actual in serving.items():
        required = getattr(req, key)
        ok = actual >= required if key.startswith("min_") else actual <= required
        # a speed at a batch the deployment cannot hold is not served
        detail = "an estimate (k2calc perf)" if r.fits else f"the batch does not fit: {r.reason.removeprefix('does not fit: ')}"
        add(key, required, actual, ok and r.fits, detail)
    return out


def _num(v: float) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}"


def _failure_line(x: RequirementResult) -> str:
    if x.requirement == "fits":
        return f"{x.deployment}: " + (x.detail if x.required else f"required not to fit, but {x.detail}")
    bound = "at most" if x.requirement.startswith("max_") else "at least"
    line = f"{x.deployment}: {x.requirement}: required {bound} {_num(x.required)}, got {_num(x.actual)}"
    if x.detail.startswith("the batch does not fit"):
        line += f" ({x.detail})"
    return line


def run_check(path: str | Path, *, baseline: str | Path | None = None, gpu_files: list[str] | None = None
              ) -> CheckReport:
    """Plan every deployment of the file and test its requirements; with `baseline`, what moved."""
    path = Path(path)
    deps = load_check_file(path)
    old = _load_baseline(Path(baseline)) if baseline is not None else None
    results, summaries = [], []
    for dep in deps:
        try:
            spec = _model(path, dep.model)
        except InputError as e:
            raise InputError(f"{_where(path, dep.name)}: {_as_key(str(e))}") from None
        r = _plan(path, dep, spec, gpu_files)
        serving = _serving(path, dep, spec, r, gpu_files)
        results += _results(dep, r, serving)
        c = r.concurrency
        summaries.append(DeploymentResult(
            name=dep.name, model=r.model, gpu=r.gpu, layout=r.layout, layout_label=r.layout_label, engine=r.engine, fits=r.fits,
            kv_tokens=r.kv_tokens, max_batch=r.max_batch,
            requests_at_avg_context=c.sequences_at_avg_context if c else None, per_gpu=r.per_gpu,
            reason=r.reason, tpot_ms=serving.get("max_tpot_ms"), ttft_ms=serving.get("max_ttft_ms"),
            tokens_per_s_per_gpu=serving.get("min_tokens_per_s_per_gpu"),
            cost_per_million_tokens_usd=serving.get("max_cost_per_mtok")))
    failures = [_failure_line(x) for x in results if not x.passed]
    return CheckReport(file=str(path), passed=not failures, results=results, deployments=summaries, failures=failures,
                       moved=moved(old, summaries) if old is not None else [])


# ---------------------------------------------------------------------------------------------------
# Baseline


def _load_baseline(path: Path) -> list[BaselineRow]:
    path = user_path(path, "--baseline ")
    data = parse_json(read_text(path, "baseline file", MAX_INDEX_BYTES), f"--baseline {show_path(path)}")
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
        raise InputError(f"--baseline {path}: no `deployments` list (expected `k2calc check --format json` output)")
    try:
        return [BaselineRow.model_validate(d) for d in data["deployments"]]
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"--baseline {path}: deployments: {loc}: {err['msg']}") from None


_SERVING_MOVES = (("tpot_ms", "TPOT", "ms"), ("ttft_ms", "TTFT", "ms"),
                  ("tokens_per_s_per_gpu", "tokens/s per GPU", ""),
                  ("cost_per_million_tokens_usd", "cost per million tokens", "USD"))


def _pct(old: float, new: float) -> str:
    """A relative move: whole percents from 1%, one decimal below, `<0.1%` for a smaller nonzero change
    (an exact count that moved by a few tokens never reads −0%)."""
    if old == 0:
        return "from 0"
    p = (new - old) / old * 100
    a = abs(p)
    text = f"{a:.0f}%" if a >= 1 else f"{a:.1f}%" if a >= 0.05 else "<0.1%"
    return f"{'+' if p > 0 else '−'}{text}"


def moved(old: list[BaselineRow], new: list[DeploymentResult]) -> list[str]:
    """One line per change since the baseline: verdicts, KV tokens, batch, requests, serving estimates
    ("TPOT +8%"), deployments."""
    before = {d.name: d for d in old}
    out = []
    for d in new:
        b = before.pop(d.name, None)
        if b is None:
            out.append(f"{d.name}: new deployment")
            continue
        if b.fits and not d.fits:
            out.append(f"{d.name}: no longer fits")
        elif d.fits and not b.fits:
            out.append(f"{d.name}: now fits")
        if d.kv_tokens != b.kv_tokens:
            out.append(f"{d.name}: KV tokens {_pct(b.kv_tokens, d.kv_tokens)} ({b.kv_tokens:,} -> {d.kv_tokens:,})")
        if d.max_batch != b.max_batch:
            out.append(f"{d.name}: max batch at context {b.max_batch:,} -> {d.max_batch:,}")
        if d.requests_at_avg_context != b.requests_at_avg_context and None not in (d.requests_at_avg_context,
                                                                                 b.requests_at_avg_context):
            out.append(f"{d.name}: requests at the average context {b.requests_at_avg_context:,} -> "
                       f"{d.requests_at_avg_context:,}")
        for key, label, unit in _SERVING_MOVES:
            old_v, new_v = getattr(b, key), getattr(d, key)
            # estimates are floats: a change under half a percent is noise of the model, not a move
            if None not in (old_v, new_v) and old_v != new_v and (old_v == 0 or abs(new_v - old_v) >= 0.005 * abs(old_v)):
                out.append(f"{d.name}: {label} {_pct(old_v, new_v)} ({_num(old_v)} -> {_num(new_v)}"
                           f"{' ' + unit if unit else ''})")
    out += [f"{name}: removed" for name in before]
    return out


# ---------------------------------------------------------------------------------------------------
# CI formats


def junit_xml(r: CheckReport) -> str:
    """JUnit XML: one test suite, one test case per deployment and requirement."""
    fails = sum(not x.passed for x in r.results)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites name="k2calc check" tests="{len(r.results)}" failures="{fails}">',
             f'  <testsuite name={quoteattr(r.file)} tests="{len(r.results)}" failures="{fails}">']
    for x in r.results:
        head = f'    <testcase classname={quoteattr(x.deployment)} name={quoteattr(x.requirement)}'
        if x.passed:
            lines.append(head + "/>")
        else:
            msg = _failure_line(x)
            lines += [head + ">", f"      <failure message={quoteattr(msg)}>required {x.required}, actual "
                      f"{x.actual}</failure>", "    </testcase>"]
    lines += ["  </testsuite>", "</testsuites>", ""]
    return "\n".join(lines)


def github_annotations(r: CheckReport) -> list[str]:
    """GitHub Actions workflow commands: an error per failed requirement, a notice per change since baseline."""

    def esc(s: str) -> str:
        return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    out = [f"::error file={r.file},title=k2calc check::{esc(line)}" for line in r.failures]
    out += [f"::notice file={r.file},title=k2calc capacity::{esc(line)}" for line in r.moved]
    return out
