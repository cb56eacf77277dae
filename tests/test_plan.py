"""Memory plans: published deployments, KV replication under TP vs DP-attention, sharding by hand."""

from __future__ import annotations


import pytest

from k2calc.config import load_preset
from k2calc.errors import InputError
from k2calc.hardware import GPU, get_gpu, list_gpus
from k2calc.analysis.plan import Layout, Workload, _stage_layers, plan, search

K128 = 131_072
BIG = GPU(name="big", memory_bytes=2**50, hbm_bandwidth_tb_per_s=1, bf16_dense_tflops=1,
          link_bandwidth_gb_per_s=1, gpus_per_node=8)


@pytest.fixture(scope="module")
def v3():
    return load_preset("deepseek-v3")


@pytest.fixture(scope="module")
def k2():
    return load_preset("kimi-k2")


# SOURCES.md, Deployments: vLLM recipes put DeepSeek-V3 fp8 at about 805 GB of GPU memory minimum:
# 8×H200 (8 × 150.8 GB) has it, 8×H100 (8 × 85.5 GB = 684 GB) does not.
def test_deepseek_v3_fp8_fits_8xh200_not_8xh100_at_long_context(v3):
    w = Workload(context=K128, batch=1)
    assert plan(v3, get_gpu("h200"), Layout(tp=8), w).fits
    on_h100 = plan(v3, get_gpu("h100"), Layout(tp=8), w)
    assert not on_h100.fits and on_h100.max_batch == 0
    assert 8 * get_gpu("h100").memory_bytes < 805e9 < 8 * get_gpu("h200").memory_bytes


def test_deepseek_v3_fits_16xh100(v3):
    assert plan(v3, get_gpu("h100"), Layout(tp=8, pp=2), Workload(context=K128, batch=1)).fits


# SOURCES.md: Kimi-K2 deploy_guidance — the smallest unit for fp8 weights at 128k context on H200 or H20
# is 16 GPUs. k2calc agrees at the default mem-fraction 0.9 (and batch 1).
@pytest.mark.parametrize("gpu", ["h200", "h20"])
def test_kimi_k2_fp8_128k_smallest_unit_is_16_gpus(k2, gpu):
    r = search(k2, [get_gpu(gpu)], Workload(context=K128, batch=1), weights="fp8", max_nodes=4)
    assert r.results[0].gpus == 16


def test_kimi_k2_fp8_weights_alone_fill_8xh20(k2):
    r = plan(k2, get_gpu("h20"), Layout(tp=8), Workload(context=K128), weights="fp8")
    assert not r.fits and r.per_gpu.weights > r.per_gpu.budget


# The MLA latent has no head dimension: SOURCES.md gives 70,272 bytes per token in bf16 for DeepSeek-V3.
def test_kv_latent_is_replicated_under_tp_and_split_by_dp_attention(v3):
    per_seq = 70_272 * K128
    w = Workload(context=K128, batch=8)
    tp8 = plan(v3, BIG, Layout(tp=8), w)
    dp8 = plan(v3, BIG, Layout(tp=1, dp=8, ep=8), w)
    assert tp8.per_gpu.kv_cache == 8 * per_seq  # every rank holds all 8 sequences
    assert dp8.per_gpu.kv_cache == 1 * per_seq  # each rank holds its own sequence
    by = {k.layout_label: k for k in tp8.kv_layouts}
    assert by["TP8"].kv_cache == 8 * per_seq and by["TP1 DP-attn8"].kv_cache == per_seq


def test_dp_attention_changes_the_verdict_on_8xh200(v3):
    w = Workload(context=K128, batch=8)
    assert not plan(v3, get_gpu("h200"), Layout(tp=8), w).fits
    assert plan(v3, get_gpu("h200"), Layout(tp=1, dp=8, ep=8), w).fits


def test_weights_on_one_gpu_are_the_checkpoint(k2):
    # published total_size minus the 61 inv_freq buffers (56 bf16 each) an engine recomputes
    r = plan(k2, BIG, Layout(), Workload(context=1))
    assert r.per_gpu.weights == 1_029_173_256_720 - 61 * 56 * 2


