"""The loaders: a config file, preset or model folder -> the family's validated config (`ModelSpec`).

The family schema is chosen by `model_type` (arch.family_for); each lives in `arch/` with its adapter to
the normalized `Architecture`. Shape fields are required (a missing one is an error that names it);
optional fields take the defaults of transformers' config class for that model_type. Unknown keys are
kept and ignored, as Hugging Face configs carry many. Loaders accept a config.json, a YAML preset, a
model folder, a preset name, or the reference repo's `ModelArgs` JSON; multimodal configs (Kimi-K2.5)
are read through their `text_config`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .arch import TEXT_MODEL_TYPES, Architecture, FamilyConfig, all_fields, family_for, supported
from .arch.deepseek import DeepseekConfig, from_model_args, is_model_args
from .errors import InputError, suggest
from .quantization import QuantizationConfig, validate_quantization
from .inputs import (MAX_CONFIG_BYTES, Malformed, clip, echo, parse_json, parse_yaml, path_kind, printable, read_text,
                     show_path, user_path)

if TYPE_CHECKING:
    from .arch.tensors import Tensor

# The family schemas live in arch/ (one adapter per family); DeepSeek's is the historical ModelConfig.
ModelConfig = DeepseekConfig


@dataclass
class ModelSpec:
    """A loaded model: its validated config and where it came from."""

    name: str
    config: FamilyConfig  # the family's validated config (Hugging Face field names)
    source: str
    description: str = ""
    notes: list[str] = field(default_factory=list)  # said to the user on stderr, never silently dropped
    checkpoint_prefix: str = ""  # "language_model." for multimodal checkpoints
    # A multimodal config as read (outer fields, text_config, vision_config): k2calc/arch/vision.py builds the tower.
    multimodal_config: dict[str, Any] | None = None
    quant_config_path: str | None = None  # the hf_quant_config.json the weight format was read from

    @property
    def multimodal_type(self) -> str | None:
        return (self.multimodal_config or {}).get("model_type")

    @property
    def vision_config(self) -> dict[str, Any] | None:
        return (self.multimodal_config or {}).get("vision_config")

    @cached_property
    def arch(self) -> Architecture:
        """The normalized architecture every analysis reads."""
        return self.config.describe()

    @cached_property
    def vision(self) -> tuple[list[Tensor], str | None, list[str]]:
        """The vision tower and projector tensors, the tower's name, and notes (arch/vision.py):
        ([], None, []) for a text-only model; ([], None, [note]) when the tower has no builder."""
        if self.multimodal_config is None:
            return [], None, []
        from .arch.vision import vision_from_config

        return vision_from_config(self.multimodal_config, self.source)


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
        if outer in TEXT_MODEL_TYPES:
            text.setdefault("model_type", TEXT_MODEL_TYPES[outer])
        vision = " (and its vision_config: params, checkpoint and plan count the tower)" if "vision_config" in raw else ""
        notes.append(f"{outer} is multimodal: reading its text_config{vision}")
        if "quantization_config" not in text and isinstance(raw.get("quantization_config"), dict):
            text["quantization_config"] = raw["quantization_config"]
        return text, "language_model."
    if is_model_args(raw):
        notes.append("read as the reference repo's ModelArgs (inference/configs): no MTP module in it")
        return from_model_args(raw), ""
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
        if key not in all_fields():
            raise InputError(f"--set {clip(item)}: unknown field {echo(key)}{suggest(key, all_fields())}")
        try:
            out[key] = parse_yaml(value, f"--set {clip(item)}") if value.strip() else None
        except Malformed:  # too deep, an alias bomb, a huge integer: refused like in a file
            out[key] = value  # not YAML: the text itself (a field wanting a number then names it)
    return out


def build_config(
    raw: dict[str, Any], where: str, overrides: dict[str, Any] | None = None, notes: list[str] | None = None
) -> tuple[FamilyConfig, str]:
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
    family = family_for(fields)
    if family is None:
        raise InputError(f"{where}: model_type {echo(fields.get('model_type'))} is not supported "
                         f"(supported: {supported()})")
    try:
        config = family.model_validate(fields)
        if config.quantization_config is not None:
            validate_quantization(config.quantization_config)
        notes += model_type_notes(config, fields)
        return config, prefix
    except ValidationError as e:
        loc = e.errors(include_url=False)[0]["loc"]
        if e.title == QuantizationConfig.__name__:
            loc = ("quantization_config", *loc)
        if overrides and loc and loc[0] in overrides:
            where = f"{where} with --set {loc[0]}={echo(overrides[loc[0]])}"  # the user's what-if, not the file
        raise InputError(_format_validation(where, e, loc[:1] if e.title == QuantizationConfig.__name__ else ())) from None


# Fields only DeepSeek's multi-head latent attention reads: another family's config holding them most
# likely carries the wrong model_type.
MLA_FIELDS = ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")


def model_type_notes(cfg: FamilyConfig, fields: dict[str, Any]) -> list[str]:
    """One line when the model_type contradicts the fields: merely odd (the model_type chooses the schema
    and the fields it reads), so the config is read, but the user should know what was ignored."""
    if isinstance(cfg, DeepseekConfig):
        mt = cfg.model_type or "deepseek_v3"
        if mt == "deepseek_v32" and not cfg.has_indexer:
            return ["model_type deepseek_v32 without index_n_heads / index_head_dim / index_topk: read without "
                    "V3.2's lightning indexer"]
        if mt != "deepseek_v32" and cfg.has_indexer:
            return [f"model_type {echo(mt)} with V3.2's indexer fields: the indexer is counted, norms stay "
                    f"{cfg.torch_dtype or 'bfloat16'} (V3.2 stores them in float32)"]
        return []
    ignored = [k for k in MLA_FIELDS if k in fields and k not in type(cfg).model_fields]
    if ignored:
        return [f"model_type {echo(cfg.model_type)} reads no {', '.join(ignored)} (DeepSeek MLA fields): they are "
                "ignored; if this is a DeepSeek-family model, fix its model_type"]
    return []


def typo_warnings(fields: dict[str, Any], where: str, known: tuple[str, ...]) -> list[str]:
    """Unknown keys one edit away from a field of the family that reads them (`known`): almost always a
    typo in a hand-written preset."""
    import difflib

    out = []
    for key in fields:
        if isinstance(key, str) and key not in known:
            near = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
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
        if name == "config":  # .../DeepSeek-V3/config.json is DeepSeek-V3, as its folder would be
            name = p.absolute().parent.name or name
    where = show_path(p)
    raw = read_mapping(p)
    notes: list[str] = []
    description = ""
    preset_file = isinstance(raw.get("config"), dict)  # a preset file: metadata around the config
    if preset_file:
        description = _text(raw, "description", "", where)
        name = _text(raw, "name", name, where)
        raw = raw["config"]
    config, prefix = build_config(raw, where, parse_overrides(sets), notes)
    if preset_file:
        notes[:0] = typo_warnings(raw, where, type(config).field_names())
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
    """A built-in preset, by name or by its Hugging Face repo id (`moonshotai/Kimi-K2-Instruct`)."""
    from .presets import preset_path

    path = preset_path(name)
    spec = load_path(path, sets, quant_config)
    spec.source = f"preset {path.stem}"
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


_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # owner/name, as the Hub spells repo ids


def load(ref: str | Path, sets: list[str] | None = None) -> ModelSpec:
    """A preset name, or a path to a config file or model folder; `NAME@FIELD=VALUE,...` adds overrides."""
    from .presets import find_preset

    ref, inline = split_ref(ref)
    p = user_path(ref)
    exists = is_existing_path(ref)
    # a path when it exists or looks like one; a Hugging Face repo id ("deepseek-ai/DeepSeek-V3") that is
    # not a local folder names the preset published under it
    pathlike = any(s in str(ref) for s in ("/", "\\", ".json", ".yaml", ".yml"))
    if (pathlike and not exists and find_preset(str(ref)) is None and _REPO_ID.fullmatch(str(ref))
            and not str(ref).lower().endswith((".json", ".yaml", ".yml"))):
        from .presets import suggest_presets

        near = suggest_presets(str(ref))
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise InputError(f"{clip(str(ref))}: no such file, nor the Hugging Face repo id of a preset{hint}; "
                         "`k2calc presets` lists them (k2calc never downloads a config)")
    if exists or (pathlike and find_preset(str(ref)) is None):
        spec = load_path(p, [*inline, *(sets or [])])
    else:
        spec = load_preset(str(ref), [*inline, *(sets or [])])
    if inline:
        spec.name = f"{spec.name}@{','.join(inline)}"  # the variant is its own model in a comparison
    return spec
