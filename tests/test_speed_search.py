"""plan --search with speed targets, PD pairs and compare's serving rows: pinned to invariants (every row
meets its targets as `k2calc perf` computes them on that layout, the ranking order) and hand arithmetic."""

from math import ceil

import pytest

from k2calc.analysis.perf import _largest_batch_within
from k2calc.hardware import get_gpu


def _perf(run_json, preset, gpu, layout, batch, context):
    return run_json("perf", "-p", preset, "--gpu", gpu, "--tp", str(layout["tp"]), "--dp-attention",
                    str(layout["dp_attention"]), "--pp", str(layout["pp"]), "--ep", str(layout["ep"]),
                    "--batch", str(batch), "--context", context)


def test_every_listed_layout_meets_its_targets_as_perf_computes_them_at_the_largest_batch(run_json):
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200,b200", "--context", "4k",
                 "--min-tokens-per-s", "20000", "--max-tpot-ms", "30", "--top", "3")
    assert len(d["results"]) == 3
    assert [r["gpus"] for r in d["results"]] == sorted(r["gpus"] for r in d["results"])  # GPUs first
    for row in d["results"]:
        lay = row["layout"]
        p = _perf(run_json, "deepseek-v3", row["gpu"], lay, row["batch"], "4k")
        assert p["tpot_ms"] == pytest.approx(row["tpot_ms"]) and p["tpot_ms"] <= 30
        assert p["tokens_per_s"] >= 20000
        if row["batch"] < row["max_batch"]:  # one more sequence would break the TPOT limit
            assert _perf(run_json, "deepseek-v3", row["gpu"], lay, row["batch"] + 1, "4k")["tpot_ms"] > 30


def test_the_batch_search_finds_the_largest_batch_within_the_limit():
    # a step function as DP attention's busiest replica makes one: 5 + 0.01·b ms up to 8, then 5 + 0.1·ceil(b / 8)
    def tpot(b):
        return 5 + 0.01 * b if b <= 8 else 5 + 0.1 * ceil(b / 8)

    # within 6 ms: ceil(b / 8) ≤ 10, so b = 80 (81 gives 11 sequences to a replica)
    assert _largest_batch_within(tpot, 1000, 6.0) == 80
    # within 5.05 ms: only b ≤ 5 of the first 8
    assert _largest_batch_within(tpot, 1000, 5.05) == 5
    # a limit below batch 1's TPOT: batch 1 (the search reports it as not meeting)
    assert _largest_batch_within(tpot, 1000, 4.0) == 1
    # from a batch known to be within the limit, the same answer
    assert _largest_batch_within(tpot, 1000, 6.0, within=33) == 80


def test_a_target_no_layout_meets_says_so_with_the_best_figure_reached(run, run_json):
    args = ("plan", "--search", "-p", "kimi-k2", "--gpu", "h200", "--max-nodes", "2", "--context", "8k",
            "--max-tpot-ms", "5")
    d = run_json(*args)
    assert d["results"] == []
    (best,) = d["closest"]
    assert best["target"] == "max_tpot_ms" and best["limit"] == 5 and best["value"] > 5
    assert any(n.startswith("no layout meets the speed targets") for n in d["notes"])
    # the figure is perf's TPOT at batch 1 on the layout named, and no fitting layout does better
    label = best["layout_label"].split()
    sizes = {"tp": 1, "dp_attention": 1, "pp": 1, "ep": 1}
    for part in label:
        for prefix, key in (("TP", "tp"), ("DP-attn", "dp_attention"), ("PP", "pp"), ("EP", "ep")):
            if part.startswith(prefix) and part[len(prefix):].isdigit():
                sizes[key] = int(part[len(prefix):])
    assert _perf(run_json, "kimi-k2", "h200", sizes, 1, "8k")["tpot_ms"] == pytest.approx(best["value"])
    out = run(*args)  # as `plan` does for a layout that does not fit: said, exit 0 (--check is the CI mode)
    assert out.exit_code == 0 and "no layout meets the speed targets" in out.output


