"""The architecture config of a DeepSeek-V3-family model, and the loaders that read it.

One pydantic model (`ModelConfig`) holds the Hugging Face `config.json` fields that define the model.
Shape fields are required (a missing one is an error that names it: we never fill in DeepSeek-V3's
numbers); optional fields take the defaults of the reference modeling code. Unknown keys are kept
and ignored, as Hugging Face configs carry many. Loaders accept a config.json, a YAML preset, a
model folder, a preset name, or the reference repo's `ModelArgs` JSON; multimodal configs (Kimi-K2.5)
are read through their `text_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InputError, suggest
from .quantization import QuantizationConfig, validate_quantization
from .inputs import (MAX_CONFIG_BYTES, Malformed, clip, echo, parse_json, parse_yaml, path_kind, printable, read_text,
                     show_path, user_path)

# Strict: a JSON string "7168" or `true` is a wrong type, not a dimension.
# Upper bounds far beyond any real model keep every figure a finite float (2^40 per dimension) and every
# per-layer walk quick (MAX_LAYERS decoder or MTP layers; real models have about 60).
MAX_DIM = 2**40
MAX_LAYERS = 1024
Dim = Annotated[int, Field(gt=0, le=MAX_DIM, strict=True)]
Count = Annotated[int, Field(ge=0, le=MAX_DIM, strict=True)]
Layers = Annotated[int, Field(gt=0, le=MAX_LAYERS, strict=True)]


class ModelConfig(BaseModel):
    """Architecture fields of a DeepSeek-V3-family model, named as in the Hugging Face config.json."""

    # allow_inf_nan=False: a NaN or infinite rope_theta / routed_scaling_factor is a mistake, never a value.
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    model_type: str | None = None
    architectures: list[str] | None = None

    # Shapes: required, every one of them.
    vocab_size: Dim
    hidden_size: Dim
    intermediate_size: Dim  # dense MLP width (the first_k_dense_replace layers)
    moe_intermediate_size: Dim  # width of one routed or shared expert
    num_hidden_layers: Layers
    num_attention_heads: Dim
    kv_lora_rank: Dim  # width of the compressed KV latent, the part MLA caches
    qk_nope_head_dim: Dim
    qk_rope_head_dim: Dim  # the decoupled RoPE key, shared by all heads and cached
    v_head_dim: Dim
    n_routed_experts: Dim
    num_experts_per_tok: Dim

    # Optional shapes, defaults as in the reference modeling code.
    q_lora_rank: Dim | None = None  # None: one q_proj instead of q_a_proj / q_b_proj
    n_shared_experts: Count | None = 0
    first_k_dense_replace: Count = 0
    moe_layer_freq: Dim = 1
    num_nextn_predict_layers: Annotated[int, Field(ge=0, le=MAX_LAYERS, strict=True)] = 0
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    topk_method: str | None = None  # defaulted by model_type below
    # DeepSeek-V3.2's lightning indexer (all three or none).
    index_n_heads: Dim | None = None
    index_head_dim: Dim | None = None
    index_topk: Dim | None = None

    # Routing and RoPE: no shape, shown in comparisons.
    n_group: Dim | None = None
    topk_group: Dim | None = None
    scoring_func: str | None = None
    routed_scaling_factor: float | None = None
    norm_topk_prob: bool | None = None
    rope_theta: float | None = None
    rope_scaling: dict[str, Any] | None = None
    max_position_embeddings: Dim | None = None
    num_key_value_heads: Dim | None = None  # MLA ignores it (every head reads the one latent)
    torch_dtype: str | None = None
    quantization_config: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if data.get("n_shared_experts") is None:
                data["n_shared_experts"] = 0
            if data.get("topk_method") is None:
                # DeepseekV2Config defaults to "greedy" (no bias), DeepseekV3Config to "noaux_tc".
                v2 = data.get("model_type") == "deepseek_v2"
                data["topk_method"] = "greedy" if v2 else "noaux_tc"
            if "dtype" in data and data.get("torch_dtype") is None:
                data["torch_dtype"] = data["dtype"]  # transformers >= 4.56 renamed the key
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.num_experts_per_tok > self.n_routed_experts:
            raise ValueError(
                f"num_experts_per_tok ({self.num_experts_per_tok}) is larger than "
                f"n_routed_experts ({self.n_routed_experts})"
            )
        if self.first_k_dense_replace > self.num_hidden_layers:
            raise ValueError(
                f"first_k_dense_replace ({self.first_k_dense_replace}) is larger than "
                f"num_hidden_layers ({self.num_hidden_layers})"
            )
        indexer = [self.index_n_heads, self.index_head_dim, self.index_topk]
        if any(v is not None for v in indexer) and any(v is None for v in indexer):
            raise ValueError("index_n_heads, index_head_dim and index_topk go together: give all three or none")
        if self.index_head_dim is not None and self.index_head_dim < self.qk_rope_head_dim:
            raise ValueError(
                f"index_head_dim ({self.index_head_dim}) is smaller than qk_rope_head_dim ({self.qk_rope_head_dim})"
            )
        if self.n_group and self.topk_group and self.topk_group > self.n_group:
            raise ValueError(f"topk_group ({self.topk_group}) is larger than n_group ({self.n_group})")
        if self.n_group and self.n_routed_experts % self.n_group:
            # Group-limited routing views the scores as [n_group, n_routed_experts / n_group] (reference
            # MoEGate, vLLM's grouped_topk): a remainder is no model.
            raise ValueError(f"n_group ({self.n_group}) does not divide n_routed_experts ({self.n_routed_experts})")
        return self

    # Derived widths, named as in the reference code.
    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def n_shared(self) -> int:
        return self.n_shared_experts or 0

    @property
    def has_router_bias(self) -> bool:
        """`noaux_tc` routing adds `e_score_correction_bias`, one float per routed expert."""
        return self.topk_method == "noaux_tc"

    @property
    def has_indexer(self) -> bool:
        return self.index_n_heads is not None

    def is_moe_layer(self, layer_idx: int) -> bool:
        """MoE when past the first dense layers and on the `moe_layer_freq` grid (reference code, vLLM)."""
        return layer_idx >= self.first_k_dense_replace and layer_idx % self.moe_layer_freq == 0


FIELDS: tuple[str, ...] = tuple(ModelConfig.model_fields)

# The DeepSeek-V3 reference repo's `inference/configs/*.json` use `ModelArgs` names.
MODEL_ARGS_NAMES = {
    "dim": "hidden_size",
    "inter_dim": "intermediate_size",
    "moe_inter_dim": "moe_intermediate_size",
    "n_layers": "num_hidden_layers",
    "n_dense_layers": "first_k_dense_replace",
    "n_heads": "num_attention_heads",
    "n_activated_experts": "num_experts_per_tok",
    "n_expert_groups": "n_group",
    "n_limited_groups": "topk_group",
    "route_scale": "routed_scaling_factor",
    "score_func": "scoring_func",
}


@dataclass
class ModelSpec:
    """A loaded model: its validated config and where it came from."""

    name: str
    config: ModelConfig
    source: str
    description: str = ""
    notes: list[str] = field(default_factory=list)  # said to the user on stderr, never silently dropped
    checkpoint_prefix: str = ""  # "language_model." for multimodal checkpoints
    # A multimodal config as read (outer fields, text_config, vision_config): k2calc/vision.py builds the tower.
    multimodal_config: dict[str, Any] | None = None
    quant_config_path: str | None = None  # the hf_quant_config.json the weight format was read from

    @property
    def multimodal_type(self) -> str | None:
        return (self.multimodal_config or {}).get("model_type")

    @property
    def vision_config(self) -> dict[str, Any] | None:
        return (self.multimodal_config or {}).get("vision_config")


# ---------------------------------------------------------------------------------------------------
# Reading files


def parse_document(text: str, where: str, suffix: str = "") -> Any:
    """JSON, or YAML for a .yaml/.yml file or text that is not JSON (k2calc.inputs bounds both)."""
    if suffix.lower() in (".yaml", ".yml"):
        return parse_yaml(text, where)
    try:
        return parse_json(text, where)
    except Malformed:
        if suffix.lower() == ".json":
            raise
        return parse_yaml(text, where)


def read_mapping(path: Path, what: str = "config file", max_bytes: int = MAX_CONFIG_BYTES) -> dict[str, Any]:
    """The top-level object of a JSON or YAML file (anything else is a user error); `what` and `max_bytes`
    name the kind of file and cap its size (k2calc.inputs.read_text)."""
    data = parse_document(read_text(path, what, max_bytes), show_path(path), path.suffix)
    if not isinstance(data, dict):
        raise InputError(f"{show_path(path)}: expected an object of config fields at the top level, got {_kind(data)}")
    return data


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


# ---------------------------------------------------------------------------------------------------
# From raw mapping to ModelConfig


def _unwrap(raw: dict[str, Any], notes: list[str]) -> tuple[dict[str, Any], str]:
    """Find the language model's fields in a raw config; returns (fields, checkpoint prefix)."""
    if isinstance(raw.get("text_config"), dict):
        text = dict(raw["text_config"])
        outer = raw.get("model_type") or "multimodal"
        vision = " (and, for params and checkpoint only, its vision_config)" if "vision_config" in raw else ""
        notes.append(f"{outer} is multimodal: reading its text_config{vision}")
        if "quantization_config" not in text and isinstance(raw.get("quantization_config"), dict):
            text["quantization_config"] = raw["quantization_config"]
        return text, "language_model."
    if "dim" in raw and "hidden_size" not in raw and "n_layers" in raw:
        notes.append("read as the reference repo's ModelArgs (inference/configs): no MTP module in it")
        text = {MODEL_ARGS_NAMES.get(k, k): v for k, v in raw.items()}
        text.setdefault("topk_method", "noaux_tc")  # the reference Gate adds the bias for V3's dim 7168
        return text, ""
    return raw, ""


