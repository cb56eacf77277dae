"""Config loading: every accepted form, and every bad input as one line with exit code 2."""

from __future__ import annotations

import json

import pytest

from k2calc.config import load, load_path, load_preset
from k2calc.errors import InputError

from .conftest import DATA

V3 = DATA / "deepseek-v3.config.json"


def test_reads_config_json_file_and_folder(tmp_path):
    (tmp_path / "config.json").write_text(V3.read_text())
    assert load_path(tmp_path).config == load_path(V3).config
    assert load_path(tmp_path).name == tmp_path.name


def test_accepts_kimi_k2_model_type_that_transformers_does_not_know():
    cfg = load_path(DATA / "kimi-k2-instruct.config.json").config
    assert cfg.model_type == "kimi_k2" and cfg.n_routed_experts == 384


def test_multimodal_config_reads_text_config_and_keeps_the_vision_config():
    spec = load_path(DATA / "kimi-k2.5.config.json")
    assert spec.config.num_attention_heads == 64
    assert spec.config.quantization_config["quant_method"] == "compressed-tensors"
    assert any("multimodal" in n and "vision_config" in n for n in spec.notes)
    assert spec.checkpoint_prefix == "language_model."
    assert spec.multimodal_type == "kimi_k25" and spec.vision_config["vt_num_hidden_layers"] == 27


def test_reference_model_args_json_reads_like_the_hf_config():
    ref = load_path(DATA / "deepseek-v3.inference-modelargs-671B.json").config
    hf = load_path(V3).config
    for field in ("hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers",
                  "first_k_dense_replace", "num_attention_heads", "num_experts_per_tok", "n_group", "topk_group"):
        assert getattr(ref, field) == getattr(hf, field), field


def test_optional_fields_take_reference_defaults(tmp_path):
    raw = json.loads(V3.read_text())
    for key in ("first_k_dense_replace", "moe_layer_freq", "q_lora_rank", "n_shared_experts",
                "num_nextn_predict_layers", "topk_method"):
        raw.pop(key)
    (tmp_path / "c.json").write_text(json.dumps(raw))
    cfg = load_path(tmp_path / "c.json").config
    assert (cfg.first_k_dense_replace, cfg.moe_layer_freq, cfg.q_lora_rank, cfg.n_shared,
            cfg.num_nextn_predict_layers, cfg.topk_method) == (0, 1, None, 0, 0, "noaux_tc")


def test_null_shared_experts_means_none():
    assert load_preset("deepseek-v3", ["n_shared_experts=null"]).config.n_shared == 0


def test_unknown_fields_are_kept_and_ignored():
    cfg = load_path(V3).config
    assert cfg.model_extra["aux_loss_alpha"] == 0.001


def test_set_overrides_a_field_and_is_validated():
    spec = load_preset("kimi-k2", ["n_routed_experts=512"])
    assert spec.config.n_routed_experts == 512
    assert any("n_routed_experts" in n for n in spec.notes)
    with pytest.raises(InputError, match=r"with --set n_routed_experts=0: n_routed_experts: Input should be greater than 0"):
        load_preset("kimi-k2", ["n_routed_experts=0"])
    with pytest.raises(InputError, match=r"unknown field 'n_routed_expert'.*did you mean n_routed_experts"):
        load_preset("kimi-k2", ["n_routed_expert=3"])
    with pytest.raises(InputError, match="expected FIELD=VALUE"):
        load_preset("kimi-k2", ["n_routed_experts"])


def test_load_takes_a_preset_name_or_a_path():
    assert load("kimi-k2").config == load(DATA / "kimi-k2-instruct.config.json").config


def test_preset_typo_in_a_hand_written_file_is_warned(tmp_path):
    raw = json.loads(V3.read_text())
    raw["first_k_dense_replac"] = 2
    (tmp_path / "p.yaml").write_text(json.dumps({"name": "mine", "config": raw}))
    spec = load_path(tmp_path / "p.yaml")
    assert any("first_k_dense_replac" in n and "first_k_dense_replace" in n for n in spec.notes)


