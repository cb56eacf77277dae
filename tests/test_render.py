"""Human tables at an 80-column terminal: numbers are never cut, text folds instead of ending in "…"."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from k2calc.cli import app
from k2calc.render import Format, Quantity, Table, _rich, emit

NARROW = [
    ("plan", "--preset", "kimi-k2", "--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2",
     "--ep", "16", "--context", "128k", "--batch", "32", "--weights", "fp8", "--kv-dtype", "fp8-flashmla"),
    ("plan", "--search", "--preset", "kimi-k2", "--context", "128k", "--weights", "fp8"),
    ("gpus",),
    ("kv", "--preset", "deepseek-v3", "--context", "128k"),
    ("flops", "--preset", "kimi-k2"),
    ("presets",),
    ("params", "--preset", "kimi-k2", "--tensors"),
    ("checkpoint", "--preset", "kimi-k2"),
    ("compare", "kimi-k2", "deepseek-v3"),
    ("plot", "params", "kimi-k2", "deepseek-v3"),
]


def run80(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


@pytest.mark.parametrize("args", NARROW, ids=lambda a: " ".join(a[:2]))
def test_nothing_is_cut_at_80_columns(args):
    result = run80(*args)
    assert result.exit_code in (0, 1), result.output  # plan exits 1 when the deployment does not fit
    if args[0] != "plan" or "--search" in args:
        assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 80


def test_plan_modules_keep_whole_numbers_and_distinct_names():
    out = run80(*NARROW[0]).stdout
    assert "19.69 GiB" in out and "61.76 GiB" in out  # bytes with units, not 21,144,453,1…
    for name in ("shared_experts.gate_proj", "shared_experts.up_proj", "shared_experts.down_proj"):
        assert name in out


def test_search_has_no_empty_price_column():
    out = run80(*NARROW[1]).stdout
    assert "$/hour" not in out and "$/" not in out
    assert "14,659,504" in out  # KV tokens held, whole


def test_numeric_column_is_never_truncated_in_a_narrow_console():
    t = Table("narrow", ["a rather long name column", "bytes", "long header over a number"])
    t.add("first row with a long description that has to fold", 1_029_173_256_720, 123_456_789)
    t.add("second", Quantity(66_312_390_368, "bytes"), 7)
    buf = io.StringIO()
    _rich([t], [], console=Console(width=40, file=buf, color_system=None))
    out = buf.getvalue()
    assert "1,029,173,256,720" in out and "123,456,789" in out and "61.76 GiB" in out
    assert "…" not in out
    assert max(cell_len(line) for line in out.splitlines()) <= 40


def test_numbers_wider_than_the_console_wrap_rather_than_cut():
    t = Table("too wide", ["x", "y", "z"])
    t.add(1_029_173_256_720_000, 1_029_173_256_720_001, 1_029_173_256_720_002)
    buf = io.StringIO()
    _rich([t], [], console=Console(width=30, file=buf, color_system=None))
    out = buf.getvalue()
    for n in ("1,029,173,256,720,000", "1,029,173,256,720,001", "1,029,173,256,720,002"):
        assert n in out
    assert "…" not in out


def test_machine_formats_keep_exact_numbers(capsys):
    t = Table("weights per GPU by module", ["module", "bytes"])
    t.add("experts.gate_proj", Quantity(21_144_453_120, "bytes"))
    emit({}, [t], Format.csv)
    assert capsys.readouterr().out.splitlines()[1] == "weights per GPU by module,experts.gate_proj,21144453120"
    emit({}, [t], Format.markdown)
    md = capsys.readouterr().out
    assert "|---|---:|" in md and "| experts.gate_proj | 19.69 GiB |" in md


def test_gpus_csv_carries_driver_bytes():
    import csv

    rows = list(csv.reader(io.StringIO(run80("gpus", "-f", "csv").stdout)))
    assert rows[0][:3] == ["section", "name", "memory (driver)"]
    h200 = next(r for r in rows if r[1] == "h200")
    assert int(h200[2]) > 140 * 2**30


def test_error_with_a_typed_line_break_stays_one_line(run):
    result = run("flops", "--preset", "kimi-k2", "--context", "0\r\n")
    assert result.exit_code == 2
    assert result.stderr == "error: --context 0\\r\\n: contains a control character\n"


@pytest.mark.parametrize(("args", "words"), [
    (("params", "--preset", "kimi-k2", "--tensors"), ["input_layernorm", "post_attention_layernorm",
                                                     "num_attention_heads·(qk_nope_head_dim+qk_rope_head_dim)"]),
    (("presets",), ["moonshotai/Moonlight-16B-A3B-Instruct", "Moonlight-16B-A3B-Instruct:"]),
    (("compare", "kimi-k2", "deepseek-v3", "moonlight-16b-a3b"), ["moonlight-16b-a3b − kimi-k2", "1.026 T"]),
])
def test_no_word_or_number_is_split_at_80_columns(args, words):
    out = run80(*args).stdout
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    for word in words:
        assert word in out


def test_a_compare_too_wide_for_the_terminal_lays_out_one_block_per_figure():
    out = run80("compare", "kimi-k2", "deepseek-v3", "moonlight-16b-a3b").stdout
    block = out[out.index("\nparameters\n"):]
    assert "\n  total" in block and "\n    kimi-k2   " in block and "\n    deepseek-v3 / kimi-k2   " in block


def test_table_text_is_literal_never_rich_markup():
    t = Table("[b]t[/b]:x:", ["shape [out, in]", "n"])
    t.add("[red]name[/red]", 1)
    buf = io.StringIO()
    _rich([t], ["[dim]a note[/dim]"], console=Console(width=80, file=buf, color_system=None))
    out = buf.getvalue()
    for text in ("[b]t[/b]:x:", "shape [out, in]", "[red]name[/red]", "[dim]a note[/dim]"):
        assert text in out


def test_csv_gives_an_unlabelled_tables_first_column_its_own_header(capsys):
    # a sweep's rows have no label: the batch is data, under `batch`, and `name` stays empty
    head = Table("headline", ["figure", "value"])
    head.add("step (ms)", Quantity(12.859496, "ms"))
    sweep = Table("sweep over batch", ["batch", "step (ms)"], labelled=False)
    sweep.add(64, Quantity(47.126207, "ms"))
    emit({}, [head, sweep], Format.csv)
    assert capsys.readouterr().out.splitlines() == ["section,name,value,batch,step (ms)",
                                                    "headline,step (ms),12.859496,,",
                                                    "sweep over batch,,,64,47.126207"]
    emit({}, [sweep], Format.markdown)
    assert "| 64 | 47.126 |" in capsys.readouterr().out  # people see the unit's precision
