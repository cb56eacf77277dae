"""Weight formats and checkpoint bytes: what a checkpoint stores for each tensor of the symbolic model.

Every stored tensor is derived from `build_tensors(cfg)`: a weight in a given format becomes one or
more stored tensors (the weight itself, its scales, packing metadata), each with a safetensors dtype
and a shape. Bytes are `numel × dtype bytes`, summed. The same per-tensor rule (`stored_parts`) serves
the memory plan, applied to a shard's shape instead of the full one.

Formats (the config's `quantization_config` chooses by default; `--weights` overrides it):

- `bf16`: every tensor in the config's `torch_dtype` (bf16), the router's `e_score_correction_bias` in
  float32 (as the DeepSeek-V3 and Kimi-K2 checkpoints store it).
- `fp8` (DeepSeek-V3 / Kimi-K2 checkpoints, `quant_method: fp8`): the matmul weights of attention, dense
  MLP, shared and routed experts (the MTP layer's too) in e4m3, each with a float32
  `<name>_scale_inv` of ceil(out/128) × ceil(in/128) blocks (`weight_block_size`). Embeddings, lm_head,
  the MTP `eh_proj` and `shared_head.head`, norms and the router weight stay bf16; the router bias is
  float32. DeepSeek-V3.2's indexer `weights_proj` stays bf16 (its reference `inference/model.py` says
  so) and V3.2 stores every norm in float32 (SOURCES.md).
- `int4` (compressed-tensors `pack-quantized`, Kimi-K2-Thinking / K2.5): each quantized Linear weight
  becomes `weight_packed` int32 [out, ceil(in/8)] (eight 4-bit values per int32, packed along the
  input dimension), `weight_scale` bf16 [out, ceil(in/group_size)] and `weight_shape` int32 [2]
  (compressed-tensors' PackedQuantizationCompressor; int32 as the Kimi releases store it); asymmetric schemes add `weight_zero_point`
  int32 [ceil(out/8), groups]. Modules matching the config's `ignore` list stay bf16; the router
  weight (a parameter of MoEGate, not a Linear) and the embeddings are never quantized.
- `fp8-channel` (compressed-tensors `float-quantized`, weights strategy `channel`; GLM-4.5-FP8): the same
  weights as `fp8` in e4m3, each with a `weight_scale` of one value per output channel [out, 1] (bf16, the
  model's dtype, an assumption: only element counts are pinned). The config's `ignore` list applies.
- `mxfp4` (gpt-oss, `quant_method: mxfp4`): routed-expert weights as OCP MXFP4: `<proj>_blocks` uint8
  [E, out, in/32, 16] (two e2m1 values per byte) and `<proj>_scales` uint8 [E, out, in/32] (one e8m0
  exponent per 32 values), experts fused per layer as the release stores them (`gate_up_proj`, gate and
  up rows interleaved, and `down_proj`, with `_bias` beside them in bf16). `modules_to_not_convert`
  (attention, router, embeddings, lm_head) stay bf16.
- `nvfp4` (NVIDIA ModelOpt, `quant_method: modelopt`, `quant_algo: NVFP4`, from the config's
  quantization_config or the `hf_quant_config.json` beside it): each quantized Linear keeps its name
  `weight`, as U8 [out, ceil(in/2)] (two e2m1 values per byte, packed along the input dimension), with
  `weight_scale` F8_E4M3 [out, ceil(in/group_size)] (one scale per 16 values), and two float32 scalars
  (shape []): the global `weight_scale_2` and the static activation scale `input_scale` (ModelOpt's
  examples/deepseek/quantize_to_nvfp4.py and unified HF export). Modules matching `exclude_modules` /
  `ignore` (globs, `*` any text) stay in the config's dtype (the DeepSeek releases' fp8 weights
  dequantized to bf16, as ModelOpt writes them); the router and the embeddings are never quantized.

Checkpoint quirks that are facts of one release rather than of the architecture are listed in
`_quirks` with their source.
"""

from __future__ import annotations

import re
import struct
from fnmatch import fnmatchcase
from dataclasses import dataclass
from math import ceil, prod
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel

from ..arch.schema import FamilyConfig as ModelConfig
from ..config import ModelSpec
from ..errors import InputError
from ..inputs import MAX_INDEX_BYTES, echo, open_regular, parse_json, path_kind, show_path, user_path
from ..sizes import GIB
from ..arch.tensors import VISION_KINDS, Kind, Tensor, Use, build_tensors

# Bytes per element of the safetensors dtypes a checkpoint may hold.
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1,
}
TORCH_DTYPES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}
FORMATS = ("bf16", "fp8", "fp8-channel", "int4", "mxfp4", "nvfp4")
MXFP4_BLOCK = 32  # values per shared e8m0 scale (OCP microscaling)

# Defaults for a format forced on a config that does not describe it (`--weights fp8` on a bf16 model).
FP8_BLOCK_DEFAULT = (128, 128)  # DeepSeek-V3's weight_block_size
INT4_GROUP_DEFAULT = 32  # Kimi-K2-Thinking / K2.5
INT4_IGNORE_DEFAULT = (  # Kimi-K2.5's text_config ignore list, plus the MTP module's projections
    "lm_head", "re:.*self_attn.*", "re:.*shared_experts.*", r"re:.*mlp\.(gate|up|gate_up|down)_proj.*",
    r"re:.*\.(eh_proj|shared_head\.head)$",
)

NVFP4_GROUP_DEFAULT = 16  # NVFP4 has one scale per 16 values by definition
NVFP4_EXCLUDE_DEFAULT = (  # --weights nvfp4 on a config without one: nvidia's Kimi-K2.5-NVFP4 exclusions
    "lm_head", "*self_attn*", "*.eh_proj", "*.shared_head.head",  # (attention, lm_head) + the MTP projections
)

# Kinds whose matmul weights the DeepSeek fp8 checkpoints quantize (MTP_PROJ, embeddings, heads, router: no).
_FP8_KINDS = {Kind.ATTENTION, Kind.DENSE_MLP, Kind.SHARED_EXPERTS, Kind.ROUTED_EXPERTS}


