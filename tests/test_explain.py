"""--explain: formulas come from the symbolic shapes, and the numbers in them really compute the figure."""

from __future__ import annotations

import re

import pytest

from k2calc.config import load_preset
from k2calc.explain import explain_params
from k2calc.analysis.params import count_params


def _python(numeric: str) -> str:
    """'60 MoE layers × 384 experts × 2·(512+64)' or 'ceil(512/128)·4' as a Python expression of integers."""
    expr = re.sub(r"(\d+) (MoE |dense |MTP )?(layers?|experts|modules?|prompt tokens)", r"\1", numeric)
    expr = re.sub(r"ceil\((\d+)/(\d+)\)", r"(-(-\1//\2))", expr)
    expr = expr.replace("×", "*").replace("·", "*").replace(",", "")
    assert re.fullmatch(r"[\d\s*+/()-]+", expr), expr
    return expr


def evaluate(numeric: str) -> int:
    """Compute a formula's numbers as plain arithmetic, independent of the code."""
    return eval(_python(numeric).replace("//", "\0").replace("/", "//").replace("\0", "//"))  # noqa: S307


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


def _evaluate_exact(numeric: str):
    from fractions import Fraction

    return eval(re.sub(r"(\d+)", r"Fraction(\1)", _python(numeric)), {"Fraction": Fraction})  # noqa: S307


@pytest.mark.parametrize("preset,mtp", [("kimi-k2", False), ("deepseek-v3", False), ("deepseek-v3", True),
                                        ("deepseek-v3.2", False), ("deepseek-v3.2", True), ("moonlight-16b-a3b", False)])
@pytest.mark.parametrize("phase,form", [("decode", "absorbed"), ("decode", "naive"), ("prefill", "naive")])
def test_flops_formulas_compute_each_component(preset, mtp, phase, form):
    from k2calc.explain import explain_flops
    from k2calc.analysis.flops import AttentionForm, Phase, count_flops

    spec = load_preset(preset)
    report = count_flops(spec, Phase(phase), [32768], AttentionForm(form), mtp=mtp)
    formulas = explain_flops(spec.config, report, mtp=mtp)
    assert {f.name for f in formulas} == {k for k, v in report.by_component.items() if v}
    for f in formulas:
        exact = _evaluate_exact(f.numeric)
        if phase == "decode":
            assert exact == f.value == report.by_component[f.name], f
        else:  # prefill: an average per prompt token, rounded to whole FLOPs as the report rounds it
            assert abs(exact - report.by_component[f.name]) <= 1 and f.value == report.by_component[f.name], f


def test_kv_formulas_compute_the_report(run_json):
    data = run_json("kv", "-p", "deepseek-v3.2", "--context", "128k", "--batch", "4", "--kv-dtype", "fp8-flashmla",
                    "--explain")
    by_name = {e["name"]: e for e in data["explain"]}
    for e in data["explain"]:
        assert evaluate(e["numeric"]) == e["value"], e
    # FlashMLA: 512 fp8 + 4 float32 scales + 64 bf16 = 656; indexer: 128 fp8 + 1 float32 scale = 132.
    assert by_name["per token per layer (MLA)"]["value"] == 656
    assert by_name["per token per layer (indexer keys)"]["value"] == 132
    for key in ("bytes_per_token", "bytes_per_sequence", "total_bytes", "mha_bytes_per_token"):
        assert by_name[key]["value"] == data[key]


def test_deepseek_v3_kv_formula_is_the_published_70272():
    from k2calc.explain import explain_kv
    from k2calc.analysis.kv import kv_cache

    spec = load_preset("deepseek-v3")
    f = {x.name: x for x in explain_kv(spec.config, kv_cache(spec, [4096]))}["bytes_per_token"]
    assert f.numeric == "61·(512+64)·2" and f.value == 70_272