def _row(r, module):
    return next(m for m in r.modules if m.module == module)


def test_tp_splits_heads_and_replicates_the_down_projections(v3):
    r = plan(v3, BIG, Layout(tp=8), Workload(context=1))
    # q_b_proj [128·192, 1536] column-parallel: [3072, 1536] fp8 + [24, 12] float32 scales, 61 layers
    assert _row(r, "q_b_proj").bytes == 61 * (3072 * 1536 + 24 * 12 * 4)
    # q_a_proj [1536, 7168] replicated: whole on every rank
    assert _row(r, "q_a_proj").bytes == 61 * (1536 * 7168 + 12 * 56 * 4)
    # o_proj [7168, 128·128] row-parallel: [7168, 2048]
    assert _row(r, "o_proj").bytes == 61 * (7168 * 2048 + 56 * 16 * 4)
    # routed experts without EP: each expert's 2048 intermediate split 8 ways -> [256, 7168] per expert
    assert _row(r, "experts.gate_proj").bytes == 58 * 256 * (256 * 7168 + 2 * 56 * 4)


def test_dp_attention_keeps_attention_whole(v3):
    r = plan(v3, BIG, Layout(tp=1, dp=8, ep=8), Workload(context=1))
    assert _row(r, "q_b_proj").bytes == 61 * (24576 * 1536 + 192 * 12 * 4)


def test_ep_with_redundant_experts(k2):
    r = plan(k2, BIG, Layout(tp=1, dp=16, ep=16, redundant_experts=16), Workload(context=1))
    one = 2048 * 7168 + 16 * 56 * 4  # one expert matrix in fp8 with its block scales
    experts = sum(_row(r, f"experts.{p}").bytes for p in ("gate_proj", "up_proj", "down_proj"))
    assert experts == (384 + 16) // 16 * 60 * 3 * one


def test_pipeline_stages_split_layers_like_vllm():
    stages = _stage_layers(61, 2)
    assert [len(s) for s in stages] == [31, 30] and stages[1][0] == 31
    assert [len(s) for s in _stage_layers(61, 4)] == [15, 15, 16, 15]  # the remainder to stage pp-2


def test_mtp_adds_the_draft_layer_on_the_last_stage(v3):
    w = Workload(context=K128)
    without = plan(v3, BIG, Layout(tp=8), w)
    with_mtp = plan(v3, BIG, Layout(tp=8, mtp=True), w)
    assert with_mtp.per_gpu.weights > without.per_gpu.weights
    assert with_mtp.per_gpu.kv_cache == without.per_gpu.kv_cache // 61 * 62


def test_max_batch_and_kv_tokens_are_consistent(v3):
    r = plan(v3, get_gpu("h200"), Layout(tp=8), Workload(context=K128, batch=1))
    assert r.max_batch >= 1
    assert plan(v3, get_gpu("h200"), Layout(tp=8), Workload(context=K128, batch=r.max_batch)).fits
    assert not plan(v3, get_gpu("h200"), Layout(tp=8), Workload(context=K128, batch=r.max_batch + 1)).fits
    assert r.kv_tokens // K128 >= r.max_batch


@pytest.mark.parametrize("layout, message", [
    (Layout(tp=3), "num_attention_heads"),
    (Layout(tp=8, ep=3), "--ep 3"),
    (Layout(tp=1, dp=6, ep=6, redundant_experts=1), "not divisible"),
])
def test_invalid_layouts_are_input_errors(v3, layout, message):
    with pytest.raises(InputError, match=message):
        plan(v3, BIG, layout, Workload(context=1))


def test_gpu_count_must_match_the_layout(v3):
    with pytest.raises(InputError, match="--gpus 16"):
        plan(v3, BIG, Layout(tp=8), Workload(context=1), gpus=16)