def test_pd_takes_both_pools_from_one_vendor(run_json):
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--pd", "--request-rate", "10", "--input", "2000",
                 "--output", "500", "--max-tpot-ms", "50", "--top", "3")
    a, b = d["prefill_row"], d["decode_row"]
    vendor = get_gpu(a["gpu"]).vendor
    assert vendor and get_gpu(b["gpu"]).vendor == vendor == d["vendor"]
    assert d["total_gpus"] == a["gpus"] + b["gpus"]


def test_pd_reports_the_decode_pool_at_the_request_rate_by_littles_law(run_json):
    # 5 requests/s × 1,024 output tokens: the pool holds b = ceil(5,120 × TPOT(b)) sequences in steady state
    # (each stays 1,024 steps), the least such b, fewer than the capacity batch its row is sized at.
    d = run_json("plan", "--search", "-p", "kimi-k2-thinking", "--pd", "--request-rate", "5", "--input", "4k",
                 "--output", "1k", "--gpu", "h200,b200")
    row, load = d["decode_row"], d["decode_at_load"]
    ctx = str(4096 + 1024)  # the search's decode point: the sequences' final length
    at = _perf(run_json, "kimi-k2-thinking", row["gpu"], row["layout"], load["batch"], ctx)
    assert at["tpot_ms"] == pytest.approx(load["tpot_ms"])
    assert load["batch"] == ceil(5 * 1024 * at["tpot_ms"] / 1e3)  # Little's law holds at b
    below = _perf(run_json, "kimi-k2-thinking", row["gpu"], row["layout"], load["batch"] - 1, ctx)
    assert load["batch"] - 1 < 5 * 1024 * below["tpot_ms"] / 1e3  # and not at b − 1: b is the least
    assert load["batch"] < row["batch"] and load["tpot_ms"] < row["tpot_ms"]
    assert load["tokens_per_s"] >= 5 * 1024


def test_every_catalog_gpu_names_its_vendor():
    from k2calc.hardware import list_gpus

    assert {g.vendor for g in list_gpus(None)} == {"nvidia", "amd"}


def test_a_vendor_that_is_not_a_lowercase_name_is_refused(run, tmp_path):
    (tmp_path / "g.yaml").write_text(
        "gpus:\n  - name: toy\n    vendor: 'NVIDIA!'\n    memory_bytes: 85520809984\n    hbm_bandwidth_tb_per_s: 3.0\n"
        "    bf16_dense_tflops: 900\n    link_bandwidth_gb_per_s: 900\n    gpus_per_node: 8\n")
    out = run("gpus", "--gpu-file", str(tmp_path / "g.yaml"))
    assert out.exit_code == 2 and "vendor" in out.stderr


def test_compare_serves_each_model_on_its_fastest_layout_holding_the_batch(run_json):
    d = run_json("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "16", "--kv-context", "8k",
                 "--batch", "32")
    for row, plan in zip(d["serve"], d["plan"]):
        preset = row["model"]
        assert row["batch"] == 32 and row["layout"]["tp"] * row["layout"]["dp_attention"] * row["layout"]["pp"] == 16
        mine = _perf(run_json, preset, "h200", row["layout"], 32, "8k")
        assert mine["tokens_per_s_per_gpu"] == pytest.approx(row["tokens_per_s_per_gpu"])
        # at least as fast as the memory plan's layout at the same batch
        theirs = _perf(run_json, preset, "h200", plan["layout"], 32, "8k")
        assert row["tokens_per_s_per_gpu"] >= theirs["tokens_per_s_per_gpu"] * (1 - 1e-9)


