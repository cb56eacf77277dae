"""Vision towers and multimodal projectors, tensor by tensor, from a multimodal config's `vision_config`.

A multimodal config nests the language model under `text_config` and describes its image encoder in
`vision_config`. Each tower family has one small builder here that lists every tensor its released
checkpoint stores: the checkpoint name (prefix as the checkpoint has it), the shape as a formula over
vision_config fields, and the kind (`vision_tower` or `mm_projector`). These tensors are counted apart
from the language model (`params`: the `vision` key; `checkpoint`: its own part); `total` stays the
language model's.

Builders are chosen by the outer config's `model_type` (`TOWERS`). A multimodal config whose tower has no
builder is said to be uncounted, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .schema import MAX_DIM, MAX_LAYERS
from ..errors import InputError
from .tensors import Expr, Kind, Tensor, const

Dim = Annotated[int, Field(gt=0, le=MAX_DIM, strict=True)]
Layers = Annotated[int, Field(gt=0, le=MAX_LAYERS, strict=True)]


class _Builder:
    """Appends Tensors whose shapes are formulas over one validated vision config."""

    def __init__(self, cfg: BaseModel):
        self.cfg = cfg
        self.out: list[Tensor] = []

    def f(self, name: str) -> Expr:
        """A field as a symbol, labelled as the config names it (e.g. text_config.hidden_size)."""
        return Expr(getattr(self.cfg, "LABELS", {}).get(name, name), getattr(self.cfg, name))

    def item(self, name: str, i: int) -> Expr:
        """One entry of a list field, e.g. merge_kernel_size[0]."""
        return Expr(f"{name}[{i}]", getattr(self.cfg, name)[i])

    def add(self, name: str, shape: tuple[Expr, ...], kind: Kind, layer: int | None, matmul: bool) -> None:
        self.out.append(Tensor(name, shape, kind, layer, matmul))

    def linear(self, p: str, out: Expr, inp: Expr, kind: Kind, layer: int | None = None, bias: bool = True) -> None:
        self.add(f"{p}.weight", (out, inp), kind, layer, True)
        if bias:
            self.add(f"{p}.bias", (out,), kind, layer, False)

    def layer_norm(self, p: str, width: Expr, kind: Kind, layer: int | None = None, bias: bool = True) -> None:
        self.add(f"{p}.weight", (width,), kind, layer, False)
        if bias:
            self.add(f"{p}.bias", (width,), kind, layer, False)

    def conv2d(self, p: str, out: Expr, channels: Expr, kernel: Expr, kind: Kind, bias: bool = True) -> None:
        """A square-kernel Conv2d, stored [out, in, k, k] (the patch embedding)."""
        self.add(f"{p}.weight", (out, channels, kernel, kernel), kind, None, True)
        if bias:
            self.add(f"{p}.bias", (out,), kind, None, False)


# ---------------------------------------------------------------------------------------------------
# MoonViT (Kimi-K2.5): moonshotai's modeling_kimi_k25.py, MoonViT3dPretrainedModel + PatchMergerMLP


class MoonViTConfig(BaseModel):
    """Kimi-K2.5's vision_config fields that shape a tensor (`vt_` = vision tower)."""

    # defer_build: the schema is built on first use (a multimodal config), not when k2calc starts
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    vt_hidden_size: Dim
    vt_intermediate_size: Dim
    vt_num_hidden_layers: Layers
    patch_size: Dim
    init_pos_emb_height: Dim
    init_pos_emb_width: Dim
    merge_kernel_size: tuple[Dim, Dim]
    mm_hidden_size: Dim
    text_hidden_size: Dim
    pos_emb_type: Literal["divided_fixed"] = "divided_fixed"
    mm_projector_type: Literal["patchmerger"] = "patchmerger"


