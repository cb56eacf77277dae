"""k2calc perf against published deployments: one row per figure of tests/data/serving.yaml.

Every row runs under the same defaults (k2calc.analysis.perf.PerfKnobs); nothing here is tuned per row.
Prints a Markdown table (row, published, k2calc, ratio = k2calc / published) for the README.

    python scripts/validate_serving.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ROWS = ROOT / "tests" / "data" / "serving.yaml"


def load_rows() -> list[dict]:
    return yaml.safe_load(ROWS.read_text())["rows"]


def batch_for(row: dict, spec, gpu, layout) -> int:
    """The row's batch; "max": the largest batch `k2calc plan` fits with every sequence at its final length
    (input + output, or a decode row's `final_context`), at most the benchmark's `requests`."""
    if row["batch"] != "max":
        return int(row["batch"])
    from k2calc.analysis.perf import max_batch

    final = row["input"] + row["output"] if "input" in row else row["final_context"]
    fit = max_batch(spec, gpu, layout, final, weights=row.get("weights"),
                    expert_weights=row.get("expert_weights"), kv_dtype=row.get("kv_dtype", "bf16"))
    return min(fit, row.get("requests", fit))


def k2calc_figure(row: dict) -> tuple[float, int]:
    """k2calc's value of the row's metric, and the batch it used."""
    from k2calc.config import load_preset
    from k2calc.hardware import get_gpu
    from k2calc.analysis.perf import perf
    from k2calc.analysis.plan import Layout

    spec = load_preset(row["model"])
    gpu = get_gpu(row["gpu"])
    lay = row["layout"]
    layout = Layout(tp=lay.get("tp", 1), dp=lay.get("dp", 1), ep=lay.get("ep", 1), pp=lay.get("pp", 1),
                    redundant_experts=lay.get("redundant_experts", 0))
    batch = batch_for(row, spec, gpu, layout)
    common = dict(batch=batch, weights=row.get("weights"), expert_weights=row.get("expert_weights"),
                  kv_dtype=row.get("kv_dtype", "bf16"), mtp=row.get("mtp", 0), acceptance=row.get("acceptance"),
                  chunk=row.get("chunk", 8192))
    if "input" in row:
        r = perf(spec, gpu, layout, input_tokens=row["input"], output_tokens=row["output"], **common)
    else:
        r = perf(spec, gpu, layout, phase=row["phase"], context=row["context"], **common)
    return float(getattr(r, row["metric"])), batch


def table(rows: list[dict]) -> list[tuple[dict, float, int]]:
    return [(row, *k2calc_figure(row)) for row in rows]


def main() -> int:
    rows = load_rows()
    print("| row | figure | metric | published | k2calc | ratio |")
    print("|---|---|---|---:|---:|---:|")
    within = 0
    for row in rows:
        value, batch = k2calc_figure(row)
        ratio = value / row["published"]
        ok = 0.75 <= ratio <= 1.25
        within += ok
        mark = "" if ok else (" (not matched)" if row.get("matched", True) is False else " (off)")
        shown = f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"
        print(f"| {row['id']} | {row['figure']} | {row['metric']} | {row['published']:,} | {shown} | "
              f"{ratio:.2f}{mark} |")
    print(f"\n{within} of {len(rows)} rows within ±25%")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