def test_compare_asks_for_a_price_only_when_none_is_given(run):
    args = ("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "16", "--kv-context", "8k")
    assert "cost needs --price-per-gpu-hour" in run(*args).stdout
    assert "cost needs --price-per-gpu-hour" not in run(*args, "--price-per-gpu-hour", "2").stdout


def test_compare_on_a_gpu_without_nvlink_keeps_the_other_sections_and_names_the_field(run, tmp_path):
    (tmp_path / "toy.yaml").write_text(
        "gpus:\n  - name: toy\n    memory_bytes: 150754820096\n    hbm_bandwidth_tb_per_s: 4.8\n"
        "    bf16_dense_tflops: 989\n    link_bandwidth_gb_per_s: 900\n    gpus_per_node: 8\n")
    out = run("compare", "kimi-k2", "deepseek-v3", "--gpu", "toy", "--gpus", "16", "--kv-context", "8k",
              "--gpu-file", str(tmp_path / "toy.yaml"))
    assert out.exit_code == 0, out.output
    assert "memory plan" in out.stdout and "KV cache" in out.stdout
    assert out.stdout.count("nvlink_gb_per_s") == 1


def _clone(tmp_path, entries):
    """A --gpu-file of catalog GPUs under new names: {new name: (catalog name, changes)}."""
    import yaml

    gpus = []
    for name, (base, changes) in entries.items():
        g = get_gpu(base).model_dump(exclude={"source", "aliases"}, exclude_none=True)
        g.update(name=name, **changes)
        gpus.append({k: v for k, v in g.items() if v != ""})
    path = tmp_path / "gpus.yaml"
    path.write_text(yaml.safe_dump({"gpus": gpus}))
    return str(path)


def test_speed_search_ranks_by_gpus_then_cost(run_json, tmp_path):
    f = _clone(tmp_path, {"dear": ("h200", {"price_per_gpu_hour_usd": 3.0}),
                          "cheap": ("h200", {"price_per_gpu_hour_usd": 1.0})})
    d = run_json("plan", "--search", "-p", "kimi-k2", "--gpu", "dear,cheap", "--gpu-file", f, "--context", "8k",
                 "--max-tpot-ms", "50", "--top", "4")
    keys = [(r["gpus"], r["cost_per_hour_usd"]) for r in d["results"]]
    assert keys == sorted(keys) and len(keys) == 4
    assert d["results"][0]["gpu"] == "cheap" and d["results"][1]["gpu"] == "dear"  # same GPUs: $1 before $3


def test_fewer_rows_are_the_first_rows_of_more(run_json):
    args = ("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200,b200,mi355x", "--context", "4k",
            "--min-tokens-per-s", "20000", "--max-tpot-ms", "30")
    three, six = run_json(*args, "--top", "3")["results"], run_json(*args, "--top", "6")["results"]
    assert three == six[:3]


@pytest.mark.parametrize("vendor, mixed", [("", False), ("nvidia", True)])
def test_pd_pairs_a_gpu_without_a_vendor_only_with_its_own_type(run_json, tmp_path, vendor, mixed):
    # toy: an MI355X under another name; its pools' first rows beside GB200's would mix the two
    f = _clone(tmp_path, {"toy": ("mi355x", {"vendor": vendor})})
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--gpu", "gb200,toy", "--gpu-file", f, "--pd",
                 "--request-rate", "10", "--input", "2000", "--output", "500", "--max-tpot-ms", "50", "--top", "2")
    firsts = (d["prefill"]["results"][0]["gpu"], d["decode"]["results"][0]["gpu"])
    assert firsts == ("gb200", "toy")
    pair = (d["prefill_row"]["gpu"], d["decode_row"]["gpu"])
    assert (pair == firsts) is mixed  # declared the same vendor, they pair; without one, toy stays alone
    if not mixed:
        assert pair[0] == pair[1]
    assert d["total_gpus"] == d["prefill_row"]["gpus"] + d["decode_row"]["gpus"]


def _sizes(label):
    """'TP4 DP-attn2 EP8' -> the layout object perf takes."""
    sizes = {"tp": 1, "dp_attention": 1, "pp": 1, "ep": 1}
    for part in label.split():
        for prefix, key in (("TP", "tp"), ("DP-attn", "dp_attention"), ("PP", "pp"), ("EP", "ep")):
            if part.startswith(prefix) and part[len(prefix):].isdigit():
                sizes[key] = int(part[len(prefix):])
    return sizes


def _prefill(run_json, gpu, layout, batch, context="2000"):
    return run_json("perf", "-p", "deepseek-v3", "--gpu", gpu, "--tp", str(layout["tp"]), "--dp-attention",
                    str(layout["dp_attention"]), "--pp", str(layout["pp"]), "--ep", str(layout["ep"]),
                    "--phase", "prefill", "--batch", str(batch), "--context", context)


