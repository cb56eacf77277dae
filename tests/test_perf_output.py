"""k2calc perf's output in every format: CSV for machines (raw numbers, one header), units named as they are
shown, Markdown that parses as tables. The numbers themselves are pinned in test_perf.py; here each format
must carry the same ones JSON does."""

from __future__ import annotations

import csv
import io

import pytest

DEPLOYMENT = ["-p", "kimi-k2", "--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2", "--ep", "16"]
LAYOUT = [*DEPLOYMENT, "--context", "32k"]  # --input/--output set their own contexts: DEPLOYMENT alone


def csv_rows(run, *args: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows (as header -> cell) of `k2calc perf ... --format csv`."""
    result = run("perf", *LAYOUT, *args, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    header = rows[0]
    assert all(len(r) == len(header) for r in rows), "every row fills the one header"
    assert [r for r in rows[1:] if r[0] == "section"] == []
    return header, [dict(zip(header, r)) for r in rows[1:]]


def test_headline_csv_has_raw_numbers(run, run_json):
    data = run_json("perf", *LAYOUT, "--batch", "64", "--price-per-gpu-hour", "2")
    _, rows = csv_rows(run, "--batch", "64", "--price-per-gpu-hour", "2")
    head = {r["name"]: r["value"] for r in rows if r["section"].startswith("kimi-k2 on 16×h200")}
    assert head["batch (sequences)"] == "64" and head["context (tokens)"] == "32768"
    for name, key in (("step (ms)", "step_ms"), ("TPOT (ms)", "tpot_ms"), ("output tokens/s", "tokens_per_s"),
                      ("output tokens/s per GPU", "tokens_per_s_per_gpu"),
                      ("output tokens/s per user", "tokens_per_s_per_user"), ("compute (ms)", "compute_ms"),
                      ("communication (ms)", "communication_ms"), ("fixed latency (ms)", "latency_ms"),
                      ("cost per million output tokens (USD)", "cost_per_million_tokens_usd")):
        assert float(head[name]) == pytest.approx(data[key], rel=1e-12), name  # "1358.05…", never "1,358.1"
    assert "," not in head["output tokens/s"] and "$" not in head["cost per million output tokens (USD)"]


def test_sweep_csv_rows_line_up_with_the_header(run, run_json):
    data = run_json("perf", *LAYOUT, "--sweep", "batch=1,64,1024", "--engine", "sglang")
    header, rows = csv_rows(run, "--sweep", "batch=1,64,1024", "--engine", "sglang")
    assert {"batch", "context", "step (ms)", "TPOT (ms)", "output tokens/s per GPU", "output tokens/s per user",
            "bound", "fits (sglang)"} <= set(header)
    sweep = [r for r in rows if r["section"] == "decode sweep over batch"]
    assert [r["batch"] for r in sweep] == ["1", "64", "1024"]  # the batch under `batch`, not under `name`
    assert [r["name"] for r in sweep] == ["", "", ""]
    for row, point in zip(sweep, data["sweep"]):
        assert int(row["context"]) == point["context"] == 32768
        assert float(row["step (ms)"]) == pytest.approx(point["step_ms"], rel=1e-12)
        assert float(row["output tokens/s per GPU"]) == pytest.approx(point["tokens_per_s_per_gpu"], rel=1e-12)
        assert float(row["output tokens/s per user"]) == pytest.approx(point["tokens_per_s_per_user"], rel=1e-12)
        assert row["bound"] == point["bound"] and row["fits (sglang)"] == str(point["fits"])


@pytest.mark.parametrize("args, columns", [
    (["--input", "1k", "--output", "256", "--price-per-gpu-hour", "2"],
     {"TTFT (ms)": "ttft_ms", "mean TPOT (ms)": "tpot_ms", "decode step (ms)": "step_ms",
      "cost per million output tokens (USD)": "cost_per_million_tokens_usd"}),
    (["--context", "32k", "--price-per-gpu-hour", "2"], {"cost per million output tokens (USD)": "cost_per_million_tokens_usd"}),
])
def test_sweep_rows_carry_every_points_ttft_and_cost_as_the_json_does(run, run_json, args, columns):
    # a sweep's TTFT (--input/--output) and cost (a price) were in the JSON points but no table column
    cmd = ["perf", *DEPLOYMENT, *args, "--sweep", "batch=1,8"]
    data = run_json(*cmd)
    result = run(*cmd, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    sweep = [r for r in rows if "sweep over batch" in r["section"]]
    assert [int(r["batch"]) for r in sweep] == [1, 8]
    for row, point in zip(sweep, data["sweep"]):
        for column, key in columns.items():
            assert point[key] is not None and float(row[column]) == pytest.approx(point[key], rel=1e-12), column


def test_operations_footer_says_bytes_are_binary_as_the_rows_show(run, run_json):
    data = run_json("perf", *LAYOUT)
    md = run("perf", *LAYOUT, "--format", "markdown").stdout
    reduce = next(c for c in data["components"] if c["name"] == "tp all-reduce (attention)")
    mib = reduce["comm_bytes"] / 2**20  # 2^20 bytes, as the footer says (1000-based it would read 1.53 MB)
    assert 1 <= mib < 1024
    assert f"| tp all-reduce (attention) | communication | 61 | 0 FLOP | 0 B | {mib:.2f} MiB |" in md
    assert "bytes binary (1 MiB = 2^20, 1 GiB = 2^30 bytes)" in md and "FLOPs 1000-based (1 GFLOP = 10^9)" in md
    assert "1000-based" not in md.replace("FLOPs 1000-based", "")


def test_prefill_output_names_input_tokens_and_chunks(run):
    out = run("perf", *LAYOUT, "--phase", "prefill", "--batch", "2", "--sweep", "context=1k,8k").stdout
    assert "input tokens/s per user" in out and "batch (prompts)" in out
    assert "operations of the whole prefill (every chunk)" in out and "count = layers × micro-batches × chunks" in out
    assert "prefill sweep over context" in out


def test_input_output_headline_is_both_phases_at_the_mean_context(run):
    out = run("perf", *DEPLOYMENT, "--input", "4k", "--output", "1k", "--batch", "8").stdout
    assert ": prefill + decode (an estimate)" in out
    assert "mean context (tokens)" in out and "4,608" in out  # 4096 + 1024 / 2, the note's mean context
    assert "operations per decode step" in out


@pytest.mark.parametrize("args", [[], ["--sweep", "batch=1,64"], ["--phase", "prefill", "--sweep", "context=1k,4k"],
                                  ["--input", "1k", "--output", "256", "--sweep", "batch=1,8", "--engine", "vllm",
                                   "--price-per-gpu-hour", "2"]])
def test_markdown_tables_parse(run, args):
    result = run("perf", *(DEPLOYMENT if "--input" in args else LAYOUT), *args, "--format", "markdown")
    assert result.exit_code == 0, result.output
    blocks = [b for b in result.stdout.split("\n\n") if b.startswith("| ")]
    assert len(blocks) == 2 + ("--sweep" in args)
    for block in blocks:
        lines = block.splitlines()
        width = lines[0].count(" | ") + 1
        assert all(c in "|-:" for c in lines[1]) and lines[1].count("|") == width + 1
        for line in lines[2:]:  # a "|" inside a cell is escaped: every row has the header's cells
            assert line.startswith("| ") and line.endswith(" |")
            assert len([c for c in line[2:-2].replace("\\|", "").split(" | ")]) == width, line