class WeightFormat(BaseModel):
    """How the weights are stored: the format and the parameters read from `quantization_config`."""

    # "release": no quantization_config rule; each tensor as its family's release stores it (Tensor.store: Kimi-K3)
    name: Literal["bf16", "fp8", "fp8-channel", "int4", "mxfp4", "nvfp4", "release"]
    from_config: bool  # False when --weights forced it
    base_dtype: str = "BF16"  # unquantized tensors
    fp8_dtype: str = "F8_E4M3"
    block: tuple[int, int] = FP8_BLOCK_DEFAULT  # fp8 [out, in] block of one scale
    scale_fmt: str | None = None  # fp8: "ue8m0" (DeepSeek-V3.1): power-of-two scales, still stored float32
    group_size: int = INT4_GROUP_DEFAULT
    num_bits: int = 4
    symmetric: bool = True
    int4_scale_dtype: str = "BF16"
    ignore: tuple[str, ...] = ()  # int4 / fp8-channel: compressed-tensors' ignore (`re:` regexes or exact
    # names); mxfp4: modules_to_not_convert (globs)
    exclude: tuple[str, ...] = ()  # nvfp4: ModelOpt's exclude_modules / ignore (globs)
    source: str = ""  # where the format was read, when not the config.json itself
    release: str | None = None  # a family whose release fixes its own per-tensor layout (Tensor.store)
    # fp8-channel: GLM-4.5-FP8 also stores its MTP layer's shared_head.head in fp8 (see weight_format).
    quantize_mtp_head: bool = False
    # Set by serving_format when an engine holds the unquantized tensors in another dtype than the checkpoint
    # stores them (a float32 checkpoint under --dtype auto): the stored dtype and the --dtype that chose.
    stored_dtype: str | None = None
    dtype_flag: str | None = None

    def shard_unit(self, rows: bool) -> tuple[int, str]:
        """The rows (or columns) a shard of a quantized weight must be a multiple of, and what they are."""
        if self.name == "fp8":
            return (self.block[0] if rows else self.block[1]), "fp8 block"
        if self.name in ("int4", "nvfp4"):
            return (1 if rows else self.group_size), f"{self.name} group"
        # mxfp4: vLLM pads each expert shard's intermediate size up to its kernel alignment (mxfp4.py
        # round_up) rather than refusing, so gpt-oss runs at TP 8 (360 columns); the padding is not counted.
        return 1, "channel"

    @property
    def label(self) -> str:
        """Short name of the weights as held: the format, or the dtype of unquantized weights (bf16, fp16, fp32)."""
        if self.name == "release":
            return "as-released"  # each tensor as the family's release stores it (Kimi-K3)
        if self.name != "bf16":
            return self.name
        return {"BF16": "bf16", "F16": "fp16", "F32": "fp32"}.get(self.base_dtype, self.base_dtype)

    def describe(self) -> str:
        text = self._describe()
        if self.stored_dtype:
            text += f"; unquantized tensors served in {self.base_dtype} (--dtype {self.dtype_flag})"
        return text

    def _describe(self) -> str:
        src = ("forced by --weights" if not self.from_config else f"from {self.source}" if self.source
               else "from the config")
        if self.release and self.from_config:
            return f"{self.release}, {src}"
        if self.name == "fp8":
            extra = f", scale_fmt {self.scale_fmt}" if self.scale_fmt else ""
            return (f"fp8 ({self.fp8_dtype}, one float32 scale per {self.block[0]}×{self.block[1]} block{extra}), "
                    f"{src}")
        if self.name == "fp8-channel":
            return (f"fp8 ({self.fp8_dtype}, one {self.base_dtype} scale per output channel; "
                    f"{len(self.ignore)} ignore patterns), {src}")
        if self.name == "mxfp4":
            return (f"mxfp4 routed experts (uint8 blocks of two e2m1 values, one uint8 e8m0 scale per "
                    f"{MXFP4_BLOCK} values), the rest {self.base_dtype}, {src}")
        if self.name == "int4":
            sym = "symmetric" if self.symmetric else "asymmetric"
            return (f"int4 weight-only (compressed-tensors pack-quantized, group {self.group_size}, "
                    f"{self.int4_scale_dtype} scales, {sym}; {len(self.ignore)} ignore patterns), {src}")
        if self.name == "nvfp4":
            return (f"nvfp4 (ModelOpt: e2m1 weights two per byte, one F8_E4M3 scale per {self.group_size} values, "
                    f"float32 global and input scales; {len(self.exclude)} exclude patterns), {src}")
        if self.base_dtype == "BF16" and not self.stored_dtype:
            return f"bf16 (BF16), {src}"
        return f"unquantized ({self.stored_dtype or self.base_dtype}), {src}"  # describe() adds how it is served

    @property
    def assumed_note(self) -> str | None:
        """Said whenever bf16 was inferred from the absence of any quantization description."""
        if self.name == "bf16" and self.from_config:
            return (f"weight format: the config has no quantization_config (and no hf_quant_config.json was "
                    f"found), so the checkpoint is sized as {self.stored_dtype or self.base_dtype}; if it is quantized, pass "
                    "--weights or --quant-config FILE")
        return None


def _base_dtype(cfg: ModelConfig, source: str = "") -> str:
    """The safetensors dtype of the config's `torch_dtype` (bf16 when the config does not say)."""
    name = cfg.torch_dtype or "bfloat16"
    if name not in TORCH_DTYPES:
        raise InputError(f"{source}torch_dtype {echo(name)}: unknown weight dtype (accepted: {', '.join(TORCH_DTYPES)})")
    return TORCH_DTYPES[name]


def config_where(spec: ModelSpec) -> str:
    """How weight_format's errors name the model's quantization_config: its file, or `preset NAME` (or
    the hf_quant_config.json it was read from)."""
    if spec.quant_config_path:
        return f"{spec.quant_config_path}: quantization"
    return f"{spec.source}: quantization_config"


def spec_format(spec: ModelSpec, override: str | None = None) -> WeightFormat:
    """weight_format for a loaded model, naming the hf_quant_config.json the format was read from."""
    fmt = weight_format(spec.config, override, config_where(spec))
    if spec.quant_config_path and fmt.from_config:
        fmt = fmt.model_copy(update={"source": spec.quant_config_path})
    return fmt


# `--dtype`, named after vLLM's and SGLang's flag: the dtype an engine holds unquantized weights in.
SERVING_DTYPES = {"auto": None, **TORCH_DTYPES}


