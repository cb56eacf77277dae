"""The schema of a config's `quantization_config`, validated at load like the architecture fields.

One pydantic model per object of the Hugging Face configs k2calc reads: DeepSeek's block fp8
(`quant_method: fp8`), compressed-tensors (`config_groups`, `ignore`; Kimi-K2-Thinking / K2.5 int4,
Kimi-K3 mxfp4), ModelOpt (`quant_algo`, NVFP4) and transformers' `modules_to_not_convert` (gpt-oss mxfp4).
Only the types of known keys are checked (unknown keys are kept, as new quantizers add many); which
formats k2calc can size is `checkpoint.weight_format`'s business. To read a new key, add one line to
the model it belongs to.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Optional, Union

try:  # the parser behind re.compile, to inspect a pattern's structure
    from re import _parser as _sre  # Python >= 3.11
except ImportError:  # pragma: no cover
    import sre_parse as _sre  # type: ignore[no-redef]

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

# Bounded like the architecture fields (config.MAX_DIM): a block or group wider than 2^20 values is no format.
Size = Annotated[int, Field(gt=0, le=2**20, strict=True)]
Bits = Annotated[int, Field(gt=0, le=64, strict=True)]


class QuantArgs(BaseModel):
    """compressed-tensors' QuantizationArgs: how one kind of tensor (weights, activations, KV) is quantized."""

    model_config = ConfigDict(extra="allow", frozen=True)

    num_bits: Optional[Bits] = None
    type: Optional[StrictStr] = None  # "int" | "float"
    group_size: Optional[Size] = None
    symmetric: Optional[StrictBool] = None
    strategy: Optional[StrictStr] = None  # "group" | "channel" | "tensor" | "block" | ...
    dynamic: Union[StrictBool, StrictStr, None] = None  # compressed-tensors allows "local"
    block_structure: Union[list[Size], StrictStr, None] = None
    scale_dtype: Optional[StrictStr] = None


class QuantGroup(BaseModel):
    """One entry of compressed-tensors' `config_groups`: the modules it targets and how they are stored."""

    model_config = ConfigDict(extra="allow", frozen=True)

    targets: Optional[list[StrictStr]] = None
    weights: Optional[QuantArgs] = None
    input_activations: Optional[QuantArgs] = None
    output_activations: Optional[QuantArgs] = None
    format: Optional[StrictStr] = None


def _nested_repeat(items: Any, inside: bool = False) -> bool:
    """Whether a parsed regex repeats something that itself repeats, as in `(.*.*)*x`: the shape whose
    backtracking takes exponential time on a module name that does not match."""
    for op, av in items:
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            lo, hi, sub = av
            if inside and hi > 1:
                return True
            if _nested_repeat(sub, inside or hi > 1):
                return True
        elif op is _sre.SUBPATTERN and _nested_repeat(av[-1], inside):
            return True
        elif op is _sre.BRANCH and any(_nested_repeat(alt, inside) for alt in av[1]):
            return True
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT) and _nested_repeat(av[1], inside):
            return True
    return False


def _patterns(values: list[str] | None) -> list[str] | None:
    """`re:` patterns (compressed-tensors' convention) must compile, and not repeat a repeat (matching
    one could hang k2calc): a bad one is named at load."""
    for value in values or ():
        if value.startswith("re:"):
            shown = value if len(value) <= 80 else value[:79] + "…"
            if len(value) > 1000:
                raise ValueError(f"pattern {shown!r} is longer than 1,000 characters")
            try:
                re.compile(value[3:])
            except re.error as e:
                raise ValueError(f"pattern {shown!r} is not a valid regular expression: {e}") from None
            if _nested_repeat(_sre.parse(value[3:])):
                raise ValueError(f"pattern {shown!r} repeats a repeat (it could take forever to match); "
                                 "write it without nested * or +")
    return values


class QuantizationConfig(BaseModel):
    """The `quantization_config` object of a config.json (or of its text_config)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    quant_method: Optional[StrictStr] = None  # "fp8" | "compressed-tensors" | "modelopt" | "mxfp4" | ...
    format: Optional[StrictStr] = None  # compressed-tensors: "pack-quantized", "mxfp4-pack-quantized", ...
    # DeepSeek block fp8
    fmt: Optional[StrictStr] = None  # "e4m3"
    scale_fmt: Optional[StrictStr] = None  # "ue8m0" (DeepSeek-V3.1)
    activation_scheme: Optional[StrictStr] = None
    weight_block_size: Optional[tuple[Size, Size]] = None  # [out, in] of one scale's block
    # compressed-tensors
    config_groups: Optional[dict[StrictStr, QuantGroup]] = None
    ignore: Optional[list[StrictStr]] = None
    kv_cache_scheme: Optional[QuantArgs] = None
    # ModelOpt (NVFP4) and transformers' quantizers
    quant_algo: Optional[StrictStr] = None
    group_size: Optional[Size] = None
    exclude_modules: Optional[list[StrictStr]] = None
    modules_to_not_convert: Optional[list[StrictStr]] = None

    _check_ignore = field_validator("ignore", "exclude_modules", "modules_to_not_convert")(_patterns)


def validate_quantization(data: Any) -> None:
    """Raise pydantic's ValidationError when `data` is not a well-typed quantization_config."""
    QuantizationConfig.model_validate(data)
