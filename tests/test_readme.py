"""The README tells the truth: its figures are recomputed here by hand from config fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from k2calc.config import load_preset
from k2calc.analysis.flops import AttentionForm, Phase, count_flops

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()

# Kimi-K2 (config fields): 61 layers, 64 heads, kv_lora_rank 512, qk_rope 64, qk_nope 128, v 128.
LAYERS, HEADS, R, ROPE, NOPE, V = 61, 64, 512, 64, 128, 128
# Matmul parameters a token touches (2 FLOPs each): attention projections, 1 dense MLP, 60 MoE layers of
# 8 routed + 1 shared expert and a router weight, and lm_head.
ATTN = LAYERS * (7168 * 1536 + 1536 * HEADS * (NOPE + ROPE) + 7168 * (R + ROPE) + R * HEADS * (NOPE + V)
                 + HEADS * V * 7168)
LINEAR = 2 * (ATTN + 3 * 7168 * 18432 + 60 * (8 + 1) * 3 * 7168 * 2048 + 60 * 384 * 7168 + 163840 * 7168)
ABSORBED = 2 * HEADS * (R + ROPE) + 2 * HEADS * R  # scores + weighted sum, per layer per attended token


def test_linear_flops_per_token_by_hand():
    assert count_flops(load_preset("kimi-k2"), Phase.decode, [4096]).linear == LINEAR
    assert f"{LINEAR / 1e9:.2f} GFLOP" in README  # "63.37 GFLOP"


@pytest.mark.parametrize("context,shown", [(4096, "98.18 GFLOP"), (32768, "341.7 GFLOP"), (131072, "1.177 TFLOP")])
def test_decode_table_by_hand(context, shown):
    total = LINEAR + LAYERS * ABSORBED * (context + 1)  # the new token attends to the cache and itself
    assert count_flops(load_preset("kimi-k2"), Phase.decode, [context], AttentionForm.absorbed).total == total
    assert f"{total / (1e12 if total >= 1e12 else 1e9):.4g}" in shown and shown in README


def test_decode_crossover_closed_form():
    # attention >= linear from the smallest n with LAYERS·ABSORBED·(n+1) >= LINEAR.
    n = -(-LINEAR // (LAYERS * ABSORBED)) - 1
    assert count_flops(load_preset("kimi-k2"), Phase.decode, [4096]).crossover_context == n
    assert f"at {n:,} cached tokens in absorbed decode" in README


def test_prefill_average_by_hand():
    n = 131072
    naive = 2 * HEADS * (NOPE + ROPE) + 2 * HEADS * V
    lm_head = 2 * 163840 * 7168
    per_token = (LINEAR - lm_head) + (lm_head + LAYERS * naive * n * (n + 1) // 2) / n  # logits for the last only
    report = count_flops(load_preset("kimi-k2"), Phase.prefill, [n], AttentionForm.naive)
    assert report.total == pytest.approx(per_token, abs=1)
    assert "224.8 GFLOP" in README and f"{per_token / 1e9:.4g}" == "224.8"


def _examples() -> list[tuple[str, list[str]]]:
    """The README's terminal examples: ('k2calc ...', printed lines)."""
    out = []
    for block in README.split("```\n$ ")[1:]:
        command, _, body = block.partition("\n")
        out.append((command, body.split("```", 1)[0].rstrip("\n").splitlines()))
    return out


@pytest.mark.parametrize("command,shown", _examples(), ids=[c for c, _ in _examples()])
def test_readme_examples_are_real_output(command, shown):
    """Every line of an example (but the '…' elisions) is printed, in order, at 100 columns."""
    import shlex

    from typer.testing import CliRunner

    from k2calc.cli import app

    args = shlex.split(command)[1:]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    printed = [line.rstrip() for line in result.stdout.splitlines()]
    at = 0
    for line in shown:
        if line.strip() == "…":
            continue
        assert line.rstrip() in printed[at:], line
        at = printed.index(line.rstrip(), at) + 1


def test_readme_has_examples_of_params_and_compare():
    commands = [c for c, _ in _examples()]
    assert "k2calc params --preset kimi-k2" in commands
    assert any(c.startswith("k2calc compare kimi-k2 deepseek-v3") for c in commands)


def test_the_feature_table_has_a_row_for_every_command():
    from k2calc.cli import app

    table = README.split("## Features")[1].split("\n\n")[1]
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    rows = {line.split("`")[1].split()[1] for line in table.splitlines() if line.startswith("| `k2calc ")}
    assert commands <= rows