def test_cli_invalid_layout_exits_2(run):
    r = run("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--tp", "6")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_cli_check_exit_codes(run):
    ok = run("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--context", "128k", "--check")
    assert ok.exit_code == 0 and ok.stdout.startswith("fits:") and len(ok.stdout.strip().splitlines()) == 1
    no = run("plan", "--preset", "deepseek-v3", "--gpu", "h100", "--tp", "8", "--context", "128k", "--check")
    assert no.exit_code == 1 and no.stdout.startswith("does not fit:")


def test_cli_json_contract(run_json):
    d = run_json("plan", "--preset", "kimi-k2", "--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2",
                 "--ep", "16", "--context", "128k", "--batch", "32", "--weights", "fp8", "--kv-dtype", "fp8-flashmla")
    assert {"fits", "gpus", "per_gpu", "max_batch", "kv_tokens"} <= set(d)
    assert set(d["per_gpu"]) >= {"weights", "kv_cache", "activations", "overhead", "free"}
    p = d["per_gpu"]
    assert p["free"] == p["budget"] - p["weights"] - p["kv_cache"] - p["activations"] - p["overhead"]
    assert d["gpus"] == 16


def test_overrides_replace_the_estimates(v3):
    from k2calc.analysis.plan import knobs

    r = plan(v3, BIG, Layout(tp=8), Workload(context=1), knobs=knobs(0.5, activations_gib=2, overhead_gib=4))
    assert r.per_gpu.activations == 2 * 2**30 and r.per_gpu.overhead == 4 * 2**30
    assert r.per_gpu.budget == BIG.memory_bytes // 2


def test_search_tries_every_layout_and_ranks(k2):
    # no wall-clock assertion (house rule; the machine may be loaded): scripts/adversarial.py measures it
    r = search(k2, list_gpus(), Workload(context=K128, batch=32, kv_dtype="fp8-flashmla"), weights="fp8",
               max_nodes=16)
    assert r.layouts_evaluated > 5000
    sizes = [row.gpus for row in r.results]
    assert sizes == sorted(sizes) and r.results[0].rank == 1


def test_cli_search(run_json):
    d = run_json("plan", "--search", "--preset", "deepseek-v3", "--gpu", "h100,h200", "--context", "32k", "--batch", "4")
    assert d["results"][0]["gpus"] == 8 and d["results"][0]["gpu"] == "h200"


def test_search_ranks_by_gpu_count_then_price(tmp_path, run_json):
    # Three made-up GPU types with prices: the 4-GPU node wins on size even at the highest price; at equal
    # size (8 GPUs), the cheaper type ranks first.
    entry = ("  - name: {name}\n    memory_bytes: {mem}\n    hbm_bandwidth_tb_per_s: 4\n    bf16_dense_tflops: 1000\n"
             "    link_bandwidth_gb_per_s: 900\n    gpus_per_node: {n}\n    price_per_gpu_hour_usd: {price}\n")
    text = "gpus:\n" + "".join(entry.format(name=n, mem=m, n=g, price=p) for n, m, g, p in (
        ("cheap8", 200 * 2**30, 8, 1.0), ("pricey8", 200 * 2**30, 8, 3.0), ("huge4", 400 * 2**30, 4, 9.0)))
    catalog = tmp_path / "gpus-mine.yaml"
    catalog.write_text(text)
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--gpu", "cheap8,pricey8,huge4", "--gpu-file", str(catalog),
                 "--context", "4k", "--max-nodes", "1")
    order = [(r["gpu"], r["gpus"], r["cost_per_hour_usd"]) for r in d["results"]]
    assert order == [("huge4", 4, 36.0), ("cheap8", 8, 8.0), ("pricey8", 8, 24.0)]


GIB = 2**30


@pytest.mark.parametrize("args", [
    ("--context", "1e400"),
    ("--context", "1e40"),
    ("--context", ""),
    ("--chunk", "1e400"),
    ("--activations-gib", "nan"),
    ("--activations-gib", "inf"),
    ("--overhead-gib", "nan"),
    ("--overhead-gib", "1e308"),  # finite, but not as bytes
    ("--mem-fraction", "nan"),
    ("--mem-fraction", "inf"),
    ("--batch", "0"),
    ("--chunk", "0"),
])
def test_cli_plan_rejects_huge_non_finite_and_empty_sizes(run, args):
    r = run("plan", "--preset", "kimi-k2", "--gpu", "h200", "--tp", "8", *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"error: {args[0]} ") and r.stderr.count("\n") == 1


