"""k2calc: parameters, FLOPs, KV cache and GPU memory of open-weight LLMs (DeepSeek-V3 family, Qwen3, Llama-style GQA models), from the config.

    import k2calc
    m = k2calc.load("kimi-k2")
    m.params().total          # 1026408232448
    m.kv(context=131072)      # KVReport

The API loads lazily, so `import k2calc` (and the CLI) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["InputError", "Model", "check_file", "compare", "load"]

if TYPE_CHECKING:
    from .api import Model, check_file, compare, load
    from .errors import InputError


def __getattr__(name: str):
    if name in ("Model", "check_file", "compare", "load"):
        from . import api

        return getattr(api, name)
    if name == "InputError":
        from .errors import InputError

        return InputError
    raise AttributeError(f"module 'k2calc' has no attribute {name!r}")
