"""What every family's config schema shares: strict dimension types and the fields analyses read.

A family schema subclasses `FamilyConfig`, declares its shape fields (required, strict ints), gives its
optional fields the defaults of transformers' config class for that model_type, and implements
`describe()` -> Architecture. Unknown keys are kept and ignored, as Hugging Face configs carry many.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .description import Architecture, Expr

# Strict: a JSON string "7168" or `true` is a wrong type, not a dimension.
# Upper bounds far beyond any real model keep every figure a finite float (2^40 per dimension) and every
# per-layer walk quick (MAX_LAYERS decoder or MTP layers; real models have about 60).
MAX_DIM = 2**40
MAX_LAYERS = 1024
Dim = Annotated[int, Field(gt=0, le=MAX_DIM, strict=True)]
Count = Annotated[int, Field(ge=0, le=MAX_DIM, strict=True)]
Layers = Annotated[int, Field(gt=0, le=MAX_LAYERS, strict=True)]
LayerCount = Annotated[int, Field(ge=0, le=MAX_LAYERS, strict=True)]


class FamilyConfig(BaseModel):
    """Fields every decoder config has, named as in config.json; subclasses add their family's fields."""

    # defer_build: a family's schema is built when a config of that family is first read, not at start-up.
    # allow_inf_nan=False: a NaN or infinite rope_theta / routed_scaling_factor is a mistake, never a value.
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True, allow_inf_nan=False)

    # model_types this schema reads (the registry's keys), and a label for messages.
    MODEL_TYPES: ClassVar[tuple[str, ...]] = ()
    ARCHITECTURES: ClassVar[tuple[str, ...]] = ()  # `architectures` class names, for configs without model_type
    FIELD_ORDER: ClassVar[tuple[str, ...]] = ()  # display order of fields (comparisons); default: declaration

    model_type: str | None = None
    architectures: list[str] | None = None
    vocab_size: Dim
    hidden_size: Dim
    num_hidden_layers: Layers
    num_attention_heads: Dim
    tie_word_embeddings: bool = False
    max_position_embeddings: Dim | None = None
    rope_theta: float | None = None
    rope_scaling: dict[str, Any] | None = None
    torch_dtype: str | None = None
    quantization_config: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _dtype_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "dtype" in data and data.get("torch_dtype") is None:
            data = {**data, "torch_dtype": data["dtype"]}  # transformers >= 4.56 renamed the key
        return data

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The schema's fields, in display order."""
        rest = tuple(k for k in cls.model_fields if k not in cls.FIELD_ORDER)
        return cls.FIELD_ORDER + rest

    def f(self, name: str) -> Expr:
        """A config field as a symbol of the formulas."""
        return Expr(name, getattr(self, name))

    def describe(self) -> Architecture:  # pragma: no cover - every family implements it
        raise NotImplementedError
