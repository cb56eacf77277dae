"""Parameter counts: total, active per token, MTP, and breakdowns, all summed from the tensor list.

Conventions (the ones behind DeepSeek-V3's 671B / 37B and Kimi-K2's 1T / 32B):
- `total` is every weight the main model's checkpoint stores, MTP modules excluded. It includes the
  router's `e_score_correction_bias`, which checkpoints store and transformers keeps as a buffer
  (`transformers_count` is total minus those buffers).
- `active` is every parameter one token touches except the input embedding table (a row lookup, no
  matmul): attention, norms, router weight and bias, shared experts, `num_experts_per_tok` routed
  experts per MoE layer, dense MLPs, and lm_head.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..config import ModelSpec
from ..arch.tensors import LANGUAGE_KINDS, Kind, Tensor, build_tensors

# Contract keys, always present; a family-specific kind (DeepSeek-V4's hyper_connections) appears where it exists.
BREAKDOWN_KEYS = [k.value for k in LANGUAGE_KINDS if k is not Kind.HYPER_CONNECTIONS]
VISION_KINDS_ORDER = (Kind.VISION_TOWER, Kind.MM_PROJECTOR)


class LayerType(BaseModel):
    """One kind of decoder layer (dense or MoE): how many, and what one of them holds."""

    type: str
    count: int
    params_per_layer: int
    active_per_layer: int
    params: int


class TensorGroup(BaseModel):
    """Tensors of the same module and shape formula (e.g. q_b_proj in all 61 layers)."""

    kind: str
    module: str
    formula: str
    shape: list[int]
    tensors: int  # checkpoint tensors (routed experts: one per expert per layer)
    layers: int
    copies: int
    params: int
    mtp: bool


class VisionParams(BaseModel):
    """A multimodal model's vision tower and projector, counted apart from the language model."""

    tower: str  # the builder's family name, e.g. MoonViT
    total: int
    breakdown: dict[str, int]  # vision_tower, mm_projector; sums to total
    tensor_groups: list[TensorGroup]


class ParamReport(BaseModel):
    model: str
    total: int
    active: int
    mtp: int
    mtp_active: int
    transformers_count: int  # total without the router-bias buffers
    buffers: int
    breakdown: dict[str, int]  # sums to total
    active_breakdown: dict[str, int]  # sums to active
    mtp_breakdown: dict[str, int]  # sums to mtp
    layer_types: list[LayerType]
    tensor_groups: list[TensorGroup]  # `tensors` is always a count; these are rows of them
    vision: VisionParams | None  # None for a text-only model (or a tower k2calc has no builder for)
    notes: list[str]


def _by_kind(tensors: list[Tensor], value) -> dict[str, int]:
    out = dict.fromkeys(BREAKDOWN_KEYS, 0)
    for t in tensors:
        out[t.kind.value] = out.get(t.kind.value, 0) + value(t)
    return out


def group_tensors(tensors: list[Tensor]) -> list[TensorGroup]:
    """Fold the per-layer list into one row per (module, formula), in model order."""
    groups: dict[tuple, TensorGroup] = {}
    for t in tensors:
        key = (t.kind, t.module, t.formula, t.mtp)
        g = groups.get(key)
        if g is None:
            groups[key] = TensorGroup(kind=t.kind.value, module=t.module, formula=t.formula, shape=list(t.dims),
                                      tensors=t.copies, layers=1, copies=t.copies, params=t.params, mtp=t.mtp)
        else:
            g.tensors += t.copies
            g.layers += 1
            g.params += t.params
    return list(groups.values())


def count_params(spec: ModelSpec) -> ParamReport:
    cfg = spec.arch
    tensors = [t for t in build_tensors(cfg) if t.counted]  # not a lookup table such as V4's tid2eid
    main = [t for t in tensors if not t.mtp]
    mtp = [t for t in tensors if t.mtp]
    k = cfg.num_experts_per_tok

    # Layer types: dense or MoE, and the attention label where layers attend differently (DeepSeek-V4's
    # window-only, compressed 4:1 and 128:1 layers); `params` sums the layers themselves.
    labels = {cfg.layer(i).attention.describe() for i in range(cfg.num_hidden_layers)}
    by_layer: dict[int, list[Tensor]] = {}
    for t in main:
        if t.layer is not None:
            by_layer.setdefault(t.layer, []).append(t)
    kinds: dict[str, list[int]] = {}
    for i in range(cfg.num_hidden_layers):
        name = "moe" if cfg.is_moe_layer(i) else "dense"
        kinds.setdefault(name + (f", {cfg.layer(i).attention.describe()}" if len(labels) > 1 else ""), []).append(i)
    layer_types = []
    for name, idx in sorted(kinds.items(), key=lambda kv: (not kv[0].startswith("dense"), kv[1][0])):
        one = by_layer.get(idx[0], [])
        layer_types.append(LayerType(type=name, count=len(idx), params_per_layer=sum(t.params for t in one),
                                     active_per_layer=sum(t.active(k) for t in one),
                                     params=sum(t.params for i in idx for t in by_layer.get(i, []))))

    breakdown = _by_kind(main, lambda t: t.params)  # eh_proj (MTP_PROJ) lives only in MTP modules
    active_breakdown = _by_kind(main, lambda t: t.active(k))
    buffers = sum(t.params for t in main if t.buffer)
    total = sum(t.params for t in main)
    vt, tower, vision_notes = spec.vision
    vision = None
    if tower is not None:
        vision = VisionParams(tower=tower, total=sum(t.params for t in vt), tensor_groups=group_tensors(vt),
                              breakdown={k.value: sum(t.params for t in vt if t.kind is k) for k in VISION_KINDS_ORDER})
    return ParamReport(
        model=spec.name,
        total=total,
        active=sum(t.active(k) for t in main),
        mtp=sum(t.params for t in mtp),
        mtp_active=sum(t.active(k) for t in mtp),
        transformers_count=total - buffers,
        buffers=buffers,
        breakdown=breakdown,
        active_breakdown=active_breakdown,
        mtp_breakdown=_by_kind(mtp, lambda t: t.params),
        layer_types=layer_types,
        tensor_groups=group_tensors(tensors),
        vision=vision,
        notes=list(spec.notes) + vision_notes,
    )
