"""Formulas on demand: each parameter figure as a formula over config fields, with numbers substituted.

The text is assembled from the tensors' symbolic shapes (tensors.Expr), never hand-written, so it
cannot drift from the counts: every line's value is re-summed from the same tensors, and a test checks
each line against the breakdown it explains.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from math import prod

from .config import ModelConfig
from .tensors import Kind, Tensor, build_tensors


@dataclass(frozen=True)
class Formula:
    """`name = symbolic = numeric = value`."""

    name: str
    symbolic: str
    numeric: str
    value: int

    def __str__(self) -> str:
        return f"{self.name} = {self.numeric} = {self.value:,}"


def _layer_label(cfg: ModelConfig, layers: frozenset[int | None]) -> tuple[str, str]:
    """('58 MoE layers', 'moe_layers') for a set of layer indices."""
    n = len(layers)
    if None in layers:
        return "", ""
    s = "" if n == 1 else "s"
    if all(i >= cfg.num_hidden_layers for i in layers):
        return f"{n} MTP module{s}", "num_nextn_predict_layers"
    moe = [cfg.is_moe_layer(i) for i in layers]
    if n == cfg.num_hidden_layers:
        return f"{n} layer{s}", "num_hidden_layers"
    if all(moe):
        return f"{n} MoE layer{s}", "moe_layers"
    if not any(moe):
        return f"{n} dense layer{s}", "dense_layers"
    return f"{n} layer{s}", "layers"


def _term(shape_text: list[str], dims: list[int], mult: int, copies: int) -> tuple[str, str, int]:
    sym = " × ".join(([f"n_routed_experts"] if copies > 1 else []) + ([str(mult)] if mult > 1 else []) + shape_text)
    num = " × ".join(([f"{copies} experts"] if copies > 1 else []) + ([str(mult)] if mult > 1 else []) +
                     [str(d) for d in dims])
    return sym, num, copies * mult * prod(dims)


def explain_kind(cfg: ModelConfig, tensors: list[Tensor], name: str) -> Formula:
    """One formula for a group of tensors: grouped by the layers they repeat over, then by shape."""
    # layer set -> (shape key) -> number of tensors per layer
    per_layer: dict[tuple, dict[int | None, int]] = defaultdict(lambda: defaultdict(int))
    shapes: dict[tuple, tuple[list[str], list[int], int]] = {}
    for t in tensors:
        # gate_proj [I, H] and down_proj [H, I] are the same term: key on the sorted factors,
        # show the first tensor's order.
        key = (tuple(sorted(d.text for d in t.shape)), t.copies)
        shapes.setdefault(key, ([d._wrapped() for d in t.shape], list(t.dims), t.copies))
        per_layer[key][t.layer] += 1
    # Terms sharing the same layers are factored: "61 layers × (a + b + c)".
    by_layers: dict[frozenset, list[tuple[str, str, int]]] = defaultdict(list)
    for key, layers in per_layer.items():
        mults = set(layers.values())
        for mult in sorted(mults):
            group = frozenset(layer for layer, m in layers.items() if m == mult)
            shape_text, dims, copies = shapes[key]
            by_layers[group].append(_term(shape_text, dims, mult, copies))
    sym_parts, num_parts, total = [], [], 0
    for layers, terms in sorted(by_layers.items(), key=lambda kv: -len(kv[0])):
        label, sym_label = _layer_label(cfg, layers)
        inner_sym = " + ".join(s for s, _, _ in terms)
        inner_num = " + ".join(n for _, n, _ in terms)
        value = sum(v for _, _, v in terms)
        if len(terms) > 1 and label:
            inner_sym, inner_num = f"({inner_sym})", f"({inner_num})"
        sym_parts.append(f"{sym_label} × {inner_sym}" if label else inner_sym)
        num_parts.append(f"{label} × {inner_num}" if label else inner_num)
        total += value * (len(layers) if label else 1)
    assert total == sum(t.params for t in tensors)  # the formula re-sums the very tensors it explains
    return Formula(name, " + ".join(sym_parts) or "0", " + ".join(num_parts) or "0", total)


def explain_params(cfg: ModelConfig) -> list[Formula]:
    """One formula per breakdown component of the main model, plus the MTP modules."""
    tensors = build_tensors(cfg)
    main = [t for t in tensors if not t.mtp]
    out = [explain_kind(cfg, [t for t in main if t.kind is kind], kind.value)
           for kind in Kind if kind is not Kind.MTP_PROJ]
    mtp = [t for t in tensors if t.mtp]
    if mtp:
        out.append(explain_kind(cfg, mtp, "mtp"))
    k, e = cfg.num_experts_per_tok, cfg.n_routed_experts
    routed = next(f for f in out if f.name == Kind.ROUTED_EXPERTS.value)
    out.append(Formula("active routed_experts", f"routed_experts × num_experts_per_tok / n_routed_experts",
                       f"{routed.value:,} × {k} / {e}", routed.value * k // e))
    return out
