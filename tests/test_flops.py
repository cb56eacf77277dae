"""FLOPs: linear from the tensor list, attention from config fields; tied to hand arithmetic and the K2 report."""

from __future__ import annotations

import pytest

from k2calc.config import load_preset
from k2calc.errors import InputError
from k2calc.analysis.flops import ATTENTION_KEYS, AttentionForm, FlopsModel, Phase, count_flops, training_report
from k2calc.analysis.params import count_params
from k2calc.sizes import parse_context, parse_contexts, parse_count
from k2calc.arch.tensors import build_tensors

naive, absorbed = AttentionForm.naive, AttentionForm.absorbed


@pytest.fixture(scope="module")
def k2():
    return FlopsModel(load_preset("kimi-k2").config)


@pytest.fixture(scope="module")
def v3():
    return FlopsModel(load_preset("deepseek-v3").config)


def test_sizes_contexts_are_binary_and_token_counts_decimal():
    assert parse_contexts("4k,32k,128k") == [4096, 32768, 131072]
    assert parse_context("1M") == 2**20
    assert parse_count("15.5T", "--train-tokens") == 15_500_000_000_000
    for bad in ("4q", "-5", "0", "1.5", "", "k"):
        with pytest.raises(InputError):
            parse_context(bad)


def test_short_context_flops_per_token_is_twice_the_active_matmul_parameters(k2):
    spec = load_preset("kimi-k2")
    p = count_params(spec)
    point = k2.point(Phase.decode, 0, absorbed)
    # Active parameters minus those that are not matmul weights (norms, the router's bias buffer).
    assert point.linear == 2 * (p.active - p.active_breakdown["norms"] - p.buffers)
    assert point.total == pytest.approx(2 * p.active, rel=0.001)


def test_routed_experts_by_hand(k2):
    # Kimi-K2: 60 MoE layers × 8 experts × (gate, up, down) of 7168 × 2048, 2 FLOPs per multiply-add.
    assert k2.point(Phase.decode, 0, absorbed).by_component["routed_experts"] == 60 * 8 * 3 * 7168 * 2048 * 2


def test_attention_projections_by_hand(v3):
    # DeepSeek-V3, per layer: q_a 7168→1536, q_b 1536→128·192, kv_a 7168→576, kv_b 512→128·(128+128),
    # o 128·128→7168; 61 layers, 2 FLOPs per multiply-add.
    per_layer = 7168 * 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 * 128 * 256 + 128 * 128 * 7168
    assert v3.point(Phase.decode, 0, absorbed).by_component["attention_proj"] == 2 * 61 * per_layer


def test_embedding_lookup_is_zero_flops(k2):
    assert k2.point(Phase.decode, 0, absorbed).by_component["embedding"] == 0


def test_absorbed_wuk_and_wuv_touch_as_many_weights_as_kv_b_proj():
    cfg = load_preset("deepseek-v3").config
    kv_b = next(t for t in build_tensors(cfg) if t.module == "kv_b_proj")
    h, r = cfg.num_attention_heads, cfg.kv_lora_rank
    w_uk = h * cfg.qk_nope_head_dim * r  # q_nope through W_UK
    w_uv = h * r * cfg.v_head_dim  # attention output through W_UV
    assert w_uk + w_uv == kv_b.numel


def test_naive_and_absorbed_same_linear_different_attention(v3):
    n = 32768
    a, b = v3.point(Phase.prefill, n, naive), v3.point(Phase.prefill, n, absorbed)
    assert a.linear == b.linear
    # Per head per attended token: naive 2·(192 [scores] + 128 [values]), absorbed 2·(576 + 512).
    assert b.attention / a.attention == pytest.approx((512 + 64 + 512) / (128 + 64 + 128))


def test_decode_attention_by_hand(k2):
    n = 4096  # in the cache; the new token attends to n + 1
    p = k2.point(Phase.decode, n, absorbed)
    assert p.by_component["attention_scores"] == 61 * 2 * 64 * (512 + 64) * (n + 1)
    assert p.by_component["attention_values"] == 61 * 2 * 64 * 512 * (n + 1)
    assert p.by_component["kv_reexpansion"] == 0


