"""The one exception type for a user's mistake; the CLI prints it as one line and exits 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: a file, a field, a value, or an option that cannot work.

    The message is already the whole line the user sees, e.g.
    ``config.json: hidden_size: Input should be greater than 0 (got 0)``.
    """


def suggest(word: str, choices: list[str] | tuple[str, ...], n: int = 3) -> str:
    """' (did you mean a, b?)' for the nearest choices, or '' when none is close."""
    import difflib

    near = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    return f" (did you mean {', '.join(near)}?)" if near else ""
