"""k2calc's tensor list equals Hugging Face transformers' model, tensor by tensor.

Golden files in tests/golden/ were written by scripts/golden_transformers.py, which builds
<Family>ForCausalLM on the meta device (transformers 5). The live test recomputes them when torch and
transformers are importable (CI installs both), so the golden files cannot silently go stale.

Two differences between transformers and the checkpoints, both accounted for here:
- transformers 5 fuses each layer's routed experts into `experts.gate_up_proj` [E, 2·I, H] and
  `experts.down_proj` [E, H, I]; checkpoints store `experts.{e}.gate_proj.weight` etc. per expert.
- Mistral Small 3.1 (mistral3) is compared as MistralForCausalLM built from its text_config, whose
  default leaves the head untied, as the checkpoint is released; Mistral3ForConditionalGeneration would
  tie it (its config has no tie_word_embeddings key), one vocab × hidden table fewer than the release.
- transformers builds no MTP module (`num_nextn_predict_layers` is ignored), so only the main model
  is compared; and it decides MoE layers by `layer_idx >= first_k_dense_replace` alone, ignoring
  `moe_layer_freq` (every config here has moe_layer_freq 1, where both rules agree).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from k2calc.config import load_path
from k2calc.arch.tensors import build_tensors

from .conftest import live

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.json"))
DATA = ROOT / "tests" / "data"


# DeepSeek-V4 checkpoints use the reference code's names; transformers renames them on load
# (transformers/conversion_mapping.py, block "deepseek_v4"). Applied in order.
V4_RENAMES = [
    (r"^embed\.", "model.embed_tokens."), (r"^head\.", "lm_head."), (r"^norm\.", "model.norm."),
    (r"^hc_head_(fn|base|scale)$", r"model.hc_head.hc_\1"), (r"^layers\.", "model.layers."),
    (r"\.hc_(attn|ffn)_(fn|base|scale)$", r".\1_hc.\2"), (r"\.attn_norm\.", ".input_layernorm."),
    (r"\.ffn_norm\.", ".post_attention_layernorm."), (r"\.attn\.attn_sink$", ".self_attn.sinks"),
    (r"\.attn\.indexer\.compressor\.", ".self_attn.compressor.indexer."),
    (r"\.attn\.indexer\.weights_proj\.", ".self_attn.compressor.indexer.scorer.weights_proj."),
    (r"\.attn\.indexer\.wq_b\.", ".self_attn.compressor.indexer.q_b_proj."), (r"\.attn\.", ".self_attn."),
    (r"(compressor(?:\.indexer)?)\.norm\.", r"\1.kv_norm."), (r"\.ape$", ".position_bias"),
    (r"\.wgate\.", ".gate_proj."), (r"\.wq_a\.", ".q_a_proj."), (r"\.wq_b\.", ".q_b_proj."),
    (r"\.wkv\.", ".kv_proj."), (r"\.wo_a\.", ".o_a_proj."), (r"\.wo_b\.", ".o_b_proj."),
    (r"\.q_norm\.", ".q_a_norm."), (r"\.ffn\.", ".mlp."), (r"\.gate\.bias$", ".gate.e_score_correction_bias"),
    (r"\.w1\.weight$", ".gate_proj.weight"), (r"\.w2\.weight$", ".down_proj.weight"),
    (r"\.w3\.weight$", ".up_proj.weight"),
]


def v4_transformers_name(name: str) -> str:
    for pattern, repl in V4_RENAMES:
        name = re.sub(pattern, repl, name)
    return name


def as_transformers_names(config_path: Path) -> dict[str, int]:
    """k2calc's main-model tensors, renamed and fused the way transformers 5 holds them."""
    out: dict[str, int] = {}
    spec = load_path(config_path)
    for t in build_tensors(spec.config):
        if t.mtp or not t.counted:  # transformers builds no MTP; V4's tid2eid is a buffer outside the goldens
            continue
        name = v4_transformers_name(t.name) if spec.arch.model_type == "deepseek_v4" else t.name
        if "{e}" in name:  # model.layers.3.mlp.experts.{e}.gate_proj.weight -> ...experts.gate_up_proj
            prefix, proj = name.split(".{e}.")  # (gpt-oss: ...experts.{e}.gate_proj.bias -> gate_up_proj_bias)
            proj, _, part = proj.partition(".")
            fused = "gate_up_proj" if proj in ("gate_proj", "up_proj") else "down_proj"
            name = f"{prefix}.{fused}" + ("_bias" if part == "bias" else "")
        out[name] = out.get(name, 0) + t.params
    return out


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.stem for g in GOLDEN])
def test_every_tensor_matches_transformers_golden_count(golden):
    expected = json.loads(golden.read_text())
    ours = as_transformers_names(DATA / expected["config"])
    assert ours == expected["tensors"]


def test_golden_files_cover_the_main_families():
    assert {g.stem for g in GOLDEN} >= {"deepseek-v3", "kimi-k2", "moonlight-16b-a3b", "deepseek-v2.5", "deepseek-v3.2",
                                        "deepseek-v4-pro", "deepseek-v4-flash"}


def test_published_transformers_totals():
    # SOURCES.md: transformers on the meta device counts 671,026,404,352 (DeepSeek-V3) and
    # 1,026,408,209,408 (Kimi-K2) parameters, router bias buffers excluded; transformers 5.24's
    # DeepseekV4ForCausalLM 1,572,997,179,491 (V4-Pro) and 284,332,230,231 (V4-Flash).
    for stem, figure in (("deepseek-v3", 671_026_404_352), ("kimi-k2", 1_026_408_209_408),
                         ("deepseek-v4-pro", 1_572_997_179_491), ("deepseek-v4-flash", 284_332_230_231)):
        tensors = json.loads((ROOT / "tests" / "golden" / f"{stem}.json").read_text())["tensors"]
        params = sum(n for name, n in tensors.items() if not name.endswith("e_score_correction_bias"))
        assert params == figure


def live_counts(fields: dict, family: str, folder: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(k2calc's tensors renamed as transformers holds them, transformers' own count) for a config's fields."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from golden_transformers import transformers_counts

    path = folder / "config.json"
    path.write_text(json.dumps(fields))
    return as_transformers_names(path), transformers_counts(fields, family)


@live
@pytest.mark.parametrize("golden", GOLDEN, ids=[g.stem for g in GOLDEN])
def test_live_transformers_count_matches(golden):
    sys.path.insert(0, str(ROOT / "scripts"))
    from golden_transformers import MODELS, transformers_counts

    file, family = MODELS[golden.stem]
    theirs = transformers_counts(json.loads((DATA / file).read_text()), family)
    assert as_transformers_names(DATA / file) == theirs


@live
def test_live_what_if_config_matches_transformers(tmp_path):
    """A config nobody published: 48 experts, 3 shared, no q_lora_rank, attention bias, tied embeddings."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from golden_transformers import transformers_counts

    raw = json.loads((DATA / "moonlight-16b-a3b-instruct.config.REFORMATTED.json").read_text())
    raw.update(n_routed_experts=48, n_shared_experts=3, num_hidden_layers=5, first_k_dense_replace=2,
               attention_bias=True, tie_word_embeddings=True, q_lora_rank=None, vocab_size=1000)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    assert as_transformers_names(path) == transformers_counts(raw, "DeepseekV3")