def test_a_pd_prefill_pool_meets_ttft_at_the_batch_that_serves_the_rate(run_json):
    # 30 requests/s × 2,000 input tokens = 60,000 input tokens/s within 80 ms (the second review's case)
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--pd", "--request-rate", "30", "--input", "2000",
                 "--output", "500", "--max-tpot-ms", "50", "--max-ttft-ms", "80", "--gpu", "gb200", "--max-nodes", "2")
    # 4 × GB200 TP4 EP4: one prompt at a time falls short of 60,000 tokens/s, and the 3 prompts that reach it
    # take longer than 80 ms: the pool cannot have 4 GPUs
    tp4 = {"tp": 4, "dp_attention": 1, "pp": 1, "ep": 4}
    assert _prefill(run_json, "gb200", tp4, 2)["tokens_per_s"] < 60000
    three = _prefill(run_json, "gb200", tp4, 3)
    assert three["tokens_per_s"] >= 60000 and three["ttft_ms"] > 80
    assert all(r["gpus"] > 4 for r in d["prefill"]["results"])
    for row in d["prefill"]["results"]:  # every row: perf's prefill of its batch serves the rate within 80 ms
        p = _prefill(run_json, "gb200", row["layout"], row["batch"])
        assert p["tokens_per_s"] == pytest.approx(row["tokens_per_s"]) and p["tokens_per_s"] >= 60000
        assert p["ttft_ms"] == pytest.approx(row["ttft_ms"]) and p["ttft_ms"] <= 80
        if row["batch"] > 1:  # the batch is the fewest prompts that serve the rate
            assert _prefill(run_json, "gb200", row["layout"], row["batch"] - 1)["tokens_per_s"] < 60000


def test_pd_prints_each_unmet_pools_note_in_input_tokens_and_plain_targets(run):
    out = run("plan", "--search", "-p", "deepseek-v3", "--pd", "--request-rate", "1000", "--input", "8000",
              "--output", "2000", "--max-tpot-ms", "20", "--max-ttft-ms", "500", "--gpu", "h200", "--max-nodes", "1")
    assert out.exit_code == 0, out.output
    text = " ".join(out.stdout.split())  # the notes wrap
    # 1,000 × 8,000 = 8,000,000 input tokens/s; 1,000 × 2,000 = 2,000,000 output tokens/s
    assert "prefill pool: no layout meets" in text and "decode pool: no layout meets" in text
    assert "highest input tokens/s" in text and "(target 8,000,000)" in text and "(target 2,000,000)" in text
    assert "e+06" not in text


def test_the_unmet_note_gives_batch_ones_tpot_and_the_highest_tokens_per_s_perf_computes(run_json):
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200", "--max-nodes", "2", "--context", "4k",
                 "--min-tokens-per-s", "10000000", "--max-tpot-ms", "20")
    assert d["results"] == []
    best = {r["target"]: r for r in d["closest"]}
    tpot, rate = best["max_tpot_ms"], best["min_tokens_per_s"]
    assert tpot["batch"] == 1
    assert _perf(run_json, "deepseek-v3", "h200", _sizes(tpot["layout_label"]), 1, "4k")["tpot_ms"] == \
        pytest.approx(tpot["value"])
    p = _perf(run_json, "deepseek-v3", "h200", _sizes(rate["layout_label"]), rate["batch"], "4k")
    assert p["tokens_per_s"] == pytest.approx(rate["value"]) and p["tpot_ms"] <= 20


def _layout_speed(preset, layout, context, gpu="h200"):
    from k2calc.analysis.checkpoint import serving_format
    from k2calc.analysis.perf import LayoutSpeed, SpeedTargets
    from k2calc.analysis.plan import ShardedModel
    from k2calc.config import load_preset

    spec = load_preset(preset)
    return LayoutSpeed(spec, get_gpu(gpu), layout, ShardedModel(spec, serving_format(spec, None, "auto")),
                       SpeedTargets(min_tokens_per_s=1000, max_tpot_ms=50), context=context, batch=1, max_batch=64)


def test_the_tpot_floor_at_batch_one_is_the_layers_fixed_latency_and_the_cache_read():
    from k2calc.analysis.plan import Layout

    ls = _layout_speed("deepseek-v3", Layout(tp=8, ep=8), 4096)
    # 61 layers × 30 kernels × 3 µs = 5.49 ms; one sequence's bf16 latent, (512 + 64) × 2 bytes × 4,096 tokens
    # × 61 layers, read at 0.85 × 4.8 TB/s
    assert ls.tpot_floor_ms == pytest.approx(61 * 30 * 3e-3)
    assert ls.floor_ms(1) == pytest.approx(5.49 + 576 * 2 * 4096 * 61 / (0.85 * 4.8e12) * 1e3)


