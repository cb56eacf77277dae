"""Write presets/*.yaml from the verbatim configs in tests/data (copies of ../shared/configs).

Each preset keeps the published config as it is, under `config:`, with a description and its source,
so a reader can diff it against the Hugging Face file. Re-run after adding a config; commit the output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests" / "data"
OUT = Path(__file__).resolve().parent.parent / "presets"

PRESETS = [
    # name, shared file, hub repo, description
    ("kimi-k2", "kimi-k2-instruct.config.json", "moonshotai/Kimi-K2-Instruct",
     "Kimi-K2-Instruct: 1T-parameter MoE, 384 experts (8 active), 64 MLA heads, fp8 weights"),
    ("kimi-k2.5", "kimi-k2.5.config.json", "moonshotai/Kimi-K2.5",
     "Kimi-K2.5: K2's text model (INT4 group-32 routed experts) plus a vision tower (not counted)"),
    ("deepseek-v3", "deepseek-v3.config.json", "deepseek-ai/DeepSeek-V3",
     "DeepSeek-V3: 671B MoE, 256 experts (8 active), 128 MLA heads, 1 MTP module, fp8 weights"),
    ("deepseek-r1", "deepseek-r1.config.json", "deepseek-ai/DeepSeek-R1",
     "DeepSeek-R1: the reasoning model on DeepSeek-V3's architecture, fp8 weights"),
    ("deepseek-v3.1", "deepseek-v3.1.config.json", "deepseek-ai/DeepSeek-V3.1",
     "DeepSeek-V3.1: V3's architecture, fp8 weights with UE8M0 scales"),
    ("deepseek-v3.2", "deepseek-v3.2.config.json", "deepseek-ai/DeepSeek-V3.2",
     "DeepSeek-V3.2: V3 plus the lightning indexer for sparse attention (index_topk 2048)"),
    ("moonlight-16b-a3b", "moonlight-16b-a3b-instruct.config.REFORMATTED.json",
     "moonshotai/Moonlight-16B-A3B-Instruct",
     "Moonlight-16B-A3B-Instruct: small DeepSeek-V3-style MoE, 64 experts (6 active), no q_lora_rank"),
    ("deepseek-v2.5", "deepseek-v2.5.config.FROM-PYTHON-LITERAL.json", "deepseek-ai/DeepSeek-V2.5",
     "DeepSeek-V2.5: 236B MoE, 160 experts (6 active), softmax group-limited routing, no router bias"),
    ("qwen3-4b", "qwen3-4b.config.json", "Qwen/Qwen3-4B",
     "Qwen3-4B: dense, 36 layers, GQA 32 query / 8 KV heads of 128, QK-norm, tied embeddings"),
    ("qwen3-32b", "qwen3-32b.config.json", "Qwen/Qwen3-32B",
     "Qwen3-32B: dense, 64 layers, GQA 64 query / 8 KV heads of 128, QK-norm"),
    ("qwen3-30b-a3b", "qwen3-30b-a3b.config.json", "Qwen/Qwen3-30B-A3B",
     "Qwen3-30B-A3B: MoE, 128 experts (8 active), no shared expert, GQA 32 / 4 KV heads"),
    ("qwen3-235b-a22b", "qwen3-235b-a22b.config.json", "Qwen/Qwen3-235B-A22B",
     "Qwen3-235B-A22B: MoE, 128 experts (8 active), no shared expert, GQA 64 / 4 KV heads"),
    ("olmo-2-7b", "olmo-2-1124-7b.config.json", "allenai/OLMo-2-1124-7B",
     "OLMo-2-1124-7B: dense, norms after each block, QK-norm over the whole projection"),
    ("olmo-2-13b", "olmo-2-1124-13b.config.json", "allenai/OLMo-2-1124-13B",
     "OLMo-2-1124-13B: dense, norms after each block, QK-norm over the whole projection"),
    ("smollm3-3b", "smollm3-3b.config.json", "HuggingFaceTB/SmolLM3-3B",
     "SmolLM3-3B: dense, GQA 16 / 4 KV heads, no RoPE in every 4th layer, tied embeddings"),
    ("gemma-3-27b", "gemma-3-27b-it.config.json", "google/gemma-3-27b-it",
     "Gemma 3 27B (it): dense, 5 sliding-window (1024) layers per global one, sandwich norms, QK-norm, "
     "tied embeddings; SigLIP vision tower apart"),
    ("gpt-oss-120b", "gpt-oss-120b.config.json", "openai/gpt-oss-120b",
     "gpt-oss-120b: MoE, 128 experts (4 active), attention sinks, alternating 128-token window, MXFP4 experts"),
    ("llama-4-maverick", "llama-4-maverick-17b-128e-instruct.config.json",
     "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
     "Llama 4 Maverick: MoE on alternate layers, 128 experts (1 active) + 1 shared, chunked attention "
     "(8192) with NoPE every 4th layer; vision tower apart"),
    ("glm-4.5", "glm-4.5.config.json", "zai-org/GLM-4.5",
     "GLM-4.5: MoE, 160 experts (8 active) + 1 shared, 3 dense layers, partial RoPE, QK-norm, 1 MTP layer"),
    ("glm-4.7", "glm-4.7.config.json", "zai-org/GLM-4.7",
     "GLM-4.7 (architecture of GLM-4.6): GLM-4.5's shapes with a 202,752-token context"),
    ("mistral-small-3.1", "mistral-small-3.1-24b-instruct-2503.config.json",
     "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
     "Mistral Small 3.1 (24B): dense, GQA 32 / 8 KV heads, untied head as released; Pixtral vision tower apart"),
    ("deepseek-v4-pro", "deepseek-v4-pro.config.json", "deepseek-ai/DeepSeek-V4-Pro",
     "DeepSeek-V4-Pro: 1.6T MoE (49B active), 384 experts (6 active), one shared 512-wide KV head, 128-token "
     "window + 4:1 / 128:1 compressed attention, mHC, 1M context, MXFP4 experts"),
    ("deepseek-v4-flash", "deepseek-v4-flash.config.json", "deepseek-ai/DeepSeek-V4-Flash",
     "DeepSeek-V4-Flash: 284B MoE (13B active), 256 experts (6 active), V4-Pro's attention at 4096 wide, "
     "1M context, MXFP4 experts"),
    ("kimi-k3", "kimi-k3.config.json", "moonshotai/Kimi-K3",
     "Kimi-K3: 2.8T MoE (104B active), 69 KDA linear-attention + 24 gated MLA layers, 896 latent experts "
     "(16 active), MXFP4 experts, vision tower counted apart"),
]


def source_note(file: str) -> str:
    for line in (SHARED / "SOURCES.md").read_text().splitlines():
        if line.startswith(f"| {file} "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            return f"{cells[2]} ({cells[3]})"
    return ""


def write(name: str, description: str, source: dict, config: dict) -> None:
    # hf_repo: the Hugging Face repo id users type for this model (`--preset moonshotai/Kimi-K2-Instruct`);
    # `aliases` (optional, hand-added) would list other repo ids holding the same config.
    hf_repo = source["hub"].removeprefix("https://huggingface.co/")
    doc = {"name": name, "hf_repo": hf_repo, "description": description, "source": source, "config": config}
    text = f"# Generated by scripts/make_presets.py from {source['file']}; do not edit by hand.\n"
    text += yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)
    (OUT / f"{name}.yaml").write_text(text)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, file, hub, description in PRESETS:
        config = json.loads((SHARED / file).read_text())
        source = {"hub": f"https://huggingface.co/{hub}", "file": file, "copied_from": source_note(file)}
        write(name, description, source, config)

    # Kimi-K2-Thinking: only a 25-key subset of its config is public here; the checkpoint is K2's
    # architecture with INT4 group-32 routed experts, the quantization Kimi-K2.5's text model uses.
    thinking = json.loads((SHARED / "kimi-k2-thinking.config.ABRIDGED.json").read_text())
    instruct = json.loads((SHARED / "kimi-k2-instruct.config.json").read_text())
    k25 = json.loads((SHARED / "kimi-k2.5.config.json").read_text())["text_config"]
    for key in ("attention_bias", "n_group", "topk_group", "topk_method", "scoring_func", "norm_topk_prob",
                "num_nextn_predict_layers", "rope_theta", "rms_norm_eps", "first_k_dense_replace"):
        thinking.setdefault(key, instruct[key])
    thinking.setdefault("rope_scaling", k25["rope_scaling"])
    thinking["quantization_config"] = k25["quantization_config"]
    write("kimi-k2-thinking",
          "Kimi-K2-Thinking: Kimi-K2's architecture, 256k context, INT4 group-32 routed experts",
          {"hub": "https://huggingface.co/moonshotai/Kimi-K2-Thinking",
           "file": "kimi-k2-thinking.config.ABRIDGED.json",
           "copied_from": source_note("kimi-k2-thinking.config.ABRIDGED.json"),
           "completed_from": "routing and RoPE fields absent from the abridged file taken from "
                             "kimi-k2-instruct.config.json (rope_scaling from Kimi-K2.5's text_config); "
                             "quantization_config from Kimi-K2.5's text_config (INT4, group 32)"},
          thinking)


if __name__ == "__main__":
    main()
