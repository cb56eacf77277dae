"""`k2calc compare`: every number equals the single-model commands' and config arithmetic."""

from __future__ import annotations

import pytest

from .conftest import DATA


@pytest.fixture(scope="module")
def k2_v3():
    from typer.testing import CliRunner
    import json

    from k2calc.cli import app

    out = CliRunner().invoke(app, ["compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "-f", "json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def row(section: list[dict], key: str) -> dict:
    """A compare row by its stable key (its figure's key in the single-model command's JSON)."""
    return next(r for r in section if r["key"] == key)


def test_config_section_highlights_the_k2_v3_differences(k2_v3):
    # Kimi-K2 report, Table 2: 384 vs 256 experts, 64 vs 128 heads, 1 vs 3 dense layers, 1 vs 8 groups;
    # vocabularies 163,840 vs 129,280 (the configs).
    fields = {r["field"]: r["values"] for r in k2_v3["config"] if r["differs"]}
    assert fields["n_routed_experts"] == [384, 256]
    assert fields["num_attention_heads"] == [64, 128]
    assert fields["first_k_dense_replace"] == [1, 3]
    assert fields["n_group"] == [1, 8]
    assert fields["vocab_size"] == [163840, 129280]
    assert fields["num_nextn_predict_layers"] == [0, 1]
    assert "rope_scaling" in fields and "rope_theta" in fields
    equal = {r["field"] for r in k2_v3["config"] if not r["differs"]}
    assert {"hidden_size", "kv_lora_rank", "moe_intermediate_size", "num_experts_per_tok"} <= equal


def test_params_match_the_params_command(k2_v3, run_json):
    for i, model in enumerate(("kimi-k2", "deepseek-v3")):
        single = run_json("params", "-p", model)
        assert row(k2_v3["params"], "total")["values"][i] == single["total"]
        assert row(k2_v3["params"], "active")["values"][i] == single["active"]
        assert row(k2_v3["params"], "mtp")["values"][i] == single["mtp"]
        for key, value in single["breakdown"].items():
            assert row(k2_v3["params"], f"breakdown.{key}")["values"][i] == value


def test_difference_and_ratio_are_against_the_first_model(k2_v3):
    experts = row(k2_v3["params"], "breakdown.routed_experts")
    # 60 MoE layers × 384 experts vs 58 × 256, each expert 3 × 7168 × 2048.
    per_expert = 3 * 7168 * 2048
    assert experts["values"] == [60 * 384 * per_expert, 58 * 256 * per_expert]
    assert experts["diff"][1] == 58 * 256 * per_expert - 60 * 384 * per_expert
    assert experts["ratio"][1] == pytest.approx((58 * 256) / (60 * 384), rel=1e-6)


def test_flops_rows_match_the_flops_command(k2_v3, run_json):
    for i, model in enumerate(("kimi-k2", "deepseek-v3")):
        for phase in ("prefill", "decode"):
            single = run_json("flops", "-p", model, "--phase", phase, "--context", "4k,128k")
            for point in single["sweep"]:
                assert row(k2_v3["flops"], f"{phase}_{point['context']}")["values"][i] == point["total"]


def test_kv_rows_equal_mla_arithmetic(k2_v3):
    # 61 layers × (kv_lora_rank 512 + qk_rope_head_dim 64) × 2 bytes = 70,272 for both: K2 halves the
    # heads, and MLA's latent has no head dimension.
    assert row(k2_v3["kv"], "bytes_per_token")["values"] == [70_272, 70_272]
    assert row(k2_v3["kv"], "bytes_per_sequence")["values"] == [70_272 * 131_072] * 2
    # MHA: layers × heads × (qk_nope+qk_rope + v) × 2 bytes.
    assert row(k2_v3["kv"], "mha_bytes_per_token")["values"] == [61 * 64 * (192 + 128) * 2,
                                                                         61 * 128 * (192 + 128) * 2]


def test_checkpoint_rows_are_the_published_totals(k2_v3):
    # SOURCES.md: Kimi-K2-Instruct total_size 1,029,173,256,720 (139,644 tensors);
    # DeepSeek-V3 tensor bytes 688,574,839,360 (91,991 tensors).
    assert row(k2_v3["checkpoint"], "total_bytes")["values"] == [1_029_173_256_720, 688_574_839_360]
    assert row(k2_v3["checkpoint"], "tensors")["values"] == [139_644, 91_991]


def test_plan_section_agrees_with_plan_command(k2_v3, run_json):
    by_model = {p["model"]: p for p in k2_v3["plan"]}
    # Kimi-K2-Instruct's fp8 weights (≈958 GiB) leave no room for a 128k sequence on one 8×H200 node.
    assert by_model["kimi-k2"]["fits"] is False
    v3 = by_model["deepseek-v3"]
    assert v3["fits"] is True
    lay = v3["layout"]  # the same object `plan` reports, named as its options are
    tp, dp, ep = lay["tp"], lay["dp_attention"], lay["ep"]
    single = run_json("plan", "-p", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--tp", str(tp),
                      "--dp-attention", str(dp), "--ep", str(ep), "--context", "128k")
    assert single["fits"] is True
    assert single["max_batch"] == v3["max_batch"] and single["kv_tokens"] == v3["kv_tokens"]


def test_three_models_mixed_with_a_config_path(run_json):
    data = run_json("compare", "kimi-k2", "deepseek-v3", str(DATA / "moonlight-16b-a3b-instruct.config.REFORMATTED.json"))
    assert len(data["models"]) == 3
    assert row(data["params"], "total")["values"][2] == run_json("params", "-p", "moonlight-16b-a3b")["total"]
    assert data["plan"] is None


def test_equal_fields_are_folded_unless_all_fields(run):
    folded = run("compare", "kimi-k2", "deepseek-v3").stdout
    assert "equal fields folded" in folded and "kv_lora_rank" not in folded.split("parameters")[0]
    full = run("compare", "kimi-k2", "deepseek-v3", "--all-fields").stdout
    assert "kv_lora_rank" in full.split("parameters")[0]


def test_markdown_pastes_as_tables(run):
    md = run("compare", "kimi-k2", "deepseek-v3", "-f", "markdown").stdout
    assert "| n_routed_experts | 384 | 256 |" in md
    assert "| figure | kimi-k2 | deepseek-v3 | deepseek-v3 − kimi-k2 | deepseek-v3 / kimi-k2 |" in md


def test_csv_has_raw_numbers(run):
    import csv
    import io

    rows = list(csv.reader(io.StringIO(run("compare", "kimi-k2", "deepseek-v3", "-f", "csv").stdout)))
    total = next(r for r in rows if r[:2] == ["parameters", "total"])
    assert total[2:4] == ["1026408232448", "671026419200"]


def test_explain_adds_each_models_formulas(run_json):
    data = run_json("compare", "kimi-k2", "deepseek-v3", "--explain")
    routed = {m: next(f for f in fs if f["name"] == "routed_experts") for m, fs in data["explain"].items()}
    assert routed["kimi-k2"]["numeric"] == "60 MoE layers × 384 experts × 3 × 2048 × 7168"
    assert routed["deepseek-v3"]["numeric"] == "58 MoE layers × 256 experts × 3 × 2048 × 7168"


def test_bad_inputs_are_one_line(run):
    one = run("compare", "kimi-k2")
    assert one.exit_code == 2 and "two or more" in one.stderr
    typo = run("compare", "kimi-k2", "deepseek-v4")
    assert typo.exit_code == 2 and "unknown preset 'deepseek-v4'" in typo.stderr
    half = run("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200")
    assert half.exit_code == 2 and "--gpus" in half.stderr
    nodes = run("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "12")
    assert nodes.exit_code == 2 and "whole number" in nodes.stderr


def test_what_if_variant_side_by_side(run_json):
    # The K2 report's ablation: 64 -> 128 heads, experts fixed. Attention weights per layer grow with the
    # heads: q_b_proj, kv_b_proj and o_proj (q_a/kv_a do not).
    data = run_json("compare", "kimi-k2", "kimi-k2@num_attention_heads=128")
    assert data["models"] == ["kimi-k2", "kimi-k2@num_attention_heads=128"]
    assert data["differing_fields"] == ["num_attention_heads"]
    per_head = 1536 * 192 + 512 * 256 + 128 * 7168  # q_b, kv_b, o_proj columns per head
    assert row(data["params"], "breakdown.attention")["diff"][1] == 61 * 64 * per_head
    # MLA's cache has no head dimension: doubling the heads leaves it unchanged.
    assert row(data["kv"], "bytes_per_token")["diff"][1] == 0


def test_the_same_model_twice_keeps_two_columns(run_json):
    data = run_json("compare", "kimi-k2", "kimi-k2", "--explain")
    assert data["models"] == ["kimi-k2", "kimi-k2 (2)"] and list(data["explain"]) == data["models"]


def test_compare_error_after_a_multimodal_note_is_still_one_line(run):
    result = run("compare", "kimi-k2.5", "kimi-k2", "--kv-context", "0", "--format", "json")
    assert result.exit_code == 2
    assert result.stderr == "error: --kv-context 0: must be at least 1\n"


def test_too_many_gpus_names_the_option_given(run):
    result = run("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "1099511627776")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --gpus 1099511627776: ") and "--max-nodes" not in result.stderr


def test_flops_rows_name_the_mla_form_only_when_a_model_has_mla(run, run_json):
    gqa = run_json("compare", "qwen3-32b", "olmo-2-13b", "--context", "4k")
    assert [r["label"] for r in gqa["flops"]] == ["prefill 4k", "decode 4k"]
    assert "MLA form" not in run("compare", "qwen3-32b", "olmo-2-13b", "--context", "4k").stdout
    mixed = run_json("compare", "kimi-k2", "qwen3-32b", "--context", "4k")
    assert [r["label"] for r in mixed["flops"]] == ["prefill 4k (naive)", "decode 4k (absorbed)"]


@pytest.mark.parametrize("args, message", [
    (["--gpu", "h200", "--gpus", "8", "--price-per-gpu-hour", "-2"], "--price-per-gpu-hour -2: must be a positive number"),
    (["--gpu", "h200", "--gpus", "8", "--price-per-gpu-hour", "0"], "--price-per-gpu-hour 0: must be a positive number"),
    (["--price-per-gpu-hour", "2"], "--price-per-gpu-hour goes with --gpu"),
])
def test_a_price_that_cannot_be_used_is_one_line(run, args, message):
    out = run("compare", "kimi-k2", "deepseek-v3", *args)
    assert out.exit_code == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--batch", "32"], "--batch 32 goes with --gpu and --gpus"),  # no serving rows to run it: was ignored
    (["--gpus", "0"], "a memory plan needs both --gpu NAME and --gpus N"),  # was no plan, silently
    (["--gpu", "h200", "--gpus", "0"], "--gpus 0: must be 1 to"),  # was "needs both", though both were given
    (["--gpu", "h200", "--gpus", "-3"], "--gpus -3: must be 1 to"),
])
def test_a_serving_option_without_a_plan_or_a_bad_gpu_count_is_one_line(run, args, message):
    out = run("compare", "kimi-k2", "deepseek-v3", *args)
    assert out.exit_code == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_serving_rows_when_no_layout_holds_the_batch_use_the_fastest_at_the_batch_that_fits(run_json):
    # DeepSeek-V3 on 8 x H200 at 128k holds 16 sequences, not --batch 64: its serving row runs at 16 on the
    # fastest layout holding 16, at least as fast as the memory plan's own layout at that batch.
    d = run_json("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "8")
    plan, serve = d["plan"][1], d["serve"][1]
    assert serve["batch"] == plan["max_batch"] == 16
    lay = plan["layout"]
    own = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", str(lay["tp"]), "--dp-attention",
                   str(lay["dp_attention"]), "--ep", str(lay["ep"]), "--batch", "16", "--context", "128k")
    assert serve["tokens_per_s_per_gpu"] >= own["tokens_per_s_per_gpu"]


def test_kv_rows_beyond_a_models_context_window_note_it_for_that_model_only(run_json):
    from k2calc.config import load

    short = load("olmo-2-13b").config.max_position_embeddings
    assert load("qwen3-32b").config.max_position_embeddings > 2 * short
    d = run_json("compare", "qwen3-32b", "olmo-2-13b", "--kv-context", str(2 * short))
    said = [n for n in d["notes"] if "max_position_embeddings" in n]
    assert len(said) == 1 and said[0].startswith("olmo-2-13b:") and str(2 * short) in said[0]
    assert not [n for n in run_json("compare", "qwen3-32b", "olmo-2-13b")["notes"] if "max_position_embeddings" in n]
