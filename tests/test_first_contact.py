"""What a new user types first: engine words, Hugging Face names, --version; each just works."""

from __future__ import annotations

import pytest

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


def test_hugging_face_repo_id_names_its_preset(run_json):
    data = run_json("params", "--preset", "deepseek-ai/DeepSeek-V3")
    assert data["model"] == "deepseek-v3" and data["total"] == 671_026_419_200


def test_repo_ids_match_case_insensitively_and_in_compare(run_json):
    data = run_json("compare", "moonshotai/kimi-k2-instruct", "https://huggingface.co/deepseek-ai/DeepSeek-V3")
    assert data["models"] == ["kimi-k2", "deepseek-v3"]


def test_a_near_miss_suggests_the_model_it_names_first(run):
    result = run("params", "--preset", "kimi-k2-instruct")
    assert result.exit_code == 2
    assert "(did you mean kimi-k2, kimi-k2-thinking" in result.stderr


def test_an_unknown_repo_id_is_one_line_and_never_a_download(run):
    result = run("compare", "kimi-k2", "someorg/SomeModel")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no such file, nor the Hugging Face repo id of a preset" in result.stderr


def test_presets_list_their_repo_ids(run_json):
    repos = {p["name"]: p["hf_repo"] for p in run_json("presets")}
    assert repos["kimi-k2"] == "moonshotai/Kimi-K2-Instruct" and repos["deepseek-v3"] == "deepseek-ai/DeepSeek-V3"


def test_version_and_short_help(run):
    assert run("--version").stdout == f"k2calc {k2calc.__version__}\n"
    assert run("-h").exit_code == 0 and "Example:" in run("-h").stdout
    assert "Example:" in run("params", "-h").stdout


def test_shell_completion_is_offered(run):
    top = run("--help").stdout
    assert "--install-completion" in top and "--show-completion" in top


def test_a_config_json_is_named_after_its_folder(run_json, tmp_path):
    from tests.conftest import DATA

    folder = tmp_path / "DeepSeek-V3"
    folder.mkdir()
    (folder / "config.json").write_bytes((DATA / "deepseek-v3.config.json").read_bytes())
    assert run_json("params", "--config", str(folder / "config.json"))["model"] == "DeepSeek-V3"
    assert run_json("params", "--config", str(folder))["model"] == "DeepSeek-V3"


# DeepSeek-V3 caches kv_lora_rank + qk_rope_head_dim = 512 + 64 = 576 values per token in each of 61 layers.
@pytest.mark.parametrize(("engine_word", "bytes_per_token"), [
    ("fp8_e4m3", 61 * 576 * 1),  # vLLM / SGLang fp8
    ("fp8_e5m2", 61 * 576 * 1),
    ("auto", 61 * 576 * 2),  # the model's torch_dtype: bfloat16
    ("bfloat16", 61 * 576 * 2),
    ("fp8_ds_mla", 61 * (512 + 512 // 128 * 4 + 64 * 2)),  # vLLM's name for FlashMLA's fp8 layout: 656 bytes
])
def test_kv_dtype_takes_the_engines_words(run_json, engine_word, bytes_per_token):
    data = run_json("kv", "--preset", "deepseek-v3", "--context", "4k", "--kv-cache-dtype", engine_word)
    assert data["bytes_per_token"] == bytes_per_token


def test_vllm_option_names_mean_what_they_mean_in_vllm(run_json):
    ours = run_json("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--mem-fraction", "0.85",
                    "--context", "128k", "--batch", "4", "--kv-dtype", "fp8")
    vllm = run_json("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--tensor-parallel-size", "8",
                    "--gpu-memory-utilization", "0.85", "--max-model-len", "128k", "--batch", "4",
                    "--kv-cache-dtype", "fp8_e4m3")
    assert ours == vllm


def test_an_unknown_kv_dtype_lists_both_vocabularies(run):
    result = run("kv", "--preset", "deepseek-v3", "--kv-dtype", "int8")
    assert result.exit_code == 2 and "fp8-flashmla" in result.stderr and "fp8_e4m3" in result.stderr


# The one default-context rule: a single length is the model's max_position_embeddings (DeepSeek-V3's
# config: 163,840; Kimi-K2's: 131,072), the shortest of them in a comparison; a sweep is 4k, 32k, 128k.
def test_plan_defaults_to_the_context_window(run_json):
    assert run_json("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "8")["workload"]["context"] == 163_840


def test_kv_defaults_to_the_context_window(run_json):
    assert [p["context"] for p in run_json("kv", "--preset", "deepseek-v3")["sweep"]] == [163_840]


def test_compare_reads_every_model_at_the_shortest_window_and_sweeps_flops(run_json):
    data = run_json("compare", "kimi-k2", "deepseek-v3")
    per_sequence = next(r for r in data["kv"] if r["key"] == "bytes_per_sequence")
    assert per_sequence["values"] == [70_272 * 131_072] * 2  # 61 layers × 576 values × 2 bytes, at 128k
    assert data["contexts"] == [4096, 32768, 131072]


def test_flops_sweeps_4k_32k_128k(run_json):
    assert [p["context"] for p in run_json("flops", "--preset", "kimi-k2")["sweep"]] == [4096, 32768, 131072]


def test_the_rule_is_stated_in_help(run):
    for command in ("--help", "plan --help", "kv --help", "compare --help", "flops --help", "plot --help"):
        out = " ".join(run(*command.split()).stdout.split())
        assert "one sequence length is the model's max_position_embeddings" in out, command
