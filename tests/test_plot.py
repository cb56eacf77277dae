"""`k2calc plot`: PNG and SVG files written and valid, the plotted numbers are the reports' numbers,
and without matplotlib the command says how to install it (exit 2) after the terminal chart."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from k2calc.config import load
from k2calc.errors import InputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GIB = 2**30
MEMORY = ["--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2", "--ep", "16", "--context", "128k",
          "--batch", "32", "--weights", "fp8", "--kv-dtype", "fp8-flashmla"]
ARGS = {
    "kv": ["kimi-k2", "deepseek-v3", "--context", "4k,32k,128k"],
    "flops": ["kimi-k2", "deepseek-v3", "--context", "4k,32k,128k"],
    "memory": ["kimi-k2", "deepseek-v3", *MEMORY],
    "params": ["kimi-k2", "deepseek-v3"],
}


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def check_file(path, fmt: str) -> None:
    data = path.read_bytes()
    assert len(data) > 5000, len(data)  # a real plot, not an empty canvas
    if fmt == "png":
        assert data.startswith(PNG_MAGIC)
    else:
        root = ET.fromstring(data)
        assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg")
        assert b"<path" in data


@pytest.mark.parametrize("fmt", ["png", "svg"])
@pytest.mark.parametrize("kind", sorted(ARGS))
def test_plot_writes_a_valid_file(mpl, run, tmp_path, kind, fmt):
    out = tmp_path / f"{kind}.{fmt}"
    result = run("plot", kind, *ARGS[kind], "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    check_file(out, fmt)


def test_kv_plot_is_the_kv_report_in_gib(mpl):
    """DeepSeek-V3, bf16: 61 layers × (512 + 64) values × 2 bytes per token, times the context."""
    from k2calc.analysis.kv import kv_cache
    from k2calc.plot import kv_figure

    contexts = [4096, 32768, 131072]
    reports = [kv_cache(load("deepseek-v3"), contexts), kv_cache(load("kimi-k2"), contexts)]
    ax = kv_figure(reports).axes[0]
    assert len(ax.lines) == 2
    for line, r in zip(ax.lines, reports):
        assert list(line.get_xdata()) == contexts
        assert list(line.get_ydata()) == [p.bytes_per_sequence / GIB for p in r.sweep]
    assert ax.lines[0].get_ydata()[-1] == 61 * 576 * 2 * 131072 / GIB  # = 8.578... GiB
    assert "GiB" in ax.get_ylabel()


def test_kv_plot_legend_splits_a_windowed_cache_into_growing_and_fixed_bytes(mpl):
    """Gemma 3 27B beyond its 1,024-token window: 10 global layers × 8,192 bytes grow with each token; 52
    sliding layers × 1,024 tokens × 8,192 bytes stay fixed per request. Whole bytes print whole."""
    from k2calc.analysis.kv import kv_cache
    from k2calc.plot import kv_figure

    ax = kv_figure([kv_cache(load("gemma-3-27b"), [4096, 131072])]).axes[0]
    assert ax.lines[0].get_label() == (f"gemma-3-27b (GQA 16×128, {10 * 8192:,} bytes/token + "
                                       f"{52 * 1024 * 8192:,} per request)")


def test_flops_plot_is_the_flops_report(mpl):
    from k2calc.analysis.flops import Phase, count_flops
    from k2calc.plot import flops_figure

    contexts = [4096, 131072]
    reports = [count_flops(load(m), Phase.decode, contexts) for m in ("kimi-k2", "deepseek-v3")]
    ax = flops_figure(reports).axes[0]
    assert "decode" in ax.get_title() and "absorbed MLA" in ax.get_title()
    assert "10^9" in ax.get_ylabel()
    linear, attention = ax.lines[0], ax.lines[1]  # first model: linear, then attention
    assert list(linear.get_ydata()) == [p.linear / 1e9 for p in reports[0].sweep]
    assert list(attention.get_ydata()) == [p.attention / 1e9 for p in reports[0].sweep]
    assert list(ax.lines[3].get_ydata()) == [p.attention / 1e9 for p in reports[1].sweep]


def test_memory_plot_stacks_the_plan(mpl):
    from k2calc.analysis import plan as planlib
    from k2calc.hardware import get_gpu
    from k2calc.plot import memory_figure

    layout, workload, knobs = planlib.layout_from_options(tp=8, dp_attention=2, ep=16, context="128k", batch=32,
                                                          kv_dtype="fp8-flashmla")
    reports = [planlib.plan(load(m), get_gpu("h200"), layout, workload, weights="fp8", knobs=knobs)
               for m in ("kimi-k2", "deepseek-v3")]
    ax = memory_figure(reports).axes[0]
    bars = [c for c in ax.containers]
    assert [c.get_label() for c in bars] == ["weights", "KV cache", "activations", "runtime overhead",
                                             "free (within budget)"]
    for field, container in zip(("weights", "kv_cache", "activations", "overhead"), bars):
        assert [b.get_height() for b in container] == [getattr(r.per_gpu, field) / GIB for r in reports]
    assert [b.get_height() for b in bars[4]] == [max(r.per_gpu.free, 0) / GIB for r in reports]
    fitting = reports[1]
    assert fitting.fits  # deepseek-v3 fits here, kimi-k2 does not
    top = bars[4][1].get_y() + bars[4][1].get_height()
    assert top == pytest.approx(fitting.per_gpu.budget / GIB)  # the stack of a fitting plan reaches its budget


def test_params_plot_shares_are_the_breakdown(mpl):
    from k2calc.analysis.params import count_params
    from k2calc.plot import params_figure

    reports = [count_params(load(m)) for m in ("kimi-k2", "deepseek-v3")]
    total_ax, active_ax = params_figure(reports).axes[:2]
    keys = list(reports[0].breakdown)
    assert [c.get_label() for c in total_ax.containers] == keys
    for key, container in zip(keys, total_ax.containers):
        for bar, r in zip(container, reports):
            assert bar.get_width() == pytest.approx(100 * r.breakdown[key] / r.total)
    for key, container in zip(keys, active_ax.containers):
        for bar, r in zip(container, reports):
            assert bar.get_width() == pytest.approx(100 * r.active_breakdown[key] / r.active)


def test_terminal_chart_without_output(run):
    result = run("plot", "kv", "deepseek-v3", "--context", "128k")
    assert result.exit_code == 0, result.output
    assert "8.578" in result.stdout and "█" in result.stdout  # 61 × 576 × 2 × 131072 bytes in GiB
    result = run("plot", "memory", *ARGS["memory"])
    assert result.exit_code == 0, result.output
    assert "kimi-k2" in result.stdout and "deepseek-v3" in result.stdout and "▓" in result.stdout
    result = run("plot", "params", "kimi-k2")
    # routed experts' share: 60 MoE layers × 384 experts × 3 × 7168 × 2048 of 1,026,408,232,448 parameters
    share = 100 * 60 * 384 * 3 * 7168 * 2048 / 1_026_408_232_448
    assert "routed_experts" in result.stdout and f"{share:.2f}%" in result.stdout


def test_without_matplotlib_the_command_says_how_to_install(run, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "params.png"
    result = run("plot", "params", "kimi-k2", "-o", str(out))
    assert result.exit_code == 2
    assert 'pip install "k2calc[plot]"' in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "routed_experts" in result.stdout  # the terminal chart is still shown
    assert not out.exists()
    result = run("plot", "kv", "kimi-k2", "-o", str(tmp_path / "kv.svg"))
    assert result.exit_code == 2 and "█" in result.stdout
    assert run("plot", "params", "kimi-k2").exit_code == 0  # no file asked: the chart alone


@pytest.mark.parametrize("args, message", [
    (["kv", "kimi-k2", "-o", "kv.jpg"], "must end in .png, .svg or .pdf"),
    (["kb", "kimi-k2"], "unknown plot kind 'kb'"),
    (["memory", "kimi-k2"], "--gpu is required"),
    (["memory", "kimi-k2", "--gpu", "h200", "--context", "4k,8k"], "one context length"),
    (["memory", "kimi-k2", "--gpu", "h200", "--tp", "3"], "kimi-k2: "),
])
def test_plot_mistakes_are_one_line(run, args, message):
    result = run("plot", *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_output_format_from_suffix():
    from k2calc.plot import output_format

    assert output_format("a.PNG") == "png" and output_format("b.svg") == "svg"
    with pytest.raises(InputError):
        output_format("c")


def test_importing_k2calc_does_not_import_matplotlib():
    code = "import sys, k2calc.cli, k2calc.plot, k2calc.views; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("args, message", [
    (["kv", "kimi-k2", "--context", ""], "--context '': no context length given"),
    (["flops", "kimi-k2", "--context", ""], "--context '': no context length given"),
    (["memory", "kimi-k2", "--gpu", "h200", "--tp", "8", "--context", ""], "--context : not a number"),
    (["memory", "kimi-k2", "--gpu", "h200", "--tp", "8", "--batch", "0"], "--batch 0: must be at least 1"),
    (["kv", "kimi-k2", "--context", "1e400"], "--context 1e400: too large"),
])
def test_plot_rejects_empty_context_and_batch_zero(run, args, message):
    result = run("plot", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_plot_writes_a_pdf(mpl, run, tmp_path):
    out = tmp_path / "kv.pdf"
    result = run("plot", "kv", "kimi-k2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")


def test_plot_text_is_literal_never_mathtext(mpl, run, tmp_path):
    # a model named by a file whose name holds TeX: matplotlib must print it, not parse it
    config = tmp_path / "m$\\undefinedmacro$.json"
    config.write_text((__import__("tests.conftest", fromlist=["DATA"]).DATA / "deepseek-v3.config.json").read_text())
    out = tmp_path / "kv.svg"
    result = run("plot", "kv", str(config), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "undefinedmacro" in out.read_text()



TICK_CASES = {  # kind -> (models, reports_for options): every kind, the log-scaled perf included
    "kv": (["kimi-k2"], {"context": "4k,32k,128k"}),
    "flops": (["kimi-k2"], {"context": "4k,32k,128k"}),
    "memory": (["kimi-k2"], {"gpu": "h200", "gpus": 16, "tp": 8, "dp_attention": 2, "ep": 16, "context": "128k"}),
    "params": (["kimi-k2"], {}),
    "perf": (["kimi-k2"], {"gpu": "h200", "gpus": 16, "tp": 8, "dp_attention": 2, "ep": 16, "context": "32k"}),
}


@pytest.mark.parametrize("kind", sorted(TICK_CASES))
def test_tick_labels_are_plain_numbers_not_mathtext(mpl, tmp_path, kind):
    # LITERAL_TEXT turns mathtext off for user text; matplotlib's log tick labels ("$\\mathdefault{10^{0}}$")
    # must not then print literally. perf's x axis (tokens/s per user) is log-scaled: a decade reads 10.
    import matplotlib

    from k2calc import plot as plotlib

    models, options = TICK_CASES[kind]
    reports = plotlib.reports_for(kind, [load(m) for m in models], **options)
    with matplotlib.rc_context(plotlib.LITERAL_TEXT):
        fig = plotlib.figure(kind, reports)
    plotlib.save(fig, tmp_path / f"{kind}.png")  # draws the figure, which sets the tick labels' text
    labels = [t.get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
              for t in axis.get_ticklabels(which="both")]
    assert [x for x in labels if "$" in x or "mathdefault" in x] == []
    if kind == "perf":
        assert fig.axes[0].get_xscale() == "log"
        assert "10" in [t.get_text() for t in fig.axes[0].xaxis.get_ticklabels()]


def test_a_narrow_log_axis_labels_each_tick_once(mpl, tmp_path):
    # batch 1 and 2 differ by a few tokens/s per user: matplotlib ticks between integers (75.5, 76, ...),
    # which must not all print as "76"
    import matplotlib

    from k2calc import plot as plotlib

    _, options = TICK_CASES["perf"]
    reports = plotlib.reports_for("perf", [load("kimi-k2")], sweep="batch=1,2", **options)
    with matplotlib.rc_context(plotlib.LITERAL_TEXT):
        fig = plotlib.figure("perf", reports)
    plotlib.save(fig, tmp_path / "perf.png")
    labels = [t.get_text() for t in fig.axes[0].xaxis.get_ticklabels(which="both") if t.get_text()]
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    assert all(float(x.replace(",", "")) > 0 for x in labels)