def test_library_rejects_batch_below_one_and_non_finite_knobs(v3):
    from k2calc.analysis.plan import knobs

    with pytest.raises(InputError, match="--batch 0: must be at least 1"):
        plan(v3, BIG, Layout(tp=8), Workload(context=1, batch=0))
    with pytest.raises(InputError, match="--batch 0"):
        search(v3, [BIG], Workload(context=1, batch=0))
    for kwargs, option in (({"activations_gib": float("nan")}, "--activations-gib nan"),
                           ({"overhead_gib": float("inf")}, "--overhead-gib inf")):
        with pytest.raises(InputError, match=option):
            knobs(**kwargs)
    with pytest.raises(InputError, match="--mem-fraction nan"):
        plan(v3, BIG, Layout(tp=8), Workload(context=1), knobs=knobs(float("nan")))


@pytest.mark.parametrize("option", [("--tp", "8"), ("--dp-attention", "2"), ("--ep", "8"), ("--pp", "2"),
                                    ("--gpus", "8"), ("--tp", "1")])
def test_search_rejects_layout_options(run, option):
    r = run("plan", "--search", "--preset", "deepseek-v3", "--gpu", "h200", *option)
    assert r.exit_code == 2, r.output
    assert r.stderr == f"error: {option[0]} does not go with --search: the search tries every layout\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--top", "0"), "--top 0: must be at least 1"),
    (("--top", "-1"), "--top -1: must be at least 1"),
    (("--gpu", ","), "--gpu ',': no GPU type given"),
    (("--gpu", ""), "--gpu '': no GPU type given"),
])
def test_search_rejects_empty_gpu_list_and_top_below_one(run, args, message):
    r = run("plan", "--search", "--preset", "deepseek-v3", *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"error: {message}") and r.stderr.count("\n") == 1


def test_search_honours_redundant_experts(k2, run_json):
    w = Workload(context=4096)
    r = search(k2, [get_gpu("h200")], w, weights="fp8", max_nodes=4, redundant_experts=32)
    assert r.results
    for row in r.results:  # every EP size divides 384 + 32 = 416 = 2^5 × 13, so no EP 3, 6, 12, 24, ...
        assert 416 % row.layout.ep == 0
        same = plan(k2, get_gpu("h200"), row.layout, w, weights="fp8")
        assert same.per_gpu.weights == row.weights
    assert any("32 redundant expert copies" in n for n in r.notes)
    d = run_json("plan", "--search", "-p", "kimi-k2", "--gpu", "h200", "--weights", "fp8", "--max-nodes", "4",
                 "--redundant-experts", "32")
    assert [row["weights"] for row in d["results"]] == [row.weights for row in r.results]


def test_mtp_layer_type_comes_from_its_own_index(v3):
    # 4 layers, every other one MoE from layer 1: 0 dense, 1 dense, 2 MoE, 3 dense; the MTP layer is
    # index 4, MoE. With pp 4 the last stage holds layer 3 (dense) and the MTP layer (MoE), so its
    # activations include the MoE dispatch of a chunk: 8192 × 8 experts per token copies, each with
    # 2 × hidden 7168 + 3 × moe_intermediate 2048 bf16 values.
    spec = load_preset("deepseek-v3", ["num_hidden_layers=4", "first_k_dense_replace=1", "moe_layer_freq=2"])
    r = plan(spec, BIG, Layout(tp=1, pp=4, mtp=True), Workload(context=4096))
    assert r.stage == 3
    assert r.activations_detail["moe_dispatch"] == 8192 * 8 * (2 * 7168 + 3 * 2048) * 2
    assert r.activations_detail["dense_mlp"] == 3 * 8192 * 18432 * 2  # layer 3's dense MLP, intermediate 18432