@pytest.mark.parametrize("preset, layout, context", [
    ("deepseek-v3", dict(tp=8, ep=8), 4096), ("deepseek-v3", dict(tp=1, dp=8, ep=8), 32768),
    ("deepseek-v3.2", dict(tp=1, dp=8, ep=8), 131072),  # sparse: the decode reads index_topk entries
    ("qwen3-235b-a22b", dict(tp=4, dp=2, ep=8), 8192), ("llama-4-maverick", dict(tp=8, ep=8), 8192)])
def test_the_tpot_floor_is_below_every_batchs_tpot(preset, layout, context):
    from k2calc.analysis.plan import Layout

    ls = _layout_speed(preset, Layout(**layout), context)
    for b in (1, 2, 7, 8, 9, 64, 257):
        assert ls.floor_ms(b) <= ls.at(b).tpot_ms


def test_a_gpu_without_nvlink_is_left_out_of_a_speed_search_with_a_note(run, run_json, tmp_path):
    f = _clone(tmp_path, {"toy": ("h200", {"nvlink_gb_per_s": None})})
    args = ("plan", "--search", "-p", "deepseek-v3", "--context", "4k", "--max-tpot-ms", "30", "--max-nodes", "1",
            "--gpu-file", f)
    d = run_json(*args, "--gpu", "toy,h200")
    assert d["results"] and all(r["gpu"] == "h200" for r in d["results"])  # no toy layout fits one GPU
    assert [n for n in d["notes"] if "nvlink_gb_per_s" in n] == [n for n in d["notes"] if n.startswith("toy:")]
    assert len([n for n in d["notes"] if n.startswith("toy:")]) == 1
    alone = run(*args, "--gpu", "toy")  # nothing left to estimate: the one line, exit 2
    assert alone.exit_code == 2 and alone.stderr.count("\n") == 1 and "nvlink_gb_per_s" in alone.stderr


def test_pd_tables_head_each_pools_rate_with_its_tokens(run):
    out = run("plan", "--search", "-p", "deepseek-v3", "--pd", "--request-rate", "10", "--input", "2000", "--output",
              "500", "--max-tpot-ms", "50", "--gpu", "h200", "--max-nodes", "2")
    assert out.exit_code == 0, out.output
    prefill, decode = out.stdout.split("decode pool:")[:2]
    assert "input tokens/s" in prefill and "TPOT" not in prefill  # a prefill pool has no TPOT
    assert "output tokens/s" in decode and "TPOT (ms)" in decode


@pytest.mark.parametrize("option", [("--avg-context", "8k"), ("--max-num-seqs", "64"), ("--block-size", "64"),
                                    ("--max-num-batched-tokens", "4096")])
def test_search_refuses_the_options_it_would_ignore(run, option):
    # the search ranks layouts by sequences of --context under the generic accounting: none of these would
    # change a row, so each is one line naming it and its value, not a silent no-op
    r = run("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200", "--max-nodes", "1", *option)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"error: {option[0]} {option[1]} does not go with --search") and r.stderr.count("\n") == 1


def test_a_search_beyond_the_models_context_window_notes_it_as_plan_does(run_json):
    from k2calc.config import load

    window = load("olmo-2-13b").config.max_position_embeddings
    common = ("plan", "--search", "-p", "olmo-2-13b", "--gpu", "h100", "--max-nodes", "1")
    over = run_json(*common, "--context", str(2 * window))
    plan = run_json("plan", "-p", "olmo-2-13b", "--gpu", "h100", "--context", str(2 * window))
    said = [n for n in plan["notes"] if "max_position_embeddings" in n]
    assert said and [n for n in over["notes"] if "max_position_embeddings" in n and str(2 * window) in n]
    assert not [n for n in run_json(*common, "--context", str(window))["notes"] if "max_position_embeddings" in n]
    pd = run_json(*common, "--pd", "--request-rate", "1", "--input", str(window), "--output", "1")
    assert [n for n in pd["notes"] if "max_position_embeddings" in n and str(window + 1) in n]