def test_naive_decode_reexpands_the_cached_latents(k2):
    n = 1000
    p = k2.point(Phase.decode, n, naive)
    assert p.by_component["kv_reexpansion"] == 61 * 2 * 64 * 512 * (128 + 128) * n
    assert p.by_component["attention_scores"] == 61 * 2 * 64 * (128 + 64) * (n + 1)


def test_prefill_is_the_causal_sum(k2):
    n = 1000
    one = k2.point(Phase.decode, 0, naive)  # a token attending to itself only
    p = k2.point(Phase.prefill, n, naive)
    attention_one = 61 * 2 * 64 * (128 + 64 + 128)
    head = one.by_component["lm_head"]
    expected = n * (one.linear - head) + head + attention_one * n * (n + 1) // 2
    assert p.phase_total == expected
    all_logits = k2.point(Phase.prefill, n, naive, all_logits=True)
    assert all_logits.phase_total - p.phase_total == (n - 1) * head
    assert p.total == pytest.approx(p.phase_total / n)


def test_components_add_up_to_the_total(k2):
    for phase in Phase:
        for form in AttentionForm:
            p = k2.point(phase, 5000, form)
            assert sum(p.by_component.values()) == p.total == p.linear + p.attention
            assert p.attention == sum(p.by_component[k] for k in ATTENTION_KEYS)


def test_crossover_is_where_attention_overtakes_linear(k2):
    r = count_flops(load_preset("kimi-k2"), Phase.decode, [4096])
    c = r.crossover_context
    before, at = k2.point(Phase.decode, c - 1, absorbed), k2.point(Phase.decode, c, absorbed)
    assert before.attention < before.linear and at.attention >= at.linear


def test_v32_indexer_caps_main_attention_at_index_topk():
    m = FlopsModel(load_preset("deepseek-v3.2").config)
    n = 131072
    p = m.point(Phase.decode, n, absorbed)
    assert p.attended == 2048
    assert p.by_component["attention_scores"] == 61 * 2 * 128 * (512 + 64) * 2048
    assert p.by_component["indexer_scores"] == 61 * 2 * 64 * 128 * (n + 1)
    assert p.by_component["indexer_proj"] > 0


def test_k2_report_64_to_128_heads_at_128k(k2):
    # Kimi-K2 report: going from 64 to 128 heads at 128k sequence length costs +83% inference FLOPs.
    # We do not fit it; we check it lies between k2calc's two serving conventions (README, "FLOPs").
    k2_128 = FlopsModel(load_preset("kimi-k2", ["num_attention_heads=128"]).config)
    n = 131072

    def increase(phase, form):
        return k2_128.point(phase, n, form).total / k2.point(phase, n, form).total - 1

    prefill_naive = increase(Phase.prefill, naive)  # average per token of a 128k prompt
    decode_absorbed = increase(Phase.decode, absorbed)  # one token at 128k

    # The same two figures by hand from Kimi-K2's config fields (hidden 7168, 61 layers: 1 dense + 60 MoE,
    # vocab 163840, q_lora 1536, kv_lora 512, rope 64, nope 128, v 128, 18432 dense, 2048 per expert,
    # 8 of 384 routed + 1 shared), not from k2calc's tensor list.
    def linear(h):
        attention = 7168 * 1536 + 1536 * h * 192 + 7168 * 576 + 512 * h * 256 + h * 128 * 7168
        moe = 3 * 7168 * 2048 * (8 + 1) + 384 * 7168
        return 2 * (61 * attention + 3 * 7168 * 18432 + 60 * moe + 163840 * 7168)

    def decode(h):  # absorbed: 2·h·(576 + 512) per attended token, n + 1 attended
        return linear(h) + 61 * 2 * h * (576 + 512) * (n + 1)

    def prefill(h):  # naive: 2·h·(192 + 128) per attended token, causal average (n + 1) / 2; lm_head once
        return linear(h) - 2 * 163840 * 7168 * (n - 1) / n + 61 * 2 * h * (192 + 128) * (n + 1) / 2

    assert decode_absorbed == pytest.approx(decode(128) / decode(64) - 1, rel=1e-9)
    assert prefill_naive == pytest.approx(prefill(128) / prefill(64) - 1, rel=1e-6)
    assert prefill_naive == pytest.approx(0.775, abs=0.005)
    assert decode_absorbed == pytest.approx(0.955, abs=0.005)
    assert prefill_naive < 0.83 < decode_absorbed


