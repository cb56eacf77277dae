"""Formulas on demand: each parameter figure as a formula over config fields, with numbers substituted.

The text is assembled from the tensors' symbolic shapes (tensors.Expr), never hand-written, so it
cannot drift from the counts: every line's value is re-summed from the same tensors, and a test checks
each line against the breakdown it explains.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from math import prod

from .arch.description import describe
from .arch.tensors import LANGUAGE_KINDS, Kind, Tensor, build_tensors


@dataclass(frozen=True)
class Formula:
    """`name = symbolic = numeric = value`."""

    name: str
    symbolic: str
    numeric: str
    value: int

    def __str__(self) -> str:
        return f"{self.name} = {self.numeric} = {self.value:,}"


def _layer_label(cfg, layers: frozenset[int | None]) -> tuple[str, str]:
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


def _term(shape_text: list[str], dims: list[int], mult: int, copies: int,
          copies_symbol: str = "n_routed_experts") -> tuple[str, str, int]:
    sym = " × ".join(([copies_symbol] if copies > 1 else []) + ([str(mult)] if mult > 1 else []) + shape_text)
    num = " × ".join(([f"{copies} experts"] if copies > 1 else []) + ([str(mult)] if mult > 1 else []) +
                     [str(d) for d in dims])
    return sym, num, copies * mult * prod(dims)


def explain_kind(cfg, tensors: list[Tensor], name: str,
                 copies_symbol: str = "n_routed_experts") -> Formula:
    """One formula for a group of tensors: grouped by the layers they repeat over, then by shape."""
    # layer set -> (shape key) -> number of tensors per layer
    per_layer: dict[tuple, dict[int | None, int]] = defaultdict(lambda: defaultdict(int))
    shapes: dict[tuple, tuple[list[str], list[int], int]] = {}
    for t in tensors:
        # gate_proj [I, H] and down_proj [H, I] are the same term: key on the sorted factors,
        # show the first tensor's order.
        # Tensors outside the layers (lm_head) and inside them (an MTP module's shared_head.head) stay
        # apart even with the same shape: their counts multiply differently.
        key = (tuple(sorted(d.text for d in t.shape)), t.copies, t.layer is None)
        shapes.setdefault(key, ([d._wrapped() for d in t.shape], list(t.dims), t.copies))
        per_layer[key][t.layer] += 1
    # Terms sharing the same layers are factored: "61 layers × (a + b + c)".
    by_layers: dict[frozenset, list[tuple[str, str, int]]] = defaultdict(list)
    for key, layers in per_layer.items():
        mults = set(layers.values())
        for mult in sorted(mults):
            group = frozenset(layer for layer, m in layers.items() if m == mult)
            shape_text, dims, copies = shapes[key]
            by_layers[group].append(_term(shape_text, dims, mult, copies, copies_symbol))
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


def explain_params(cfg) -> list[Formula]:
    """One formula per breakdown component of the main model, plus the MTP modules."""
    cfg = describe(cfg)
    tensors = build_tensors(cfg)
    main = [t for t in tensors if not t.mtp]
    experts = cfg.moe.num_experts.text if cfg.moe else "n_routed_experts"
    out = [explain_kind(cfg, [t for t in main if t.kind is kind], kind.value, experts)
           for kind in LANGUAGE_KINDS]
    mtp = [t for t in tensors if t.mtp]
    if mtp:
        out.append(explain_kind(cfg, mtp, "mtp", experts))
    if cfg.moe is None:
        return out
    k, e = cfg.num_experts_per_tok, cfg.n_routed_experts
    routed = next(f for f in out if f.name == Kind.ROUTED_EXPERTS.value)
    out.append(Formula("active routed_experts", f"routed_experts × num_experts_per_tok / {experts}",
                       f"{routed.value:,} × {k} / {e}", routed.value * k // e))
    return out


def _wrap(text: str) -> str:
    return f"({text})" if "+" in text else text


def explain_flops(cfg, point, mtp: bool = False) -> list[Formula]:
    """A FLOPs point's components as formulas: linear ones from the tensors a token touches, attention
    ones from the MLA coefficients of the point's form. Values are per token, as in `by_component`."""
    from dataclasses import replace

    from .analysis.flops import ATTENTION_KEYS, LINEAR_KEYS, AttentionForm, FlopsModel, Phase, flops_component, attended, coefficients
    from .arch.tensors import Use

    cfg = describe(cfg)
    k = cfg.num_experts_per_tok
    touched = [replace(t, copies=min(k, t.copies)) if t.use is Use.ROUTED else t
               for t in build_tensors(cfg) if t.matmul and (mtp or not t.mtp)]
    out = []
    for key in LINEAR_KEYS:
        group = [t for t in touched if flops_component(t) == key]
        if not group:
            continue
        f = explain_kind(cfg, group, key, copies_symbol="num_experts_per_tok")
        sym, num, value = f"2 × {_wrap(f.symbolic)}", f"2 × {_wrap(f.numeric)}", 2 * f.value
        if key == "lm_head" and point.logits_tokens != point.tokens:  # prefill: logits for the last token only
            sym += " × logits_tokens / prompt_tokens"
            num += f" × {point.logits_tokens} / {point.tokens}"
            value = (2 * value * point.logits_tokens + point.tokens) // (2 * point.tokens)
        out.append(Formula(key, sym, num, value))

    form, phase = AttentionForm(point.attention_form), Phase(point.phase)
    prefill = point.phase == "prefill"
    n = point.context
    tokens = n if prefill else 1
    # One term per group of layers that attend alike (windowed layers apart from full ones).
    groups = FlopsModel.groups_of(cfg.layers + (cfg.mtp if mtp else ()))
    for key in ATTENTION_KEYS:
        syms, nums, phase_total = [], [], 0
        for att, layers in groups.items():
            c, a = coefficients(att, form), attended(att, phase, n, form)
            coef, what, count = {"attention_scores": (c.scores, "attended", a.total),
                                 "attention_values": (c.values, "attended", a.total),
                                 "kv_reexpansion": (c.reexpansion, "cached", a.reexpanded),
                                 "indexer_scores": (c.indexer, "past tokens", a.indexed)}[key]
            if coef is None or not count:
                continue
            label = "num_hidden_layers" if len(groups) == 1 else f"{att.describe()} layers"
            syms.append(f"{label} × {coef.text} × {('Σ ' if prefill else '') + what}")
            nums.append(f"{layers} layers × {coef.numeric} × {count}")
            phase_total += layers * coef.value * count
        if not syms:
            continue
        sym, num = " + ".join(syms), " + ".join(nums)
        if prefill:
            sym = f"({sym}) / prompt_tokens" if len(syms) > 1 else f"{sym} / prompt_tokens"
            num = f"({num}) / {n} prompt tokens" if len(nums) > 1 else f"{num} / {n} prompt tokens"
        out.append(Formula(key, sym, num, (2 * phase_total + tokens) // (2 * tokens)))
    return out


def _shared_kv_sequence(layers, report):
    """DeepSeek-V4's bytes per sequence as a sum over its layer kinds (the terms kv.layer_sequence_bytes adds)."""
    from .analysis.kv import shared_kv_entry_bytes, shared_kv_index_bytes, shared_kv_state_bytes
    from .arch.tensors import Expr

    groups: dict = {}
    for a in layers:
        groups[a] = groups.get(a, 0) + 1
    tokens, total = report.tokens_allocated, None
    for a, n in groups.items():
        ratio, entry = a.shared_kv.compress_ratio.value, shared_kv_entry_bytes(a, report.dtype).value
        term = Expr("entry", entry) * Expr("min(tokens, sliding_window)", min(tokens, a.window.cap))
        if ratio:
            per = entry + (shared_kv_index_bytes(a, report.dtype).value if a.indexer else 0)
            per_entry = Expr("entry+index_key", per, True) if a.indexer else Expr("entry", per)
            term = (term + per_entry * Expr(f"floor(tokens/{ratio})", tokens // ratio)
                    + Expr("state_rings", shared_kv_state_bytes(a)))
        term = Expr(f"layers(ratio {ratio})", n) * term
        total = term if total is None else total + term
    return total


def explain_kv(cfg, report) -> list[Formula]:
    """A KV report's sizes as formulas, from the very expressions `k2calc.analysis.kv` computes them with."""
    from .analysis.kv import indexer_bytes, mha_values, mla_bytes, value_bytes
    from .arch.tensors import Expr, const

    def formula(name: str, expr: Expr, unit: str = "") -> Formula:
        return Formula(name, expr.text + unit, expr.numeric, expr.value)

    cfg = describe(cfg)
    per_layer = mla_bytes(cfg, report.dtype)
    kind = "MLA" if cfg.is_mla else "GQA"
    out = [formula(f"per token per layer ({kind})", per_layer, f" bytes ({report.dtype})")]
    idx = indexer_bytes(cfg)
    if idx is not None:
        out.append(formula("per token per layer (indexer keys)", idx, " bytes (fp8 + float32 scales)"))
        per_layer = per_layer + idx
    per_token = Expr("layers", report.layers) * per_layer
    sequence = Expr("bytes_per_token", per_token.value) * Expr("tokens", report.tokens_allocated)
    if any(t.window for t in report.layer_types):  # windowed layers keep min(tokens, window) tokens each
        terms = None
        for t in report.layer_types:
            kept = min(report.tokens_allocated, t.window) if t.window else report.tokens_allocated
            term = (Expr(f"layers[{t.attention}]", t.count) * Expr("bytes_per_token_layer", t.bytes_per_token_layer)
                    * Expr("min(tokens, window)" if t.window else "tokens", kept))
            terms = term if terms is None else terms + term
        sequence = terms
    kda = [cfg.layer(i).attention for i in range(report.layers) if cfg.layer(i).attention.linear is not None]
    if kda:  # Kimi-K3: the other layers cache per token; each KDA layer holds one fixed state per request
        la = kda[0].linear
        width = la.num_heads * la.head_dim
        state = width * la.head_dim * const(4) + const(3) * (la.conv_kernel - const(1)) * width * const(2)
        out.append(formula("KDA state per layer", state, " bytes (fp32 recurrent state + bf16 convolution tails)"))
        per_token = Expr("caching layers", report.layers - len(kda)) * per_layer
        sequence = (Expr("bytes_per_token", per_token.value) * Expr("tokens", report.tokens_allocated)
                    + Expr("KDA layers", len(kda)) * Expr("kda_state", state.value))
    shared = [cfg.layer(i).attention for i in range(report.layers) if cfg.layer(i).attention.shared_kv]
    if shared:  # DeepSeek-V4: window entries + compressed entries (+ indexer keys) + state rings per layer
        sequence, out[0] = _shared_kv_sequence(shared, report), formula(
            "per entry (one K = V head)", per_layer, f" bytes ({report.dtype})")
    out += [formula("bytes_per_token", per_token),
            formula("bytes_per_sequence", sequence),
            formula("total_bytes", Expr("bytes_per_sequence", sequence.value) * Expr("batch", report.batch)),
            formula("mha_bytes_per_token", Expr("layers", report.layers) * mha_values(cfg)
                    * const(value_bytes(report.dtype)))]
    return out