def serving_dtype(stored: str, dtype: str = "auto", engine: str = "generic", model_type: str = "") -> str:
    """The safetensors dtype a serving engine holds the unquantized tensors of a `stored` checkpoint in.

    `auto` keeps a 16-bit checkpoint's dtype and downcasts float32 to 16 bits: vLLM to its platform's first
    supported dtype, bfloat16 on every GPU since Ampere (vllm/config/model.py `_resolve_auto_dtype`,
    vllm/platforms/cuda.py `supported_dtypes`); SGLang to float16, bfloat16 for Gemma 2
    (python/sglang/srt/configs/model_config.py `_get_and_verify_dtype`). Both are 2 bytes per value."""
    if dtype not in SERVING_DTYPES:
        raise InputError(f"--dtype {dtype}: unknown dtype (choose from {', '.join(SERVING_DTYPES)})")
    if dtype != "auto":
        return TORCH_DTYPES[dtype]
    if stored != "F32":
        return stored
    return "F16" if engine == "sglang" and model_type != "gemma2" else "BF16"


def serving_format(spec: ModelSpec, override: str | None = None, dtype: str = "auto",
                   engine: str = "generic") -> WeightFormat:
    """spec_format as an engine serves it: the unquantized tensors in `serving_dtype` (a float32 checkpoint
    is held in 16 bits under --dtype auto); `checkpoint` keeps the stored dtype (spec_format)."""
    fmt = spec_format(spec, override)
    base = serving_dtype(fmt.base_dtype, dtype, engine, spec.config.model_type)
    if base == fmt.base_dtype:
        return fmt
    return fmt.model_copy(update={"base_dtype": base, "stored_dtype": fmt.base_dtype, "dtype_flag": dtype})


def weight_format(cfg: ModelConfig, override: str | None = None, where: str = "quantization_config") -> WeightFormat:
    """The config's weight format, or the one `--weights` asks for (with the config's parameters if any).

    `where` prefixes errors in the quantization_config (callers holding the spec pass `config_where(spec)`,
    which names the file the config came from)."""
    if override is not None and override not in FORMATS:
        raise InputError(f"--weights {override}: unknown weight format (choose from {', '.join(FORMATS)})")
    q = cfg.quantization_config or {}
    method = q.get("quant_method")
    stored = base = _base_dtype(cfg, where.removesuffix("quantization_config").removesuffix("quantization"))
    if override == "bf16":
        base = "BF16"  # --weights bf16 means bf16 weights, whatever dtype the config's torch_dtype names
    native: str
    if not q:
        native = "bf16"
    elif method == "fp8":
        native = "fp8"
    elif method == "compressed-tensors" and q.get("format") == "pack-quantized":
        native = "int4"
    elif method == "compressed-tensors" and q.get("format") == "float-quantized":
        native = "fp8-channel"
    elif method == "mxfp4":
        native = "mxfp4"
    elif method == "modelopt" and str(q.get("quant_algo", "")).upper() == "NVFP4":
        native = "nvfp4"
    elif method == "compressed-tensors" and q.get("format") == "mxfp4-pack-quantized" and \
            getattr(type(cfg), "RELEASE_FORMAT", None):
        native = "release"  # Kimi-K3: which tensors are MXFP4 is the family's release layout (Tensor.store)
    else:
        native = "?"
    name = override or native
    if name == "?":
        raise InputError(
            f"{where}: quant_method {echo(method)} ({_variant(q)}) is not a weight format k2calc models; "
            f"pass --weights {'|'.join(FORMATS)}"
        )
    from_config = name == native and base == stored
    release = getattr(type(cfg), "RELEASE_FORMAT", None) if from_config else None
    if name == "fp8":
        block = tuple(q.get("weight_block_size") or FP8_BLOCK_DEFAULT) if native == "fp8" else FP8_BLOCK_DEFAULT
        if len(block) != 2 or not all(isinstance(b, int) and b > 0 for b in block):
            raise InputError(f"{where}: weight_block_size: expected two positive integers, got {echo(block)}")
        fmt = str(q.get("fmt", "e4m3")) if native == "fp8" else "e4m3"
        if fmt not in ("e4m3", "e5m2"):
            raise InputError(f"{where}: fmt: unknown fp8 format {echo(fmt)} (e4m3 or e5m2)")
        return WeightFormat(name="fp8", from_config=from_config, base_dtype=base, fp8_dtype=f"F8_{fmt.upper()}",
                            block=block, scale_fmt=q.get("scale_fmt") if native == "fp8" else None, release=release)
    if name == "fp8-channel":
        ignore = ()
        if native == "fp8-channel":
            w = _one_weights_group(q, where)
            if w.get("num_bits") != 8 or w.get("type") != "float" or w.get("strategy") != "channel":
                raise InputError(f"{where}: weights: expected fp8 per channel (num_bits 8, type float, strategy "
                                 f"channel), got num_bits {w.get('num_bits')!r}, type {w.get('type')!r}, "
                                 f"strategy {w.get('strategy')!r}")
            ignore = tuple(q.get("ignore") or ())
        # GLM-4.5-FP8 (SOURCES.md): 88,543 tensors, 358,458,543,424 elements = every attention, dense and
        # expert Linear (the MTP layer's too) with a per-channel scale, plus one vocab×hidden head: the
        # MTP layer's shared_head.head (its top-level lm_head is ignored, its eh_proj stays bf16).
        return WeightFormat(name="fp8-channel", from_config=from_config, base_dtype=base, ignore=ignore,
                            quantize_mtp_head=cfg.model_type == "glm4_moe")
    if name == "mxfp4":
        keep = tuple(q.get("modules_to_not_convert") or ()) if native == "mxfp4" else ()
        return WeightFormat(name="mxfp4", from_config=from_config, base_dtype=base, ignore=keep)
    if name == "int4":
        if native != "int4":
            return WeightFormat(name="int4", from_config=False, base_dtype=base, ignore=INT4_IGNORE_DEFAULT)
        w = _one_weights_group(q, where)
        bits, gsize = w.get("num_bits"), w.get("group_size")
        if bits != 4 or w.get("type", "int") != "int":
            raise InputError(f"{where}: weights: expected int4 (num_bits 4, type int), got "
                             f"num_bits {echo(bits)}, type {echo(w.get('type'))}")
        if not isinstance(gsize, int) or gsize <= 0:
            raise InputError(f"{where}: weights.group_size: expected a positive integer, got {echo(gsize)}")
        return WeightFormat(name="int4", from_config=True, base_dtype=base, group_size=gsize, num_bits=bits,
                            symmetric=bool(w.get("symmetric", True)), ignore=tuple(q.get("ignore") or ()))
    if name == "nvfp4":
        if native != "nvfp4":
            return WeightFormat(name="nvfp4", from_config=False, base_dtype=base, group_size=NVFP4_GROUP_DEFAULT,
                                exclude=NVFP4_EXCLUDE_DEFAULT)
        return _nvfp4_format(q, base, where)
    if name == "release":
        return WeightFormat(name="release", from_config=True, base_dtype=base, group_size=MX_GROUP, release=release)
    return WeightFormat(name="bf16", from_config=from_config, base_dtype=base, release=release)