def test_training_is_three_forwards_and_counts_mtp():
    spec = load_preset("deepseek-v3")
    t = training_report(spec, 4096, 14_800_000_000_000)
    assert t.train_per_token == 3 * t.forward_per_token
    assert t.train_total == t.train_per_token * 14_800_000_000_000
    assert t.forward_per_token_mtp > t.forward_per_token
    # 6 × 37B × 14.8T ≈ 3.3e24 is the usual estimate without attention; attention at 4k adds to it.
    assert 3.3e24 < t.train_total < 4.2e24


def test_mfu_by_hand():
    t = training_report(load_preset("deepseek-v3"), 4096, tokens_per_s=1e6, gpus=1000, peak_tflops=1000)
    assert t.mfu.mfu == pytest.approx(t.train_per_token * 1e6 / 1000 / 1e15)


def test_mfu_peak_from_the_gpu_catalog():
    t = training_report(load_preset("deepseek-v3"), 4096, tokens_per_s=1e6, gpus=8, gpu="h800")
    assert t.mfu.peak_flops_per_gpu == 989e12  # SOURCES.md, "GPUs": H800 dense BF16


def test_cli_sweep_prints_a_readable_table(run):
    result = run("flops", "--preset", "kimi-k2", "--context", "4k,32k,128k")
    assert result.exit_code == 0, result.output
    for text in ("4k", "32k", "128k", "absorbed", "overtakes", "routed_experts", "GFLOP"):
        assert text in result.stdout


def test_json_contract(run_json):
    data = run_json("flops", "--preset", "kimi-k2", "--prefill", "32k")
    for key in ("linear", "attention", "total", "by_component", "context", "phase", "attention_form"):
        assert key in data
    assert (data["phase"], data["context"], data["attention_form"]) == ("prefill", 32768, "naive")
    train = run_json("flops", "--preset", "deepseek-v3", "--train-tokens", "14.8T", "--seq-len", "4k")["training"]
    assert train["train_tokens"] == 14_800_000_000_000 and train["seq_len"] == 4096