def moonvit(cfg: MoonViTConfig) -> list[Tensor]:
    """Patch embedding (a Conv2d and a learned height × width position table; the time table is a
    non-persistent buffer), pre-norm blocks with fused qkv and biases everywhere, a final LayerNorm;
    then the patch-merger projector: LayerNorm over mm_hidden_size, and two Linears over the 2×2 merged
    patches (mm_hidden_size · kernel height · kernel width) into the text model's hidden size."""
    b = _Builder(cfg)
    f, V, P = b.f, Kind.VISION_TOWER, Kind.MM_PROJECTOR
    hidden, inter = f("vt_hidden_size"), f("vt_intermediate_size")
    b.conv2d("vision_tower.patch_embed.proj", hidden, const(3), f("patch_size"), V)  # RGB in
    b.add("vision_tower.patch_embed.pos_emb.weight", (f("init_pos_emb_height"), f("init_pos_emb_width"), hidden),
          V, None, False)
    for i in range(cfg.vt_num_hidden_layers):
        p = f"vision_tower.encoder.blocks.{i}"
        b.layer_norm(f"{p}.norm0", hidden, V, i)
        b.layer_norm(f"{p}.norm1", hidden, V, i)
        b.linear(f"{p}.mlp.fc0", inter, hidden, V, i)
        b.linear(f"{p}.mlp.fc1", hidden, inter, V, i)
        b.linear(f"{p}.wqkv", const(3) * hidden, hidden, V, i)
        b.linear(f"{p}.wo", hidden, hidden, V, i)
    b.layer_norm("vision_tower.encoder.final_layernorm", hidden, V)
    merged = f("mm_hidden_size") * b.item("merge_kernel_size", 0) * b.item("merge_kernel_size", 1)
    b.layer_norm("mm_projector.pre_norm", f("mm_hidden_size"), P)
    b.linear("mm_projector.proj.0", merged, merged, P)
    b.linear("mm_projector.proj.2", f("text_hidden_size"), merged, P)  # proj.1 is the GELU
    return b.out


class MoonViTK3Config(MoonViTConfig):
    """Kimi-K3's vision_config: MoonViT with RMSNorms, no biases, and attention of qkv_hidden_size."""

    qkv_hidden_size: Dim
    mm_projector_type: Literal["patchmergerv2"] = "patchmergerv2"  # type: ignore[assignment]
    norm_type: Literal["rmsnorm"] = "rmsnorm"
    attn_bias: Literal[False] = False
    linear_bias: Literal[False] = False
    patch_embed_proj_bias: Literal[False] = False


def moonvit_k3(cfg: MoonViTK3Config) -> list[Tensor]:
    """Kimi-K3's tower as released (docs/arch-notes/deepseek-v4-kimi-k3.md 2.2): a bias-free patch Conv2d and
    a height × width position table, blocks with RMSNorms, fused qkv of qkv_hidden_size and an MLP, a final
    RMSNorm; the patch merger v2: two Linears over the 2×2 merged patches, then an RMSNorm in the text width."""
    b = _Builder(cfg)
    f, V, P = b.f, Kind.VISION_TOWER, Kind.MM_PROJECTOR
    hidden, inter, qkv = f("vt_hidden_size"), f("vt_intermediate_size"), f("qkv_hidden_size")
    b.conv2d("vision_tower.patch_embed.proj", hidden, const(3), f("patch_size"), V, bias=False)
    b.add("vision_tower.patch_embed.pos_emb.weight", (f("init_pos_emb_height"), f("init_pos_emb_width"), hidden),
          V, None, False)
    for i in range(cfg.vt_num_hidden_layers):
        p = f"vision_tower.encoder.blocks.{i}"
        b.linear(f"{p}.wqkv", const(3) * qkv, hidden, V, i, bias=False)
        b.linear(f"{p}.wo", hidden, qkv, V, i, bias=False)
        b.layer_norm(f"{p}.norm0", hidden, V, i, bias=False)
        b.layer_norm(f"{p}.norm1", hidden, V, i, bias=False)
        b.linear(f"{p}.mlp.fc0", inter, hidden, V, i, bias=False)
        b.linear(f"{p}.mlp.fc1", hidden, inter, V, i, bias=False)
    b.layer_norm("vision_tower.encoder.final_layernorm", hidden, V, bias=False)
    merged = f("mm_hidden_size") * b.item("merge_kernel_size", 0) * b.item("merge_kernel_size", 1)
    b.linear("mm_projector.proj.0", merged, merged, P, bias=False)
    b.linear("mm_projector.proj.2", f("text_hidden_size"), merged, P, bias=False)
    b.layer_norm("mm_projector.post_norm", f("text_hidden_size"), P, bias=False)
    return b.out


# ---------------------------------------------------------------------------------------------------
# SigLIP (Gemma 3): transformers' SiglipVisionModel + Gemma3MultiModalProjector


class _TowerConfig(BaseModel):
    """The vision_config fields transformers' towers share (names as in their configs), plus the text
    model's hidden_size, which the projector maps into."""

    # defer_build: the schema is built on first use (a multimodal config), not when k2calc starts
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    LABELS: ClassVar[dict[str, str]] = {"text_hidden_size": "text_config.hidden_size"}

    hidden_size: Dim
    intermediate_size: Dim
    num_hidden_layers: Layers
    patch_size: Dim
    num_channels: Dim = 3
    text_hidden_size: Dim