def _one_weights_group(q: dict[str, Any], where: str) -> dict[str, Any]:
    """The `weights` scheme of a compressed-tensors config's single config group."""
    groups = q.get("config_groups") or {}
    weights = [g.get("weights") or {} for g in groups.values() if isinstance(g, dict)]
    if len(weights) != 1:
        raise InputError(f"{where}: config_groups: expected one group, got {len(weights)}")
    return weights[0]


def _variant(q: dict[str, Any]) -> str:
    """What names the variant of a quant_method: ModelOpt's quant_algo, else compressed-tensors' format."""
    if "quant_algo" in q:
        return f"quant_algo {echo(q['quant_algo'])}"
    return f"format {echo(q.get('format'))}"


def _nvfp4_format(q: dict[str, Any], base: str, where: str) -> WeightFormat:
    """ModelOpt's NVFP4 description, in either form: hf_quant_config.json's `quantization` (group_size,
    exclude_modules) or a config.json quantization_config (config_groups' weights group_size, ignore)."""
    gsize = q.get("group_size")
    if gsize is None:
        groups = [g for g in (q.get("config_groups") or {}).values() if isinstance(g, dict)]
        sizes = {(g.get("weights") or {}).get("group_size") for g in groups}
        gsize = sizes.pop() if len(sizes) == 1 else None
    if gsize != NVFP4_GROUP_DEFAULT:
        raise InputError(f"{where}: group_size: NVFP4 has one scale per {NVFP4_GROUP_DEFAULT} values, got {echo(gsize)}")
    patterns = q.get("exclude_modules", q.get("ignore")) or []
    if not (isinstance(patterns, list) and all(isinstance(x, str) for x in patterns)):
        raise InputError(f"{where}: exclude_modules: expected a list of module names or globs, got {echo(patterns)}")
    return WeightFormat(name="nvfp4", from_config=True, base_dtype=base, group_size=gsize,
                        exclude=tuple(patterns))


# ---------------------------------------------------------------------------------------------------
# Per-tensor storage rules


def _ignored(module: str, patterns: tuple[str, ...], prefix: str) -> bool:
    """compressed-tensors' matching: `re:` patterns by re.match, others by exact module name.

    The name is tried with and without the checkpoint prefix (`language_model.`), as K2.5 lists
    `lm_head` while its module is `language_model.lm_head`.
    """
    names = (module, prefix + module) if prefix else (module,)
    for pat in patterns:
        if pat.startswith("re:"):
            rx = re.compile(pat[3:])
            if any(rx.match(n) for n in names):
                return True
        elif pat in names:
            return True
    return False


def _excluded(module: str, patterns: tuple[str, ...], prefix: str) -> bool:
    """ModelOpt's matching: glob patterns (`*` any text) against the module name, with or without the
    checkpoint prefix (`language_model.`)."""
    names = (module, prefix + module) if prefix else (module,)
    return any(fnmatchcase(n, pat) for pat in patterns for n in names)


def quantized(t: Tensor, fmt: WeightFormat, prefix: str = "") -> bool:
    """Whether the format stores this tensor quantized."""
    if not (t.matmul and len(t.shape) == 2 and t.name.endswith(".weight")):
        return False
    if fmt.name == "fp8":
        # The indexer's weights_proj stays bf16 (DeepSeek-V3.2-Exp inference/model.py says so).
        return t.kind in _FP8_KINDS and not t.module.endswith("weights_proj")
    if fmt.name == "fp8-channel":
        if fmt.quantize_mtp_head and t.mtp and t.kind is Kind.LM_HEAD:
            return True
        return t.kind in _FP8_KINDS and not _ignored(t.name.removesuffix(".weight").replace("{e}", "0"),
                                                     fmt.ignore, prefix)
    if fmt.name == "mxfp4":
        # modules_to_not_convert are globs over module names (model.layers.*.self_attn).
        module = t.name.removesuffix(".weight")
        return t.kind is Kind.ROUTED_EXPERTS and not any(fnmatchcase(module, g) or fnmatchcase(module, g + ".*")
                                                         for g in fmt.ignore)
    if fmt.name == "int4":
        if t.kind in (Kind.EMBEDDING, Kind.ROUTER):  # not nn.Linear modules
            return False
        return not _ignored(t.name.removesuffix(".weight").replace("{e}", "0"), fmt.ignore, prefix)
    if fmt.name == "nvfp4":
        if t.kind in (Kind.EMBEDDING, Kind.ROUTER):  # not nn.Linear modules
            return False
        return not _excluded(t.name.removesuffix(".weight").replace("{e}", "0"), fmt.exclude, prefix)
    return False


def _plain_dtype(t: Tensor, cfg: ModelConfig, fmt: WeightFormat) -> str:
    if t.kind is Kind.ROUTER and t.buffer:
        return "F32"  # e_score_correction_bias: float32 in the V3 and K2 checkpoints (gpt-oss's router.bias: bf16)
    if t.kind is Kind.NORMS and cfg.model_type == "deepseek_v32":
        return "F32"  # SOURCES.md: V3.2 stores every norm (incl. the indexer's k_norm) in float32
    return fmt.base_dtype


# Storage schemes a family's release fixes per tensor (Tensor.store), whatever quantization_config says:
# DeepSeek-V4 stores fp8 linears with one e8m0 byte per 128×128 block under `.scale` (not a float32
# `_scale_inv`), and its routed experts in MXFP4: e2m1 values two per byte (int8, packed along the input
# dimension) with one e8m0 scale byte per 32 inputs (docs/arch-notes/deepseek-v4-kimi-k3.md, SOURCES.md).
MX_GROUP = 32