def _format_validation(where: str, err: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """pydantic's first error as one line: where, the field's dotted path (under `prefix`), message, value."""
    errors = err.errors(include_url=False)
    first = errors[0]
    loc = ".".join(echo(p) if not isinstance(p, (str, int)) else str(p)[:80] for p in (*prefix, *first["loc"]))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        line = f"{where}: {loc}: required field is missing (it defines a tensor shape)"
    elif loc:
        line = f"{where}: {loc}: {msg} (got {echo(first['input'])})"
    else:
        line = f"{where}: {msg}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return line


def parse_overrides(sets: list[str] | None) -> dict[str, Any]:
    """`--set FIELD=VALUE` pairs; VALUE is read as a YAML scalar (512, null, true, 1.5)."""
    out: dict[str, Any] = {}
    for item in sets or []:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise InputError(f"--set {clip(item)}: expected FIELD=VALUE, e.g. --set n_routed_experts=512")
        if key not in FIELDS:
            raise InputError(f"--set {clip(item)}: unknown field {echo(key)}{suggest(key, FIELDS)}")
        try:
            out[key] = parse_yaml(value, f"--set {clip(item)}") if value.strip() else None
        except Malformed:  # too deep, an alias bomb, a huge integer: refused like in a file
            out[key] = value  # not YAML: the text itself (a field wanting a number then names it)
    return out


def build_config(
    raw: dict[str, Any], where: str, overrides: dict[str, Any] | None = None, notes: list[str] | None = None
) -> tuple[ModelConfig, str]:
    """Validate raw config fields (after --set overrides); errors name `where`, the field and value."""
    notes = notes if notes is not None else []
    fields, prefix = _unwrap(raw, notes)
    if overrides:
        for key, value in overrides.items():
            notes.append(f"what-if: {key} = {echo(value)} (was {echo(fields.get(key))})")
        fields = {**fields, **overrides}
    bad = next((k for k in fields if not isinstance(k, str)), None)
    if bad is not None:
        raise InputError(f"{where}: key {echo(bad)}: field names are strings")
    try:
        config = ModelConfig.model_validate(fields)
        if config.quantization_config is not None:
            validate_quantization(config.quantization_config)
        notes += model_type_notes(config)
        return config, prefix
    except ValidationError as e:
        loc = e.errors(include_url=False)[0]["loc"]
        if e.title == QuantizationConfig.__name__:
            loc = ("quantization_config", *loc)
        if overrides and loc and loc[0] in overrides:
            where = f"{where} with --set {loc[0]}={echo(overrides[loc[0]])}"  # the user's what-if, not the file
        raise InputError(_format_validation(where, e, loc[:1] if e.title == QuantizationConfig.__name__ else ())) from None


# model_type values whose checkpoints k2calc knows; each one changes a fact the fields do not say (V2's
# greedy routing, V3.2's float32 norms, Kimi-K2's stored inv_freq buffers).
KNOWN_MODEL_TYPES = ("deepseek_v2", "deepseek_v3", "deepseek_v32", "kimi_k2")


def model_type_notes(cfg: ModelConfig) -> list[str]:
    """One line for a model_type the fields contradict, or one k2calc does not know: merely odd, as the
    fields define the shapes, but the model_type's own facts are then assumed or left out."""
    mt = cfg.model_type
    if mt is None:
        return []
    if mt not in KNOWN_MODEL_TYPES:
        return [f"model_type {echo(mt)} is not one k2calc knows ({', '.join(KNOWN_MODEL_TYPES)}): read by its "
                "fields as a DeepSeek-V3-family model"]
    if mt == "deepseek_v32" and not cfg.has_indexer:
        return ["model_type deepseek_v32 without index_n_heads / index_head_dim / index_topk: read without "
                "V3.2's lightning indexer"]
    if mt != "deepseek_v32" and cfg.has_indexer:
        return [f"model_type {mt} with V3.2's indexer fields: the indexer is counted, norms stay "
                f"{cfg.torch_dtype or 'bfloat16'} (V3.2 stores them in float32)"]
    return []


def typo_warnings(fields: dict[str, Any], where: str) -> list[str]:
    """Unknown keys one edit away from a known field: almost always a typo in a hand-written preset."""
    import difflib

    out = []
    for key in fields:
        if isinstance(key, str) and key not in FIELDS:
            near = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.85)
            if near:
                out.append(f"{where}: unknown field {echo(key)} is ignored (did you mean {near[0]!r}?)")
    return out


