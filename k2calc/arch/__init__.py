"""The ground floor: what a model is. Family adapters turn a config into one `Architecture`.

The registry maps a config's `model_type` (or, without one, its `architectures`) to the family schema
that reads it. Adding a family = an adapter module and one entry per model_type in FAMILY_MODULES:

    class Gemma3TextConfig(GQAConfig):          # or FamilyConfig for a new layer shape
        # docstring: "model_type gemma3_text; defaults of transformers' Gemma3TextConfig: ..."
        MODEL_TYPES = ("gemma3_text",)
        sliding_window: Dim = 4096              # optional fields: transformers' defaults
        def window(self, i): ...                # per-layer switches GQAConfig asks for
        # or override describe() -> Architecture and build the Layers yourself

Analyses read only the Architecture; a new kind of tensor (a sink, a bias) is a flag in description.py
and a line in tensors.py's builder.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any

from .description import Architecture, describe
from .schema import FamilyConfig

# model_type -> (adapter module, schema class). Adapters are imported only when a config of their type is
# read, so a CLI call pays for one family, not fourteen. Each class declares the same MODEL_TYPES (a test
# checks that the two agree).
FAMILY_MODULES: dict[str, tuple[str, str]] = {
    "deepseek_v3": ("deepseek", "DeepseekConfig"),
    "deepseek_v32": ("deepseek", "DeepseekConfig"),
    "deepseek_v2": ("deepseek", "DeepseekConfig"),
    "kimi_k2": ("deepseek", "DeepseekConfig"),
    "deepseek_v4": ("deepseek_v4", "DeepseekV4Config"),
    "kimi_linear": ("kimi_linear", "KimiLinearConfig"),
    "llama": ("llama", "LlamaConfig"),
    "mistral": ("llama", "MistralConfig"),
    "qwen2": ("llama", "Qwen2Config"),
    "qwen3": ("llama", "Qwen3Config"),
    "qwen3_moe": ("llama", "Qwen3MoeConfig"),
    "olmo2": ("llama", "Olmo2Config"),
    "smollm3": ("llama", "SmolLM3Config"),
    "gemma3_text": ("gemma3", "Gemma3TextConfig"),
    "gpt_oss": ("gpt_oss", "GptOssConfig"),
    "llama4_text": ("llama4", "Llama4TextConfig"),
    "glm4_moe": ("glm", "Glm4MoeConfig"),
}
DEFAULT_MODEL_TYPE = "deepseek_v3"  # a config with neither model_type nor a known architecture
# A multimodal config's text_config without its own model_type is this one (transformers' sub-config class).
TEXT_MODEL_TYPES = {"gemma3": "gemma3_text", "llama4": "llama4_text", "mistral3": "mistral"}


def family_class(model_type: str) -> type[FamilyConfig]:
    module, name = FAMILY_MODULES[model_type]
    return getattr(import_module(f"{__name__}.{module}"), name)


@cache
def family_classes() -> tuple[type[FamilyConfig], ...]:
    """Every adapter's schema, in registry order (imports them all: for field lists and `architectures`)."""
    return tuple(dict.fromkeys(family_class(t) for t in FAMILY_MODULES))


@cache
def all_fields() -> tuple[str, ...]:
    """Every field some family reads (for --set)."""
    return tuple(dict.fromkeys(f for cls in family_classes() for f in cls.field_names()))


def supported() -> str:
    return ", ".join(FAMILY_MODULES)


def family_for(fields: dict[str, Any]) -> type[FamilyConfig] | None:
    """The schema for a config's fields; None for a model_type no adapter reads."""
    model_type = fields.get("model_type")
    if isinstance(model_type, str) and model_type:
        return family_class(model_type) if model_type in FAMILY_MODULES else None
    archs = fields.get("architectures")
    if isinstance(archs, list):
        for cls in family_classes():
            if any(a in cls.ARCHITECTURES for a in archs if isinstance(a, str)):
                return cls
    return family_class(DEFAULT_MODEL_TYPE)


__all__ = ["Architecture", "FAMILY_MODULES", "FamilyConfig", "TEXT_MODEL_TYPES", "all_fields", "describe",
           "family_class", "family_classes", "family_for", "supported"]
