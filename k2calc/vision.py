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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import MAX_DIM, MAX_LAYERS, ModelSpec
from .errors import InputError
from .tensors import Expr, Kind, Tensor, const

Dim = Annotated[int, Field(gt=0, le=MAX_DIM, strict=True)]
Layers = Annotated[int, Field(gt=0, le=MAX_LAYERS, strict=True)]


class _Builder:
    """Appends Tensors whose shapes are formulas over one validated vision config."""

    def __init__(self, cfg: BaseModel):
        self.cfg = cfg
        self.out: list[Tensor] = []

    def f(self, name: str) -> Expr:
        return Expr(name, getattr(self.cfg, name))

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

    model_config = ConfigDict(extra="allow", frozen=True)

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


def vision_tensors(spec: ModelSpec) -> tuple[list[Tensor], str | None, list[str]]:
    """The vision tower and projector tensors of a multimodal spec, the tower's name, and notes.

    ([], None, []) for a text-only model; ([], None, [note]) when the tower has no builder."""
    if spec.vision_config is None:
        return [], None, []
    tower = TOWERS.get(spec.multimodal_type or "")
    if tower is None:
        return [], None, [f"{spec.multimodal_type}: no builder for its vision tower (vision_config): "
                          f"not counted (towers k2calc builds: {', '.join(sorted(TOWERS))})"]
    tensors = tower.build(_validate(tower, spec.vision_config, spec.source))
    n = sum(t.params for t in tensors)
    return tensors, tower.name, [f"vision tower ({tower.name}) and projector: {n:,} parameters, "
                                 "counted apart from the language model's total"]
