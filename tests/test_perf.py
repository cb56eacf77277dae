"""k2calc perf: the serving model against published deployments, and its parts by hand arithmetic."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from k2calc.config import load, load_preset
from k2calc.hardware import get_gpu
from k2calc.analysis.perf import PerfKnobs, max_batch, perf
from k2calc.analysis.plan import Layout

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


def test_a_prefill_with_mtp_runs_the_mtp_module_once_over_the_prompt():
    # The draft module fills its own KV cache over the prompt (SGLang's draft extend): one pass whatever the
    # number of draft tokens, its attention projections as costly as one of the 61 main layers'.
    plain = perf(V3, get_gpu("h200"), Layout(tp=8), phase="prefill", batch=1, context=4096)
    one = perf(V3, get_gpu("h200"), Layout(tp=8), phase="prefill", batch=1, context=4096, mtp=1)
    three = perf(V3, get_gpu("h200"), Layout(tp=8), phase="prefill", batch=1, context=4096, mtp=3)
    assert one.step_ms == pytest.approx(three.step_ms) and one.step_ms > plain.step_ms
    flops = {c.name: c.flops for c in one.components}
    for name in ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "o_proj"):
        assert flops[f"mtp: {name}"] == pytest.approx(flops[name] / 61)  # num_hidden_layers in config.json
    assert not any(c.name.startswith("mtp:") for c in plain.components)
    served = perf(V3, get_gpu("h200"), Layout(tp=8), batch=1, input_tokens=4096, output_tokens=64, mtp=1,
                  acceptance=0.8)
    assert served.ttft_ms == pytest.approx(one.ttft_ms)  # --input/--output prefills the same way


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


def test_readme_contract_names_every_perf_json_key(run_json):
    # the README's "JSON contract (`perf --format json`)" section names each key perf writes, sweep points' too
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("JSON contract (`perf --format json`)"):readme.index("## Plots")]
    named = set(re.findall(r"`([a-z0-9_]+)`", section))
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--batch", "2", "--input", "1k",
                 "--output", "1k", "--sweep", "batch=1,2", "--engine", "vllm", "--price-per-gpu-hour", "2")
    assert set(d) - named == set()
    assert set(d["sweep"][0]) - named == set() and set(d["prefill"]) - named == set()


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
    # cost per million: 8 GPUs × $2/h over the output tokens/s (top level) or the input tokens/s (its prefill)
    assert d["cost_per_million_tokens_usd"] == pytest.approx(2 * 8 / 3600 / d["tokens_per_s"] * 1e6)
    assert d["prefill"]["cost_per_million_tokens_usd"] == pytest.approx(2 * 8 / 3600 / d["prefill"]["tokens_per_s"] * 1e6)


def test_cli_sweep_is_a_table(run):
    out = run("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--sweep", "batch=1,4,16")
    assert out.exit_code == 0, out.output
    assert "sweep over batch" in out.stdout


@pytest.mark.parametrize("gpus, message", [("0", "--gpus 0 (as --tp 0): must be at least 1"),
                                            ("7", "--gpus 7 (as --tp 7): num_attention_heads (128)")])
def test_gpus_alone_names_gpus_when_the_tp_it_means_is_refused(run, gpus, message):
    # --gpus alone means --tp GPUS (as plan): the one error line names the option the user typed
    out = run("perf", "-p", "deepseek-v3", "--gpu", "h200", "--gpus", gpus)
    assert out.exit_code == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}")


def test_expert_weights_on_a_dense_model_is_refused_as_ep_is(run):
    # Qwen3-32B has no routed experts: --expert-weights nvfp4 changed nothing yet was echoed in the JSON
    for args in (["--expert-weights", "nvfp4"], ["--ep", "2"]):
        out = run("perf", "-p", "qwen3-32b", "--gpu", "h100", "--tp", "2", *args)
        assert out.exit_code == 2
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {' '.join(args)}: qwen3-32b has no routed experts")


@pytest.mark.parametrize("args, message", [
    (["--acceptance", "0.8"], "--acceptance needs --mtp"),
    (["--mtp", "1", "--acceptance", "2"], "--acceptance 2"),
    # a prefill accepts no draft tokens: the acceptance was ignored, yet echoed in the output
    (["--phase", "prefill", "--mtp", "1", "--acceptance", "0.8"], "--acceptance 0.8 does not go with --phase prefill"),
    (["--sweep", "depth=1"], "--sweep depth=1"),
    (["--compute-efficiency", "1.5"], "--compute-efficiency 1.5"),
    (["--input", "1k"], "--input and --output together"),
    (["--expert-weights", "fp2"], "--expert-weights fp2"),
    (["--gpus", "16"], "--gpus 16"),
    (["--input", "1k", "--output", "1k", "--context", "4k"], "--context 4k does not go with --input/--output"),
    # --layer-latency-us replaces kernels × kernel latency: a kernel figure beside it would be ignored
    # an inf cost, or an inf/NaN step (invalid JSON), from a price or efficiency the float range cannot hold
    (["--price-per-gpu-hour", "1e308"], "--price-per-gpu-hour 1e+308: must be a positive number up to 1,000,000"),
    (["--compute-efficiency", "1e-320"], "must be in [0.001, 1]"),
    (["--layer-latency-us", "50", "--kernel-latency-us", "10"], "--kernel-latency-us 10 does not go with --layer-latency-us 50"),
    (["--layer-latency-us", "50", "--kernels-per-layer", "5"], "--kernels-per-layer 5 does not go with --layer-latency-us 50"),
    # a decode step has no prefill chunks: --chunk changed nothing
    (["--chunk", "4k"], "--chunk 4k goes with --phase prefill or --input/--output"),
])
def test_cli_bad_input_is_one_line(run, args, message):
    out = run("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", *args)
    assert out.exit_code == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_extreme_inputs_within_the_bounds_give_finite_figures():
    # the largest price and context with the smallest efficiencies: huge, but every figure a finite number
    from math import isfinite

    from k2calc.sizes import MAX_INT

    slow = PerfKnobs(compute_efficiency=1e-3, memory_efficiency=1e-3, attention_compute_efficiency=1e-3,
                     attention_memory_efficiency=1e-3, nvlink_efficiency=1e-3)
    r = perf(V3, get_gpu("h200"), Layout(tp=8), context=MAX_INT, price_per_gpu_hour=1e6, knobs=slow)
    assert all(isfinite(v) for v in (r.step_ms, r.tpot_ms, r.tokens_per_s, r.cost_per_million_tokens_usd,
                                     r.compute_ms, r.communication_ms))
    json.loads(r.model_dump_json(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


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
        assert row["cost_per_million_tokens_usd"] == pytest.approx(2 * 16 / 3600 / (row["tokens_per_s_per_gpu"] * 16)
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
    (["--pd", "--request-rate", "1", "--input", "1k", "--output", "1k", "--context", "64k"],
     "--context does not go with --pd"),
    (["--pd", "--request-rate", "1", "--input", "1k", "--output", "1k", "--batch", "7"], "--batch does not go with --pd"),
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


def test_a_catalog_entry_sets_the_per_message_latencies_and_a_flag_overrides_it(run_json, tmp_path):
    # H200 with a slower fabric: 25 µs per all-reduce. DeepSeek-V3 at TP8 all-reduces twice per layer, 61 layers:
    # each of the two all-reduce rows grows by 61 × (25 − 10) µs = 0.915 ms.
    import yaml

    from k2calc.hardware import builtin_files

    [h200] = [g for f in builtin_files() for g in yaml.safe_load(f.read_text())["gpus"] if g["name"] == "h200"]
    slow = {**h200, "name": "h200-slow", "aliases": [], "collective_latency_us": 25, "ep_latency_us": 50,
            "latency_source": "our own ping-pong"}
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({"gpus": [slow]}))
    args = ["-p", "deepseek-v3", "--tp", "8", "--batch", "4", "--gpu-file", str(tmp_path / "g.yaml")]
    ours, stock = run_json("perf", "--gpu", "h200-slow", *args), run_json("perf", "--gpu", "h200", *args)
    times = {d["gpu"]: {c["name"]: c["time_ms"] for c in d["components"]} for d in (ours, stock)}
    for name in ("tp all-reduce (attention)", "tp all-reduce (mlp)"):
        assert times["h200-slow"][name] - times["h200"][name] == pytest.approx(61 * 15e-3)
    assert (ours["knobs"]["collective_latency_us"], ours["knobs"]["ep_latency_us"]) == (25, 50)
    assert ours["sources"]["collective_latency_us"] == "h200-slow catalog entry: our own ping-pong"
    flag = run_json("perf", "--gpu", "h200-slow", *args, "--collective-latency-us", "10")
    assert flag["knobs"]["collective_latency_us"] == 10 and flag["step_ms"] == pytest.approx(stock["step_ms"])


def test_sparse_attention_attends_index_topk_tokens_and_the_indexer_scores_all():
    # DeepSeek-V3.2 decode at 100,000 cached tokens, TP8, one sequence, per layer:
    # absorbed MLA over index_topk = 2048 tokens: 2·128·(512+64) + 2·128·512 = 278,528 FLOPs per token ÷ 8 ranks;
    # the lightning indexer scores all 100,001 tokens: 2·64·128 = 16,384 FLOPs each (replicated, not ÷ tp).
    r = perf(load_preset("deepseek-v3.2"), get_gpu("h200"), Layout(tp=8), batch=1, context=100_000)
    per_layer = 2048 * 278_528 / 8 + 100_001 * 16_384
    assert _component(r, "attention (absorbed MLA)").flops == pytest.approx(61 * per_layer)


def test_sparse_attention_decode_reads_the_top_k_latents_and_every_indexer_key():
    # DeepSeek-V3.2, TP8, 16 sequences at 131,072 cached tokens, bf16 cache: per layer the sparse kernel gathers
    # min(131,072, index_topk 2,048) latents of (512 + 64) × 2 = 1,152 bytes, and the indexer reads every
    # token's key: 128 fp8 values + one float32 scale = 132 bytes. 61 layers, all sparse.
    ctx = 131_072
    v32 = perf(load_preset("deepseek-v3.2"), get_gpu("h200"), Layout(tp=8), batch=16, context=ctx)
    per_layer = 16 * (min(ctx, 2048) * 1152 + ctx * 132)
    assert _component(v32, "attention (absorbed MLA)").bytes == pytest.approx(61 * per_layer)
    # the design's point: at long context the sparse model decodes faster than V3 on the same layout
    assert v32.tpot_ms < perf(V3, get_gpu("h200"), Layout(tp=8), batch=16, context=ctx).tpot_ms


def test_deepseek_v4_decode_reads_top_k_compressed_entries_but_every_indexer_key():
    # DeepSeek-V4-Flash (bf16 cache: entries of head_dim 512 × 2 bytes, indexer keys 128 × 2), one sequence:
    # beyond 4 × index_topk (512) tokens, more context adds to a decode step's reads only the 21 ratio-4 layers'
    # indexer keys (one per 4 tokens) and the 20 ratio-128 layers' compressed entries (one per 128 tokens, all
    # read); windows, state rings and the top-512 gathered entries stay the same.
    spec, h200 = load_preset("deepseek-v4-flash"), get_gpu("h200")
    a, b = (perf(spec, h200, Layout(tp=8), batch=1, context=c) for c in (65_536, 131_072))
    added = 21 * (131_072 - 65_536) // 4 * 256 + 20 * (131_072 - 65_536) // 128 * 1024
    assert _component(b, "attention (shared-KV)").bytes - _component(a, "attention (shared-KV)").bytes == added


def test_gqa_decode_reads_its_kv_heads_split_over_tp():
    # Qwen3-32B (config: 64 layers, 64 query heads, 8 KV heads, head_dim 128), TP8, one sequence of 4,096:
    # each GPU holds 8/8 = 1 KV head: keys + values 2 × 128 bf16 = 512 bytes per token per layer;
    # each of its 64/8 = 8 query heads scores and sums 4,097 tokens: 2·8·128 + 2·8·128 = 4,096 FLOPs per token.
    r = perf(load_preset("qwen3-32b"), get_gpu("h200"), Layout(tp=8), batch=1, context=4096)
    att = _component(r, "attention (GQA)")
    assert att.bytes == 64 * 4096 * 512
    assert att.flops == 64 * 4097 * 4096


# ---------------------------------------------------------------------------------------------------
# GQA families: batch-1 decode streams the weights once (memory-bound), plus the KV cache and fixed latency


def _gqa(name, gpu, tp):
    return perf(load_preset(name), get_gpu(gpu), Layout(tp=tp), batch=1, context=1024)


def test_qwen3_32b_batch_one_decode_by_hand():
    # Config: hidden 5120, 64 layers, 64 query / 8 KV heads of 128, intermediate 25600, vocab 151936, untied; bf16,
    # TP1 on H200 (4.8 TB/s), 1,024 cached tokens. Matmul weights per layer: 2 bytes × 5120 × (8192 q + 1024 k
    # + 1024 v + 8192 o + 3 × 25600) = 975,175,680; × 64 + lm_head 2 × 151936 × 5120 = 63,967,068,160 bytes;
    # activations 2 × (in + out) per matmul: 64 × 262,144 + 2 × (5120 + 151936) = 17,091,328 bytes; at 0.60 of HBM.
    # KV read: 64 × 1,024 tokens × 8 heads × 128 × 2 (k, v) × 2 bytes at 0.85. Latency 64 layers × 30 × 3 µs.
    r = _gqa("qwen3-32b", "h200", 1)
    weights = (63_967_068_160 + 17_091_328) / (4.8e12 * 0.60)  # 22.22 ms
    kv = 64 * 1024 * 8 * 128 * 2 * 2 / (4.8e12 * 0.85)  # 0.066 ms
    assert r.tpot_ms == pytest.approx((weights + kv + 64 * 90e-6) * 1e3)  # 28.04 ms
    assert r.bound == "memory" and r.communication_ms == 0


def test_qwen3_235b_a22b_batch_one_decode_by_hand():
    # Config: hidden 4096, 94 layers, 64 query / 4 KV heads of 128, 128 experts of 1536, top-8, vocab 151936; bf16,
    # TP8 on H200, 1,024 cached tokens. Per GPU and layer: q and o 1024 × 4096 (64/8 heads), k and v one KV head
    # (4 heads over 8 ranks: replicated) 128 × 4096, router 128 × 4096; one token touches 128 × (1 − (1 − 8/128)) = 8
    # experts, each split 8 ways: 3 × 192 × 4096. Activations 2 × (in + out), 8 token copies through the experts.
    per_layer_w = 2 * (2 * 1024 * 4096) + 3 * 2 * 128 * 4096 + 8 * 3 * 2 * 192 * 4096  # 57,671,680 bytes
    per_layer_a = 2 * 2 * (4096 + 1024) + 3 * 2 * (4096 + 128) + 3 * 2 * 8 * (4096 + 192)
    lm_head = 2 * (151936 // 8) * 4096 + 2 * (4096 + 151936 // 8)
    matmuls = (94 * (per_layer_w + per_layer_a) + lm_head) / (4.8e12 * 0.60)  # 1.94 ms
    kv = 94 * 1024 * 128 * 2 * 2 / (4.8e12 * 0.85)  # one KV head per GPU
    # two all-reduces per layer of 4096 bf16 values: ring 2 × 7/8 of the bytes at 450 GB/s × 0.78, + 10 µs each
    allreduce = 2 * 94 * (2 * 7 / 8 * 4096 * 2 / (450e9 * 0.78) + 10e-6)  # 1.89 ms
    r = _gqa("qwen3-235b-a22b", "h200", 8)
    assert r.tpot_ms == pytest.approx((matmuls + kv + allreduce + 94 * 90e-6) * 1e3)  # 12.30 ms
    assert r.bound == "latency"  # 94 × 90 µs = 8.46 ms of fixed latency


def test_olmo2_13b_batch_one_decode_by_hand():
    # Config: hidden 5120, 40 layers, 40 query = 40 KV heads of 128 (GQA with groups of one), intermediate 13824,
    # vocab 100352, untied, torch_dtype float32 (the checkpoint is stored in fp32); TP1 on H100 (3.35 TB/s).
    # Weight elements: 40 × 5120 × (4 × 5120 + 3 × 13824) + lm_head 100352 × 5120 = 13,201,571,840;
    # bf16 activations 2 × (in + out) per matmul: 40 × 2 × (4 × 10240 + 3 × 18944) + 2 × (5120 + 100352);
    # KV 40 layers × 1,024 tokens × 40 heads × 128 × 2 × 2 bytes at 0.85; latency 40 × 90 µs.
    elements = 40 * 5120 * (4 * 5120 + 3 * 13824) + 100352 * 5120
    acts = 40 * 2 * (4 * 10240 + 3 * 18944) + 2 * (5120 + 100352)
    kv = 40 * 1024 * 40 * 128 * 2 * 2 / (3.35e12 * 0.85)

    def tpot(weight_bytes):
        return ((elements * weight_bytes + acts) / (3.35e12 * 0.60) + kv + 40 * 90e-6) * 1e3

    # served in bf16 (vLLM's --dtype auto downcasts a float32 checkpoint): 2 bytes (17.03 ms); --dtype float32
    # streams them as stored, 4 bytes (30.16 ms)
    assert _gqa("olmo-2-13b", "h100", 1).tpot_ms == pytest.approx(tpot(2))
    fp32 = perf(load("olmo-2-13b"), get_gpu("h100"), Layout(tp=1), batch=1, context=1024, dtype="float32")
    assert fp32.tpot_ms == pytest.approx(tpot(4))


def test_llama_4_maverick_batch_one_decode_by_hand():
    # Config (text_config): hidden 5120, 48 layers, 40 query / 8 KV heads of 128, MoE on every 2nd layer
    # (interleave_moe_layer_step 2: 24 MoE, 24 dense of intermediate_size_mlp 16384), 128 experts of 8192, top-1,
    # one shared expert of 8192, vocab 202048; bf16, TP8 on H200, 1,024 cached tokens (within the 8192 chunk).
    # Per GPU: q and o 640 × 5120 (40/8 heads), k and v one KV head 128 × 5120; dense MLP 3 × 2048 × 5120;
    # MoE layer: router 128 × 5120 (replicated), shared expert 3 × 1024 × 5120, and the one expert a token picks
    # (128 × (1 − (1 − 1/128)) = 1) at 3 × 1024 × 5120. Activations 2 bytes × (in + out) per matmul.
    attn = 2 * 5120 * (640 + 128 + 128) + 2 * 640 * 5120 + 2 * 2 * (5120 + 640) + 2 * 2 * (5120 + 128)
    dense = 3 * 2 * 2048 * 5120 + 3 * 2 * (5120 + 2048)
    moe = 2 * 128 * 5120 + 2 * (5120 + 128) + 2 * (3 * 2 * 1024 * 5120 + 3 * 2 * (5120 + 1024))
    lm_head = 2 * (202048 // 8) * 5120 + 2 * (5120 + 202048 // 8)
    matmuls = (48 * attn + 24 * dense + 24 * moe + lm_head) / (4.8e12 * 0.60)  # 1.41 ms
    kv = 48 * 1024 * 128 * 2 * 2 / (4.8e12 * 0.85)
    allreduce = 2 * 48 * (2 * 7 / 8 * 5120 * 2 / (450e9 * 0.78) + 10e-6)  # 0.96 ms
    r = _gqa("llama-4-maverick", "h200", 8)
    assert r.tpot_ms == pytest.approx((matmuls + kv + allreduce + 48 * 90e-6) * 1e3)  # 6.70 ms
    assert r.bound == "latency"


@pytest.mark.parametrize("name", ["qwen3-235b-a22b", "qwen3-32b", "qwen3-30b-a3b", "olmo-2-13b", "smollm3-3b",
                                  "llama-4-maverick", "gemma-3-27b", "gpt-oss-120b", "mistral-small-3.1"])
@pytest.mark.parametrize("args", [["--tp", "8", "--phase", "prefill", "--batch", "4", "--context", "8k"],
                                  ["--tp", "4", "--pp", "2", "--batch", "16"],
                                  ["--tp", "8", "--input", "1k", "--output", "1k", "--batch", "32"],
                                  ["--tp", "8", "--sweep", "batch=1,8,64"]])
def test_gqa_families_run_every_mode(run_json, name, args):
    d = run_json("perf", "-p", name, "--gpu", "h200", *args)
    assert d["step_ms"] > 0 and d["tokens_per_s_per_gpu"] > 0 and "attention (GQA)" in {c["name"] for c in d["components"]}


# ---------------------------------------------------------------------------------------------------
# --engine: the batch the engine's memory accounting holds


def test_engine_flags_a_batch_its_kv_cache_cannot_hold(run_json):
    from k2calc.analysis.engines import EngineConfig
    from k2calc.analysis.plan import Workload, plan

    # Kimi-K2-Thinking on 8 × H200 TP8 at 128k as vLLM accounts it (the README's example: 6 sequences)
    held = plan(load_preset("kimi-k2-thinking"), get_gpu("h200"), Layout(tp=8), Workload(context=131_072),
                engine=EngineConfig(engine="vllm")).max_batch
    args = ("perf", "-p", "kimi-k2-thinking", "--gpu", "h200", "--tp", "8", "--context", "128k", "--engine", "vllm")
    over = run_json(*args, "--batch", "8", "--sweep", "batch=1,6,7")
    assert (over["engine"], over["max_batch"], over["fits"]) == ("vllm", held, False) and held == 6
    assert any("holds 6 sequences of 131,072 tokens" in n for n in over["notes"])
    assert [p["fits"] for p in over["sweep"]] == [True, True, False]
    within = run_json(*args, "--batch", "4")
    assert within["fits"] is True and not any("holds" in n for n in within["notes"])
    # the figures stay at the batch asked for: the engine only flags
    assert within["tpot_ms"] == run_json(*args[:-2], "--batch", "4")["tpot_ms"]


def test_engine_max_num_seqs_caps_the_batch(run_json):
    d = run_json("perf", "-p", "kimi-k2-thinking", "--gpu", "h200", "--tp", "8", "--context", "4k", "--engine", "vllm",
                 "--max-num-seqs", "2", "--batch", "3")
    assert d["max_batch"] == 2 and d["fits"] is False  # --max-num-seqs 2 per DP replica, one replica


def test_without_engine_max_batch_is_plans(run_json):
    d = run_json("perf", "-p", "qwen3-32b", "--gpu", "h200", "--batch", "4")
    held = run_json("plan", "-p", "qwen3-32b", "--gpu", "h200", "--context", "4k")["max_batch"]
    assert (d["engine"], d["max_batch"], d["fits"]) == (None, held, True) and held >= 4


@pytest.mark.parametrize("args, message", [
    (["--mem-fraction", "0.8"], "--mem-fraction goes with --engine"),
    (["--engine", "vlm"], "--engine vlm: unknown engine"),
])
def test_engine_options_bad_input_is_one_line(run, args, message):
    r = run("perf", "-p", "qwen3-32b", "--gpu", "h200", *args)
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_api_perf_takes_the_engine_like_plan():
    import k2calc

    m = k2calc.load("qwen3-32b")
    for fraction in (0.5, 0.9):
        held = m.plan("h200", tp=2, context="32k", mem_fraction=fraction).max_batch
        r = m.perf("h200", tp=2, batch=held + 1, context="32k", engine="generic", mem_fraction=fraction)
        assert (r.max_batch, r.fits) == (held, False)
    assert m.perf("h200", tp=2, context="32k", engine="sglang").engine == "sglang"


def test_a_batch_that_cannot_be_held_in_memory_is_noted():
    # Gemma 3 27B at 128k: 52 × 1,024 × 8,192 + 10 × 131,072 × 8,192 = 11,173,625,856 bytes per sequence;
    # 8 of them (83.25 GiB) exceed an H100's whole 79.65 GiB before any weight is loaded. One fits.
    spec, h100 = load_preset("gemma-3-27b"), get_gpu("h100")
    assert 8 * 11_173_625_856 > h100.memory_bytes
    eight = perf(spec, h100, Layout(), batch=8, context=131072)
    assert any(n.startswith("batch 8 × 131,072 tokens does not fit in memory") for n in eight.notes)
    one = perf(spec, h100, Layout(), batch=1, context=131072)
    assert not any("does not fit" in n for n in one.notes)


def test_weights_that_leave_no_room_for_one_sequence_are_noted_as_such():
    # DeepSeek-V3's fp8 checkpoint is 688,586,727,753 bytes (published.md): more than 8 × H800's 80 GB, so
    # no batch fits; the note says not one sequence fits rather than "the largest batch is 0".
    spec, h800 = load_preset("deepseek-v3"), get_gpu("h800")
    assert 688_586_727_753 > 8 * h800.memory_bytes
    r = perf(spec, h800, Layout(dp_attention=8, ep=8), batch=4, context=4096)
    assert (r.max_batch, r.fits) == (0, False)
    assert "batch 4 × 4,096 tokens does not fit in memory: not one sequence of 4,096 tokens fits beside the " \
           "weights (k2calc plan); the speed above assumes it did" in r.notes


def test_expert_weights_on_gpt_oss_leave_its_expert_biases_unquantized(run):
    # gpt-oss's experts carry 1-D biases; --expert-weights nvfp4 quantizes the expert matmuls only (it used
    # to try to quantize the biases and crash). NVFP4's 4 bits + an fp8 scale per 16 values (4.5 bits) store
    # more than the released MXFP4's 4 bits + a scale per 32 (4.25), far less than bf16's 16.
    from k2calc.analysis.perf import weights_per_gpu

    result = run("perf", "-p", "gpt-oss-120b", "--gpu", "b200", "--tp", "8", "--expert-weights", "nvfp4", "--batch", "8")
    assert result.exit_code == 0, result.stderr
    as_mxfp4, as_nvfp4 = weights_per_gpu(load_preset("gpt-oss-120b"), get_gpu("b200"), Layout(tp=8),
                                         expert_weights="nvfp4")
    assert as_mxfp4 < as_nvfp4 < as_mxfp4 * 4.5 / 4.25 * 1.01


# ---------------------------------------------------------------------------------------------------
# Consistency of the reported figures


@pytest.mark.parametrize("args", [
    ["-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--batch", "16"],  # dp = 1: prefilled together, then decoded
    ["-p", "kimi-k2", "--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2", "--ep", "16",
     "--batch", "64"],  # dp > 1: steady state, prompts interrupt the decode steps
])
def test_e2e_is_ttft_plus_output_minus_one_tpots(run_json, args):
    d = run_json("perf", *args, "--input", "2000", "--output", "100")
    assert d["e2e_latency_ms"] == pytest.approx(d["ttft_ms"] + 99 * d["tpot_ms"])
    # Little's law: B requests in flight, each 100 output tokens per e2e
    assert d["tokens_per_s"] == pytest.approx(d["batch"] * 100 / (d["e2e_latency_ms"] / 1e3))
    assert d["tokens_per_s"] == pytest.approx(d["batch"] * d["tokens_per_s_per_user"])
    assert d["tokens_per_s_per_gpu"] == pytest.approx(d["tokens_per_s"] / d["gpus"])


def test_dp_attention_tpot_is_the_decode_step_plus_the_other_prompts_prefills_per_step(run_json):
    # Kimi-K2, TP8 × DP2, batch 64, 2,000 in / 100 out: 64 / 100 < 1 prompt starts per step, so
    # min(2, max(1, 0.64)) = 1 replica prefills at a time: the batch's prefills take 64 × one prompt's (TTFT);
    # a request waits for the other 63 during its 99 decode steps; throughput is 64 × 100 tokens over
    # prefill + decode time.
    d = run_json("perf", "-p", "kimi-k2", "--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2",
                 "--ep", "16", "--batch", "64", "--input", "2000", "--output", "100", "--price-per-gpu-hour", "2")
    prefill_ms = 64 * d["ttft_ms"]
    assert d["tpot_ms"] == pytest.approx(d["step_ms"] + 63 * d["ttft_ms"] / 99)
    assert d["tokens_per_s"] == pytest.approx(64 * 100 / ((prefill_ms + 99 * d["step_ms"]) / 1e3))
    assert d["prefill"]["tokens_per_s"] == pytest.approx(64 * 2000 / (prefill_ms / 1e3))
    # 16 GPUs × $2/h: per million input tokens over the prefill time, per million output over all of it
    assert d["prefill"]["cost_per_million_tokens_usd"] == pytest.approx(
        2 * 16 / 3600 * (prefill_ms / 1e3) / (64 * 2000) * 1e6)
    assert d["cost_per_million_tokens_usd"] == pytest.approx(
        2 * 16 / 3600 * ((prefill_ms + 99 * d["step_ms"]) / 1e3) / (64 * 100) * 1e6)


def test_dp_attention_batch_one_e2e_is_output_over_the_deployments_tokens_per_s(run_json):
    # one request alone: nothing else's prefill interrupts it, so e2e = TTFT + 99 decode steps, and the
    # deployment delivers its 100 tokens in exactly that time (Little's law with one request in flight)
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--tp", "1", "--dp-attention", "8",
                 "--ep", "8", "--batch", "1", "--input", "1000", "--output", "100")
    assert d["e2e_latency_ms"] == pytest.approx(100 / d["tokens_per_s"] * 1e3)
    assert d["e2e_latency_ms"] == pytest.approx(d["ttft_ms"] + 99 * d["step_ms"])
    assert d["tpot_ms"] == pytest.approx(d["step_ms"])


def test_dp_attention_prefill_point_counts_the_batchs_prompts_per_user_as_a_share(run_json):
    # DeepSeek-V3, DP8 × EP8, batch 64, 1,000 in / 16 out: 64 / 16 = 4 replicas prefill at a time, so the
    # batch's prompts take 64 / 4 = 16 rounds of one prompt's prefill (the request's TTFT). The prefill point
    # counts the batch's 64 prompts (as with dp = 1): 64,000 input tokens over 16 rounds, 1,000 per user.
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--dp-attention", "8", "--ep", "8",
                 "--batch", "64", "--input", "1000", "--output", "16")
    pre, prefill_s = d["prefill"], 16 * d["ttft_ms"] / 1e3
    assert pre["batch"] == 64
    assert pre["tokens_per_s"] == pytest.approx(64 * 1000 / prefill_s)
    assert pre["tokens_per_s_per_user"] == pytest.approx(1000 / prefill_s)
    assert pre["tokens_per_s"] == pytest.approx(pre["batch"] * pre["tokens_per_s_per_user"])
    assert pre["tokens_per_s_per_gpu"] == pytest.approx(pre["tokens_per_s"] / 8)


def test_dp_attention_prompts_prefilled_at_once_meet_in_the_experts(run_json):
    # DeepSeek-V3, DP8 × EP8, batch 4,096, 1,000 in / 1,024 out: 4,096 / 1,024 = 4 prompts start per decode step,
    # each on its own replica; their 4 × 1,000 tokens (one chunk) meet in the MoE: 4,000 × 8 / 8 GPUs × 1.18
    # imbalance copies per GPU through gate_proj's 2048 × 7168 expert shard, in 58 MoE layers.
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--dp-attention", "8", "--ep", "8",
                 "--batch", "4096", "--input", "1000", "--output", "1024")
    gate = next(c for c in d["prefill"]["components"] if c["name"] == "experts.gate_proj")
    assert gate["flops"] == pytest.approx(58 * 2 * (4 * 1000 * 8 / 8 * 1.18) * 2048 * 7168)


def _attention_flops(report):
    return sum(c.flops for c in report.components if c.kind == "attention")


@pytest.mark.parametrize("model, layout, batch, chunk, contexts", [
    ("deepseek-v3", Layout(tp=8), 8, 8192, [8190, 8191, 8192, 8193, 8194]),
    ("deepseek-v3", Layout(tp=8), 4, 32768, [32767, 32768, 32769]),
    ("deepseek-v3", Layout(dp=8, ep=8), 24, 8192, [3000, 3001, 4095, 4096, 4097]),
    ("qwen3-32b", Layout(tp=2), 3, 8192, [4095, 4096, 4097, 5000, 5001]),
    # 100 chunks and more: one prompt of 819,200 tokens is exactly 100 chunks, one token more adds a 101st
    ("deepseek-v4-flash", Layout(tp=8), 1, 8192, [819_199, 819_200, 819_201, 819_202]),
])
def test_prefill_never_gets_faster_as_the_prompt_grows(model, layout, batch, chunk, contexts):
    spec, h200 = load_preset(model), get_gpu("h200")
    runs = [perf(spec, h200, layout, phase="prefill", batch=batch, context=c, chunk=chunk) for c in contexts]
    for shorter, longer in zip(runs, runs[1:]):
        assert longer.ttft_ms >= shorter.ttft_ms
        assert _attention_flops(longer) >= _attention_flops(shorter)


def test_a_larger_batch_never_prefills_faster_beyond_64_chunks():
    # 2,000-token prompts at TP8: 500 × 2,000 = 1,000,000 tokens = 122 chunks of 8,192 and a partial one
    v3, h200 = V3, get_gpu("h200")
    ttft = [perf(v3, h200, Layout(tp=8), batch=b, input_tokens=2000, output_tokens=100).ttft_ms
            for b in (498, 499, 500, 501)]
    assert ttft == sorted(ttft)
    # 1,999-token prompts: chunks start at 1,999 different offsets, more than are computed one by one
    ttft = [perf(v3, h200, Layout(tp=8), phase="prefill", batch=b, context=1999).ttft_ms for b in (2000, 2001, 2002)]
    assert ttft == sorted(ttft)


def test_interpolated_prefill_chunks_stay_close_to_every_chunk_computed(monkeypatch):
    # 1,100 prompts of 1,999 tokens: 268 full chunks at 268 different offsets, beyond PREFILL_SAMPLES (256)
    import k2calc.analysis.perf as perf_module

    v3, h200 = V3, get_gpu("h200")
    sampled = perf(v3, h200, Layout(tp=8), phase="prefill", batch=1100, context=1999)
    monkeypatch.setattr(perf_module, "PREFILL_SAMPLES", 10_000)
    exact = perf(v3, h200, Layout(tp=8), phase="prefill", batch=1100, context=1999)
    assert sampled.ttft_ms == pytest.approx(exact.ttft_ms, rel=1e-3)
    assert _attention_flops(sampled) == pytest.approx(_attention_flops(exact), rel=1e-3)


def test_a_prompt_straddling_a_chunk_boundary_attends_to_its_earlier_tokens():
    # Qwen3-32B (64 layers, 64 query heads of 128, no sliding window), TP1, 3 prompts of 5,000 in chunks of 8,192:
    # chunk 1 = prompt 0 + prompt 1's first 3,192 tokens; chunk 2 = prompt 1's last 1,808 + prompt 2. Causal: a
    # prompt of N tokens attends N(N+1)/2 times however it is chunked, each 2·64·128 (scores) + 2·64·128 (values).
    r = perf(load_preset("qwen3-32b"), get_gpu("h200"), Layout(), phase="prefill", batch=3, context=5000)
    assert _attention_flops(r) == pytest.approx(64 * 3 * 5000 * 5001 / 2 * (2 * 64 * 128 + 2 * 64 * 128))


def test_an_uneven_dp_batch_feeds_the_experts_its_actual_tokens():
    # DeepSeek-V3, DP8 × EP8 (TP1), batch 9: the busiest replica holds ceil(9/8) = 2 sequences (its attention
    # equals batch 16's), but the experts see 9 tokens: 9 × 8 / 8 GPUs × 1.18 imbalance = 10.62 copies per GPU
    # (batch 16: 18.88) through gate_proj's 2048 × 7168 expert shard, in 58 MoE layers. The EP dispatch waits
    # for the busiest GPU: it sends its own 2 tokens × 8 copies, 7 of 8 peers remote, 7168 fp8 bytes each
    # (batch 16: the receivers' 2 × 1.18 tokens' worth).
    v3, h200, lay = V3, get_gpu("h200"), Layout(dp=8, ep=8)
    nine = perf(v3, h200, lay, batch=9, context=2048)
    sixteen = perf(v3, h200, lay, batch=16, context=2048)
    assert _component(nine, "experts.gate_proj").flops == pytest.approx(58 * 2 * (9 * 8 / 8 * 1.18) * 2048 * 7168)
    assert _component(sixteen, "experts.gate_proj").flops == pytest.approx(58 * 2 * (16 * 8 / 8 * 1.18) * 2048 * 7168)
    assert _component(nine, "ep dispatch (fp8)").comm_bytes == pytest.approx(58 * 2 * 8 * 7 / 8 * 7168)
    assert _component(sixteen, "ep dispatch (fp8)").comm_bytes == pytest.approx(58 * 2 * 1.18 * 8 * 7 / 8 * 7168)
    assert _attention_flops(nine) == _attention_flops(sixteen)
    assert nine.step_ms < sixteen.step_ms


# ---------------------------------------------------------------------------------------------------
# Sweeps


def test_a_sweep_with_input_output_is_costed_like_the_headline(run_json):
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--batch", "16", "--input", "2000",
                 "--output", "100", "--sweep", "batch=1,16")
    one, sixteen = d["sweep"]
    assert sixteen["tpot_ms"] == pytest.approx(d["tpot_ms"]) and sixteen["ttft_ms"] == pytest.approx(d["ttft_ms"])
    assert one["context"] == sixteen["context"] == 2000 + 100 // 2  # the mean context of the decode
    assert one["ttft_ms"] > 0
    # every point counts output tokens over its prefill + decode time, like the headline
    assert sixteen["tokens_per_s"] == pytest.approx(d["tokens_per_s"])
    assert sixteen["cost_per_million_tokens_usd"] == pytest.approx(d["cost_per_million_tokens_usd"])
    for pt in d["sweep"]:
        e2e_s = (pt["ttft_ms"] + 99 * pt["tpot_ms"]) / 1e3
        assert pt["tokens_per_s"] == pytest.approx(pt["batch"] * 100 / e2e_s)
        assert pt["tokens_per_s"] == pytest.approx(pt["batch"] * pt["tokens_per_s_per_user"])


@pytest.mark.parametrize("args, message", [
    (["--phase", "prefill"], "--phase prefill with --input/--output"),
    (["--sweep", "context=1k,2k"], "--sweep context=… with --input/--output"),
])
def test_input_output_refuses_what_it_cannot_honour(run, args, message):
    out = run("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--input", "1k", "--output", "1k", *args)
    assert out.exit_code == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_sweep_points_that_do_not_fit_memory_are_noted():
    # the default `plot perf` sweep at 32k on 8 × H200: batch 1 fits, 1,024 sequences of 32,768 tokens do not
    r = perf(V3, get_gpu("h200"), Layout(tp=8), context=32768, sweep=("batch", [1, 1024]))
    assert max_batch(V3, get_gpu("h200"), Layout(tp=8), 32768) < 1024
    [note] = [n for n in r.notes if n.startswith("sweep points that do not fit in memory")]
    assert note.endswith(": batch 1,024")


def test_plot_perf_names_the_points_that_do_not_fit(run):
    out = run("plot", "perf", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--tp", "8", "--context", "32k",
              "--sweep", "batch=1,1024")
    assert out.exit_code == 0, out.output
    assert "sweep points that do not fit in memory" in " ".join(out.output.split())


def test_plot_perf_marks_the_points_that_do_not_fit():
    pytest.importorskip("matplotlib")
    from k2calc.plot import perf_figure

    # 8 × H200 TP8 at 32k: batch 1 fits, 1,024 sequences do not (test above)
    r = perf(V3, get_gpu("h200"), Layout(tp=8), context=32768, sweep=("batch", [1, 1024]))
    assert [p.fits for p in r.sweep] == [True, False]
    [over] = [ln for ln in perf_figure([r]).axes[0].lines if ln.get_label() == "deepseek-v3: does not fit in memory"]
    assert list(over.get_xdata()) == [r.sweep[1].tokens_per_s_per_user]
    assert list(over.get_ydata()) == [r.sweep[1].tokens_per_s_per_gpu]


def test_a_prefill_batch_whose_prompts_cannot_be_held_is_noted():
    # 64 prompts of 1M tokens: the KV cache of 64 × 1,048,576 tokens on 8 × H200
    r = perf(V3, get_gpu("h200"), Layout(tp=8), phase="prefill", batch=64, context=1 << 20)
    assert any(n.startswith("batch 64 × 1,048,576 tokens does not fit in memory") for n in r.notes)


# ---------------------------------------------------------------------------------------------------
# Peaks, notes and options


def test_mxfp4_experts_compute_at_the_fp4_peak_where_the_gpu_has_one():
    # B200 and MI355X tensor cores run MXFP4 at the FP4 rate (catalog fp4_dense_tflops); on H200, which has
    # no FP4 peak, weight-only mxfp4 is dequantized and multiplied at the BF16 peak.
    from k2calc.analysis.perf import _Hw

    for name in ("b200", "mi355x"):
        g = get_gpu(name)
        assert _Hw(g, PerfKnobs()).peak("mxfp4") == (g.fp4_dense_tflops * 1e12, "fp4")
    h200 = get_gpu("h200")
    assert _Hw(h200, PerfKnobs()).peak("mxfp4") == (h200.bf16_dense_tflops * 1e12, "bf16")
    # gpt-oss-120b prefill on one H200: its experts are compute-bound at 0.70 of the BF16 peak
    r = perf(load_preset("gpt-oss-120b"), h200, Layout(), phase="prefill", batch=16, context=8192)
    gate = next(c for c in r.components if c.name.startswith("experts."))
    assert gate.bound == "compute"
    assert gate.time_ms == pytest.approx(gate.flops / (h200.bf16_dense_tflops * 1e12 * 0.70) * 1e3)


def test_the_overlap_note_is_for_decode_only():
    lay = Layout(dp=8, ep=8)
    decode = perf(V3, get_gpu("h200"), lay, batch=64, context=2048)
    prefill = perf(V3, get_gpu("h200"), lay, phase="prefill", batch=8, context=2048)
    assert any("two micro-batches" in n for n in decode.notes)
    assert not any("two micro-batches" in n for n in prefill.notes)


def test_kernels_per_layer_is_an_option_and_its_error_names_it(run_json, run):
    # DeepSeek-V3's 61 layers × 10 kernels × 3 µs
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--kernels-per-layer", "10")
    assert d["latency_ms"] == pytest.approx(61 * 10 * 3e-3)
    out = run("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--kernels-per-layer", "20000")
    assert out.exit_code == 2 and out.stderr.strip().startswith("error: --kernels-per-layer 20000")


def test_layer_latency_replaces_kernels_times_kernel_latency_and_refuses_them_beside_it(run_json, run):
    # DeepSeek-V3's 61 layers × 50 µs, whatever the kernel figures would give (30 × 3 µs)
    d = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--layer-latency-us", "50")
    assert d["latency_ms"] == pytest.approx(61 * 50e-3)
    for opt in ("--kernel-latency-us", "--kernels-per-layer"):  # silently ignored before: now one exit-2 line
        out = run("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--layer-latency-us", "50", opt, "5")
        assert out.exit_code == 2 and out.stderr.strip().startswith(f"error: {opt} 5 does not go with --layer-latency-us")


def test_infinity_fabric_gives_one_peer_one_link_of_seven():
    # MI300X: 448 GB/s one direction over 7 Infinity Fabric links, one per peer (catalog fabric_links: 7);
    # a TP2 all-reduce of the attention output at 1 decode token: 2(n-1)/n x 7168 x 2 bytes over one link.
    from k2calc.analysis.perf import _Hw, _Perf
    from k2calc.analysis.checkpoint import serving_format

    spec, gpu, k = load_preset("deepseek-v3"), get_gpu("mi300x"), PerfKnobs()
    nbytes = 7168 * 2
    for tp, links_used in ((2, 1), (4, 3), (8, 7)):
        p = _Perf(spec, gpu, Layout(tp=tp), serving_format(spec), "fp8", "bf16", k)
        op = p.all_reduce("tp all-reduce (attention)", tp, nbytes, "serial")
        moved = 2 * (tp - 1) / tp * nbytes
        assert op.time == pytest.approx(moved / (448e9 * k.nvlink_efficiency * links_used / 7) +
                                        k.collective_latency_us * 1e-6)
    # NVSwitch: any group gets the full bandwidth
    h = _Perf(spec, get_gpu("h100"), Layout(tp=2), serving_format(spec), "fp8", "bf16", k)
    assert h.all_reduce("x", 2, nbytes, "serial").time == pytest.approx(
        nbytes / (450e9 * k.nvlink_efficiency) + k.collective_latency_us * 1e-6)


def test_a_context_beyond_max_position_embeddings_is_noted_as_plan_notes_it(run_json):
    # DeepSeek-V3's config: max_position_embeddings 163,840; 1M = 1,048,576 tokens is beyond it
    args = ("-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--context", "1m")
    note = "--context 1048576 is longer than max_position_embeddings (163840)"
    assert note in run_json("perf", *args)["notes"] and note in run_json("plan", *args)["notes"]
    r = perf(V3, get_gpu("h200"), Layout(tp=8), batch=1, input_tokens=160_000, output_tokens=4_000)
    assert "--input + --output 164000 is longer than max_position_embeddings (163840)" in r.notes
    assert not any("max_position_embeddings" in n for n in perf(V3, get_gpu("h200"), Layout(tp=8)).notes)
