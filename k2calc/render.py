"""The one rendering layer: rich tables for people; JSON, YAML, CSV and Markdown for machines.

Analyses return plain data (pydantic models); a command also builds `Table`s, its human view. JSON and
YAML serialize the data itself (the documented contract), CSV and Markdown the tables. Machine formats
are written with the standard serializers straight to stdout, never through rich, which would wrap
long lines at the terminal width.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

GIB = 2**30
GB = 10**9


class Format(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"
    markdown = "markdown"


@dataclass
class Table:
    """A titled grid of cells; ints stay ints until display (commas for people, raw in CSV)."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    caption: str = ""
    lines: bool = False  # long formulas: people see "a = b\n    = c\n    = d" per row, not a grid

    def add(self, *cells: Any) -> None:
        self.rows.append(list(cells))


# ---------------------------------------------------------------------------------------------------
# Human-readable numbers: counts and FLOPs with 1000-based prefixes, memory in GiB (and say so).


def human_count(n: float, unit: str = "") -> str:
    """1000-based: 1,026,408,232,448 -> '1.026 T'."""
    for div, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "B" if not unit else "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.4g} {prefix}{unit}"
    return f"{n:.4g} {unit}".rstrip()


def human_bytes(n: float) -> str:
    """Binary units, named as such: 70,272 -> '68.62 KiB'."""
    for div, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class Quantity:
    """A number with its unit: people see '1.026 T params' or '68.62 KiB', CSV gets the raw number."""

    value: int | float
    unit: str  # "params", "FLOP", "bytes", "tokens", "x" (a ratio)

    def human(self) -> str:
        if self.unit == "bytes":
            return human_bytes(self.value)
        if self.unit == "x":
            return f"{self.value:.2f}×"
        if self.unit == "FLOP":  # training totals (~10^24) read better in scientific notation
            return f"{self.value:.3e} FLOP" if abs(self.value) >= 1e18 else human_count(self.value, "FLOP")
        if self.unit == "params":
            return human_count(self.value)
        return f"{self.value:,}"


def _raw(value: Any) -> Any:
    if isinstance(value, Quantity):
        return value.value
    return "" if value is None else value


def _cell(value: Any) -> str:
    if isinstance(value, Quantity):
        return value.human()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------------


def _jsonable(data: Any) -> Any:
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_jsonable(d) for d in data]
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    return data


def emit(data: Any, tables: list[Table], fmt: Format, notes: list[str] | None = None) -> None:
    """Write `data` (machine formats) or `tables` (people, CSV, Markdown) to stdout."""
    out = sys.stdout
    if fmt is Format.json:
        import json

        out.write(json.dumps(_jsonable(data), indent=2) + "\n")
    elif fmt is Format.yaml:
        import yaml

        out.write(yaml.safe_dump(_jsonable(data), sort_keys=False, width=10**6))
    elif fmt is Format.csv:
        import csv

        writer = csv.writer(out, lineterminator="\n")
        for n, t in enumerate(tables):
            if n:
                out.write("\n")
            writer.writerow(["table", *t.columns])
            for row in t.rows:
                writer.writerow([t.title, *(_raw(v) for v in row)])
    elif fmt is Format.markdown:
        for n, t in enumerate(tables):
            if n:
                out.write("\n")
            out.write(f"**{t.title}**\n\n")
            out.write("| " + " | ".join(t.columns) + " |\n")
            out.write("|" + "|".join("---:" if _numeric(t, i) else "---" for i in range(len(t.columns))) + "|\n")
            for row in t.rows:
                out.write("| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |\n")
            if t.caption:
                out.write(f"\n{t.caption}\n")
        for note in notes or []:
            out.write(f"\n> {note}\n")
    else:
        _rich(tables, notes or [])


def _numeric(t: Table, i: int) -> bool:
    vals = [r[i] for r in t.rows if i < len(r) and r[i] not in (None, "")]
    return bool(vals) and all(isinstance(v, (int, float, Quantity)) and not isinstance(v, bool) for v in vals)


def _rich(tables: list[Table], notes: list[str]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    for t in tables:
        if t.lines:
            console.print(f"[bold]{t.title}[/bold]")
            for row in t.rows:
                cells = [_cell(v) for v in row]
                console.print(f"  {cells[0]} = " + "\n      = ".join(cells[1:]), highlight=False, soft_wrap=True)
            console.print()
            continue
        rt = RichTable(title=t.title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                       caption=t.caption or None, caption_justify="left")
        for i, col in enumerate(t.columns):
            rt.add_column(col, justify="right" if _numeric(t, i) else "left")
        for row in t.rows:
            rt.add_row(*(_cell(v) for v in row))
        console.print(rt)
    for note in notes:
        console.print(f"[dim]note:[/dim] {note}", highlight=False)


def error_line(message: str) -> None:
    """One line on stderr, no traceback."""
    sys.stderr.write(f"error: {message}\n")


def warn_line(message: str) -> None:
    sys.stderr.write(f"note: {message}\n")