def test_check_line_reports_the_quantities_it_tested(k2):
    from k2calc.analysis.plan import knobs

    gpu, lay = get_gpu("h200"), Layout(tp=8)
    w = Workload(context=4096, batch=1000)  # 1000 sequences' fp32 logits: 1000 × 163840 × 8 bytes ≈ 1.2 GiB
    r = plan(k2, gpu, lay, w, weights="fp8", knobs=knobs(overhead_gib=4))
    p = r.per_gpu
    assert not r.fits and "alone need" in r.reason
    logits = r.activations_detail["logits"]
    assert logits == 1000 * 163840 * 8
    need = p.weights + p.overhead + p.activations - logits  # what fits before any sequence
    assert need > p.budget
    assert f"alone need {need / GIB:.2f} GiB of {p.budget / GIB:.2f} GiB per GPU" in r.reason


def test_check_line_never_prints_need_equal_to_budget(k2):
    import re

    from k2calc.analysis.plan import knobs

    gpu, lay, w = get_gpu("h200"), Layout(tp=8), Workload(context=4096)
    base = plan(k2, gpu, lay, w, weights="fp8", knobs=knobs(overhead_gib=0))
    p = base.per_gpu
    fixed = p.weights + p.activations - base.activations_detail["logits"]  # before any sequence
    # an overhead that leaves the sequence-independent part exactly one byte over the budget
    over = p.budget + 1 - fixed
    r = plan(k2, gpu, lay, w, weights="fp8", knobs=knobs(overhead_gib=over / GIB))
    assert r.per_gpu.overhead == over and not r.fits
    need, budget = re.search(r"alone need (\S+) GiB of (\S+) GiB", r.reason).groups()
    assert need != budget and float(need) > float(budget)
    # ...and one that leaves the whole plan (with the sequence's KV cache and logits) one byte over
    over = p.budget + 1 - p.weights - p.kv_cache - p.activations
    r = plan(k2, gpu, lay, w, weights="fp8", knobs=knobs(overhead_gib=over / GIB))
    assert r.per_gpu.free == -1 and not r.fits
    used, budget = re.search(r"= (\S+) GiB of (\S+) GiB", r.reason).groups()
    assert used != budget and float(used) > float(budget)
    assert "short by 0.000000001 GiB" in r.reason


