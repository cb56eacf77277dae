"""Plots of already-computed reports, written to PNG, SVG or PDF with matplotlib (the optional `plot` extra).

Every plotted number comes from a report the other commands print (`kv_cache`, `count_flops`, `plan`,
`count_params`); nothing here recomputes a formula. matplotlib is imported inside the functions, never
when k2calc is imported, and only through `matplotlib.figure.Figure`: no pyplot, no GUI backend, no
global state, no network. Without matplotlib, `InputError` says how to install it.

Kinds:
- `kv`: KV-cache GiB per sequence (or per batch) vs context, one line per model.
- `flops`: forward FLOPs per token vs context, linear layers and attention, per model.
- `memory`: per-GPU memory of a plan as a stacked bar per model (weights, KV cache, activations,
  overhead, free), with the budget and the GPU's memory as lines.
- `params`: each component's share of the parameters, all and active per token, a stacked bar per model.
- `perf`: the throughput-latency curve of a `k2calc perf --sweep`: tokens/s per GPU against tokens/s per
  user, one line per model, each point labelled with its batch (or context).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InputError
from .render import GIB
from .sizes import format_context

KINDS = ("kv", "flops", "memory", "params", "perf")
DEFAULT_PERF_SWEEP = "batch=1,4,16,64,256,1024"
# Model names and labels are shown as typed: a "$" in a file name must not start matplotlib's mathtext.
# Tick labels must then be plain too: matplotlib's log and offset labels are mathtext ("$\mathdefault{10^{0}}$").
LITERAL_TEXT = {"text.parse_math": False, "text.usetex": False, "axes.formatter.use_mathtext": False}
SUFFIXES = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
INSTALL_HINT = 'plotting needs matplotlib: pip install "k2calc[plot]"  (or: pip install ".[plot]" in the source tree)'
GFLOP = 10**9

# Stacked memory parts: (PerGPU field, label, colour).
MEMORY_PARTS = [("weights", "weights", "#4C72B0"), ("kv_cache", "KV cache", "#DD8452"),
                ("activations", "activations", "#55A868"), ("overhead", "runtime overhead", "#8172B3")]
FREE_COLOUR = "#D9D9D9"




def reports_for(kind: str, specs: list, *, context: str | None = None, kv_dtype: str = "bf16", batch: int = 1,
                phase: str = "decode", attention: str | None = None, gpu: str | None = None, gpus: int | None = None,
                tp: int | None = None, dp_attention: int | None = None, ep: int | None = None, pp: int | None = None,
                weights: str | None = None, mem_fraction: float | None = None, gpu_file: list[str] | None = None,
                sweep: str | None = None, redundant_experts: int = 0) -> list[Any]:
    """The reports a plot of `kind` draws, one per model, from the analyses the other commands run."""
    from .errors import suggest
    from .sizes import PLOT_SWEEP, parse_contexts

    if kind not in KINDS:
        raise InputError(f"unknown plot kind {kind!r}: use one of {', '.join(KINDS)}{suggest(kind, KINDS)}")
    if kind == "kv":
        from .analysis.kv import kv_cache

        contexts = PLOT_SWEEP if context is None else parse_contexts(context)  # "" is an error
        return [kv_cache(s, contexts, kv_dtype=kv_dtype, batch=batch) for s in specs]
    if kind == "flops":
        from .analysis.flops import count_flops, parse_form, parse_phase

        contexts = PLOT_SWEEP if context is None else parse_contexts(context)  # "" is an error
        return [count_flops(s, parse_phase(phase), contexts, parse_form(attention)) for s in specs]
    if kind == "perf":
        from .analysis import perf as perflib
        from .hardware import get_gpu
        from .analysis.plan import default_layout
        from .sizes import parse_context

        if not gpu:
            raise InputError("plot perf: --gpu is required (see `k2calc gpus`)")
        if context and "," in context:
            raise InputError(f"--context {context}: plot perf takes one context length (sweep with --sweep)")
        layout = default_layout(gpus, tp=tp, dp_attention=dp_attention, ep=ep, pp=pp,
                                redundant_experts=redundant_experts)
        gpu_type = get_gpu(gpu, gpu_file)
        axis = perflib.parse_sweep(DEFAULT_PERF_SWEEP if sweep is None else sweep)
        reports = []
        for s in specs:
            try:
                reports.append(perflib.perf(s, gpu_type, layout, phase=phase, batch=batch,
                                            context=parse_context(context or "4k"), weights=weights,
                                            kv_dtype=kv_dtype, sweep=axis, gpus=gpus))
            except InputError as e:
                raise InputError(f"{s.name}: {e}") from None
        return reports
    if kind == "memory":
        from .analysis import plan as planlib
        from .hardware import get_gpu

        if not gpu:
            raise InputError("plot memory: --gpu is required (see `k2calc gpus`)")
        if context and "," in context:
            raise InputError(f"--context {context}: plot memory takes one context length (e.g. 128k)")
        options = {} if mem_fraction is None else {"mem_fraction": mem_fraction}
        layout, workload, knobs = planlib.layout_from_options(
            gpus=gpus, tp=tp, dp_attention=dp_attention, ep=ep, pp=pp,
            context=context, specs=specs, batch=batch,
            kv_dtype=kv_dtype, **options)
        gpu_type = get_gpu(gpu, gpu_file)
        reports = []
        for s in specs:
            try:
                reports.append(planlib.plan(s, gpu_type, layout, workload, weights=weights, knobs=knobs, gpus=gpus))
            except InputError as e:
                raise InputError(f"{s.name}: {e}") from None
        return reports
    from .analysis.params import count_params

    return [count_params(s) for s in specs]


def available() -> bool:
    """True when matplotlib can be imported."""
    try:
        _figure_class()
    except InputError:
        return False
    return True


def _figure_class():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return Figure


def output_format(path: str | Path) -> str:
    """'png', 'svg' or 'pdf' from the file's suffix; anything else is an InputError."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"-o {path}: the file must end in .png, .svg or .pdf (got {suffix or 'no suffix'!r})")
    return SUFFIXES[suffix]