# ---------------------------------------------------------------------------------------------------
# Entry points


HF_QUANT_CONFIG = "hf_quant_config.json"  # NVIDIA ModelOpt's description of a checkpoint's weight format


def _quant_config_beside(p: Path) -> Path | None:
    """hf_quant_config.json beside config.json, or X.hf_quant_config.json beside X.config.json."""
    if p.name == "config.json":
        q = p.with_name(HF_QUANT_CONFIG)
    elif p.name.endswith(".config.json"):
        q = p.with_name(p.name.removesuffix(".config.json") + "." + HF_QUANT_CONFIG)
    else:
        return None
    return q if path_kind(q) == "file" else None


def read_quant_config(path: Path) -> dict[str, Any]:
    """An hf_quant_config.json as a quantization_config: its `quantization` object under quant_method
    `modelopt` (how vLLM and SGLang read it), validated like a config's."""
    raw = read_mapping(path)
    where = show_path(path)
    q = raw.get("quantization")
    if not isinstance(q, dict):
        raise InputError(f"{where}: quantization: expected an object (ModelOpt's hf_quant_config.json), got {echo(q)}")
    q = {"quant_method": "modelopt", **q}
    try:
        validate_quantization(q)
    except ValidationError as e:
        raise InputError(_format_validation(where, e, ("quantization",))) from None
    return q


