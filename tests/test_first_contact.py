"""What a new user types first: engine words, Hugging Face names, --version; each just works."""

from __future__ import annotations

import k2calc


def test_plan_with_only_gpus_is_tensor_parallel_over_all_of_them(run_json):
    alone = run_json("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "8")
    explicit = run_json("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--tp", "8")
    assert alone["gpus"] == 8
    assert alone["per_gpu"] == explicit["per_gpu"]


def test_api_plan_with_only_gpus_is_tensor_parallel():
    report = k2calc.load("deepseek-v3").plan("h200", gpus=8)
    assert (report.gpus, report.layout.tp, report.layout.dp) == (8, 8, 1)


def test_gpus_that_disagree_with_a_given_layout_is_still_an_error(run):
    result = run("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--tp", "4")
    assert result.exit_code == 2 and "--gpus 8" in result.stderr


def test_gpus_alone_that_cannot_be_tensor_parallel_names_gpus(run):
    result = run("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "6")
    assert result.exit_code == 2
    assert result.stderr == "error: --gpus 6 (as --tp 6): num_attention_heads (128) is not divisible by it\n"