def _context_axis(ax, contexts: list[int]) -> None:
    """Linear context axis, ticks on power-of-two multiples of 1k labelled as people write them (32k)."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    top = max(contexts)
    step = 1024
    while top / step > 8:
        step *= 2
    if top >= 2048:
        ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_context(x) if x >= 0 else ""))
    ax.set_xlim(left=0)
    ax.set_xlabel("context (tokens; 1k = 1024)")


def _plain_number(x: float) -> str:
    """A tick value as people write it: 1, 10, 1,000, 0.5, 75.5 (a narrow axis ticks between integers)."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:.4g}"


def _log_x(ax) -> None:
    """A log-scale x axis whose ticks read as plain numbers (1, 10, 100), not mathtext, which
    LITERAL_TEXT turns off. matplotlib's own LogFormatter still decides which ticks get a label (every
    decade; minor ticks too when the axis spans about a decade or less)."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x, pos=None):
            return _plain_number(x) if super().__call__(x, pos) else ""

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(PlainLogFormatter())
    ax.xaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def kv_figure(reports: list) -> Any:
    """KVReports -> one line per model: the cache of one sequence (or of the batch) in GiB vs context."""
    Figure = _figure_class()
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    batch = reports[0].batch
    for r in reports:
        xs = [p.context for p in r.sweep]
        ys = [p.total_bytes / GIB for p in r.sweep]
        kind = r.formats[0].name.split(" (")[0]  # "MLA", "GQA 8×128"
        grow = r.growing_bytes_per_token  # fractional only where compressed layers keep 1 entry per n tokens
        grow_text = f"{grow:,.0f}" if float(grow).is_integer() else f"{grow:,.2f}"
        per = (f"{grow_text} bytes/token + {r.constant_bytes_per_request:,} per request"
               if r.constant_bytes_per_request else f"{r.bytes_per_token:,} bytes/token")
        ax.plot(xs, ys, marker="o", markersize=4, label=f"{r.model} ({kind}, {per})")
    dtypes = sorted({r.dtype for r in reports})
    what = "per sequence" if batch == 1 else f"batch of {batch} sequences"
    ax.set_title(f"KV cache {what}, {', '.join(dtypes)}")
    ax.set_ylabel(f"KV cache {what} (GiB = 2^30 bytes)")
    ax.set_ylim(bottom=0)
    _context_axis(ax, [p.context for r in reports for p in r.sweep])
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def flops_figure(reports: list) -> Any:
    """FlopsReports -> per model, linear-layer FLOPs per token (dashed) and attention FLOPs (solid) vs context."""
    Figure = _figure_class()
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    forms = {r.attention_form for r in reports}
    phase = reports[0].phase
    for n, r in enumerate(reports):
        colour = f"C{n % 10}"
        xs = [p.context for p in r.sweep]
        form = "" if len(forms) == 1 else f", {r.attention_form}"
        ax.plot(xs, [p.linear / GFLOP for p in r.sweep], linestyle="--", marker="s", markersize=3, color=colour,
                label=f"{r.model}: linear layers")
        ax.plot(xs, [p.attention / GFLOP for p in r.sweep], linestyle="-", marker="o", markersize=4, color=colour,
                label=f"{r.model}: attention{form}")
    what = "decode (one new token)" if phase == "decode" else "prefill (average per prompt token)"
    mla_forms = {r.attention_form for r in reports if r.mla}
    form = f", {mla_forms.pop()} MLA" if len(mla_forms) == 1 else ""
    ax.set_title(f"forward FLOPs per token, {what}{form}")
    ax.set_ylabel("GFLOP per token (1 GFLOP = 10^9 FLOPs)")
    ax.set_ylim(bottom=0)
    _context_axis(ax, [p.context for r in reports for p in r.sweep])
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def memory_figure(reports: list) -> Any:
    """PlanReports -> one stacked bar per model: weights, KV cache, activations, overhead, free (GiB per GPU)."""
    Figure = _figure_class()
    fig = Figure(figsize=(max(8.0, 1.6 * len(reports) + 4), 6), layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(reports)))
    bottoms = [0.0] * len(reports)
    for field, label, colour in MEMORY_PARTS:
        heights = [getattr(r.per_gpu, field) / GIB for r in reports]
        ax.bar(xs, heights, bottom=bottoms, color=colour, label=label, width=0.6)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    free = [max(r.per_gpu.free, 0) / GIB for r in reports]
    ax.bar(xs, free, bottom=bottoms, color=FREE_COLOUR, label="free (within budget)", width=0.6)
    for x, r in zip(xs, reports):
        p = r.per_gpu
        ax.hlines(p.budget / GIB, x - 0.4, x + 0.4, colors="black", linestyles="--", linewidth=1,
                  label="budget (mem-fraction × memory)" if x == 0 else None)
        ax.hlines(p.memory / GIB, x - 0.4, x + 0.4, colors="black", linewidth=1.5,
                  label="GPU memory" if x == 0 else None)
        used = (p.weights + p.kv_cache + p.activations + p.overhead) / GIB
        verdict = f"fits, {p.free / GIB:.1f} GiB free" if r.fits else f"short by {-p.free / GIB:.1f} GiB"
        ax.annotate(verdict, (x, max(used, p.memory / GIB)), xytext=(0, 4), textcoords="offset points",
                    ha="center", fontsize="small")
    ax.set_xticks(xs, [f"{r.model}\n{r.weight_format.name} weights" for r in reports])
    first = reports[0]
    w = first.workload
    ax.set_title(f"memory per GPU\n{first.gpus}×{first.gpu}, {first.layout_label}, batch {w.batch} × "
                 f"{format_context(w.context)} tokens, KV {w.kv_dtype}")
    ax.set_ylabel("GiB per GPU (2^30 bytes)")
    ax.set_ylim(0, max(max(r.per_gpu.memory, r.per_gpu.budget - r.per_gpu.free) for r in reports) / GIB * 1.12)
    ax.set_xlim(-0.7, len(reports) - 0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


def params_figure(reports: list) -> Any:
    """ParamReports -> two horizontal 100% bars per model: all parameters and active per token, by component."""
    Figure = _figure_class()
    fig = Figure(figsize=(10, 1.2 + 1.1 * len(reports) * 2), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    keys: list[str] = []
    for r in reports:
        keys += [k for k in r.breakdown if k not in keys]
    from .render import human_count

    for ax, field, whole, title in ((axes[0], "breakdown", "total", "all parameters (main model, MTP excluded)"),
                                    (axes[1], "active_breakdown", "active", "active per token")):
        ys = list(range(len(reports)))
        lefts = [0.0] * len(reports)
        for n, key in enumerate(keys):
            widths = [100 * getattr(r, field).get(key, 0) / getattr(r, whole) for r in reports]
            bars = ax.barh(ys, widths, left=lefts, color=f"C{n % 10}", label=key, height=0.6)
            for bar, wdt in zip(bars, widths):
                if wdt >= 6:
                    ax.text(bar.get_x() + wdt / 2, bar.get_y() + bar.get_height() / 2, f"{wdt:.1f}%",
                            ha="center", va="center", fontsize="x-small", color="white")
            lefts = [a + b for a, b in zip(lefts, widths)]
        ax.set_yticks(ys, [f"{r.model}\n{human_count(getattr(r, whole))}" for r in reports])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_title(title, loc="left", fontsize="medium")
    axes[1].set_xlabel("share of the parameters (%); counts 1000-based (T = 10^12)")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    fig.suptitle("parameters by component")
    return fig


def perf_figure(reports: list) -> Any:
    """PerfReports with a sweep -> tokens/s per GPU against tokens/s per user, one line per model."""
    Figure = _figure_class()
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.add_subplot()
    for r in reports:
        xs = [p.tokens_per_s_per_user for p in r.sweep]
        ys = [p.tokens_per_s_per_gpu for p in r.sweep]
        line, = ax.plot(xs, ys, marker="o", label=r.model)
        # points whose batch memory cannot hold (perf's `fits`): hollow, and named in the legend
        over = [(x, y) for p, x, y in zip(r.sweep, xs, ys) if p.fits is False]
        if over:
            ax.plot(*zip(*over), linestyle="none", marker="o", markersize=9, markerfacecolor="white",
                    markeredgecolor=line.get_color(), label=f"{r.model}: does not fit in memory")
        for p, x, y in zip(r.sweep, xs, ys):
            label = p.batch if r.sweep_axis == "batch" else format_context(p.context)
            ax.annotate(str(label), (x, y), xytext=(3, 3), textcoords="offset points", fontsize="x-small")
    first = reports[0]
    unit = "output" if first.phase == "decode" else "input"
    ax.set_title(f"{first.phase} throughput vs latency (an estimate), {first.gpus}×{first.gpu}, {first.layout_label}"
                 f"\npoints: {first.sweep_axis}")
    ax.set_xlabel(f"{unit} tokens/s per user")
    ax.set_ylabel(f"{unit} tokens/s per GPU")
    _log_x(ax)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


FIGURES = {"kv": kv_figure, "flops": flops_figure, "memory": memory_figure, "params": params_figure,
           "perf": perf_figure}


def figure(kind: str, reports: list) -> Any:
    if kind not in FIGURES:
        raise InputError(f"unknown plot kind {kind!r}: use one of {', '.join(KINDS)}")
    if not reports:
        raise InputError("no model to plot")
    return FIGURES[kind](reports)


def save(fig, path: str | Path) -> Path:
    """Write the figure as PNG, SVG or PDF (from the suffix); returns the path."""
    import matplotlib

    path = Path(path)
    fmt = output_format(path)
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})  # reproducible files
    try:
        with matplotlib.rc_context(LITERAL_TEXT):
            fig.savefig(path, format=fmt, dpi=150, metadata=metadata)
    except OSError as e:
        raise InputError(f"-o {path}: cannot write: {e.strerror or e}") from None
    return path


def write(kind: str, reports: list, path: str | Path) -> Path:
    """Plot `reports` of this kind to `path` (.png, .svg or .pdf)."""
    output_format(path)
    _figure_class()  # matplotlib missing: say how to install it
    import matplotlib

    with matplotlib.rc_context(LITERAL_TEXT):  # Text objects take parse_math when they are made
        fig = figure(kind, reports)
    return save(fig, path)