def _stored_as(t: Tensor, shape: tuple[int, ...], fmt: WeightFormat) -> list[tuple[str, tuple[int, ...], str]]:
    """A tensor stored the way its family's release stores it (`t.store`)."""
    if t.store in DTYPE_BYTES:
        return [(t.name, shape, t.store)]
    out_f, in_f = shape
    base = t.name.removesuffix(".weight")
    if t.store == "fp8-e8m0":
        b0, b1 = fmt.block
        return [(t.name, shape, "F8_E4M3"), (f"{base}.scale", (ceil(out_f / b0), ceil(in_f / b1)), "F8_E8M0")]
    if t.store == "mxfp4":
        return [(t.name, (out_f, ceil(in_f / 2)), "I8"), (f"{base}.scale", (out_f, ceil(in_f / MX_GROUP)), "F8_E8M0")]
    if t.store == "mxfp4-ct":  # compressed-tensors mxfp4-pack-quantized (Kimi-K3): uint8 values and scales
        return [(f"{base}.weight_packed", (out_f, ceil(in_f / 2)), "U8"),
                (f"{base}.weight_scale", (out_f, ceil(in_f / MX_GROUP)), "U8")]
    raise ValueError(f"unknown storage scheme {t.store!r}")  # pragma: no cover - adapters use the ones above