def test_gib_apart_shows_two_decimals_or_as_many_as_tell_apart():
    from k2calc.analysis.plan import _gib_apart

    assert _gib_apart(126 * GIB + GIB // 2, 100 * GIB) == ("126.50 GiB", "100.00 GiB")
    assert _gib_apart(126 * GIB, 126 * GIB) == ("126.00 GiB", "126.00 GiB")
    # one byte over: 1 / 2^30 = 0.00000000093..., which 9 decimals round up to 0.000000001
    assert _gib_apart(126 * GIB + 1, 126 * GIB) == ("126.000000001 GiB", "126.000000000 GiB")


def test_plan_defaults_are_the_documented_ones(run_json):
    from k2calc.defaults import DEFAULT_CHUNK, DEFAULT_MEM_FRACTION

    assert (DEFAULT_MEM_FRACTION, DEFAULT_CHUNK) == (0.9, 8192)  # vLLM's utilization, SGLang's chunk
    d = run_json("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--tp", "8")
    assert d["mem_fraction"] == 0.9 and d["workload"]["chunk"] == 8192


@pytest.mark.parametrize("option", ["--batch", "--redundant-experts", "--dp-attention"])
def test_huge_plan_numbers_are_input_errors_not_float_overflows(run, option):
    result = run("plan", "--preset", "kimi-k2", "--gpu", "h200", option, "9" * 400)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {option} 999") and result.stderr.count("\n") == 1


def test_search_max_nodes_is_bounded_rather_than_running_forever(run):
    result = run("plan", "--preset", "kimi-k2", "--search", "--max-nodes", "9" * 30)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --max-nodes 999") and "at most 256" in result.stderr


def test_plan_error_after_a_what_if_note_is_still_one_line(run):
    result = run("plan", "-p", "kimi-k2", "--gpu", "h200", "--set", "rope_theta=1", "--format", "json", "--gpus", "0")
    assert result.exit_code == 2
    assert result.stderr == "error: --gpus 0 (as --tp 0): must be at least 1\n"


def test_tp8_weights_per_gpu_from_the_published_checkpoint_total(v3):
    # Under TP8 (EP 1) every DeepSeek-V3 fp8 weight splits evenly into 8 (all sharded widths are multiples
    # of 8 × 128, so the block scales split too) except the replicated ones: q_a_proj and kv_a_proj_with_mqa
    # (fp8 + float32 128×128 block scales), the norms (bf16), the router weight (bf16) and bias (float32).
    def fp8(out, inp):
        return out * inp + -(-out // 128) * -(-inp // 128) * 4

    replicated = (61 * (fp8(1536, 7168) + fp8(576, 7168) + (2 * 7168 + 1536 + 512) * 2)
                  + 58 * (256 * 7168 * 2 + 256 * 4) + 7168 * 2)
    # SOURCES.md: 688,574,839,360 bytes in all; the MTP layer's 15,424,227,552 (by hand in test_kv.py).
    main = 688_574_839_360 - 15_424_227_552
    r = plan(v3, get_gpu("h200"), Layout(tp=8), Workload(context=4096), weights="fp8")
    assert r.per_gpu.weights == replicated + (main - replicated) // 8
    assert (main - replicated) % 8 == 0


def test_activation_estimate_by_hand(v3):
    # Documented estimate (plan.py): chunk 8192, TP8 -> 16 heads per GPU, bf16 activations.
    r = plan(v3, get_gpu("h200"), Layout(tp=8), Workload(context=K128, chunk=8192), weights="fp8")
    d = r.activations_detail
    assert d["hidden_states"] == 2 * 8192 * 7168 * 2  # residual + normed input
    # q, k (192 each), v and output (128 each) of the chunk, plus 64k prefix tokens' K_nope and V
    assert d["attention"] == (8192 * 16 * (2 * 192 + 2 * 128) + 65536 * 16 * (128 + 128)) * 2
    assert d["logits"] == 129280 * (4 + 4)  # fp32 logits + probabilities for the one sequence sampled
    assert r.per_gpu.activations == d["hidden_states"] + max(d["attention"], d["dense_mlp"], d["moe_dispatch"]) \
        + d["logits"]


def test_a_float32_checkpoint_is_served_in_16_bit_as_engines_load_it():
    # OLMo-2-1124-7B is released in float32 (torch_dtype "float32"): the checkpoint holds 4 bytes per
    # parameter, but vLLM's and SGLang's --dtype auto load a float32 model as 16-bit, 2 bytes each.
    import json
    from pathlib import Path

    from k2calc.analysis.checkpoint import checkpoint_report

    golden = json.loads((Path(__file__).parent / "golden" / "olmo-2-7b.json").read_text())
    params = sum(golden["tensors"].values())  # transformers' meta-device count, tensor by tensor
    spec = load_preset("olmo-2-7b")
    assert checkpoint_report(spec).total_bytes == 4 * params
    r = plan(spec, get_gpu("h100"), Layout(), Workload(context=4096, batch=1))
    assert r.per_gpu.weights == 2 * params


def test_kv_sharding_is_described_in_the_models_attention_terms():
    # Qwen3-4B has 8 KV heads: at TP8 each GPU holds 1 of them, 36 layers × 128 × K and V × 2 bytes per token.
    r = plan(load_preset("qwen3-4b"), get_gpu("h100"), Layout(tp=8), Workload(context=4096, batch=1))
    assert r.kv_bytes_per_token_layer == 128 * 2 * 2
    assert r.kv_sharding.startswith("KV heads split over attention-TP ranks") and "MLA" not in r.kv_sharding
    k2 = plan(load_preset("kimi-k2"), get_gpu("h200"), Layout(tp=8), Workload(context=4096, batch=1))
    assert k2.kv_bytes_per_token_layer == 576 * 2  # the whole latent on every rank
    assert k2.kv_sharding.startswith("the MLA latent is replicated")
