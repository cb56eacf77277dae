"""The `k2calc` command line: parses options, calls the library, hands the result to the renderer.

No arithmetic here. Every user mistake surfaces as an `InputError`, printed as one line on stderr
with exit code 2.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import InputError
from .render import Format, emit, error_line, warn_line

app = typer.Typer(
    name="k2calc",
    help=(
        "Parameters, FLOPs, KV cache and GPU memory of DeepSeek-V3-family models (Kimi-K2, DeepSeek-V3/R1/V3.1/V3.2, "
        "Moonlight, DeepSeek-V2), computed from the config.\n\n"
        "Example:  k2calc params --preset kimi-k2"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Options shared by every model command, declared once.
PresetOpt = Annotated[Optional[str], typer.Option("--preset", "-p", help="Preset name (see `k2calc presets`).")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="config.json, YAML preset file, or model folder.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a config field, FIELD=VALUE (repeatable).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def handle_errors(fn):
    """Turn a user's mistake into one stderr line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            error_line(str(e))
            raise typer.Exit(2) from None

    return wrapper


def resolve_model(preset: str | None, config: Path | None, sets: list[str] | None):
    from .config import load_path, load_preset

    if preset and config:
        raise InputError("give either --preset or --config, not both")
    if config is not None:
        return load_path(config, sets)
    if preset:
        return load_preset(preset, sets)
    raise InputError("no model given: use --preset NAME (see `k2calc presets`) or --config PATH")


def _notes_to_stderr(spec, fmt: Format) -> None:
    """Machine formats carry notes in their data; say them on stderr too so nobody misses them."""
    if fmt is not Format.table and fmt is not Format.markdown:
        for note in spec.notes:
            warn_line(note)


@app.command()
@handle_errors
def params(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
           tensors: Annotated[bool, typer.Option("--tensors", help="Also list every tensor with its shape formula.")] = False,
           format: FormatOpt = Format.table) -> None:
    """Total, active and MTP parameters, by component, layer type and tensor.

    Example:  k2calc params --preset kimi-k2 --format json
    """
    from .params import count_params
    from .views import params_tables

    spec = resolve_model(preset, config, set_)
    report = count_params(spec)
    _notes_to_stderr(spec, format)
    emit(report, params_tables(report, tensors), format, report.notes)


@app.command()
@handle_errors
def presets(format: FormatOpt = Format.table) -> None:
    """List the built-in model presets, each with its source.

    Example:  k2calc presets
    """
    from .presets import list_presets
    from .views import presets_table

    items = list_presets()
    emit([p.__dict__ for p in items], presets_table(items), format)



def main() -> None:
    app()


if __name__ == "__main__":
    main()