def stored_parts(t: Tensor, shape: tuple[int, ...], fmt: WeightFormat, cfg: ModelConfig, is_q: bool
                 ) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, dtype) of what one copy of `t` with this shape (full or a shard) is stored as."""
    if t.store is not None and (t.store in DTYPE_BYTES or fmt.from_config):
        return _stored_as(t, shape, fmt)  # the release's own layout (dtype pins hold under --weights too)
    if not is_q:
        return [(t.name, shape, _plain_dtype(t, cfg, fmt))]
    out_f, in_f = shape
    base = t.name.removesuffix(".weight")
    if fmt.name == "fp8":
        b0, b1 = fmt.block
        return [(t.name, shape, fmt.fp8_dtype), (t.name + "_scale_inv", (ceil(out_f / b0), ceil(in_f / b1)), "F32")]
    if fmt.name == "fp8-channel":
        return [(t.name, shape, fmt.fp8_dtype), (f"{base}.weight_scale", (out_f, 1), fmt.base_dtype)]
    if fmt.name == "mxfp4":
        groups = ceil(in_f / MXFP4_BLOCK)
        return [(f"{base}_blocks", (out_f, groups, MXFP4_BLOCK // 2), "U8"), (f"{base}_scales", (out_f, groups), "U8")]
    if fmt.name == "nvfp4":
        return [(t.name, (out_f, ceil(in_f / 2)), "U8"),  # two e2m1 values per byte, along the input dim
                (f"{base}.weight_scale", (out_f, ceil(in_f / fmt.group_size)), "F8_E4M3"),
                (f"{base}.weight_scale_2", (), "F32"),  # per-tensor global scale, a 0-dim tensor
                (f"{base}.input_scale", (), "F32")]  # static activation scale, a 0-dim tensor
    per_int32 = 32 // fmt.num_bits
    groups = ceil(in_f / fmt.group_size)
    parts = [(f"{base}.weight_packed", (out_f, ceil(in_f / per_int32)), "I32"),
             (f"{base}.weight_scale", (out_f, groups), fmt.int4_scale_dtype)]
    if not fmt.symmetric:
        parts.append((f"{base}.weight_zero_point", (ceil(out_f / per_int32), groups), "I32"))
    # int32, as the Kimi-K2-Thinking / K2.5 releases store it: with int64 the published K2.5 total_size
    # (SOURCES.md) cannot be reached by any accounting of the other tensors.
    parts.append((f"{base}.weight_shape", (2,), "I32"))
    return parts


def parts_bytes(parts: list[tuple[str, tuple[int, ...], str]]) -> int:
    return sum(prod(shape) * DTYPE_BYTES[dtype] for _, shape, dtype in parts)


@dataclass(frozen=True)
class Stored:
    """One stored tensor (or `copies` of it, one per routed expert)."""

    name: str  # with the checkpoint prefix; "{e}" for the expert index
    shape: tuple[int, ...]
    dtype: str
    copies: int
    kind: str  # the Kind value of the weight it belongs to, or "extra" for a checkpoint quirk
    mtp: bool
    role: str  # weight | scale | packed | shape | zero_point | extra

    @property
    def bytes(self) -> int:
        return prod(self.shape) * DTYPE_BYTES[self.dtype] * self.copies

    @property
    def elements(self) -> int:
        return prod(self.shape) * self.copies


def _role(name: str) -> str:
    for suffix, role in (("_scale_inv", "scale"), (".weight_scale", "scale"), (".weight_scale_2", "scale"),
                         (".input_scale", "scale"), (".scale", "scale"), (".weight_packed", "packed"),
                         ("_blocks", "packed"), ("_scales", "scale"),
                         (".weight_shape", "shape"), (".weight_zero_point", "zero_point")):
        if name.endswith(suffix):
            return role
    return "weight"


# The text-only Kimi-K2 releases store one `rotary_emb.inv_freq` buffer per decoder layer, in their own
# format only (Kimi-K2.5, multimodal, stores none). Facts of each release, not derivable from the config
# (neither is qk_rope_head_dim/2 = 32 values), so they are constants here with their source (SOURCES.md):
# - fp8 (Kimi-K2-Instruct): 56 bf16 values each, from its index and headers;
# - int4 (Kimi-K2-Thinking): 208,276 tensors and total_size 594,205,920,512, which leave 61 tensors of 256
#   bytes each; their dtype and shape are not published here, so they are modelled as 64 float32 values.
KIMI_INV_FREQ = {"fp8": ("BF16", 56, "Kimi-K2-Instruct"), "int4": ("F32", 64, "Kimi-K2-Thinking")}
KIMI_INV_FREQ_LEN = KIMI_INV_FREQ["fp8"][1]


def _quirks(spec: ModelSpec, fmt: WeightFormat) -> tuple[list[Stored], list[str]]:
    """Non-weight tensors a real release stores, keyed on the family, with their source."""
    cfg = spec.config
    text_only_kimi = cfg.model_type == "kimi_k2" and not spec.checkpoint_prefix
    if text_only_kimi and fmt.from_config and fmt.name in KIMI_INV_FREQ:
        dtype, n, release = KIMI_INV_FREQ[fmt.name]
        extra = [Stored(f"model.layers.{i}.self_attn.rotary_emb.inv_freq", (n,), dtype, 1, "extra", False, "extra")
                 for i in range(cfg.num_hidden_layers)]
        note = (f"includes {cfg.num_hidden_layers} rotary_emb.inv_freq buffers of {n} {dtype.lower()} values "
                f"({n * DTYPE_BYTES[dtype]} bytes each), as the {release} {fmt.name} release stores them "
                "(SOURCES.md); an assumption for other kimi_k2 releases")
        return extra, [note]
    return [], []


_FUSED = {"gate_proj": "gate_up_proj", "up_proj": "gate_up_proj", "down_proj": "down_proj"}


def _fused(s: Stored) -> Stored:
    """One expert's stored part as its slice of the layer's fused tensor (Llama 4, gpt-oss layout): a
    weight `experts.{e}.down_proj.weight` [out, in] -> `experts.down_proj` [E, in, out] (input first, as
    transformers and these checkpoints hold it); mxfp4 parts `..._blocks` [out, ...] -> [E, out, ...];
    a bias `experts.{e}.gate_proj.bias` -> `experts.gate_up_proj_bias` [E, out]."""
    prefix, rest = s.name.split(".{e}.")
    proj = next(p for p in _FUSED if rest.startswith(p))
    tail = rest.removeprefix(proj)  # ".weight", ".bias", "_blocks", "_scales"
    if tail == ".weight":
        return Stored(f"{prefix}.{_FUSED[proj]}", (s.copies, *reversed(s.shape)), s.dtype, 1, s.kind, s.mtp, s.role)
    return Stored(f"{prefix}.{_FUSED[proj]}_{tail.lstrip('._')}", (s.copies, *s.shape), s.dtype, 1, s.kind, s.mtp,
                  s.role)


def _fuse_experts(stored: list[Stored]) -> list[Stored]:
    """Join each layer's gate and up slices into one gate_up_proj tensor (their out dims add up: the
    last dim of a weight, the second of the other parts); everything else passes through."""
    out: list[Stored] = []
    index: dict[str, int] = {}
    for s in stored:
        if s.name in index:
            prev = out[index[s.name]]
            axis = len(prev.shape) - 1 if s.role == "weight" and not s.name.endswith("_bias") else 1
            shape = tuple(a + b if k == axis else a for k, (a, b) in enumerate(zip(prev.shape, s.shape)))
            out[index[s.name]] = Stored(s.name, shape, s.dtype, 1, s.kind, s.mtp, s.role)
        else:
            index[s.name] = len(out)
            out.append(s)
    return out


def checkpoint_tensors(spec: ModelSpec, fmt: WeightFormat) -> tuple[list[Stored], list[str]]:
    """Every tensor the checkpoint stores, in model order, and notes on what was assumed."""
    cfg, prefix = spec.config, spec.checkpoint_prefix
    out: list[Stored] = []
    arch = spec.arch
    for t in build_tensors(arch):
        fused = t.use is Use.ROUTED and arch.layer(t.layer).mlp.fused_experts
        for name, shape, dtype in stored_parts(t, t.dims, fmt, cfg, quantized(t, fmt, prefix)):
            s = Stored(prefix + name, shape, dtype, t.copies, t.kind.value, t.mtp, _role(name))
            out.append(_fused(s) if fused else s)
    out = _fuse_experts(out)
    extra, notes = _quirks(spec, fmt)
    out += [Stored(prefix + s.name, s.shape, s.dtype, s.copies, s.kind, s.mtp, s.role) for s in extra]
    vision, _, vision_notes = spec.vision
    # The vision tower and projector as released: unquantized, in the config's dtype, names unprefixed.
    out += [Stored(t.name, t.dims, fmt.base_dtype, t.copies, t.kind.value, False, "weight") for t in vision]
    assumed = [fmt.assumed_note] if fmt.assumed_note else []
    return out, assumed + notes + vision_notes


# ---------------------------------------------------------------------------------------------------
# The report


class DtypeBytes(BaseModel):
    tensors: int
    elements: int
    bytes: int


class PartBytes(BaseModel):
    tensors: int
    bytes: int


class CheckpointReport(BaseModel):
    model: str
    weight_format: WeightFormat
    weight_format_description: str
    tensors: int
    elements: int
    total_bytes: int  # = metadata.total_size of model.safetensors.index.json
    total_gb: float  # 10^9 bytes
    total_gib: float  # 2^30 bytes
    main: PartBytes
    mtp: PartBytes
    vision: PartBytes  # a multimodal checkpoint's vision tower and projector (zero for text-only models)
    by_dtype: dict[str, DtypeBytes]
    by_component: dict[str, int]  # bytes, weights and their scales together; sums to total_bytes
    notes: list[str]


def checkpoint_report(spec: ModelSpec, weights: str | None = None) -> CheckpointReport:
    fmt = spec_format(spec, weights)
    stored, notes = checkpoint_tensors(spec, fmt)
    # Summed in plain lists, the report's models built once at the end (not assigned field by field).
    dtypes: dict[str, list[int]] = {}  # dtype -> [tensors, elements, bytes]
    by_component: dict[str, int] = {}
    parts = {"main": [0, 0], "mtp": [0, 0], "vision": [0, 0]}  # [tensors, bytes]
    vision_kinds = {k.value for k in VISION_KINDS}
    for s in stored:
        d = dtypes.setdefault(s.dtype, [0, 0, 0])
        d[0] += s.copies
        d[1] += s.elements
        d[2] += s.bytes
        key = "mtp" if s.mtp else s.kind
        by_component[key] = by_component.get(key, 0) + s.bytes
        part = parts["mtp" if s.mtp else "vision" if s.kind in vision_kinds else "main"]
        part[0] += s.copies
        part[1] += s.bytes
    by_dtype = {k: DtypeBytes(tensors=t, elements=e, bytes=b) for k, (t, e, b) in dtypes.items()}
    main, mtp, vision = (PartBytes(tensors=t, bytes=b) for t, b in parts.values())
    total = main.bytes + mtp.bytes + vision.bytes
    return CheckpointReport(
        model=spec.name, weight_format=fmt, weight_format_description=fmt.describe(),
        tensors=main.tensors + mtp.tensors + vision.tensors,
        elements=sum(s.elements for s in stored), total_bytes=total, total_gb=total / 1e9, total_gib=total / GIB,
        main=main, mtp=mtp, vision=vision, by_dtype=by_dtype, by_component=by_component, notes=list(spec.notes) + notes,
    )


# ---------------------------------------------------------------------------------------------------
# verify: a local checkpoint's index and safetensors headers against the symbolic model

# The safetensors library refuses headers above 100 MB; a real shard's header is under 2 MB (a whole
# DeepSeek-V3 in one file would be about 12 MB). 16 MiB keeps a hostile header's parse within seconds.
MAX_HEADER_BYTES = 16 * 2**20
MAX_LISTED = 10_000  # missing / extra / mismatched names listed in the report (the counts are complete)
MAX_PROBLEMS = 20  # data-layout problems listed per file


class Mismatch(BaseModel):
    name: str
    expected_dtype: str
    expected_shape: list[int]
    found_dtype: str
    found_shape: list[int]


class VerifyReport(BaseModel):
    model: str
    path: str
    weight_format_description: str
    ok: bool
    expected_tensors: int
    found_tensors: int
    files: int
    headers_read: int  # safetensors files whose header was read (weights never are)
    missing: list[str]  # in the model, not in the checkpoint (the first MAX_LISTED)
    missing_count: int
    extra: list[str]  # in the checkpoint, not in the model (the first MAX_LISTED)
    extra_count: int
    mismatched: list[Mismatch]  # dtype or shape differs (only where a header was read; the first MAX_LISTED)
    mismatched_count: int
    corrupt: list[str]  # data layout problems in the headers read: offsets, sizes, the data section
    expected_bytes: int
    index_total_size: int | None  # metadata.total_size of the index
    header_bytes: int | None  # sum of the tensors' data sizes from the headers, when every file was read
    size_difference: int | None  # found (index total_size, else headers) minus expected
    notes: list[str]


def read_safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """The JSON header of a .safetensors file (8-byte little-endian length, then JSON), and the length of
    the data section after it; never the data."""
    where = show_path(path)
    f, size = open_regular(path, "safetensors file")
    with f:
        try:
            head = f.read(8)
            if len(head) < 8:
                raise InputError(f"{where}: not a safetensors file (shorter than 8 bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise InputError(f"{where}: not a safetensors file (header length {n:,} for a {size:,}-byte file)")
            if n > MAX_HEADER_BYTES:
                raise InputError(f"{where}: a safetensors header of {n:,} bytes is larger than k2calc reads "
                                 f"({MAX_HEADER_BYTES // 2**20} MiB; a real shard's header is under 2 MB)")
            raw = f.read(n)
        except OSError as e:
            raise InputError(f"{where}: cannot read: {e.strerror}") from None
    header = parse_json(raw, f"{where}: safetensors header")
    if not isinstance(header, dict):
        raise InputError(f"{where}: malformed safetensors header: not a JSON object")
    header.pop("__metadata__", None)

    def whole(v: Any) -> bool:
        return type(v) is int and v >= 0

    for name, info in header.items():
        if not isinstance(info, dict):
            raise InputError(f"{where}: malformed safetensors header entry for {echo(name)}: expected an object")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not isinstance(info.get("dtype"), str):
            raise InputError(f"{where}: {echo(name)}: dtype: expected a string, got {echo(info.get('dtype'))}")
        if not (type(shape) is list and all(whole(d) for d in shape)):
            raise InputError(f"{where}: {echo(name)}: shape: expected a list of whole numbers, got {echo(shape)}")
        if not (type(offsets) is list and len(offsets) == 2 and all(whole(o) for o in offsets)):
            raise InputError(f"{where}: {echo(name)}: data_offsets: expected [begin, end] whole numbers, "
                             f"got {echo(offsets)}")
    return header, size - 8 - n


def data_problems(header: dict[str, Any], data_bytes: int) -> list[str]:
    """What the safetensors format forbids in a header's data layout: tensors must tile the data section
    exactly (from byte 0, no gap, no overlap, ending at its end) and each must hold shape × dtype bytes.
    At most MAX_PROBLEMS lines, then a count."""
    out: list[str] = []
    more = 0

    def say(text: str) -> None:
        nonlocal more
        if len(out) < MAX_PROBLEMS:
            out.append(text)
        else:
            more += 1

    pos, last = 0, None
    for begin, end, name in sorted((i["data_offsets"][0], i["data_offsets"][1], n) for n, i in header.items()):
        info = header[name]
        if end < begin:
            say(f"{name}: data_offsets [{begin}, {end}] end before they begin")
            continue
        if begin > pos:
            say(f"{name}: {begin - pos:,} bytes of gap before its data (at byte {pos:,})")
        elif begin < pos:
            say(f"{name}: its data [{begin:,}, {end:,}) overlaps {last}'s")
        size = DTYPE_BYTES.get(info["dtype"])
        if size is not None and end - begin != prod(info["shape"]) * size:
            say(f"{name}: holds {end - begin:,} bytes, shape {info['shape']} × {info['dtype']} needs "
                f"{prod(info['shape']) * size:,}")
        if end > pos:
            pos, last = end, name
    if pos > data_bytes:
        say(f"tensor data ends at byte {pos:,}, past the end of the {data_bytes:,}-byte data section")
    elif pos < data_bytes:
        say(f"{data_bytes - pos:,} bytes of data after the last tensor")
    if more:
        out.append(f"and {more:,} more problems")
    return out


def _read_index(path: Path) -> tuple[dict[str, str], int | None]:
    from ..config import read_mapping

    where = show_path(path)
    raw = read_mapping(path, "checkpoint index", MAX_INDEX_BYTES)
    wm = raw.get("weight_map")
    if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
        raise InputError(f"{where}: weight_map: expected an object of tensor name -> file name")
    for tensor, fname in wm.items():
        parts = PurePosixPath(fname.replace("\\", "/")).parts
        if not parts or fname.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\0" in fname:
            raise InputError(f"{where}: weight_map: {echo(tensor)} -> {echo(fname)}: a shard must be a file "
                             "inside the checkpoint folder")
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InputError(f"{where}: metadata: expected an object, got {echo(metadata)}")
    total = (metadata or {}).get("total_size")
    if total is None:
        return wm, None
    if isinstance(total, str) and total.strip().isdigit() and len(total.strip()) <= 30:
        total = int(total)  # some exporters write it as a string
    elif isinstance(total, float) and total.is_integer():
        total = int(total)
    if type(total) is not int or total < 0:
        raise InputError(f"{where}: metadata.total_size: expected a whole number of bytes, got {echo(total)}")
    return wm, total


def checkpoint_folder(path: str | Path) -> tuple[Path, Path | None]:
    """(folder, index file or None for a single model.safetensors)."""
    p = user_path(path)
    kind = path_kind(p)
    if kind == "file" and p.name.endswith(".index.json"):
        return p.parent, p
    if kind == "dir":
        idx = p / "model.safetensors.index.json"
        if path_kind(idx) is not None:
            return p, idx  # not a regular file: reading it says so
        if path_kind(p / "model.safetensors") is not None:
            return p, None
        raise InputError(f"{show_path(p)}: no model.safetensors.index.json or model.safetensors in this folder")
    if kind is None:
        raise InputError(f"{show_path(p)}: no such file or folder")
    raise InputError(f"{show_path(p)}: expected a checkpoint folder or its model.safetensors.index.json")


_EXPERT = re.compile(r"(?<=\.experts\.)\d+(?=\.)")


class _Expected:
    """The model's stored tensors by name without expanding per-expert names (2^30 experts must not
    become 2^30 strings): a name with an expert index is looked up as its `{e}` template."""

    def __init__(self, stored: list[Stored]):
        self.stored = stored
        self.by_name: dict[str, Stored] = {}
        for s in stored:
            self.by_name[s.name] = s
        self.count = sum(s.copies if "{e}" in s.name else 1 for s in stored)

    def get(self, name: str) -> Stored | None:
        s = self.by_name.get(name)
        if s is not None:
            return None if "{e}" in s.name else s
        m = _EXPERT.search(name)
        if m is None:
            return None
        s = self.by_name.get(name[: m.start()] + "{e}" + name[m.end():])
        digits = m.group()
        if s is None or (len(digits) > 1 and digits[0] == "0") or int(digits) >= s.copies:
            return None
        return s

    def names(self):
        """Every expected name, in model order, one at a time."""
        for s in self.stored:
            if "{e}" in s.name:
                for e in range(s.copies):
                    yield s.name.replace("{e}", str(e))
            else:
                yield s.name


def verify(path: str | Path, spec: ModelSpec, weights: str | None = None) -> VerifyReport:
    folder, index = checkpoint_folder(path)
    fmt = spec_format(spec, weights)
    stored, notes = checkpoint_tensors(spec, fmt)
    expected = _Expected(stored)
    expected_bytes = sum(s.bytes for s in stored)

    if index is not None:
        weight_map, total_size = _read_index(index)
    else:
        weight_map, total_size = {}, None
    files = sorted(set(weight_map.values())) if index is not None else ["model.safetensors"]
    found: dict[str, tuple[str, tuple[int, ...]] | None] = dict.fromkeys(weight_map)
    headers_read, header_bytes = 0, 0
    corrupt: list[str] = []
    for fname in files:
        fpath = folder / fname
        if path_kind(fpath) is None:
            continue
        header, data_bytes = read_safetensors_header(fpath)
        headers_read += 1
        corrupt += [f"{show_path(fname)}: {p}" for p in data_problems(header, data_bytes)]
        for name, info in header.items():
            found[name] = (info["dtype"], tuple(info["shape"]))
            begin, end = info["data_offsets"]
            header_bytes += max(0, end - begin)
            if index is not None and weight_map.get(name) != fname:
                notes.append(f"{show_path(fname)}: tensor {echo(name)} is not mapped to this file in the index")
    if headers_read < len(files):
        notes.append(f"read {headers_read} of {len(files)} safetensors headers (the others are not in "
                     f"{show_path(folder)}): names checked against the index, dtypes and shapes only where a header was read")

    extra: list[str] = []
    mismatched: list[Mismatch] = []
    extra_count = mismatched_count = matched = 0
    for name, got in found.items():
        want = expected.get(name)
        if want is None:
            extra_count += 1
            if len(extra) < MAX_LISTED:
                extra.append(name)
            continue
        matched += 1
        if got is not None and (got[0] != want.dtype or tuple(got[1]) != tuple(want.shape)):
            mismatched_count += 1
            if len(mismatched) < MAX_LISTED:
                mismatched.append(Mismatch(name=name, expected_dtype=want.dtype, expected_shape=list(want.shape),
                                           found_dtype=got[0], found_shape=list(got[1])))
    missing_count = expected.count - matched
    missing: list[str] = []
    if missing_count:
        for name in expected.names():  # stops after MAX_LISTED missing or every missing one found
            if name not in found:
                missing.append(name)
                if len(missing) >= min(MAX_LISTED, missing_count):
                    break
    for what, listed, count in (("missing", missing, missing_count), ("extra", extra, extra_count),
                                ("mismatched", mismatched, mismatched_count)):
        if count > len(listed):
            notes.append(f"{count:,} tensors {what}: the first {len(listed):,} are listed")
    all_headers = headers_read == len(files)
    hb = header_bytes if all_headers else None
    actual = total_size if total_size is not None else hb
    diff = None if actual is None else actual - expected_bytes
    ok = not missing_count and not extra_count and not mismatched_count and not corrupt and (diff in (None, 0))
    return VerifyReport(
        model=spec.name, path=show_path(index or folder / "model.safetensors"), weight_format_description=fmt.describe(),
        ok=ok, expected_tensors=expected.count, found_tensors=len(found), files=len(files), headers_read=headers_read,
        missing=missing, missing_count=missing_count, extra=extra, extra_count=extra_count, mismatched=mismatched,
        mismatched_count=mismatched_count, corrupt=corrupt, expected_bytes=expected_bytes,
        index_total_size=total_size, header_bytes=hb, size_difference=diff, notes=list(spec.notes) + notes,
    )
