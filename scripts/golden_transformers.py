"""Count parameters the way Hugging Face transformers does, tensor by tensor, on the meta device.

Writes tests/golden/<name>.json: {tensor name: numel} for every parameter and for the router's
`e_score_correction_bias` buffers (which checkpoints store and transformers keeps as buffers), and
tests/golden/vision/<name>.json: {checkpoint name: shape} of multimodal models' vision towers and
projectors (Gemma 3's SigLIP, Mistral Small 3.1's Pixtral, Llama 4's vision model).
The tests compare these against k2calc's symbolic model; `tests/test_transformers_crosscheck.py`
also recomputes them live when torch and transformers are importable.

Run from the repo root:  python scripts/golden_transformers.py
Needs: pip install torch==2.13.0 transformers   (never plain `torch`: that pulls a CUDA build)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN = ROOT / "tests" / "golden"

# name -> (config file in tests/data, transformers class prefix; "Config/Model" when they differ, e.g.
# Gemma3TextConfig with Gemma3ForCausalLM)
MODELS = {
    "deepseek-v3": ("deepseek-v3.config.json", "DeepseekV3"),
    "kimi-k2": ("kimi-k2-instruct.config.json", "DeepseekV3"),
    "kimi-k2.5": ("kimi-k2.5.config.json", "DeepseekV3"),
    "moonlight-16b-a3b": ("moonlight-16b-a3b-instruct.config.REFORMATTED.json", "DeepseekV3"),
    "deepseek-v2.5": ("deepseek-v2.5.config.FROM-PYTHON-LITERAL.json", "DeepseekV2"),
    "deepseek-v3.2": ("deepseek-v3.2.config.json", "DeepseekV32"),
    "qwen3-4b": ("qwen3-4b.config.json", "Qwen3"),
    "qwen3-32b": ("qwen3-32b.config.json", "Qwen3"),
    "qwen3-30b-a3b": ("qwen3-30b-a3b.config.json", "Qwen3Moe"),
    "qwen3-235b-a22b": ("qwen3-235b-a22b.config.json", "Qwen3Moe"),
    "olmo-2-7b": ("olmo-2-1124-7b.config.json", "Olmo2"),
    "olmo-2-13b": ("olmo-2-1124-13b.config.json", "Olmo2"),
    "smollm3-3b": ("smollm3-3b.config.json", "SmolLM3"),
    "llama-tiny": ("llama-tiny.config.json", "Llama"),
    "mistral-tiny": ("mistral-tiny.config.json", "Mistral"),
    "qwen2-tiny": ("qwen2-tiny.config.json", "Qwen2"),
    "gemma-3-27b": ("gemma-3-27b-it.config.json", "Gemma3Text/Gemma3"),
    "gpt-oss-120b": ("gpt-oss-120b.config.json", "GptOss"),
    "llama-4-maverick": ("llama-4-maverick-17b-128e-instruct.config.json", "Llama4Text/Llama4"),
    "glm-4.5": ("glm-4.5.config.json", "Glm4Moe"),
    "glm-4.7": ("glm-4.7.config.json", "Glm4Moe"),
    # The text model as released: MistralForCausalLM from text_config, whose default leaves the head untied.
    # Mistral3ForConditionalGeneration would tie it (the top-level default), which the checkpoint is not.
    "mistral-small-3.1": ("mistral-small-3.1-24b-instruct-2503.config.json", "Mistral"),
    "deepseek-v4-pro": ("deepseek-v4-pro.config.json", "DeepseekV4"),
    "deepseek-v4-flash": ("deepseek-v4-flash.config.json", "DeepseekV4"),
}

# Families k2calc cannot build yet: their golden files wait in tests/golden/pending/ (the cross-check
# globs tests/golden/*.json only) until the adapter lands; then `git mv` them up one level.
PENDING: set[str] = set()
# Goldens that also record parameters_total, the persistent buffers and a by-pattern breakdown.
DETAILED = {"deepseek-v4-pro", "deepseek-v4-flash"}

# Multimodal models whose vision tower and projector k2calc builds (k2calc/vision.py):
# name -> (config file, transformers config class, [(checkpoint prefix, module class, built from)]).
# The prefixes are the released checkpoints' names (transformers 5 maps them to `model.*` on load).
VISION_MODELS = {
    "gemma-3-27b-it": ("gemma-3-27b-it.config.json", "Gemma3Config", [
        # transformers 5's SiglipVisionModel holds what the release stores under `vision_model.`
        ("vision_tower.vision_model.", "transformers.models.siglip.modeling_siglip.SiglipVisionModel", "vision_config"),
        ("multi_modal_projector.", "transformers.models.gemma3.modeling_gemma3.Gemma3MultiModalProjector", "config")]),
    "mistral-small-3.1-24b-instruct-2503": ("mistral-small-3.1-24b-instruct-2503.config.json", "Mistral3Config", [
        ("vision_tower.", "transformers.models.pixtral.modeling_pixtral.PixtralVisionModel", "vision_config"),
        ("multi_modal_projector.", "transformers.models.mistral3.modeling_mistral3.Mistral3MultiModalProjector",
         "config")]),
    "llama-4-maverick-17b-128e-instruct": ("llama-4-maverick-17b-128e-instruct.config.json", "Llama4Config", [
        ("vision_model.", "transformers.models.llama4.modeling_llama4.Llama4VisionModel", "vision_config"),
        ("multi_modal_projector.", "transformers.models.llama4.modeling_llama4.Llama4MultiModalProjector", "config")]),
}

# Keys that only steer transformers' own loading, not the architecture.
DROP = ("auto_map", "quantization_config", "model_type", "architectures", "transformers_version")


def transformers_counts(config: dict, family: str) -> dict[str, int]:
    """{name: numel} of every parameter and router-bias buffer of <family>ForCausalLM on the meta device."""
    import torch
    import transformers

    if "text_config" in config:
        config = config["text_config"]
    fields = {k: v for k, v in config.items() if k not in DROP}
    config_family, _, model_family = family.partition("/")
    cfg = getattr(transformers, f"{config_family}Config")(**fields)
    # Never accelerate's init_empty_weights: it misses the fused expert tensors and allocates for real.
    with torch.device("meta"):
        model = getattr(transformers, f"{model_family or config_family}ForCausalLM")(cfg)
    counts = {name: p.numel() for name, p in model.named_parameters()}
    counts.update({name: b.numel() for name, b in model.named_buffers() if name.endswith("e_score_correction_bias")})
    return counts


def transformers_buffers(config: dict, family: str) -> dict[str, dict]:
    """{name: {shape, dtype}} of every persistent buffer (router bias, DeepSeek-V4's hash table `tid2eid`)."""
    import torch
    import transformers

    fields = {k: v for k, v in config.items() if k not in DROP}
    cfg = getattr(transformers, f"{family}Config")(**fields)
    with torch.device("meta"):
        model = getattr(transformers, f"{family}ForCausalLM")(cfg)
    persistent = set(model.state_dict())  # non-persistent buffers (rotary inv_freq) are not in it
    return {name: {"shape": list(b.shape), "dtype": str(b.dtype).removeprefix("torch.")}
            for name, b in model.named_buffers() if name in persistent}


def breakdown(counts: dict[str, int]) -> dict[str, dict]:
    """Group tensor names by pattern (layer index -> N): {pattern: {tensors, elements, layers}}."""
    import re

    out: dict[str, dict] = {}
    for name, n in counts.items():
        m = re.search(r"\.layers\.(\d+)\.", name)
        key = re.sub(r"\.layers\.\d+\.", ".layers.N.", name)
        row = out.setdefault(key, {"tensors": 0, "elements": 0, "layers": []})
        row["tensors"] += 1
        row["elements"] += n
        if m:
            row["layers"].append(int(m.group(1)))
    return dict(sorted(out.items()))


def vision_shapes(config: dict, config_class: str, parts: list[tuple[str, str, str]]) -> dict[str, list[int]]:
    """{checkpoint name: shape} of a multimodal model's vision tower and projector, built on the meta device."""
    import importlib

    import torch
    import transformers

    cfg = getattr(transformers, config_class)(**{k: v for k, v in config.items() if k not in DROP})
    out: dict[str, list[int]] = {}
    with torch.device("meta"):
        for prefix, dotted, source in parts:
            module_name, cls = dotted.rsplit(".", 1)
            module = getattr(importlib.import_module(module_name), cls)(getattr(cfg, "vision_config") if
                                                                         source == "vision_config" else cfg)
            out.update({prefix + name: list(t.shape) for name, t in module.state_dict().items()})
    return out


def main(names: list[str]) -> None:
    import transformers

    GOLDEN.mkdir(exist_ok=True)
    for name in [n for n in names or list(VISION_MODELS) if n in VISION_MODELS]:
        file, config_class, parts = VISION_MODELS[name]
        shapes = vision_shapes(json.loads((DATA / file).read_text()), config_class, parts)
        out = {"model": name, "config": file, "transformers": transformers.__version__, "shapes": shapes}
        (GOLDEN / "vision").mkdir(exist_ok=True)
        (GOLDEN / "vision" / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
        print(f"vision/{name}: {len(shapes)} tensors")
    for name in [n for n in names or list(MODELS) if n in MODELS]:
        file, family = MODELS[name]
        config = json.loads((DATA / file).read_text())
        counts = transformers_counts(config, family)
        out = {"model": name, "config": file, "class": f"{family.split('/')[-1]}ForCausalLM",
               "transformers": transformers.__version__, "tensors": counts}
        target = GOLDEN / "pending" if name in PENDING else GOLDEN
        if name in PENDING or name in DETAILED:
            buffers = transformers_buffers(config, family)
            out["parameters_total"] = sum(n for k, n in counts.items() if k not in buffers)
            out["buffers"] = buffers
            out["breakdown"] = breakdown({k: n for k, n in counts.items() if k not in buffers})
            target.mkdir(exist_ok=True)
        (target / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
        print(f"{name}: {len(counts)} tensors, {sum(counts.values()):,} elements")


if __name__ == "__main__":
    main(sys.argv[1:])
