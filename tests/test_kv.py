"""KV cache: tied to the published DeepSeek-V3 figure, FlashMLA's layout, and MHA/GQA computed by hand."""

from __future__ import annotations

import pytest

from k2calc.config import load_preset
from k2calc.analysis.kv import bytes_per_token_layer, kv_cache, latent_width
from k2calc.analysis.params import count_params
from k2calc.arch.tensors import build_tensors

GIB = 2**30


def test_deepseek_v3_bf16_cache_is_the_published_70272_bytes_per_token(run_json):
    # SOURCES.md, "KV cache": 61 layers × 576 values × 2 bytes = 70,272 bytes per token (ISCA 2025: 70.272 KB).
    assert kv_cache(load_preset("deepseek-v3"), [4096]).bytes_per_token == 70_272
    assert run_json("kv", "--preset", "deepseek-v3", "--context", "4k")["bytes_per_token"] == 70_272


def test_kimi_k2_caches_as_much_per_token_as_v3_despite_half_the_heads():
    k2, v3 = load_preset("kimi-k2"), load_preset("deepseek-v3")
    assert k2.config.num_attention_heads * 2 == v3.config.num_attention_heads
    assert kv_cache(k2, [1]).bytes_per_token == kv_cache(v3, [1]).bytes_per_token == 70_272


def test_cached_width_is_the_output_of_kv_a_proj_with_mqa():
    cfg = load_preset("kimi-k2").config
    kv_a = next(t for t in build_tensors(cfg) if t.module == "kv_a_proj_with_mqa")
    assert kv_a.dims[0] == latent_width(cfg) == 576


def test_mla_equals_gqa_with_2_25_groups_as_deepseek_v2_says():
    # DeepSeek-V2 paper, Table 1: MLA caches (d_c + d_h^R) = 4.5·d_h per layer, as GQA with 2.25 groups
    # caching K and V of d_h = 128 each.
    cfg = load_preset("deepseek-v3").config
    assert latent_width(cfg) == 2 * 2.25 * 128


def test_mha_and_gqa_comparison_computed_by_hand():
    cfg = load_preset("deepseek-v3").config
    r = kv_cache(load_preset("deepseek-v3"), [4096], gqa=8)
    # MHA: every head caches a key of qk_nope+qk_rope and a value of v_head_dim, bf16, in 61 layers.
    mha = cfg.num_hidden_layers * cfg.num_attention_heads * (128 + 64 + 128) * 2
    assert mha == 61 * 128 * 320 * 2 == r.mha_bytes_per_token
    assert r.ratio_vs_mha == pytest.approx(mha / 70_272) == pytest.approx(40960 / 576)
    gqa = 61 * 8 * (128 + 64 + 128) * 2
    assert r.gqa_bytes_per_token == gqa
    assert r.ratio_vs_gqa == pytest.approx(gqa / 70_272)


def test_fp8_flashmla_is_656_bytes_per_token_layer():
    # SOURCES.md: 512 fp8 latent values + 4 float32 scales + 64 bf16 RoPE values = 656.
    cfg = load_preset("deepseek-v3").config
    assert bytes_per_token_layer(cfg, "fp8-flashmla") == 512 + 4 * 4 + 64 * 2 == 656
    assert kv_cache(load_preset("deepseek-v3"), [1], kv_dtype="fp8-flashmla").bytes_per_token == 61 * 656


def test_fp8_stores_every_value_in_one_byte():
    assert kv_cache(load_preset("deepseek-v3"), [1], kv_dtype="fp8").bytes_per_token == 61 * 576


def test_v32_adds_the_indexer_key_cache():
    r = kv_cache(load_preset("deepseek-v3.2"), [1])
    # index_head_dim 128 fp8 keys + one float32 scale, beside the 576 bf16 latent values, in 61 layers.
    assert r.indexer_bytes_per_token_layer == 128 + 4
    assert r.bytes_per_token == 61 * (576 * 2 + 128 + 4)


def test_indexer_key_cache_has_one_scale_per_128_values():
    # Engines size the indexer cache as index_head_dim + index_head_dim // 128 * 4 bytes (vLLM's
    # DeepseekV32IndexerCache, SGLang's NSA pool; the reference keeps k_scale_cache [.., head_dim // 128]).
    # A what-if index_head_dim of 256: 256 fp8 keys + 2 float32 scales.
    r = kv_cache(load_preset("deepseek-v3.2", ["index_head_dim=256"]), [1])
    assert r.indexer_bytes_per_token_layer == 256 + 2 * 4
    assert r.bytes_per_token == 61 * (576 * 2 + 256 + 8)


def test_sequence_and_batch_at_128k():
    r = kv_cache(load_preset("deepseek-v3"), [131072], batch=32)
    assert r.bytes_per_sequence == 131072 * 70_272
    assert r.total_bytes == 32 * 131072 * 70_272
    assert r.total_gib == pytest.approx(274.5)  # 32 × 128 Ki × 70,272 / 2^30


def test_page_size_rounds_each_sequence_up_to_whole_pages():
    r = kv_cache(load_preset("deepseek-v3"), [1000], page_size=64, batch=3)
    assert r.tokens_allocated == 1024
    assert r.total_bytes == 3 * 1024 * 70_272


