"""The JSON each command writes with `--format json`, as a JSON Schema built from its pydantic models.

`k2calc schema COMMAND` prints it; the tests validate every command's output against it. The
vocabulary is one for every command (README, "JSON vocabulary"): keys are snake_case config-field or
report names; a byte amount ends in `_bytes` (`total_bytes`), a rate starts with its unit
(`bytes_per_token`, `gib_per_sequence`); `tensors` is always a count (rows of tensors are
`tensor_groups`); `layout` is always an object {tp, dp_attention, pp, ep, redundant_experts, mtp}
beside its `layout_label`; `weight_format` is always an object beside its
`weight_format_description`; compare rows carry a stable `key` beside their display `label`.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from pydantic import BaseModel, TypeAdapter, create_model

from .errors import InputError, suggest

COMMANDS = ("params", "presets", "flops", "kv", "checkpoint", "verify", "gpus", "plan", "perf", "check", "compare")


class FormulaJSON(BaseModel):
    """One `--explain` formula: `name = symbolic = numeric = value`."""

    name: str
    symbolic: str
    numeric: str
    value: int


def _with_explain(model: type[BaseModel]) -> type[BaseModel]:
    """The report as `--explain` writes it: its keys plus `explain`, the formulas (absent without it)."""
    return create_model(model.__name__, __base__=model, explain=(Optional[list[FormulaJSON]], None))


def output_type(command: str) -> Any:
    """The type whose JSON `k2calc COMMAND --format json` writes."""
    if command == "params":
        from .analysis.params import ParamReport

        return _with_explain(ParamReport)
    if command == "flops":
        from .analysis.flops import FlopsReport

        return _with_explain(FlopsReport)
    if command == "kv":
        from .analysis.kv import KVReport

        return _with_explain(KVReport)
    if command == "checkpoint":
        from .analysis.checkpoint import CheckpointReport

        return CheckpointReport
    if command == "verify":
        from .analysis.checkpoint import VerifyReport

        return VerifyReport
    if command == "plan":  # one deployment, or with --search the smallest that fit, or with --pd two pools
        from .analysis.perf import PDReport
        from .analysis.plan import PlanReport, SearchReport

        return Union[PlanReport, SearchReport, PDReport]
    if command == "perf":
        from .analysis.perf import PerfReport

        return PerfReport
    if command == "check":
        from .check import CheckReport

        return CheckReport
    if command == "compare":
        from .analysis.comparison import CompareReport

        return CompareReport
    if command == "presets":
        from .presets import PresetInfo

        return list[PresetInfo]
    if command == "gpus":
        from .hardware import GPU

        return list[GPU]
    raise InputError(f"schema: unknown command {command!r}{suggest(command, COMMANDS)}; "
                     f"one of {', '.join(COMMANDS)} (plot writes files, not JSON)")


def json_schema(command: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12, as pydantic writes it) of the command's `--format json` output."""
    schema = TypeAdapter(output_type(command)).json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "title": f"k2calc {command} --format json"}
