"""Vision towers: counted tensor by tensor from vision_config, apart from the language model's total."""

from __future__ import annotations

import json

import pytest

from k2calc.config import load_path, load_preset
from k2calc.errors import InputError
from k2calc.params import count_params
from k2calc.vision import vision_tensors

from .conftest import DATA


def _k25_raw() -> dict:
    return json.loads((DATA / "kimi-k2.5.config.json").read_text())


# SOURCES.md: Kimi-K2.5's published index counts 1,026,879,376,368 logical parameters, of which the vision
# tower and projector are 471,143,920.
def test_kimi_k2_5_vision_tower_and_projector_match_the_published_count():
    r = count_params(load_preset("kimi-k2.5"))
    assert r.vision.total == 471_143_920
    assert r.total + r.vision.total == 1_026_879_376_368
    assert r.total == 1_026_408_232_448  # total stays the language model (Kimi-K2's text model)
    assert sum(r.vision.breakdown.values()) == r.vision.total


def test_moonvit_count_by_hand_from_vision_config_fields():
    # vt_hidden_size 1152, vt_intermediate_size 4304, 27 blocks, patch 14, 64×64 position table,
    # merge kernel 2×2, mm_hidden_size 1152, text_hidden_size 7168 (tests/data/kimi-k2.5.config.json)
    h, inter, blocks, merged = 1152, 4304, 27, 1152 * 2 * 2
    patch_embed = h * 3 * 14 * 14 + h + 64 * 64 * h  # Conv2d weight and bias, learned position table
    block = 2 * 2 * h + (inter * h + inter) + (h * inter + h) + (3 * h * h + 3 * h) + (h * h + h)
    tower = patch_embed + blocks * block + 2 * h  # + final LayerNorm
    projector = 2 * 1152 + (merged * merged + merged) + (7168 * merged + 7168)
    r = count_params(load_preset("kimi-k2.5"))
    assert r.vision.breakdown == {"vision_tower": tower, "mm_projector": projector}


def test_moonvit_stores_335_tensors_under_the_checkpoint_names():
    tensors, tower, _ = vision_tensors(load_preset("kimi-k2.5"))
    names = [t.name for t in tensors]
    # patch embed 3, 27 blocks × 12 (6 modules with weight and bias), final norm 2, projector 6
    assert len(names) == len(set(names)) == 3 + 27 * 12 + 2 + 6
    assert tower == "MoonViT"
    for name in ("vision_tower.patch_embed.proj.weight", "vision_tower.patch_embed.pos_emb.weight",
                 "vision_tower.encoder.blocks.0.wqkv.bias", "vision_tower.encoder.blocks.26.mlp.fc1.weight",
                 "vision_tower.encoder.final_layernorm.weight", "mm_projector.pre_norm.bias",
                 "mm_projector.proj.0.weight", "mm_projector.proj.2.bias"):
        assert name in names


def test_text_only_models_have_no_vision(run_json):
    assert count_params(load_preset("kimi-k2")).vision is None
    data = run_json("params", "--preset", "kimi-k2.5")
    assert data["vision"]["total"] == 471_143_920 and data["vision"]["tower"] == "MoonViT"
    assert data["total"] == 1_026_408_232_448
    assert run_json("params", "--preset", "deepseek-v3")["vision"] is None


def test_params_table_shows_the_vision_section(run):
    out = run("params", "--preset", "kimi-k2.5").stdout
    assert "vision (MoonViT)" in out and "471,143,920" in out and "1,026,879,376,368" in out


def test_a_tower_without_a_builder_is_said_to_be_uncounted(tmp_path):
    raw = _k25_raw()
    raw["model_type"] = "some_vl"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    spec = load_path(path)
    r = count_params(spec)
    assert r.vision is None
    assert any("some_vl" in n and "not counted" in n for n in r.notes)


def test_a_bad_vision_config_field_is_one_line_naming_it(tmp_path, run):
    raw = _k25_raw()
    del raw["vision_config"]["vt_hidden_size"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=r"vision_config\.vt_hidden_size: required field is missing"):
        count_params(load_path(path))
    r = run("checkpoint", "--config", str(path))
    assert r.exit_code == 2 and "vision_config.vt_hidden_size" in r.stderr and "Traceback" not in r.output
