"""Vision towers: counted tensor by tensor from vision_config, apart from the language model's total."""

from __future__ import annotations

import json
import sys

import pytest

from k2calc.config import load_path, load_preset
from k2calc.errors import InputError
from k2calc.analysis.params import count_params
from k2calc.arch.vision import vision_from_config

from .conftest import DATA, live


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
    tensors, tower, _ = load_preset("kimi-k2.5").vision
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


# Gemma 3 (SigLIP), Mistral Small 3.1 (Pixtral), Llama 4: their language models are other families, but their
# vision towers are built here already. tests/golden/vision/ holds transformers 5's tensors for each, built on
# the meta device by scripts/golden_transformers.py under the released checkpoints' names.
VISION_GOLDEN = sorted((DATA.parent / "golden" / "vision").glob("*.json"))


def _ours(config_file: str) -> dict[str, list[int]]:
    tensors, _, _ = vision_from_config(json.loads((DATA / config_file).read_text()), config_file)
    return {t.name: list(t.dims) for t in tensors}


@pytest.mark.parametrize("golden", VISION_GOLDEN, ids=[g.stem for g in VISION_GOLDEN])
def test_vision_tower_matches_transformers_tensor_by_tensor(golden):
    expected = json.loads(golden.read_text())
    assert _ours(expected["config"]) == expected["shapes"]


def test_vision_golden_files_cover_the_three_towers():
    assert {g.stem for g in VISION_GOLDEN} == {
        "gemma-3-27b-it", "mistral-small-3.1-24b-instruct-2503", "llama-4-maverick-17b-128e-instruct"}


def test_siglip_count_by_hand():
    # gemma-3-27b-it's vision_config: hidden 1152, intermediate 4304, 27 layers, image 896, patch 14;
    # text hidden 5376. The same SigLIP-so400m shapes as Kimi-K2.5's MoonViT tower, but positions are a
    # (896/14)^2 table and q, k, v are separate.
    h, inter = 1152, 4304
    layer = 4 * (h * h + h) + 2 * 2 * h + (inter * h + inter) + (h * inter + h)
    tower = (h * 3 * 14 * 14 + h) + 64 * 64 * h + 27 * layer + 2 * h
    tensors, tower_name, _ = vision_from_config(json.loads((DATA / "gemma-3-27b-it.config.json").read_text()), "g")
    assert tower_name == "SigLIP"
    assert sum(t.params for t in tensors if t.kind.value == "vision_tower") == tower == 416_866_032
    assert sum(t.params for t in tensors if t.kind.value == "mm_projector") == h * 5376 + h


@live
@pytest.mark.parametrize("golden", VISION_GOLDEN, ids=[g.stem for g in VISION_GOLDEN])
def test_live_vision_tower_matches_transformers(golden):
    sys.path.insert(0, str(DATA.parent.parent / "scripts"))
    from golden_transformers import VISION_MODELS, vision_shapes

    file, config_class, parts = VISION_MODELS[golden.stem]
    assert _ours(file) == vision_shapes(json.loads((DATA / file).read_text()), config_class, parts)


@live
def test_live_what_if_pixtral_with_projector_bias_matches_transformers():
    sys.path.insert(0, str(DATA.parent.parent / "scripts"))
    from golden_transformers import VISION_MODELS, vision_shapes

    file, config_class, parts = VISION_MODELS["mistral-small-3.1-24b-instruct-2503"]
    raw = json.loads((DATA / file).read_text())
    raw.update(multimodal_projector_bias=True, spatial_merge_size=3)
    raw["vision_config"].update(num_hidden_layers=2, hidden_size=256, intermediate_size=512, patch_size=16)
    tensors, _, _ = vision_from_config(raw, file)
    assert {t.name: list(t.dims) for t in tensors} == vision_shapes(raw, config_class, parts)