@pytest.mark.parametrize("args", [
    ("--context", "4q"),
    ("--prefill", "-1"),
    ("--prefill", "4k", "--decode", "4k"),
    ("--attention", "flash"),
    ("--phase", "train"),
    ("--tokens-per-s", "1000"),  # no --gpus, no peak
    ("--tokens-per-s", "1000", "--gpus", "8", "--peak-tflops", "-3"),
    ("--tokens-per-s", "1000", "--gpus", "8", "--gpu", "nosuchgpu"),
    ("--train-tokens", "lots"),
    ("--mtp",),  # Kimi-K2 ships no MTP module
])
def test_user_mistakes_are_one_line_and_exit_2(run, args):
    result = run("flops", "--preset", "kimi-k2", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_training_runs_attention_in_the_prefill_form():
    from k2calc.config import load_preset as _load
    from k2calc.analysis.flops import training_report as _train

    assert _train(_load("deepseek-v3"), 4096).attention_form == "naive"
    # V3.2 implements its sparse attention on MLA's MQA (absorbed) mode, in training as in serving.
    assert _train(_load("deepseek-v3.2"), 4096).attention_form == "absorbed"


def test_sizes_reject_huge_and_non_finite_values():
    # context lengths stop at 2^40 tokens, token counts at 10^18: both still exact in every float figure
    assert parse_context(str(2**40)) == 2**40 and parse_context("1048576M") == 2**40
    assert parse_count("1000000T", "--train-tokens") == 10**18
    for bad in (str(2**40 + 1), "1e40", "1e400", "1e999999", "1e99999999999999999999", "nan", "NaN", "Infinity"):
        with pytest.raises(InputError, match="--context"):
            parse_context(bad)
    with pytest.raises(InputError, match=r"--train-tokens 1e400: too large \(at most 10\^18 tokens\)"):
        parse_count("1e400", "--train-tokens")
    with pytest.raises(InputError, match="--train-tokens"):
        parse_count(str(10**18 + 1), "--train-tokens")


@pytest.mark.parametrize("args", [
    ("--context", "1e400"),
    ("--context", "1e40"),
    ("--prefill", "1e400"),
    ("--decode", "1e400"),
    ("--train-tokens", "1e400"),
    ("--seq-len", "1e400"),
    ("--context", ""),  # an explicitly empty value is not the default sweep
    ("--prefill", ""),
    ("--seq-len", ""),
    ("--tokens-per-s", "inf", "--gpus", "8", "--gpu", "h800"),
    ("--tokens-per-s", "nan", "--gpus", "8", "--gpu", "h800"),
    ("--tokens-per-s", "1e308", "--gpus", "1", "--gpu", "h800"),  # finite, but the FLOP/s overflow
    ("--tokens-per-s", "1000", "--gpus", "8", "--peak-tflops", "nan"),
    ("--tokens-per-s", "1000", "--gpus", "8", "--peak-tflops", "inf"),
])
def test_huge_empty_and_non_finite_options_are_one_line_errors(run, args):
    result = run("flops", "--preset", "kimi-k2", *args, "--format", "json")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    named = "--peak-tflops" if "--peak-tflops" in args else args[0]  # the option whose value is wrong
    assert result.stderr.startswith(f"error: {named} ") and result.stdout == ""


def test_mfu_rejects_non_finite_throughput_and_peak():
    spec = load_preset("deepseek-v3")
    for kwargs, option in (({"tokens_per_s": float("inf"), "peak_tflops": 1000}, "--tokens-per-s"),
                           ({"tokens_per_s": float("nan"), "peak_tflops": 1000}, "--tokens-per-s"),
                           ({"tokens_per_s": 1e6, "peak_tflops": float("nan")}, "--peak-tflops")):
        with pytest.raises(InputError, match=option):
            training_report(spec, 4096, gpus=8, **kwargs)


def test_context_beyond_max_position_embeddings_is_noted():
    spec = load_preset("kimi-k2")  # max_position_embeddings 131072 = 128k
    limit = spec.config.max_position_embeddings
    assert limit == 131072
    over = count_flops(spec, Phase.decode, [4096, 131072, 262144])
    assert [n for n in over.notes if "max_position_embeddings" in n] == [
        "context 262144 is longer than max_position_embeddings (131072)"]
    within = count_flops(spec, Phase.decode, [4096, 131072])
    assert not any("max_position_embeddings" in n for n in within.notes)


def test_mfu_with_more_gpus_than_a_float_holds_is_an_input_error():
    with pytest.raises(InputError, match=r"--gpus 9+: too large \(at most 2\^40"):
        training_report(load_preset("kimi-k2"), 4096, tokens_per_s=1e6, gpus=int("9" * 400), peak_tflops=989)


@pytest.mark.parametrize("form", [AttentionForm.naive, AttentionForm.absorbed])
def test_attention_form_on_a_gqa_model_is_noted_and_changes_nothing(form):
    # Qwen3-32B decoding at 4k: 64 layers × 2·64 heads·128 × 4,097 attended, for scores and for values,
    # whichever MLA form is asked for.
    r = count_flops(load_preset("qwen3-32b"), Phase.decode, [4096], form)
    assert r.attention == 2 * 64 * 2 * 64 * 128 * 4097
    assert any(n.startswith(f"--attention {form.value}: naive and absorbed are MLA's two forms") for n in r.notes)
    assert not any("--attention" in n for n in count_flops(load_preset("qwen3-32b"), Phase.decode, [4096]).notes)