def test_a_speed_search_with_mtp_says_its_figures_decode_without_the_draft_layers(run_json):
    args = ("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200", "--max-nodes", "1", "--context", "4k",
            "--batch", "8", "--max-tpot-ms", "40")
    d = run_json(*args, "--mtp")
    row = d["results"][0]
    assert row["layout"]["mtp"]  # the memory holds the MTP modules ...
    plain = _perf(run_json, "deepseek-v3", "h200", {**row["layout"], "mtp": False}, 8, "4k")
    assert row["tpot_ms"] == pytest.approx(plain["tpot_ms"])  # ... the figure is perf's without speculation
    assert [n for n in d["notes"] if n.startswith("--mtp:") and "perf --mtp N --acceptance A" in n]
    assert not [n for n in run_json(*args)["notes"] if n.startswith("--mtp:")]


def test_the_speed_note_names_the_batch_the_rows_are_at(run_json):
    args = ("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200", "--max-nodes", "2", "--context", "4k")
    tpot = run_json(*args, "--max-tpot-ms", "30", "--batch", "4")
    assert tpot["results"] and {r["batch"] for r in tpot["results"]} == {4}  # a TPOT limit alone: at --batch
    note = next(n for n in tpot["notes"] if n.startswith("speed targets"))
    assert "--batch 4" in note and "largest batch" not in note
    rate = run_json(*args, "--min-tokens-per-s", "1000")
    assert all(r["batch"] == r["max_batch"] for r in rate["results"])  # a rate alone: the batch memory holds
    assert "the largest batch that fits memory;" in next(n for n in rate["notes"] if n.startswith("speed targets"))


@pytest.mark.parametrize("option", [("--max-nodes", "2"), ("--top", "3")])
def test_search_sizes_without_search_are_one_line(run, option):
    # a plan is the one layout given: --max-nodes and --top would change nothing (they were ignored)
    r = run("plan", "-p", "deepseek-v3", "--gpu", "h200", "--gpus", "8", *option)
    assert r.exit_code == 2 and r.stderr == f"error: {option[0]} {option[1]} goes with --search (a plan is the one layout given)\n"


def test_search_defaults_are_eight_nodes_and_ten_rows(run_json):
    d = run_json("plan", "--search", "-p", "qwen3-32b", "--gpu", "h100,h200", "--context", "4k")
    assert d["max_nodes"] == 8 and len(d["results"]) == 10  # 2 types x 8 node counts = 16 deployments fit


def test_the_unmet_note_says_the_tokens_per_s_it_reports_are_within_the_tpot_target(run_json):
    # no H100 layout decodes Qwen3-32B at a 2 ms TPOT (30 kernels × 3 µs × 64 layers = 5.76 ms of fixed
    # latency alone), so the highest tokens/s within it is batch 1's: the note says which figure it is
    d = run_json("plan", "--search", "-p", "qwen3-32b", "--gpu", "h100", "--max-tpot-ms", "2",
                 "--min-tokens-per-s", "1000")
    [note] = [n for n in d["notes"] if n.startswith("no layout meets the speed targets")]
    assert "highest decode tokens/s within the TPOT target (batch 1's where none meets it)" in note
    assert all(r["batch"] == 1 for r in d["closest"] if r["target"] == "min_tokens_per_s")


def test_a_prefill_pool_ranks_equal_gpu_counts_by_ttft(run_json):
    # no prices in the catalog: rows equal in GPUs rank by the TTFT the pool exists for, not by KV tokens held
    d = run_json("plan", "--search", "-p", "kimi-k2-thinking", "--pd", "--request-rate", "5", "--input", "4k",
                 "--output", "1k", "--top", "10")
    rows = d["prefill"]["results"]
    eights = [r["ttft_ms"] for r in rows if r["gpus"] == 8]
    assert len(eights) >= 3 and eights == sorted(eights)
    assert any(n.endswith("ranked by GPU count, then TTFT") for n in d["prefill"]["notes"])
    decode = [r["kv_tokens"] for r in d["decode"]["results"] if r["gpus"] == 8]
    assert decode == sorted(decode, reverse=True)  # the decode pool keeps the KV-tokens tie-break
