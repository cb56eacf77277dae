"""k2calc perf: the serving model against published deployments, and its parts by hand arithmetic."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from k2calc.config import load_preset
from k2calc.hardware import get_gpu
from k2calc.perf import PerfKnobs, max_batch, perf
from k2calc.plan import Layout

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("validate_serving", ROOT / "scripts" / "validate_serving.py")
validate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validate)
ROWS = validate.load_rows()
TOLERANCE = 0.25  # the goal: every matched row within ±25% of the published figure


def ratio(row) -> float:
    return validate.k2calc_figure(row)[0] / row["published"]


@pytest.mark.parametrize("row", [r for r in ROWS if r.get("matched", True)], ids=lambda r: r["id"])
def test_published_deployment_within_25_percent(row):
    assert abs(ratio(row) - 1) <= TOLERANCE, f"{row['id']}: {row['figure']} ({row['source']})"


@pytest.mark.parametrize("row", [r for r in ROWS if not r.get("matched", True)], ids=lambda r: r["id"])
def test_rows_the_readme_explains_are_still_off(row):
    # The README says why these rows are not matched; a model change that matches one must move it back.
    assert abs(ratio(row) - 1) > TOLERANCE, f"{row['id']} now matches: mark it matched and update the README"


def test_every_row_cites_its_source_and_the_readme_shows_it():
    readme = (ROOT / "README.md").read_text()
    for row in ROWS:
        assert row["source"] and row["published"] > 0
        assert f"| {row['id']} |" in readme, row["id"]


V3 = load_preset("deepseek-v3")
R1 = load_preset("deepseek-r1")


def _component(report, name):
    return next(c for c in report.components if c.name == name)


def test_routed_expert_bytes_at_batch_one_by_hand():
    # TP8, batch 1: a token picks 8 of 256 experts; each GPU holds every expert at 2048/8 = 256 rows.
    # fp8 gate_proj shard: 256 × 7168 bytes + ceil(256/128) × ceil(7168/128) = 2 × 56 float32 scales;
    # activations bf16: 2 bytes × 8 copies × (7168 in + 256 out). 58 MoE layers.
    r = perf(V3, get_gpu("h200"), Layout(tp=8), batch=1, context=4096)
    per_layer = 8 * (256 * 7168 + 2 * 56 * 4) + 2 * 8 * (7168 + 256)
    gate = _component(r, "experts.gate_proj")
    assert gate.bytes == pytest.approx(58 * per_layer)
    assert gate.flops == pytest.approx(58 * 2 * 8 * 256 * 7168)
    assert gate.time_ms == pytest.approx(58 * per_layer / (4.8e12 * 0.60) * 1e3)  # memory-bound at 0.60 of HBM


def test_distinct_experts_grow_with_the_batch_so_tpot_does():
    # E·(1 − (1 − k/E)^T): 256 experts, top-8; at TP8 the batch's tokens all reach every GPU.
    small = perf(V3, get_gpu("h200"), Layout(tp=8), batch=1, context=4096)
    big = perf(V3, get_gpu("h200"), Layout(tp=8), batch=32, context=4096)
    touched = 256 * (1 - (1 - 8 / 256) ** 32)  # 162.4 experts
    one_expert = 256 * 7168 + 2 * 56 * 4
    acts = 2 * 32 * 8 * (7168 + 256)
    assert _component(big, "experts.gate_proj").bytes == pytest.approx(58 * (touched * one_expert + acts))
    assert big.tpot_ms > small.tpot_ms


def test_batch_one_decode_is_fixed_latency_not_weight_streaming():
    # V3 fp8 at TP8 reads ≈4.7 GB per GPU per token (≈1 ms on H200) yet measures ≈9 ms.
    r = perf(V3, get_gpu("h200"), Layout(tp=8), batch=1, context=1024)
    weights = sum(c.bytes for c in r.components if c.kind == "matmul")
    assert 4.0e9 < weights < 6.0e9
    assert r.latency_ms > r.compute_ms
    assert r.latency_ms == pytest.approx(61 * 30 * 3.0e-3)  # 61 layers × 30 kernels × 3 µs


def test_ep_exchange_is_deepseeks_communication_bound():
    # DeepSeek ISCA'25 §2.3.2 (SOURCES.md, Serving performance, D15): (1 + 2 bytes) × tokens × experts × hidden / 50 GB/s per
    # dispatch + combine. Here V3's own widths: 32 tokens per GPU, top-8, hidden 7168, EP256 over 32 H800 nodes
    # (248 of 255 peers beyond the node), the link at full speed, no latency or imbalance.
    knobs = PerfKnobs(network_efficiency=1.0, nvlink_efficiency=1.0, ep_latency_us=0.0, imbalance=1.0,
                      overlap=False)
    r = perf(V3, get_gpu("h800"), Layout(dp=256, ep=256), batch=32 * 256, context=1024, knobs=knobs)
    remote = 32 * 8 * 7168 * (256 - 8) / 256
    dispatch, combine = _component(r, "ep dispatch (fp8)"), _component(r, "ep combine (bf16)")
    assert (dispatch.time_ms + combine.time_ms) / 58 == pytest.approx((1 + 2) * remote / 50e9 * 1e3)


def test_mtp_tokens_per_step_from_acceptance():
    # DeepSeek ISCA'25 §2.3.3 (D16): one MTP token accepted 85% of the time -> 1.85 tokens per step.
    r = perf(V3, get_gpu("h200"), Layout(tp=8), batch=16, context=4096, mtp=1, acceptance=0.85)
    assert r.tokens_per_step == pytest.approx(1.85)
    assert r.tpot_ms == pytest.approx(r.step_ms / 1.85)
    three = perf(V3, get_gpu("h200"), Layout(tp=8), batch=16, context=4096, mtp=3, acceptance=0.5)
    assert three.tokens_per_step == pytest.approx(1 + 0.5 + 0.25 + 0.125)


def test_overlap_never_makes_a_step_slower():
    lay = Layout(dp=16, ep=16)
    on = perf(V3, get_gpu("h200"), lay, batch=16 * 256, context=2048)
    off = perf(V3, get_gpu("h200"), lay, batch=16 * 256, context=2048, knobs=PerfKnobs(overlap=False))
    assert on.step_ms <= off.step_ms


def test_cost_per_million_tokens_from_the_price():
    r = perf(V3, get_gpu("h200"), Layout(tp=8), batch=64, context=4096, price_per_gpu_hour=2.0)
    assert r.cost_per_million_tokens_usd == pytest.approx(2.0 * 8 / 3600 / r.tokens_per_s * 1e6)


def test_max_batch_counts_nvfp4_experts_smaller():
    # DeepSeek-R1 on 4 × B200 does not fit in fp8 (≈671 GB / 4 GPUs > the budget); with nvfp4 experts it does.
    lay = Layout(dp=4, ep=4)
    assert max_batch(R1, get_gpu("b200"), lay, 2048) == 0
    assert max_batch(R1, get_gpu("b200"), lay, 2048, expert_weights="nvfp4") > 0


def test_catalog_bandwidths_follow_the_sources():
    # SOURCES.md, Serving performance (aiconfigurator): NVLink per GPU one direction and scale-out per GPU.
    expect = {"h100": (450, 50), "h200": (450, 50), "h800": (200, 50), "b200": (900, 100), "gb200": (900, 100)}
    for name, (nv, net) in expect.items():
        g = get_gpu(name)
        assert (g.nvlink_gb_per_s, g.network_gb_per_s) == (nv, net), name
        assert g.bandwidth_source


# ---------------------------------------------------------------------------------------------------
# The command line

CONTRACT = {"phase", "step_ms", "tpot_ms", "ttft_ms", "tokens_per_s", "tokens_per_s_per_gpu", "tokens_per_s_per_user",
            "bound", "components"}
COMPONENT = {"name", "kind", "count", "flops", "bytes", "comm_bytes", "time_ms", "bound"}


def test_cli_json_keeps_the_contract(run_json):
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--batch", "8", "--context", "8k")
    assert CONTRACT <= set(d)
    assert d["phase"] == "decode" and d["tpot_ms"] > 0 and d["ttft_ms"] is None
    assert all(COMPONENT <= set(c) for c in d["components"])


def test_cli_prefill_reports_ttft(run_json):
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--phase", "prefill", "--batch", "2",
                 "--context", "4k")
    assert d["phase"] == "prefill" and d["ttft_ms"] > 0 and d["tpot_ms"] is None
    assert d["tokens_per_s"] == pytest.approx(2 * 4096 / (d["ttft_ms"] / 1e3))


def test_cli_input_output_gives_both_phases(run_json):
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--batch", "4", "--input", "1k",
                 "--output", "1k", "--price-per-gpu-hour", "2")
    assert d["ttft_ms"] > 0 and d["tpot_ms"] > 0
    assert d["e2e_latency_ms"] == pytest.approx(d["ttft_ms"] + 1023 * d["tpot_ms"])
    assert d["cost_per_million_input_usd"] > 0 and d["cost_per_million_output_usd"] > 0


def test_cli_sweep_is_a_table(run):
    out = run("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--sweep", "batch=1,4,16")
    assert out.exit_code == 0, out.output
    assert "sweep over batch" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--acceptance", "0.8"], "--acceptance needs --mtp"),
    (["--mtp", "1", "--acceptance", "2"], "--acceptance 2"),
    (["--sweep", "depth=1"], "--sweep depth=1"),
    (["--compute-efficiency", "1.5"], "--compute-efficiency 1.5"),
    (["--input", "1k"], "--input and --output together"),
    (["--expert-weights", "fp2"], "--expert-weights fp2"),
    (["--gpus", "16"], "--gpus 16"),
])
def test_cli_bad_input_is_one_line(run, args, message):
    out = run("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", *args)
    assert out.exit_code == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_plot_perf_writes_the_curve(run, tmp_path):
    pytest.importorskip("matplotlib")
    out = run("plot", "perf", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--tp", "8", "--sweep", "batch=1,8,64",
              "-o", str(tmp_path / "perf.svg"))
    assert out.exit_code == 0, out.output
    assert (tmp_path / "perf.svg").stat().st_size > 1000


def test_json_is_plain_json(run):
    out = run("perf", "-p", "kimi-k2", "--gpu", "h200", "--tp", "8", "--format", "json")
    assert json.loads(out.stdout)["model"] == "kimi-k2"


# ---------------------------------------------------------------------------------------------------
# plan --search with speed targets


def test_search_with_a_tpot_target_picks_a_layout(run_json):
    d = run_json("plan", "--search", "-p", "kimi-k2", "--context", "4k", "--max-tpot-ms", "50", "--top", "3")
    assert d["results"], d["notes"]
    best = d["results"][0]
    assert best["tpot_ms"] <= 50 and best["batch"] == 1
    assert [r["gpus"] for r in d["results"]] == sorted(r["gpus"] for r in d["results"])


def test_search_tokens_per_s_target_runs_the_largest_batch_within_tpot(run_json):
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200", "--context", "4k",
                 "--min-tokens-per-s", "20000", "--max-tpot-ms", "60", "--top", "2")
    for r in d["results"]:
        assert r["tokens_per_s"] >= 20000 and r["tpot_ms"] <= 60
        assert 1 <= r["batch"] <= r["max_batch"]


def test_an_unreachable_target_leaves_no_layout(run_json):
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200", "--max-nodes", "2", "--max-tpot-ms", "0.5")
    assert d["results"] == []


def test_speed_targets_need_search(run):
    out = run("plan", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--max-tpot-ms", "50")
    assert out.exit_code == 2 and "--max-tpot-ms goes with --search" in out.stderr


def test_compare_adds_serving_rows_with_a_gpu(run_json):
    d = run_json("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "16", "--kv-context", "8k",
                 "--batch", "32", "--price-per-gpu-hour", "2")
    assert [r["model"] for r in d["serve"]] == ["kimi-k2", "deepseek-v3"]
    for row in d["serve"]:
        assert row["batch"] == 32 and row["tpot_ms"] > 0
        # cost per million output tokens: 16 GPUs × $2/h over the deployment's tokens/s
        assert row["cost_per_million_output_usd"] == pytest.approx(2 * 16 / 3600 / (row["tokens_per_s_per_gpu"] * 16)
                                                                   * 1e6)


def test_compare_without_a_gpu_has_no_serving_rows(run_json):
    assert run_json("compare", "kimi-k2", "deepseek-v3")["serve"] is None


def test_perf_through_the_api_equals_the_cli(run_json):
    import k2calc

    api = k2calc.load("deepseek-v3").perf("h200", tp=8, batch=8, context="8k", compute_efficiency=0.6)
    cli = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--batch", "8", "--context", "8k",
                   "--compute-efficiency", "0.6")
    assert api.tpot_ms == pytest.approx(cli["tpot_ms"])
    assert api.knobs.compute_efficiency == 0.6


def test_readme_table_is_the_scripts_output(capsys):
    validate.main()
    printed = capsys.readouterr().out.strip()
    readme = (ROOT / "README.md").read_text()
    assert printed in readme
    within = printed.splitlines()[-1].split(" of ")[0]  # "22 of 30 rows within ±25%"
    assert f"| {within} within ±25% under one set of defaults |" in readme


def test_pd_sizes_prefill_and_decode_pools_for_a_request_rate(run_json):
    # 10 requests/s of 2,048 in and 500 out: prefill must serve 20,480 input tokens/s, decode 5,000 output.
    d = run_json("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200", "--pd", "--request-rate", "10",
                 "--input", "2k", "--output", "500", "--max-tpot-ms", "50", "--max-ttft-ms", "2000", "--top", "2")
    pre, dec = d["prefill"]["results"][0], d["decode"]["results"][0]
    assert pre["tokens_per_s"] >= 10 * 2048 and pre["ttft_ms"] <= 2000
    assert dec["tokens_per_s"] >= 10 * 500 and dec["tpot_ms"] <= 50
    assert d["total_gpus"] == pre["gpus"] + dec["gpus"]


@pytest.mark.parametrize("args, message", [
    (["--pd", "--request-rate", "1"], "--pd needs --request-rate, --input and --output"),
    (["--request-rate", "1"], "--request-rate goes with --pd"),
    (["--pd", "--request-rate", "0", "--input", "1k", "--output", "1k"], "--request-rate 0"),
])
def test_pd_bad_input_is_one_line(run, args, message):
    out = run("plan", "--search", "-p", "deepseek-v3", "--gpu", "h200", *args)
    assert out.exit_code == 2 and message in out.stderr


def test_a_catalog_gpu_without_link_bandwidths_runs_alone_and_names_the_field_when_it_communicates(run, tmp_path):
    (tmp_path / "toy.yaml").write_text(
        "gpus:\n  - name: toy\n    memory_bytes: 85520809984\n    hbm_bandwidth_tb_per_s: 3.0\n"
        "    bf16_dense_tflops: 900\n    link_bandwidth_gb_per_s: 900\n    gpus_per_node: 8\n")
    args = ["perf", "-p", "moonlight-16b-a3b", "--gpu", "toy", "--gpu-file", str(tmp_path / "toy.yaml")]
    assert run(*args).exit_code == 0
    out = run(*args, "--tp", "2")
    assert out.exit_code == 2 and "no nvlink_gb_per_s" in out.stderr


def test_sparse_attention_attends_index_topk_tokens_and_the_indexer_scores_all():
    # DeepSeek-V3.2 decode at 100,000 cached tokens, TP8, one sequence, per layer:
    # absorbed MLA over index_topk = 2048 tokens: 2·128·(512+64) + 2·128·512 = 278,528 FLOPs per token ÷ 8 ranks;
    # the lightning indexer scores all 100,001 tokens: 2·64·128 = 16,384 FLOPs each (replicated, not ÷ tp).
    r = perf(load_preset("deepseek-v3.2"), get_gpu("h200"), Layout(tp=8), batch=1, context=100_000)
    per_layer = 2048 * 278_528 / 8 + 100_001 * 16_384
    assert _component(r, "attention (absorbed MLA)").flops == pytest.approx(61 * per_layer)


def test_gqa_decode_reads_its_kv_heads_split_over_tp():
    # Qwen3-32B (config: 64 layers, 64 query heads, 8 KV heads, head_dim 128), TP8, one sequence of 4,096:
    # each GPU holds 8/8 = 1 KV head: keys + values 2 × 128 bf16 = 512 bytes per token per layer;
    # each of its 64/8 = 8 query heads scores and sums 4,097 tokens: 2·8·128 + 2·8·128 = 4,096 FLOPs per token.
    r = perf(load_preset("qwen3-32b"), get_gpu("h200"), Layout(tp=8), batch=1, context=4096)
    att = _component(r, "attention (GQA)")
    assert att.bytes == 64 * 4096 * 512
    assert att.flops == 64 * 4097 * 4096
