"""Time k2calc's commands side by side with a minimal typer app, in one run.

    python scripts/bench.py [--runs N]

Each command runs N times as a fresh process (the installed `k2calc` entry point beside this Python),
interleaved round by round so that a busy machine slows every command alike; the medians are printed
with their ratio to the baseline, in wall-clock and in CPU time (user + system, which a busy machine
distorts least): a minimal typer app that imports the same four libraries (typer,
rich, pydantic, PyYAML) and prints one rich table, written to a temporary file by this script.
Nothing here is a test: wall-clock times depend on the machine, so no test asserts one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = '''
import pydantic  # noqa: F401  (the same four libraries k2calc imports)
import typer
import yaml  # noqa: F401
from rich.console import Console
from rich.table import Table

app = typer.Typer()


@app.command()
def main(name: str = "kimi-k2") -> None:
    table = Table(title=f"{name}: parameters")
    table.add_column("figure")
    table.add_column("parameters", justify="right")
    table.add_row("total", f"{1_026_408_232_448:,}")
    Console().print(table)


if __name__ == "__main__":
    app()
'''

COMMANDS = [
    ("k2calc --help", ["--help"]),
    ("params --preset kimi-k2", ["params", "--preset", "kimi-k2"]),
    ("params --preset kimi-k2 --format json", ["params", "--preset", "kimi-k2", "--format", "json"]),
    ("compare kimi-k2 deepseek-v3", ["compare", "kimi-k2", "deepseek-v3"]),
    ("plan --preset deepseek-v3 --gpu h200 --gpus 8", ["plan", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "8"]),
    ("plan --search --preset kimi-k2 --context 128k", ["plan", "--search", "--preset", "kimi-k2", "--context", "128k"]),
    # speed targets: the estimate per layout is what costs (plan.search skips what cannot rank or meet them)
    ("plan --search -p deepseek-v3 --min-tokens-per-s 20000 --max-tpot-ms 30 --context 4k",
     ["plan", "--search", "-p", "deepseek-v3", "--min-tokens-per-s", "20000", "--max-tpot-ms", "30", "--context", "4k"]),
    ("plan --search -p deepseek-v3 --pd --request-rate 10 --input 2000 --output 500 --max-tpot-ms 50",
     ["plan", "--search", "-p", "deepseek-v3", "--pd", "--request-rate", "10", "--input", "2000", "--output", "500",
      "--max-tpot-ms", "50"]),
    ("plan --search -p kimi-k2 --max-tpot-ms 50 --min-tokens-per-s 1000",
     ["plan", "--search", "-p", "kimi-k2", "--max-tpot-ms", "50", "--min-tokens-per-s", "1000"]),
    # the second review's slow cases: many layouts in reach of memory, few of the targets; none meets (the note)
    ("plan --search -p qwen3-235b-a22b --min-tokens-per-s 50000 --max-tpot-ms 40 --context 4k",
     ["plan", "--search", "-p", "qwen3-235b-a22b", "--min-tokens-per-s", "50000", "--max-tpot-ms", "40",
      "--context", "4k"]),
    ("plan --search -p llama-4-maverick --min-tokens-per-s 20000 --max-tpot-ms 30 --context 8k",
     ["plan", "--search", "-p", "llama-4-maverick", "--min-tokens-per-s", "20000", "--max-tpot-ms", "30",
      "--context", "8k"]),
    ("plan --search -p deepseek-v3 --max-ttft-ms 100 --context 128k --gpu h200,b200",
     ["plan", "--search", "-p", "deepseek-v3", "--max-ttft-ms", "100", "--context", "128k", "--gpu", "h200,b200"]),
    ("plan --search -p deepseek-v3 --pd --request-rate 1000 --input 8000 --output 2000 --max-tpot-ms 20 "
     "--max-ttft-ms 500",
     ["plan", "--search", "-p", "deepseek-v3", "--pd", "--request-rate", "1000", "--input", "8000", "--output",
      "2000", "--max-tpot-ms", "20", "--max-ttft-ms", "500"]),
]


def entry_point() -> str:
    """The `k2calc` script installed beside this interpreter (what a user runs)."""
    exe = Path(sys.executable).with_name("k2calc")
    if not exe.exists():
        sys.exit(f"bench: {exe} not found; install k2calc into this environment (pip install -e .)")
    return str(exe)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds: user + system) of one run. CPU time is what a busy machine
    distorts least: waiting for a core counts in the wall clock, not in it."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"bench: {' '.join(argv)} failed: {proc.stderr.decode(errors='replace').strip()}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per command (median reported)")
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    # Bytecode caches as an installed package has them (pip compiles at install): the warm-up run writes
    # k2calc's own if PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every call.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    k2calc = entry_point()
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "minimal_typer_app.py"
        app.write_text(BASELINE)
        rows = [("python -c 'import typer, rich, pydantic, yaml'",
                 [sys.executable, "-c", "import typer, rich, pydantic, yaml"]),
                ("minimal typer app (baseline)", [sys.executable, str(app)]),
                *((f"k2calc {label}" if not label.startswith("k2calc") else label, [k2calc, *argv])
                  for label, argv in COMMANDS)]
        times: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in rows}
        for argv in (a for _, a in rows):  # warm the file cache once
            timed(argv, env)
        for _ in range(args.runs):
            for label, argv in rows:
                times[label].append(timed(argv, env))
    wall = {label: statistics.median(t for t, _ in ts) for label, ts in times.items()}
    cpu = {label: statistics.median(c for _, c in ts) for label, ts in times.items()}
    base_wall, base_cpu = wall["minimal typer app (baseline)"], cpu["minimal typer app (baseline)"]
    width = max(map(len, wall))
    print(f"median of {args.runs} runs each, interleaved; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'command':<{width}}  {'wall s':>7}  {'× base':>7}  {'CPU s':>7}  {'× base':>7}")
    for label in wall:
        print(f"{label:<{width}}  {wall[label]:7.3f}  {wall[label] / base_wall:6.2f}×  {cpu[label]:7.3f}  "
              f"{cpu[label] / base_cpu:6.2f}×")


if __name__ == "__main__":
    main()