def test_mtp_adds_the_draft_layer_cache_and_weights():
    spec = load_preset("deepseek-v3")
    r = kv_cache(spec, [1], mtp=True)
    assert r.layers == 62 and r.bytes_per_token == 62 * 1152
    assert r.mtp_params == count_params(spec).mtp


def test_cli_table_is_readable(run):
    result = run("kv", "--preset", "deepseek-v3", "--context", "128k", "--batch", "32")
    assert result.exit_code == 0, result.output
    for text in ("70,272", "8.58 GiB", "274.50 GiB", "MHA", "71.11×"):
        assert text in result.stdout


def test_json_contract(run_json):
    data = run_json("kv", "--preset", "kimi-k2", "--context", "4k,128k", "--gqa", "8")
    for key in ("bytes_per_token", "bytes_per_sequence", "total_bytes", "dtype", "layers", "mha_bytes_per_token",
                "ratio_vs_mha"):
        assert key in data
    assert data["bytes_per_sequence"] == 131072 * 70_272  # the last context
    assert [p["context"] for p in data["sweep"]] == [4096, 131072]


@pytest.mark.parametrize("args", [
    ("--gqa", "7"),  # 64 heads are not divisible by 7
    ("--gqa", "0"),
    ("--context", "4q"),
    ("--context", "-5"),
    ("--batch", "0"),
    ("--page-size", "0"),
    ("--kv-dtype", "int4"),
    ("--mtp",),  # Kimi-K2 ships no MTP module
])
def test_user_mistakes_are_one_line_and_exit_2(run, args):
    result = run("kv", "--preset", "kimi-k2", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_mtp_draft_weight_bytes_by_hand():
    # DeepSeek-V3's MTP layer as its fp8 checkpoint stores it (SOURCES.md: embed_tokens, shared_head.head
    # and eh_proj in bf16); fp8 weights carry a float32 scale per 128×128 block.
    def fp8(out, inp):
        return out * inp + -(-out // 128) * -(-inp // 128) * 4

    h, v = 7168, 129280
    bf16 = 2 * v * h * 2 + h * 2 * h * 2 + (5 * h + 1536 + 512) * 2 + 256 * h * 2  # + norms, router weight
    attention = fp8(1536, h) + fp8(128 * 192, 1536) + fp8(576, h) + fp8(128 * 256, 512) + fp8(h, 128 * 128)
    experts = (256 + 1) * 3 * fp8(2048, h)  # routed + one shared expert, each gate/up/down
    expected = bf16 + 256 * 4 + attention + experts  # router bias in float32
    report = kv_cache(load_preset("deepseek-v3"), [4096], mtp=True)
    assert report.mtp_weight_bytes == expected


@pytest.mark.parametrize("context", ["1e400", "1e40", str(2**40 + 1), ""])
def test_huge_or_empty_context_is_one_line_error(run, context):
    result = run("kv", "--preset", "kimi-k2", "--context", context)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --context ") and result.stderr.count("\n") == 1


def test_context_beyond_max_position_embeddings_is_noted():
    spec = load_preset("deepseek-v3")  # max_position_embeddings 163840 = 160k
    assert spec.config.max_position_embeddings == 163840
    over = kv_cache(spec, [131072, 262144])
    assert "--context 262144 is longer than max_position_embeddings (163840)" in over.notes
    assert not any("longer than max_position_embeddings" in n for n in kv_cache(spec, [163840]).notes)


def test_cache_bytes_per_token_layer_is_mla_plus_indexer_keys():
    from k2calc.analysis.kv import cache_bytes_per_token_layer

    v3 = load_preset("deepseek-v3").config
    v32 = load_preset("deepseek-v3.2").config
    # V3: (512 + 64) bf16 values; V3.2 adds index_head_dim 128 fp8 keys + one float32 scale per 128
    assert cache_bytes_per_token_layer(v3, "bf16") == 576 * 2
    assert cache_bytes_per_token_layer(v32, "bf16") == 576 * 2 + 128 + 4
    assert cache_bytes_per_token_layer(v32, "fp8-flashmla") == 512 + 4 * 4 + 64 * 2 + 128 + 4
    assert kv_cache(load_preset("deepseek-v3.2"), [1]).bytes_per_token_layer == 576 * 2 + 128 + 4
    from k2calc.hardware import get_gpu
    from k2calc.analysis.plan import Layout, Workload, plan

    r = plan(load_preset("deepseek-v3.2"), get_gpu("h200"), Layout(tp=8), Workload(context=4096))
    assert r.kv_bytes_per_token_layer == 576 * 2 + 128 + 4  # the plan caches what `k2calc kv` counts


@pytest.mark.parametrize("option", ["--batch", "--page-size"])
def test_huge_batch_or_page_size_is_an_input_error_not_a_float_overflow(run, option):
    result = run("kv", "--preset", "kimi-k2", option, "9" * 400)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {option} 999") and "too large (at most 2^40" in result.stderr
    assert result.stderr.count("\n") == 1
