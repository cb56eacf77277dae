"""--explain: formulas come from the symbolic shapes, and the numbers in them really compute the figure."""

from __future__ import annotations

import re

import pytest

from k2calc.config import load_preset
from k2calc.explain import explain_params
from k2calc.params import count_params


def evaluate(numeric: str) -> int:
    """Compute '60 MoE layers × 384 experts × 3 × 2048 × 7168' as arithmetic, independent of the code."""
    expr = re.sub(r"(\d+) (MoE |dense |MTP )?(layers?|experts|modules?)", r"\1", numeric)
    expr = expr.replace("×", "*").replace(",", "")
    assert re.fullmatch(r"[\d\s*+/()]+", expr), expr
    return eval(expr.replace("/", "//"))  # noqa: S307 - digits and operators only, checked above


@pytest.mark.parametrize("preset", ["kimi-k2", "deepseek-v3", "moonlight-16b-a3b", "deepseek-v3.2"])
def test_every_formula_computes_its_breakdown_figure(preset):
    spec = load_preset(preset)
    report = count_params(spec)
    for f in explain_params(spec.config):
        assert evaluate(f.numeric) == f.value, f
        if f.name in report.breakdown:
            assert f.value == report.breakdown[f.name]
        elif f.name == "mtp":
            assert f.value == report.mtp
        elif f.name == "active routed_experts":
            assert f.value == report.active_breakdown["routed_experts"]


def test_routed_experts_formula_reads_like_the_issue_example():
    f = next(f for f in explain_params(load_preset("kimi-k2").config) if f.name == "routed_experts")
    assert str(f) == "routed_experts = 60 MoE layers × 384 experts × 3 × 2048 × 7168 = 1,014,686,023,680"
    assert f.symbolic == "moe_layers × n_routed_experts × 3 × moe_intermediate_size × hidden_size"


def test_attention_formula_names_every_mla_projection_width():
    f = next(f for f in explain_params(load_preset("deepseek-v3").config) if f.name == "attention")
    for field in ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
        assert field in f.symbolic
    assert f.numeric.startswith("61 layers × (")


def test_params_explain_in_cli_and_json(run, run_json):
    out = run("params", "-p", "kimi-k2", "--explain").stdout
    assert "60 MoE layers × 384 experts × 3 × 2048 × 7168" in out
    data = run_json("params", "-p", "kimi-k2", "--explain")
    assert {e["name"] for e in data["explain"]} >= {"routed_experts", "attention", "norms"}
