"""The one rendering layer: rich tables for people; JSON, YAML, CSV and Markdown for machines.

Analyses return plain data (pydantic models); a command also builds `Table`s, its human view. JSON and
YAML serialize the data itself (the documented contract), CSV and Markdown the tables. Machine formats
are written with the standard serializers straight to stdout, never through rich, which would wrap
long lines at the terminal width.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .sizes import GB, GIB  # noqa: F401  (re-exported: views and plots format with them)


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
    # The first column names the row (CSV: under `name`). False: it is data like the others (a sweep's batch),
    # so CSV gives it its own column of the header and leaves `name` empty.
    labelled: bool = True

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


# Estimates shown to a fixed precision (the column header names the unit): milliseconds to the µs,
# rates to a tenth of a token per second.
DECIMALS = {"ms": 3, "tokens/s": 1}


@dataclass(frozen=True)
class Quantity:
    """A number with its unit: people see '1.026 T params' or '68.62 KiB', CSV gets the raw number."""

    value: int | float
    unit: str  # "params", "FLOP", "bytes", "tokens", "x" (a ratio), "ms", "tokens/s", "USD"

    def human(self) -> str:
        if self.unit in DECIMALS:
            return f"{self.value:,.{DECIMALS[self.unit]}f}"
        if self.unit == "USD":
            return f"${self.value:,.4f}"
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

        # One header for the stream: `section` (the table's title), `name` (each table's first column: the
        # row's label), then every table's other columns in order of first appearance; a row fills its own
        # table's columns and leaves the others empty.
        # A table whose first column is data (not `labelled`) puts it under its own header, `name` empty.
        own = [t.columns[1:] if t.labelled else t.columns for t in tables]
        header = list(dict.fromkeys(c for columns in own for c in columns))
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["section", "name", *header])
        for t, columns in zip(tables, own):
            where = [header.index(c) for c in columns]
            for row in t.rows:
                cells = [""] * len(header)
                for i, v in zip(where, row[1:] if t.labelled else row):
                    cells[i] = _raw(v)
                writer.writerow([t.title, _raw(row[0]) if row and t.labelled else "", *cells])
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


# A number as people read it, possibly with a unit: "61.76", "-19.12", "98.86%", "1.00×", "128k", "68.62 KiB",
# "4.3 TFLOP/s", "1.234e+24 FLOP", "61.76 GiB (66.31 GB)". Such string cells are kept whole on screen, like ints.
_NUM = r"[-+−]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?(?:[kMGT]\b)?(?:\s?[%×]|\s[A-Za-z]{1,6}(?:/s)?)?"
_NUMBERLIKE = rf"{_NUM}(?: \({_NUM}\))?"  # compiled on first use, by the table path only
_PLACEHOLDERS = ("-", "—", "")


def _numberlike(t: Table, i: int) -> bool:
    """Numeric for people: real numbers, or strings that read as one (e.g. GiB already formatted)."""
    if _numeric(t, i):
        return True
    cells = [_cell(r[i]) for r in t.rows if i < len(r) and r[i] is not None]
    real = [c for c in cells if c not in _PLACEHOLDERS]
    return bool(real) and all(re.fullmatch(_NUMBERLIKE, c) for c in real)


def _fit(natural: list[int], floors: list[int], room: int) -> list[int]:
    """Shrink widths to sum to `room`: always the widest first, none below its floor unless all are there."""
    widths = list(natural)
    for floor in (floors, [min(4, f) for f in floors]):
        while sum(widths) > room:
            candidates = [i for i, w in enumerate(widths) if w > floor[i]]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            widths[widest] -= 1
    return widths


def _header_lines(header: str, width: int) -> str:
    """A header wrapped to `width`, breaking after spaces and after "/" ("weights/GPU (GiB)" at 7 ->
    "weights/\nGPU\n(GiB)"), so a number column need not widen for its header."""
    from rich.cells import cell_len

    lines, line = [], ""
    for piece in re.split(r"(?<=[/\s])", header):
        if line and cell_len((line + piece).rstrip()) > width:
            lines.append(line.rstrip())
            line = piece
        else:
            line += piece
    return "\n".join([*lines, line.rstrip()])


def _rich_table(t: Table, width: int | None = None):
    """A rich table for `t`. Number columns are never wrapped or cut (no_wrap, min_width = widest cell);
    text columns fold instead of ending in "…". `width`: the table is wider than the terminal (that many
    columns), so lay it out here rather than leave it to rich, which shrinks number columns too and can
    squeeze text columns to nothing: number columns get their widest cell (or longest header piece) and
    wrap their headers, text columns share the rest (widest first, keeping whole words while they can)."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table as RichTable
    from rich.text import Text

    tight = width is not None
    # tight: 2 spaces between columns rather than 3 and no edge columns (the blank lines the edge gave
    # around the grid come from the title and from _rich instead)
    rt = RichTable(title=Text(t.title + ("\n" if tight else "")), title_justify="left", title_style="bold",
                   box=box.SIMPLE_HEAD, caption=Text(t.caption) if t.caption else None, caption_justify="left",
                   show_edge=not tight,
                   padding=(0, 0, 0, 1) if tight else (0, 1))
    n = len(t.columns)
    numeric = [_numberlike(t, i) for i in range(n)]
    cells = [[_cell(r[i]) for r in t.rows if i < len(r)] for i in range(n)]

    def longest_line(texts):
        return max((cell_len(line) for x in texts for line in x.splitlines()), default=1) or 1

    def longest_word(texts, pattern=r"\s+"):
        return max((cell_len(w) for x in texts for w in re.split(pattern, x)), default=1) or 1

    widths: dict[int, int] = {}
    for i, col in enumerate(t.columns):
        if numeric[i]:
            widest = longest_line(cells[i])
            header = col
            if tight:
                widths[i] = max(widest, longest_word([col], r"(?<=/)|\s+"))
                header = _header_lines(col, widths[i])
            rt.add_column(Text(header, no_wrap=False, overflow="fold"), justify="right", no_wrap=True,
                          min_width=widest)
        else:
            rt.add_column(Text(col), justify="left", overflow="fold")
    for row in t.rows:
        rt.add_row(*(Text(_cell(v)) for v in row))  # literal: a "[red]" in a name is text, not markup
    if not tight:
        return rt

    text = [i for i in range(n) if not numeric[i]]
    # What is not cell text in a tight table: one separator between columns (no edges) and the left padding
    # of each column.
    chrome = (n - 1) + n
    room = width - chrome - sum(widths.values())
    natural = [longest_line([t.columns[i], *cells[i]]) for i in text]
    floors = [longest_word([t.columns[i], *cells[i]]) for i in text]  # a word is never split
    if room < sum(floors):  # the whole words do not fit: the caller lays the rows out as records instead
        return None
    for i, w in zip(text, _fit(natural, floors, room)):
        widths[i] = max(w, 1)
    for i, column in enumerate(rt.columns):
        column.width = widths[i]
    return rt