def _has_quantization(raw: dict[str, Any]) -> bool:
    text = raw.get("text_config")
    return bool(raw.get("quantization_config")) or (isinstance(text, dict) and bool(text.get("quantization_config")))


def load_path(path: str | Path, sets: list[str] | None = None, quant_config: str | Path | None = None) -> ModelSpec:
    """Load a config.json, a YAML preset file, or a model folder holding config.json.

    The weight format comes from the config's quantization_config; an hf_quant_config.json beside the
    config (or `quant_config`, which takes precedence over both) describes it when the config does not."""
    p = user_path(path)
    if path_kind(p) == "dir":
        cfg = p / "config.json"
        if path_kind(cfg) != "file":
            raise InputError(f"{show_path(p)}: folder has no config.json")
        p, name = cfg, p.resolve().name
    else:
        name = p.stem.removesuffix(".config")  # deepseek-v3.config.json -> deepseek-v3, mine.yaml -> mine
    where = show_path(p)
    raw = read_mapping(p)
    notes: list[str] = []
    description = ""
    if isinstance(raw.get("config"), dict):  # a preset file: metadata around the config
        description = _text(raw, "description", "", where)
        name = _text(raw, "name", name, where)
        raw = raw["config"]
        notes += typo_warnings(raw, where)
    config, prefix = build_config(raw, where, parse_overrides(sets), notes)
    qpath = user_path(quant_config, "--quant-config ") if quant_config is not None else None
    if qpath is None and not _has_quantization(raw):
        qpath = _quant_config_beside(p)
    if qpath is not None:
        config = config.model_copy(update={"quantization_config": read_quant_config(qpath)})
        notes.append(f"weight format read from {show_path(qpath)}")
    spec = ModelSpec(printable(name), config, where, description, notes, prefix)
    spec.quant_config_path = show_path(qpath) if qpath is not None else None
    if isinstance(raw.get("text_config"), dict) and isinstance(raw.get("vision_config"), dict):
        spec.multimodal_config = raw
    return spec


