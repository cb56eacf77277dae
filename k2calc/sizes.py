"""Reading sizes typed on the command line: context lengths and token counts.

Two conventions, because the field uses two:
- Context lengths are binary, as model cards use them: `4k` = 4,096 tokens, `128k` = 131,072,
  `1M` = 1,048,576. (`parse_context`)
- Token counts are decimal, as training budgets are quoted: `15.5T` = 15,500,000,000,000 tokens,
  `1.5M` = 1,500,000. Suffixes k, M, B (or G), T. (`parse_count`)
Plain integers are taken as they are in both. Values must come out as whole numbers.
"""

from __future__ import annotations

from decimal import Decimal, DecimalException

from .errors import InputError
from .inputs import clip

_BINARY = {"": 1, "k": 2**10, "m": 2**20}
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}

# Upper bounds: far beyond any real model or budget, low enough that every figure stays a finite float.
MAX_CONTEXT = 2**40  # tokens in one sequence (1T, binary)
MAX_COUNT = 10**18  # tokens of a training budget
MAX_CONTEXTS = 1000  # lengths in one --context list: a table row each, computed in well under a second
MAX_INT = 2**40  # batch, page size, GPUs, redundant experts, layout sizes: same reasoning as MAX_CONTEXT

# Memory units, one definition for analyses and views alike: GiB binary (memory), GB decimal (disk).
GIB = 2**30
GB = 10**9


# One default-context rule for every command (and the API): a sweep covers 4k to 128k, one sequence
# length is the model's context window.
DEFAULT_SWEEP = [4096, 32768, 131072]  # 4k, 32k, 128k: flops, compare's FLOPs rows
PLOT_SWEEP = [2**n for n in range(12, 18)]  # the same range, every power of two, for a curve: plot kv|flops
CONTEXT_RULE = ("Context defaults (every command): one sequence length is the model's max_position_embeddings, "
                "its context window, as vLLM's --max-model-len defaults to (compare: the longest --context "
                "given, else the shortest of the models' windows); a sweep is 4k, 32k, 128k (plots: every "
                "power of two from 4k to 128k).")


def context_window(specs) -> int:
    """The default sequence length: the model's max_position_embeddings, or for several models the
    shortest of theirs (each is then read at a length it supports)."""
    windows = []
    for spec in specs:
        if spec.config.max_position_embeddings is None:
            raise InputError(f"{spec.name}: config has no max_position_embeddings: give --context (e.g. 128k)")
        windows.append(spec.config.max_position_embeddings)
    return min(windows)


def _parse(text: str, option: str, scale: dict[str, int], example: str, minimum: int, maximum: int,
           maximum_text: str) -> int:
    shown = text
    text = clip(text, 60)  # what messages echo
    if any(not c.isprintable() and not c == " " for c in shown):
        # `$'4k\n'` or a tab: typed by no one; a script's stray byte should not pass as a size
        raise InputError(f"{option} {text}: contains a control character")
    raw = shown.strip().replace("_", "").replace(",", "")
    suffix = raw[-1:].lower() if raw[-1:].isalpha() else ""
    if suffix not in scale:
        raise InputError(f"{option} {text}: unknown size suffix {raw[-1]!r} (use e.g. {example})")
    number = raw[: len(raw) - len(suffix)]
    try:
        value = Decimal(number) * scale[suffix]
    except DecimalException:  # not a number, or an exponent beyond what decimal holds
        raise InputError(f"{option} {text}: not a number (use e.g. {example})") from None
    if not value.is_finite():
        raise InputError(f"{option} {text}: must be a finite number of tokens (use e.g. {example})")
    if value > maximum:
        raise InputError(f"{option} {text}: too large (at most {maximum_text} tokens)")
    if value != value.to_integral_value():
        raise InputError(f"{option} {text}: must be a whole number of tokens (use e.g. {example})")
    if value < minimum:
        raise InputError(f"{option} {text}: must be at least {minimum}")
    return int(value)


def parse_context(text: str, option: str = "--context", minimum: int = 1) -> int:
    """A context length: 4096, 4k (= 4096), 128k (= 131072), 1M (= 1048576)."""
    return _parse(text, option, _BINARY, "4096, 4k = 4096, 128k = 131072", minimum, MAX_CONTEXT,
                  f"2^40 = {MAX_CONTEXT:,}")


def parse_contexts(text: str, option: str = "--context", minimum: int = 1) -> list[int]:
    """A comma-separated list of context lengths: '4k,32k,128k' -> [4096, 32768, 131072]."""
    items = [s for s in text.split(",") if s.strip()]
    if not items:
        raise InputError(f"{option} {clip(text)!r}: no context length given (use e.g. 4k,32k,128k)")
    if len(items) > MAX_CONTEXTS:
        raise InputError(f"{option}: {len(items):,} context lengths; at most {MAX_CONTEXTS:,} (one table row each)")
    return [parse_context(s, option, minimum) for s in items]


def parse_count(text: str, option: str, minimum: int = 1) -> int:
    """A token count, decimal prefixes: 15.5T = 15.5·10^12, 2M = 2·10^6."""
    return _parse(text, option, _DECIMAL, "15.5T = 15.5·10^12 tokens", minimum, MAX_COUNT, "10^18")


def plain_number(x: float) -> str:
    """A number as people write it in prose: 8000000.0 -> '8,000,000', 12.5 -> '12.5' (never '8e+06')."""
    return f"{x:,f}".rstrip("0").rstrip(".")


def format_context(tokens: int) -> str:
    """A context length as people write it, the inverse of parse_context: 131072 -> '128k', 5000 -> '5,000'."""
    tokens = int(tokens)
    for div, suffix in ((2**20, "M"), (2**10, "k")):
        if tokens >= div and tokens % div == 0:
            return f"{tokens // div}{suffix}"
    return f"{tokens:,}"
