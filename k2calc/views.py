"""Human views of the analyses: each turns a report into `Table`s for the rendering layer."""

from __future__ import annotations

from .render import Table, human_count


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def params_tables(r, tensors: bool = False) -> list[Table]:
    """ParamReport -> summary, by component, by layer type (and by tensor when asked)."""
    summary = Table(f"{r.model}: parameters", ["figure", "parameters", "≈"])
    summary.add("total (main model, MTP excluded)", r.total, human_count(r.total))
    summary.add("active per token", r.active, human_count(r.active))
    summary.add("MTP modules", r.mtp, human_count(r.mtp))
    summary.add("total with MTP", r.total + r.mtp, human_count(r.total + r.mtp))
    summary.add("transformers' count (router bias = buffer)", r.transformers_count,
                human_count(r.transformers_count))
    summary.caption = ("active = every parameter a token touches except the input embedding table; "
                       "counts use 1000-based prefixes (B = 10^9, T = 10^12)")

    comp = Table("by component (main model)", ["component", "parameters", "share", "active per token"])
    for key, n in r.breakdown.items():
        comp.add(key, n, _share(n, r.total), r.active_breakdown[key])
    comp.add("total", r.total, "100.00%", r.active)

    layers = Table("by layer type", ["layer", "count", "parameters per layer", "active per layer", "parameters"])
    for lt in r.layer_types:
        layers.add(lt.type, lt.count, lt.params_per_layer, lt.active_per_layer, lt.params)

    if not tensors:
        return [summary, comp, layers]
    per_tensor = Table("by tensor", ["module", "kind", "shape [out, in]", "formula", "tensors", "parameters"])
    for g in r.tensors:
        per_tensor.add(("mtp: " if g.mtp else "") + g.module, g.kind, "×".join(map(str, g.shape)), g.formula,
                    g.tensors, g.params)
    return [summary, comp, layers, per_tensor]


def presets_table(items) -> list[Table]:
    t = Table("presets", ["name", "description", "source"])
    for p in items:
        t.add(p.name, p.description, p.source)
    return [t]