def _text(raw: dict[str, Any], key: str, default: str, where: str) -> str:
    """A preset's metadata string (a name or description that is a list or number is a mistake)."""
    value = raw.get(key, default)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # `name: 5` reads as the name "5"
    if not isinstance(value, str):
        raise InputError(f"{where}: {key}: expected a string, got {echo(value)}")
    return printable(value[:1000])


def load_preset(name: str, sets: list[str] | None = None, quant_config: str | Path | None = None) -> ModelSpec:
    from .presets import preset_path

    spec = load_path(preset_path(name), sets, quant_config)
    spec.source = f"preset {name}"
    return spec


def split_ref(ref: str | Path) -> tuple[str | Path, list[str]]:
    """'kimi-k2@num_attention_heads=128,n_routed_experts=512' -> ('kimi-k2', [overrides]).

    Lets one command line name a model and its what-if variant side by side (`k2calc compare`).
    """
    text = str(ref)
    base, at, tail = text.rpartition("@")
    if not at or "=" not in tail or not base or is_existing_path(text):
        return ref, []
    return base, [item for item in tail.split(",") if item.strip()]


def is_existing_path(ref: str | Path) -> bool:
    """Whether something exists at `ref` (a name the OS cannot look up, such as a long `NAME@FIELD=VALUE`, is
    no path: it is read as a preset name or reference)."""
    try:
        return path_kind(user_path(ref)) is not None
    except InputError:
        return False


def load(ref: str | Path, sets: list[str] | None = None) -> ModelSpec:
    """A preset name, or a path to a config file or model folder; `NAME@FIELD=VALUE,...` adds overrides."""
    ref, inline = split_ref(ref)
    if is_existing_path(ref) or any(s in str(ref) for s in ("/", "\\", ".json", ".yaml", ".yml")):
        spec = load_path(ref, [*inline, *(sets or [])])
    else:
        spec = load_preset(str(ref), [*inline, *(sets or [])])
    if inline:
        spec.name = f"{spec.name}@{','.join(inline)}"  # the variant is its own model in a comparison
    return spec
