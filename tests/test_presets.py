"""Presets: every one loads, and each holds its published config unchanged."""

from __future__ import annotations

import json

import pytest

from k2calc.config import load_preset, read_mapping
from k2calc.presets import preset_names, preset_path

from .conftest import DATA


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads(name):
    spec = load_preset(name)
    assert spec.config.num_hidden_layers > 0 and spec.description


@pytest.mark.parametrize("name", [n for n in preset_names() if n != "kimi-k2-thinking"])
def test_preset_config_is_the_published_config_verbatim(name):
    raw = read_mapping(preset_path(name))
    assert raw["config"] == json.loads((DATA / raw["source"]["file"]).read_text())


def test_kimi_k2_thinking_is_k2_architecture_with_int4_group_32():
    thinking = load_preset("kimi-k2-thinking").config
    k2 = load_preset("kimi-k2").config
    abridged = json.loads((DATA / "kimi-k2-thinking.config.ABRIDGED.json").read_text())
    for key, value in abridged.items():
        assert getattr(thinking, key, thinking.model_extra.get(key)) == value, key
    for key in ("hidden_size", "n_routed_experts", "num_attention_heads", "first_k_dense_replace", "vocab_size"):
        assert getattr(thinking, key) == getattr(k2, key)
    weights = thinking.quantization_config["config_groups"]["group_0"]["weights"]
    assert (weights["num_bits"], weights["group_size"], weights["type"]) == (4, 32, "int")