def test_a_published_field_of_the_family_is_no_typo_of_another_familys_field(tmp_path):
    # gpt-oss's config.json carries `experts_per_token` beside `num_experts_per_tok` (tests/data); one edit
    # from Kimi-K3's `num_experts_per_token`, it is still no typo in a gpt_oss config. A real one still is.
    assert not any("unknown field" in n for n in load("gpt-oss-120b").notes)
    raw = json.loads((DATA / "gpt-oss-120b.config.json").read_text())
    raw["sliding_windw"] = 128
    (tmp_path / "p.yaml").write_text(json.dumps({"name": "mine", "config": raw}))
    notes = [n for n in load_path(tmp_path / "p.yaml").notes if "unknown field" in n]
    assert len(notes) == 1 and "'sliding_windw'" in notes[0] and "'sliding_window'" in notes[0]


# ---------------------------------------------------------------------------------------------------
# Bad input: one line on stderr naming file, field and value; exit code 2; no traceback.


def _write(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def _v3(**changes):
    raw = json.loads(V3.read_text())
    for k, v in changes.items():
        if v is ...:
            raw.pop(k)
        else:
            raw[k] = v
    return json.dumps(raw)


BAD = {
    "missing file": (None, "no such file"),
    "empty file": (("c.json", ""), "the file is empty"),
    "malformed JSON": (("c.json", '{"hidden_size": 7168,'), "malformed JSON at line 1"),
    "malformed YAML": (("c.yaml", "config: [unclosed"), "malformed YAML"),
    "JSON list": (("c.json", "[1, 2]"), "expected an object of config fields at the top level, got a list"),
    "wrong type": (("c.json", _v3(hidden_size="7168")), "hidden_size: Input should be a valid integer (got '7168')"),
    "missing shape field": (("c.json", _v3(kv_lora_rank=...)), "kv_lora_rank: required field is missing"),
    "zero dimension": (("c.json", _v3(hidden_size=0)), "hidden_size: Input should be greater than 0 (got 0)"),
    "negative dimension": (("c.json", _v3(num_hidden_layers=-3)), "num_hidden_layers: Input should be greater than 0"),
    "too many experts per token": (("c.json", _v3(num_experts_per_tok=300)),
                                   "num_experts_per_tok (300) is larger than n_routed_experts (256)"),
    "binary garbage": (("c.json", b"\x89PNG\r\n\x1a\n\x00\x00\xff"), "not a text file"),
    "python tag in YAML": (("c.yaml", "config: !!python/object/apply:os.system ['echo hi']\n"), "YAML tag refused"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_is_one_line_exit_2(run, tmp_path, case):
    content, expected = BAD[case]
    path = tmp_path / "absent.json" if content is None else _write(tmp_path, *content)
    result = run("params", "--config", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(path) in lines[0]
    assert expected in lines[0]


def test_folder_without_config_json(run, tmp_path):
    result = run("params", "--config", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path}: folder has no config.json"


def test_unknown_preset_suggests_the_nearest(run):
    result = run("params", "--preset", "kimi-k9")
    assert result.exit_code == 2
    assert "unknown preset 'kimi-k9'" in result.stderr and "kimi-k2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_model_given(run):
    result = run("params")
    assert result.exit_code == 2 and "--preset" in result.stderr


def test_inline_overrides_name_a_what_if_variant():
    spec = load("kimi-k2@num_attention_heads=128,n_routed_experts=512")
    assert (spec.config.num_attention_heads, spec.config.n_routed_experts) == (128, 512)
    assert spec.name == "kimi-k2@num_attention_heads=128,n_routed_experts=512"
    with pytest.raises(InputError, match="num_attention_heads=0: num_attention_heads: Input should be greater than 0"):
        load("kimi-k2@num_attention_heads=0")


def test_an_at_sign_without_an_override_is_part_of_the_name():
    with pytest.raises(InputError, match="unknown preset 'kimi@k2'"):
        load("kimi@k2")


def test_a_dimension_too_large_for_any_figure_is_refused_by_name():
    with pytest.raises(InputError, match=r"--set hidden_size=.*hidden_size: Input should be less than or equal to 1099511627776"):
        load_preset("kimi-k2", ["hidden_size=" + "9" * 400])


def test_more_layers_than_any_model_is_refused_before_a_slow_walk():
    with pytest.raises(InputError, match=r"num_hidden_layers: Input should be less than or equal to 1024 \(got 100000000\)"):
        load_preset("kimi-k2", ["num_hidden_layers=100000000"])
    with pytest.raises(InputError, match=r"num_nextn_predict_layers: Input should be less than or equal to 1024"):
        load_preset("kimi-k2", ["num_nextn_predict_layers=5000"])