def _records(t: Table, console) -> None:
    """A table too wide for the terminal, one block per row: its first cell, then one `column  value`
    line per other cell (the value on a line of its own when both do not fit). Fits any width without
    splitting a word or a number."""
    from rich.cells import cell_len
    from rich.padding import Padding
    from rich.text import Text

    console.print(Text(t.title, style="bold"))
    console.print()
    label = min(max((cell_len(c) for c in t.columns[1:]), default=0), console.width // 2)
    for row in t.rows:
        console.print(Padding(Text(_cell(row[0])), (0, 0, 0, 2)))
        for column, value in zip(t.columns[1:], row[1:]):
            text = _cell(value)
            if not text:
                continue
            if 4 + max(label, cell_len(column)) + 2 + cell_len(text) <= console.width:
                console.print(Text(f"    {column:<{label}}  {text}"), soft_wrap=True)
            else:
                console.print(Padding(Text(column), (0, 0, 0, 4)))
                console.print(Padding(Text(text), (0, 0, 0, 6)))
    if t.caption:
        console.print(Text(t.caption))


def _natural_width(t: Table) -> int:
    """An upper bound of the width `_rich_table(t)` takes unsqueezed: each column's longest line plus its
    padding (1 + 1), the separators and the two edges. Cheap, so a table that clearly fits is not measured
    by rich first (which lays it out once more)."""
    from rich.cells import cell_len

    n = len(t.columns)
    widest = [max([cell_len(line) for text in [t.columns[i], *(_cell(r[i]) for r in t.rows if i < len(r))]
                   for line in text.splitlines() or [""]]) for i in range(n)]
    return sum(widest) + 2 * n + (n + 1)


def _rich(tables: list[Table], notes: list[str], console=None) -> None:
    """Tables and notes for people, on `console` (default: a rich Console on stdout, sized to the terminal)."""
    from rich.console import Console
    from rich.text import Text

    # Text as written: no markup, emoji codes or highlighting in names a user typed ("[red]", ":x:", "$…$")
    console = console or Console(markup=False, emoji=False, highlight=False)
    for t in tables:
        if t.lines:
            console.print(Text(t.title, style="bold"))
            for row in t.rows:
                cells = [_cell(v) for v in row]
                console.print(Text(f"  {cells[0]} = " + "\n      = ".join(cells[1:])), highlight=False, soft_wrap=True)
            console.print()
            continue
        rt = _rich_table(t)
        unbounded = console.options.update_width(10**6)  # rich's measure of a table already squeezes it to fit
        if _natural_width(t) <= console.width or console.measure(rt, options=unbounded).maximum <= console.width:
            console.print(rt)
            if t.caption:  # a caption is the table's last line: a blank one before the next title
                console.print()
            continue
        rt = _rich_table(t, width=console.width)
        if rt is not None and console.measure(rt, options=unbounded).maximum <= console.width:
            console.print(rt)
        else:  # whole words and numbers do not fit side by side: one block per row
            _records(t, console)
        console.print()
    for note in notes:
        console.print(Text.assemble(("note:", "dim"), f" {note}"), highlight=False)


# ---------------------------------------------------------------------------------------------------
# The streams: any encoding, closed or failing, never a traceback

# What people read for the few non-ASCII characters k2calc prints, where the stream cannot encode them
# (an ASCII or Latin-1 locale): "≈" -> "~", "×" -> "x", bars -> "#".
_ASCII = {"≈": "~", "×": "x", "−": "-", "–": "-", "—": "-", "…": "...", "·": "*", "β": "beta", "≠": "!=",
          "≥": ">=", "≤": "<=", "→": "->", "█": "#", "▓": "%", "▒": "+", "░": ":", "▏": "|", "▎": "|", "▍": "|",
          "▌": "|", "▋": "|", "▊": "|", "▉": "|", "²": "^2", "’": "'", "‘": "'", "“": '"', "”": '"'}


def _encode_fallback(err: UnicodeError) -> tuple[str, int]:
    """Codec error handler: an ASCII stand-in for what the stream's encoding cannot hold, and a
    replacement for a lone surrogate (a file name's undecodable byte), never an exception."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    text = "".join("?" if "\ud800" <= c <= "\udfff" else _ASCII.get(c, "?") for c in err.object[err.start:err.end])
    return text, err.end  # ASCII only: the UTF-8 encoder accepts nothing else from a handler


class _Sink:
    """Where notes go when stderr is closed: the result must not pay for a note nobody can read."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _Closed:
    """stdout when the process was started with it closed (`>&-`): writing fails with an OSError, which
    the CLI reports as one line, like any other write failure."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        import errno

        raise OSError(errno.EBADF, "stdout is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def guard_streams() -> None:
    """Make stdout and stderr safe to write: a closed stderr swallows notes, a closed stdout fails
    on write (reported by the CLI), and characters a stream cannot encode are replaced, not fatal."""
    import codecs

    codecs.register_error("k2calc", _encode_fallback)
    if sys.stderr is None:
        sys.stderr = _Sink()
    if sys.stdout is None:
        sys.stdout = _Closed()
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="k2calc")
            except (ValueError, OSError):  # a detached or closed stream
                pass


def finish_output() -> None:
    """Flush stdout, so a write failure (a full disk, a closed pipe) surfaces while it can be reported."""
    sys.stdout.flush()


def silence_stdout() -> None:
    """After a write failure: send what is left to /dev/null, so Python's own flush at exit cannot
    fail again and print a second message."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def one_line(message: str) -> str:
    """`message` with its line breaks and other unprintable characters escaped (a typed "4k\\n" shows
    as `4k\\n`): a value the user typed must not split the one line they are told about."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message)


def _stderr(line: str) -> None:
    """Write one line to stderr; if even that fails, the exit code still says what happened."""
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def error_line(message: str) -> None:
    """One line on stderr, no traceback."""
    _stderr(f"error: {one_line(message)}\n")


def warn_line(message: str) -> None:
    _stderr(f"note: {one_line(message)}\n")
