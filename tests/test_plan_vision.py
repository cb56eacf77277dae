"""plan counts a multimodal model's vision tower and projector as vLLM loads them; perf's per-token time does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from k2calc.analysis.checkpoint import checkpoint_report
from k2calc.analysis.perf import perf
from k2calc.analysis.plan import Layout, Workload, plan
from k2calc.config import load_preset
from k2calc.hardware import get_gpu

MULTIMODAL = ["kimi-k2.5", "gemma-3-27b", "llama-4-maverick", "mistral-small-3.1", "kimi-k3"]
W = Workload(context=4096)
MODES = ("weights", "data")


def _weights(preset: str, tp: int, **kw) -> int:
    return plan(load_preset(preset), get_gpu("B200"), Layout(tp=tp), W, **kw).per_gpu.weights


def test_kimi_k2_5_plan_weights_at_tp1_are_the_published_checkpoint_total():
    # SOURCES.md: Kimi-K2.5's model.safetensors.index.json metadata.total_size, tower and projector included.
    assert _weights("kimi-k2.5", 1) == 595_148_192_736


@pytest.mark.parametrize("preset", MULTIMODAL)
def test_plan_weights_at_tp1_are_the_checkpoint_with_nothing_left_out(preset):
    assert _weights(preset, 1) == checkpoint_report(load_preset(preset)).total_bytes


@pytest.mark.parametrize("preset", MULTIMODAL)
def test_language_model_only_leaves_out_exactly_the_checkpoints_vision_part(preset):
    ck = checkpoint_report(load_preset(preset))
    assert _weights(preset, 1, language_model_only=True) == ck.total_bytes - ck.vision.bytes


def test_gemma_3_siglip_tower_at_tp8_splits_its_block_linears_by_hand():
    # gemma-3-27b vision_config: hidden 1152, intermediate 4304, 27 layers, patch 14, image 896, 3 channels;
    # text hidden 5376; bf16. Per GPU at TP8: q/k/v (weight + bias) and fc1 column-parallel (1152/8 = 144,
    # 4304/8 = 538 rows), out_proj and fc2 row-parallel with their biases whole, norms whole.
    h, i, n = 1152, 4304, 27
    layer = (3 * (h // 8 * h + h // 8) + h * (h // 8) + h + (i // 8 * h + i // 8) + h * (i // 8) + h + 2 * 2 * h)
    rest = h * 3 * 14 * 14 + h + (896 // 14) ** 2 * h + 2 * h + h * 5376 + h
    tower = 2 * (n * layer + rest)
    assert tower == 126_380_700
    assert _weights("gemma-3-27b", 8) - _weights("gemma-3-27b", 8, language_model_only=True) == tower


@pytest.mark.parametrize("preset", MULTIMODAL)
def test_mm_encoder_tp_mode_data_puts_the_whole_tower_on_every_gpu(preset):
    vision = checkpoint_report(load_preset(preset)).vision.bytes
    full = _weights(preset, 8, mm_encoder_tp_mode="data")
    assert full - _weights(preset, 8, language_model_only=True) == vision
    assert _weights(preset, 8) < full  # vLLM's default splits the block linears


def test_every_pipeline_stage_holds_the_tower():
    # vLLM builds the tower on every rank; at TP1 each stage holds all of it.
    spec, two = load_preset("gemma-3-27b"), Layout(pp=2)
    r = plan(spec, get_gpu("B200"), two, W)
    lm = plan(spec, get_gpu("B200"), two, W, language_model_only=True)
    assert r.per_gpu.weights - lm.per_gpu.weights == checkpoint_report(spec).vision.bytes == 846_120_672


def test_api_plan_takes_the_tower_options():
    from k2calc.api import load

    m = load("gemma-3-27b")
    full, data = (m.plan("b200", tp=8, context=4096, mm_encoder_tp_mode=mode).per_gpu.weights for mode in MODES)
    lm = m.plan("b200", tp=8, context=4096, language_model_only=True).per_gpu.weights
    assert (full - lm, data - lm) == (126_380_700, 846_120_672)


def test_plan_says_the_towers_share():
    r = plan(load_preset("gemma-3-27b"), get_gpu("B200"), Layout(tp=8), W)
    assert any("vision tower and projector: 126,380,700 bytes" in n for n in r.notes)


def test_the_tower_does_not_change_perfs_per_token_time():
    spec = load_preset("gemma-3-27b")
    text_only = replace(spec, multimodal_config=None)
    assert not text_only.vision[0] and spec.vision[0]
    a, b = (perf(s, get_gpu("B200"), Layout(tp=8), batch=4) for s in (spec, text_only))
    assert (a.step_ms, a.tpot_ms, a.tokens_per_s) == (b.step_ms, b.tpot_ms, b.tokens_per_s)
    # only memory sees the tower
    mem = [plan(s, get_gpu("B200"), Layout(tp=8), W).per_gpu.weights for s in (spec, text_only)]
    assert mem[0] - mem[1] == 126_380_700


def test_cli_language_model_only_and_bad_mode(run_json, run):
    full = run_json("plan", "--preset", "gemma-3-27b", "--gpu", "b200", "--tp", "8", "--context", "4k")
    lm = run_json("plan", "--preset", "gemma-3-27b", "--gpu", "b200", "--tp", "8", "--context", "4k",
                  "--language-model-only")
    assert full["per_gpu"]["weights"] - lm["per_gpu"]["weights"] == 126_380_700
    bad = run("plan", "--preset", "gemma-3-27b", "--gpu", "b200", "--mm-encoder-tp-mode", "bogus")
    assert bad.exit_code == 2 and "--mm-encoder-tp-mode bogus" in bad.stderr


def test_search_refuses_the_tower_options(run):
    r = run("plan", "--preset", "gemma-3-27b", "--search", "--language-model-only")
    assert r.exit_code == 2 and "--language-model-only does not go with --search" in r.stderr


def test_by_module_table_folds_the_tower_into_rows_per_sharding():
    r = plan(load_preset("gemma-3-27b"), get_gpu("B200"), Layout(tp=8), W)
    tower = {(m.module, m.sharding): m for m in r.modules if m.kind in ("vision_tower", "mm_projector")}
    assert set(tower) == {("vision_tower", "replicated"), ("vision_tower", "column ÷ 8"), ("vision_tower", "row ÷ 8"),
                          ("mm_projector", "replicated")}
    assert tower["vision_tower", "column ÷ 8"].layers == 27  # SigLIP's num_hidden_layers
    assert sum(m.bytes for m in tower.values()) == 126_380_700