class SiglipConfig(_TowerConfig):
    """Gemma 3's vision_config (SigLIP)."""

    image_size: Dim
    vision_use_head: Literal[False] = Field(False, description="the pooling head is not modelled")


def siglip(cfg: SiglipConfig) -> list[Tensor]:
    """Patch Conv2d with bias, one learned position per patch ((image_size/patch_size)^2), post-norm-free
    pre-LayerNorm blocks with q/k/v/out projections and a GELU MLP, all with biases, a final LayerNorm;
    Gemma 3's projector: an RMSNorm over the vision width and one [vision, text] matrix (a Parameter,
    stored [in, out])."""
    b = _Builder(cfg)
    f, V, P = b.f, Kind.VISION_TOWER, Kind.MM_PROJECTOR
    hidden, p = f("hidden_size"), "vision_tower.vision_model"
    b.conv2d(f"{p}.embeddings.patch_embedding", hidden, f("num_channels"), f("patch_size"), V)
    side = Expr("image_size/patch_size", cfg.image_size // cfg.patch_size)
    b.add(f"{p}.embeddings.position_embedding.weight", (side * side, hidden), V, None, False)
    for i in range(cfg.num_hidden_layers):
        q = f"{p}.encoder.layers.{i}"
        b.layer_norm(f"{q}.layer_norm1", hidden, V, i)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            b.linear(f"{q}.self_attn.{proj}", hidden, hidden, V, i)
        b.layer_norm(f"{q}.layer_norm2", hidden, V, i)
        b.linear(f"{q}.mlp.fc1", f("intermediate_size"), hidden, V, i)
        b.linear(f"{q}.mlp.fc2", hidden, f("intermediate_size"), V, i)
    b.layer_norm(f"{p}.post_layernorm", hidden, V)
    b.add("multi_modal_projector.mm_input_projection_weight", (hidden, f("text_hidden_size")), P, None, True)
    b.layer_norm("multi_modal_projector.mm_soft_emb_norm", hidden, P, bias=False)
    return b.out


# ---------------------------------------------------------------------------------------------------
# Pixtral (Mistral Small 3.1): transformers' PixtralVisionModel + Mistral3MultiModalProjector


class PixtralConfig(_TowerConfig):
    """Mistral 3's vision_config (Pixtral), plus the outer config's spatial_merge_size and projector bias."""

    spatial_merge_size: Dim = 2
    multimodal_projector_bias: bool = False


def pixtral(cfg: PixtralConfig) -> list[Tensor]:
    """Patch Conv2d without bias, RMSNorms, bias-free attention and SwiGLU blocks; the projector: an
    RMSNorm, the patch merger (spatial_merge_size² patches into one) and two Linears into the text width."""
    b = _Builder(cfg)
    f, V, P = b.f, Kind.VISION_TOWER, Kind.MM_PROJECTOR
    hidden, inter = f("hidden_size"), f("intermediate_size")
    b.conv2d("vision_tower.patch_conv", hidden, f("num_channels"), f("patch_size"), V, bias=False)
    b.layer_norm("vision_tower.ln_pre", hidden, V, bias=False)
    for i in range(cfg.num_hidden_layers):
        q = f"vision_tower.transformer.layers.{i}"
        b.layer_norm(f"{q}.attention_norm", hidden, V, i, bias=False)
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            b.linear(f"{q}.attention.{proj}", hidden, hidden, V, i, bias=False)
        b.layer_norm(f"{q}.ffn_norm", hidden, V, i, bias=False)
        b.linear(f"{q}.feed_forward.gate_proj", inter, hidden, V, i, bias=False)
        b.linear(f"{q}.feed_forward.up_proj", inter, hidden, V, i, bias=False)
        b.linear(f"{q}.feed_forward.down_proj", hidden, inter, V, i, bias=False)
    bias, text = cfg.multimodal_projector_bias, f("text_hidden_size")
    merge = f("spatial_merge_size")
    b.layer_norm("multi_modal_projector.norm", hidden, P, bias=False)
    b.linear("multi_modal_projector.patch_merger.merging_layer", hidden, hidden * merge * merge, P, bias=False)
    b.linear("multi_modal_projector.linear_1", text, hidden, P, bias=bias)
    b.linear("multi_modal_projector.linear_2", text, text, P, bias=bias)
    return b.out


# ---------------------------------------------------------------------------------------------------
# Llama 4: transformers' Llama4VisionModel (with its pixel-shuffle adapter) + Llama4MultiModalProjector


class Llama4VisionConfig(_TowerConfig):
    """Llama 4's vision_config."""

    image_size: Dim
    projector_input_dim: Dim
    projector_output_dim: Dim
    vision_output_dim: Dim


def llama4_vision(cfg: Llama4VisionConfig) -> list[Tensor]:
    """A class embedding, one learned position per patch plus the class token, a bias-free linear patch
    embedding, LayerNorms before and after, blocks with biases everywhere, the pixel-shuffle adapter's two
    bias-free Linears; the projector: one bias-free Linear into the text width."""
    b = _Builder(cfg)
    f, V, P = b.f, Kind.VISION_TOWER, Kind.MM_PROJECTOR
    hidden, inter = f("hidden_size"), f("intermediate_size")
    patches = Expr("(image_size/patch_size)^2+1", (cfg.image_size // cfg.patch_size) ** 2 + 1)
    b.add("vision_model.class_embedding", (hidden,), V, None, False)
    b.add("vision_model.positional_embedding_vlm", (patches, hidden), V, None, False)
    patch_in = f("num_channels") * f("patch_size") * f("patch_size")
    b.linear("vision_model.patch_embedding.linear", hidden, patch_in, V, bias=False)
    b.layer_norm("vision_model.layernorm_pre", hidden, V)
    b.layer_norm("vision_model.layernorm_post", hidden, V)
    for i in range(cfg.num_hidden_layers):
        q = f"vision_model.model.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            b.linear(f"{q}.self_attn.{proj}", hidden, hidden, V, i)
        b.linear(f"{q}.mlp.fc1", inter, hidden, V, i)
        b.linear(f"{q}.mlp.fc2", hidden, inter, V, i)
        b.layer_norm(f"{q}.input_layernorm", hidden, V, i)
        b.layer_norm(f"{q}.post_attention_layernorm", hidden, V, i)
    b.linear("vision_model.vision_adapter.mlp.fc1", f("projector_input_dim"), inter, V, bias=False)
    b.linear("vision_model.vision_adapter.mlp.fc2", f("projector_output_dim"), f("projector_output_dim"), V,
             bias=False)
    b.linear("multi_modal_projector.linear_1", f("text_hidden_size"), f("vision_output_dim"), P, bias=False)
    return b.out


# ---------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class Tower:
    """One family's builder: its name, the config model that validates vision_config, and the builder."""

    name: str
    config: type[BaseModel]
    build: Callable[[Any], list[Tensor]]


TOWERS: dict[str, Tower] = {  # outer model_type -> tower
    "kimi_k25": Tower("MoonViT", MoonViTConfig, moonvit),
    "kimi_k3": Tower("MoonViT (Kimi-K3)", MoonViTK3Config, moonvit_k3),
    "gemma3": Tower("SigLIP", SiglipConfig, siglip),
    "mistral3": Tower("Pixtral", PixtralConfig, pixtral),
    "llama4": Tower("Llama 4 vision", Llama4VisionConfig, llama4_vision),
}


def _validate(tower: Tower, raw: dict[str, Any], where: str) -> BaseModel:
    try:
        return tower.config.model_validate(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        if first["type"] == "missing":
            raise InputError(f"{where}: vision_config.{loc}: required field is missing "
                             f"(it defines a {tower.name} tensor shape)") from None
        raise InputError(f"{where}: vision_config.{loc}: {first['msg']} (got {first['input']!r})") from None


def tower_inputs(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields a tower builder reads: vision_config, over the outer config's own fields (e.g. Mistral 3's
    spatial_merge_size), with `text_hidden_size` from text_config when vision_config does not give it."""
    outer = {k: v for k, v in raw.items() if k not in ("text_config", "vision_config")}
    text = raw.get("text_config") if isinstance(raw.get("text_config"), dict) else {}
    fields = {**outer, **raw["vision_config"]}
    if "text_hidden_size" not in fields and "hidden_size" in text:
        fields["text_hidden_size"] = text["hidden_size"]
    return fields


def vision_from_config(raw: dict[str, Any], where: str) -> tuple[list[Tensor], str | None, list[str]]:
    """The vision tower and projector tensors of a raw multimodal config (text_config + vision_config),
    the tower's name and notes; errors name `where` and the vision_config field."""
    kind = raw.get("model_type")
    tower = TOWERS.get(kind or "")
    if tower is None:
        return [], None, [f"{kind}: no builder for its vision tower (vision_config): not counted "
                          f"(towers k2calc builds: {', '.join(sorted(TOWERS))})"]
    tensors = tower.build(_validate(tower, tower_inputs(raw), where))
    n = sum(t.params for t in tensors)
    return tensors, tower.name, [f"vision tower ({tower.name}) and projector: {n:,} parameters, "
                                 "counted apart from the language model's total"]
