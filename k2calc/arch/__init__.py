"""The ground floor: what a model is. Family adapters turn a config into one `Architecture`.

The registry maps a config's `model_type` (or, without one, its `architectures`) to the family schema
that reads it. Adding a family = an adapter module and one entry in FAMILY_CLASSES:

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

from typing import Any

from .deepseek import DeepseekConfig
from .deepseek_v4 import DeepseekV4Config
from .kimi_linear import KimiLinearConfig
from .description import Architecture, describe
from .llama import LlamaConfig, MistralConfig, Olmo2Config, Qwen2Config, Qwen3Config, Qwen3MoeConfig, SmolLM3Config
from .gemma3 import Gemma3TextConfig
from .glm import Glm4MoeConfig
from .gpt_oss import GptOssConfig
from .llama4 import Llama4TextConfig
from .schema import FamilyConfig

FAMILY_CLASSES: tuple[type[FamilyConfig], ...] = (
    DeepseekConfig, DeepseekV4Config, KimiLinearConfig, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config,
    Qwen3MoeConfig, Olmo2Config, SmolLM3Config, Gemma3TextConfig, GptOssConfig, Llama4TextConfig, Glm4MoeConfig,
)
FAMILIES: dict[str, type[FamilyConfig]] = {t: cls for cls in FAMILY_CLASSES for t in cls.MODEL_TYPES}
DEFAULT_FAMILY = DeepseekConfig
# A multimodal config's text_config without its own model_type is this one (transformers' sub-config class).
TEXT_MODEL_TYPES = {"gemma3": "gemma3_text", "llama4": "llama4_text", "mistral3": "mistral"}  # a config with neither model_type nor a known architecture


def supported() -> str:
    return ", ".join(FAMILIES)


def family_for(fields: dict[str, Any]) -> type[FamilyConfig] | None:
    """The schema for a config's fields; None for a model_type no adapter reads."""
    model_type = fields.get("model_type")
    if isinstance(model_type, str) and model_type:
        return FAMILIES.get(model_type)
    archs = fields.get("architectures")
    if isinstance(archs, list):
        for cls in FAMILY_CLASSES:
            if any(a in cls.ARCHITECTURES for a in archs if isinstance(a, str)):
                return cls
    return DEFAULT_FAMILY


ALL_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for cls in FAMILY_CLASSES for f in cls.field_names()))

__all__ = ["ALL_FIELDS", "Architecture", "FAMILIES", "FamilyConfig", "TEXT_MODEL_TYPES", "describe", "family_for",
           "supported"]
