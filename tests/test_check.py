"""`k2calc check`: passes, fails and rejects files; table, JSON, JUnit, GitHub annotations, baseline."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from k2calc.analysis.engines import EngineConfig
from k2calc.hardware import get_gpu
from k2calc.config import load_preset
from k2calc.analysis.plan import Layout, Workload, plan

PASSING = """\
defaults: {engine: vllm}
deployments:
  - name: k2-thinking-prod
    model: kimi-k2-thinking
    gpu: h200
    gpus: 8
    tp: 8
    workload: {context: 131072, batch: 4, avg_context: 8k}
    require: {fits: true, min_kv_tokens: 500000, min_batch_at_context: 4, min_requests_at_avg_context: 64}
"""

FAILING = PASSING + """\
  - name: v3-too-long
    model: deepseek-v3
    gpu: h200
    tp: 8
    engine: sglang
    workload: {context: 128k, batch: 32}
    require: {fits: true, min_kv_tokens: 2000000}
"""


@pytest.fixture
def write(tmp_path):
    def w(text: str, name: str = "deployments.yaml"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)

    return w


def _vllm_kimi():
    return plan(load_preset("kimi-k2-thinking"), get_gpu("h200"), Layout(tp=8), Workload(context=131_072, batch=4),
                engine=EngineConfig(engine="vllm"), avg_context=8192)


def test_all_requirements_pass_exit_0_one_row_each(run, write):
    r = run("check", write(PASSING))
    assert r.exit_code == 0, r.output
    for req in ("fits", "min_kv_tokens", "min_batch_at_context", "min_requests_at_avg_context"):
        assert req in r.stdout


def test_json_results_carry_required_actual_pass_from_the_plan(run_json, write):
    d = run_json("check", write(PASSING))
    p = _vllm_kimi()
    assert d["passed"] is True and d["failures"] == []
    got = {x["requirement"]: (x["required"], x["actual"], x["passed"]) for x in d["results"]}
    assert got["min_kv_tokens"] == (500_000, p.kv_tokens, True)
    assert got["min_batch_at_context"] == (4, p.max_batch, True)
    assert got["min_requests_at_avg_context"] == (64, p.concurrency.sequences_at_avg_context, True)
    assert d["deployments"][0]["engine"] == "vllm" and d["deployments"][0]["per_gpu"] == p.per_gpu.model_dump(mode="json")


def test_a_failed_requirement_exits_1_and_is_named_on_stderr(run, write):
    r = run("check", write(FAILING))
    assert r.exit_code == 1
    assert "check failed: v3-too-long: min_kv_tokens: required at least 2,000,000" in r.stderr
    assert "check failed: v3-too-long: does not fit" in r.stderr
    assert "k2-thinking-prod" not in r.stderr


def test_junit_xml_has_a_case_per_requirement_and_failures(run, write, tmp_path):
    out = tmp_path / "capacity.xml"
    r = run("check", write(FAILING), "--junit", str(out))
    assert r.exit_code == 1
    suite = ET.parse(out).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 6 and suite.get("failures") == "2"
    failed = [(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None]
    assert failed == [("v3-too-long", "fits"), ("v3-too-long", "min_kv_tokens")]


def test_github_annotations_when_github_actions_is_set(write):
    from typer.testing import CliRunner

    from k2calc.cli import app

    path = write(FAILING)
    r = CliRunner().invoke(app, ["check", path], env={"GITHUB_ACTIONS": "true", "COLUMNS": "200"})
    lines = [x for x in r.stdout.splitlines() if x.startswith("::")]
    assert lines[0].startswith(f"::error file={path},title=k2calc check::v3-too-long: does not fit")
    assert len(lines) == 2
    quiet = CliRunner().invoke(app, ["check", path], env={"GITHUB_ACTIONS": "", "COLUMNS": "200"})
    assert "::error" not in quiet.stdout


def test_baseline_reports_what_moved(run, run_json, write, tmp_path):
    before = tmp_path / "before.json"
    before.write_text(json.dumps(run_json("check", write(PASSING))))
    shorter = PASSING.replace("gpu: h200", "gpu: h200\n    mem_fraction: 0.8")
    r = run("check", write(shorter), "--baseline", str(before), "--format", "json")
    d = json.loads(r.stdout)
    old = json.loads(before.read_text())["deployments"][0]["kv_tokens"]
    new = d["deployments"][0]["kv_tokens"]
    pct = round((new - old) / old * 100)
    assert pct < 0 and f"k2-thinking-prod: KV tokens −{-pct}% ({old:,} -> {new:,})" in d["moved"]
    same = json.loads(run("check", write(PASSING), "--baseline", str(before), "--format", "json").stdout)
    assert same["moved"] == []


def test_baseline_no_longer_fits(run, run_json, write, tmp_path):
    before = tmp_path / "before.json"
    before.write_text(json.dumps(run_json("check", write(PASSING))))
    r = run("check", write(PASSING.replace("batch: 4", "batch: 40")), "--baseline", str(before), "--format", "json")
    assert r.exit_code == 1 and "k2-thinking-prod: no longer fits" in json.loads(r.stdout)["moved"]


@pytest.mark.parametrize("text, message", [
    (PASSING.replace("tp: 8", "tpp: 8"), "deployment k2-thinking-prod: unknown key 'tpp' (did you mean tp"),
    (PASSING.replace("tp: 8", "tp: eight"), "deployment k2-thinking-prod: tp 'eight': must be a whole number"),
    (PASSING.replace("gpus: 8\n    tp: 8", "tp: 7"), "deployment k2-thinking-prod: tp 7: num_attention_heads (64) is not divisible"),
    (PASSING.replace("batch: 4,", "batchh: 4,"), "deployment k2-thinking-prod: unknown key 'workload.batchh'"),
    (PASSING.replace("gpus: 8", "gpus: 16"), "deployment k2-thinking-prod: gpus 16: the layout uses"),
    (PASSING.replace("deployments:", "deployment:"), "unknown top-level key 'deployment'"),
    (PASSING.replace("engine: vllm", "engine: vlm"), "engine vlm: unknown engine"),
    (PASSING.replace("batch: 4,", "batch: 4, input: 1k,").replace("min_kv_tokens: 500000", "max_tpot_ms: 50"),
     "deployment k2-thinking-prod: workload.input and workload.output go together (got only input)"),
    (PASSING.replace("min_kv_tokens: 500000", "max_cost_per_mtok: 5"),
     "deployment k2-thinking-prod: require.max_cost_per_mtok needs workload.price_per_gpu_hour (the GPU catalog "
     "has no price for h200)"),
    (PASSING.replace("batch: 4,", "batch: 4, acceptance: 0.8,").replace("min_kv_tokens: 500000", "max_tpot_ms: 50"),
     "deployment k2-thinking-prod: workload.acceptance: 0.8: needs mtp: N"),
    (PASSING.replace("batch: 4,", "batch: 4, price_per_gpu_hour: 2.5,"),
     "deployment k2-thinking-prod: workload.price_per_gpu_hour: only the serving requirements"),
    (PASSING.replace("batch: 4,", "batch: 4, price_per_gpu_hour: -1,").replace("min_kv_tokens: 500000",
                                                                             "max_cost_per_mtok: 5"),
     "deployment k2-thinking-prod: workload.price_per_gpu_hour -1: must be a positive number"),
    (PASSING.replace("max_tpot_ms", "x").replace("min_kv_tokens: 500000", "max_tpot_ms: fast"),
     "deployment k2-thinking-prod: require.max_tpot_ms"),
    (PASSING.replace("kimi-k2-thinking", "no-such-model"), "deployment k2-thinking-prod: unknown preset 'no-such-model'"),
    (PASSING + PASSING.split("deployments:\n")[1], "deployment k2-thinking-prod: name: used twice"),
])
def test_bad_files_are_one_line_exit_2(run, write, text, message):
    path = write(text)
    r = run("check", path)
    assert r.exit_code == 2 and message in r.stderr, r.stderr
    assert r.stderr.startswith(f"error: {path}") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_model_paths_are_relative_to_the_check_file(run, write, tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text((__import__("pathlib").Path(__file__).parent / "data" /
                                                   "kimi-k2-instruct.config.json").read_text())
    r = run("check", write(PASSING.replace("kimi-k2-thinking", "cfg/config.json")))
    assert "unknown" not in r.stderr and r.exit_code in (0, 1)


def test_api_check_returns_the_report(write):
    import k2calc

    r = k2calc.check_file(write(FAILING))
    assert not r.passed and [f.split(":")[0] for f in r.failures] == ["v3-too-long", "v3-too-long"]


# ---------------------------------------------------------------------------------------------------
# Serving requirements (estimates from k2calc perf)

SERVING = """\
deployments:
  - name: qwen32-chat
    model: qwen3-32b
    gpu: h200
    tp: 1
    workload: {context: 1024, batch: 1, price_per_gpu_hour: 3.0}
    require: {fits: true, max_tpot_ms: 30, min_tokens_per_s_per_gpu: 30, max_cost_per_mtok: 30}
  - name: r1-batch1
    model: deepseek-r1
    gpu: b200
    tp: 8
    workload: {context: 820, batch: 1}
    require: {max_tpot_ms: 5}
"""

# Qwen3-32B (config: hidden 5120, 64 layers, 64 query / 8 KV heads of 128, intermediate 25600, vocab 151936,
# untied), bf16, TP1 on H200 (4.8 TB/s), one sequence of 1,024 cached tokens. Batch-1 decode streams every
# matmul weight once, memory-bound at the default memory efficiency 0.60:
#   per layer 2 bytes × 5120 × (8192 q + 1024 k + 1024 v + 8192 o + 3 × 25600 mlp) = 975,175,680
#   × 64 layers + lm_head 2 × 151936 × 5120 = 63,967,068,160 bytes of weights,
#   + activations 2 bytes × (in + out) per matmul: 64 × 262,144 + 2 × (5120 + 151936) = 17,091,328 bytes;
# the KV cache read once at the attention efficiency 0.85: 64 layers × 1,024 tokens × 8 heads × 128 × 2 × 2 bytes;
# the fixed latency: 64 layers × 30 kernels × 3 µs. No communication at TP1.
QWEN32_TPOT_MS = ((63_967_068_160 + 17_091_328) / (4.8e12 * 0.60) + 64 * 1024 * 8 * 128 * 2 * 2 / (4.8e12 * 0.85)
                  + 64 * 30 * 3e-6) * 1e3  # 28.04 ms


def test_serving_requirements_pass_with_the_hand_computed_tpot(run_json, write):
    d = run_json("check", write(SERVING.split("  - name: r1-batch1")[0]))
    assert d["passed"]
    got = {(x["deployment"], x["requirement"]): x for x in d["results"]}
    tpot = got["qwen32-chat", "max_tpot_ms"]
    assert tpot["actual"] == pytest.approx(QWEN32_TPOT_MS) and tpot["passed"] and tpot["required"] == 30
    # one sequence on one GPU: tokens/s per GPU = 1000 / TPOT; cost = $3 per GPU-hour / 3600 s / tokens/s × 10^6
    tps = got["qwen32-chat", "min_tokens_per_s_per_gpu"]
    assert tps["actual"] == pytest.approx(1e3 / QWEN32_TPOT_MS) and tps["passed"]
    cost = got["qwen32-chat", "max_cost_per_mtok"]
    assert cost["actual"] == pytest.approx(3.0 / 3600 / (1e3 / QWEN32_TPOT_MS) * 1e6) and cost["passed"]  # $23.37
    assert d["deployments"][0]["tpot_ms"] == pytest.approx(QWEN32_TPOT_MS)


def test_a_failing_serving_requirement_exits_1_near_the_published_figure(run, write):
    # SGLang cookbook, DeepSeek-R1 on 8 × B200 TP8, batch 1: TPOT 9.16 ms (SOURCES.md, row D9): a 5 ms limit fails,
    # and k2calc's estimate is within the ±25% the validation table holds it to.
    r = run("check", write(SERVING), "--format", "json")
    assert r.exit_code == 1
    d = json.loads(r.stdout)
    row = next(x for x in d["results"] if x["deployment"] == "r1-batch1")
    assert not row["passed"] and row["actual"] == pytest.approx(9.16, rel=0.25)
    assert f"check failed: r1-batch1: max_tpot_ms: required at most 5, got {row['actual']:,.2f}" in r.stderr
    assert "qwen32-chat" not in r.stderr


def test_serving_figures_are_perfs_for_the_same_deployment(run_json, write):
    # wiring: each actual is the same key of `k2calc perf --format json` (decode at the workload; TTFT from the
    # prefill of the batch's prompts, or from --input/--output when the workload gives them)
    text = """\
deployments:
  - name: v3
    model: deepseek-v3
    gpu: h200
    tp: 8
    workload: {context: 4k, batch: 16, price_per_gpu_hour: 2.3}
    require: {max_tpot_ms: 100, max_ttft_ms: 10000, min_tokens_per_s_per_gpu: 1, max_cost_per_mtok: 100}
  - name: v3-io
    model: deepseek-v3
    gpu: h200
    tp: 8
    workload: {context: 4k, batch: 16, input: 2k, output: 1k}
    require: {max_tpot_ms: 100, max_ttft_ms: 10000}
"""
    d = run_json("check", write(text))
    got = {(x["deployment"], x["requirement"]): x["actual"] for x in d["results"]}
    common = ("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--batch", "16")
    dec = run_json(*common, "--context", "4k", "--price-per-gpu-hour", "2.3")
    pre = run_json(*common, "--context", "4k", "--phase", "prefill")
    io = run_json(*common, "--input", "2k", "--output", "1k")
    assert got["v3", "max_tpot_ms"] == dec["tpot_ms"]
    assert got["v3", "min_tokens_per_s_per_gpu"] == dec["tokens_per_s_per_gpu"]
    assert got["v3", "max_cost_per_mtok"] == dec["cost_per_million_tokens_usd"]
    assert got["v3", "max_ttft_ms"] == pre["ttft_ms"]
    assert (got["v3-io", "max_tpot_ms"], got["v3-io", "max_ttft_ms"]) == (io["tpot_ms"], io["ttft_ms"])


def test_a_serving_requirement_fails_when_the_batch_does_not_fit(run, write):
    # Kimi-K2-Thinking on 8 × H200 as vLLM accounts it holds 5 sequences of 128k (test above); at 40 the TPOT
    # limit is met on paper but the batch is not served.
    text = PASSING.replace("batch: 4", "batch: 40").replace(
        "require: {fits: true, min_kv_tokens: 500000, min_batch_at_context: 4, min_requests_at_avg_context: 64}",
        "require: {max_tpot_ms: 100000}")
    r = run("check", write(text), "--format", "json")
    row = json.loads(r.stdout)["results"][0]
    assert r.exit_code == 1 and not row["passed"] and row["actual"] < 100000
    assert row["detail"].startswith("the batch does not fit: 8×h200 TP8") and "does not fit: does not fit" not in row["detail"]
    assert "check failed: k2-thinking-prod: max_tpot_ms: required at most 100,000," in r.stderr


def test_junit_carries_the_serving_rows(run, write, tmp_path):
    out = tmp_path / "capacity.xml"
    run("check", write(SERVING), "--junit", str(out))
    cases = {(c.get("classname"), c.get("name")): c for c in ET.parse(out).getroot().iter("testcase")}
    assert ("qwen32-chat", "max_tpot_ms") in cases and cases["qwen32-chat", "max_tpot_ms"].find("failure") is None
    failure = cases["r1-batch1", "max_tpot_ms"].find("failure")
    assert failure is not None and failure.get("message").startswith("r1-batch1: max_tpot_ms: required at most 5,")


def test_baseline_reports_serving_movement(run, run_json, write, tmp_path):
    # The same deployment at batch 1 and then batch 64: the TPOT change is the ratio of the two perf estimates.
    before = tmp_path / "before.json"
    before.write_text(json.dumps(json.loads(run("check", write(SERVING), "--format", "json").stdout)))
    bigger = SERVING.replace("{context: 1024, batch: 1,", "{context: 1024, batch: 64,")
    d = json.loads(run("check", write(bigger), "--baseline", str(before), "--format", "json").stdout)
    old = json.loads(before.read_text())["deployments"][0]["tpot_ms"]
    new = d["deployments"][0]["tpot_ms"]
    assert old == pytest.approx(QWEN32_TPOT_MS) and new > old
    pct = round((new - old) / old * 100)
    assert f"qwen32-chat: TPOT +{pct}% ({old:,.2f} -> {new:,.2f} ms)" in d["moved"]
    assert any(line.startswith("qwen32-chat: tokens/s per GPU +") for line in d["moved"])
    same = json.loads(run("check", write(SERVING), "--baseline", str(before), "--format", "json").stdout)
    assert same["moved"] == []


def test_a_baseline_without_serving_figures_still_loads(run, run_json, write, tmp_path):
    # a JSON written before the serving rows existed has no tpot_ms: nothing moves, nothing breaks
    before = tmp_path / "before.json"
    d = run_json("check", write(PASSING))
    for dep in d["deployments"]:
        for key in ("tpot_ms", "ttft_ms", "tokens_per_s_per_gpu", "cost_per_million_tokens_usd"):
            dep.pop(key)
    before.write_text(json.dumps(d))
    assert json.loads(run("check", write(PASSING), "--baseline", str(before), "--format", "json").stdout)["moved"] == []


def test_a_price_in_defaults_serves_only_the_deployments_that_ask(run_json, write):
    text = "defaults: {workload: {price_per_gpu_hour: 3.0}}\n" + SERVING.split("  - name: r1-batch1")[0].replace(
        ", price_per_gpu_hour: 3.0}", "}") + PASSING.split("deployments:\n")[1].replace("    gpus: 8", "    engine: vllm\n    gpus: 8")
    d = run_json("check", write(text))
    cost = next(x for x in d["results"] if x["requirement"] == "max_cost_per_mtok")
    assert cost["actual"] == pytest.approx(3.0 / 3600 / (1e3 / QWEN32_TPOT_MS) * 1e6)
    assert d["deployments"][1]["tpot_ms"] is None  # k2-thinking-prod asks for no serving figure


def test_the_readmes_serving_example_is_real_output(run, write, tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("**Serving requirements**", 1)[1]
    yaml_text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = section.split("```yaml\n", 1)[1].split("```\n", 2)[2].split("```", 1)[0].strip("\n").splitlines()
    assert len(shown) == 6 and shown[0].split() == ["deployment", "requirement", "required", "actual", "pass"]
    path = write(yaml_text)
    printed = [line.rstrip() for line in run("check", path).stdout.splitlines()]
    for line in shown:
        assert line.rstrip() in printed, line
    before = tmp_path / "before.json"
    before.write_text(run("check", path, "--format", "json").stdout)
    d = json.loads(run("check", write(yaml_text.replace("batch: 16", "batch: 24")), "--baseline", str(before),
                       "--format", "json").stdout)
    for line in ("v3-chat: TPOT +22% (20.54 -> 25.08 ms)", "v3-chat: tokens/s per GPU +23% (97.39 -> 119.61)"):
        assert line in d["moved"] and f'"{line}"' in readme


V3_MTP = """\
deployments:
  - name: v3-mtp
    model: deepseek-v3
    gpu: h200
    tp: 8
    mtp: 1
    workload: {{context: 4k, batch: 16{acceptance}}}
    require: {{max_tpot_ms: 100}}
"""


def test_mtp_n_without_acceptance_is_a_bad_file_beside_a_serving_requirement(run, write):
    # without workload.acceptance, perf takes every draft token as rejected: the check would gate on a TPOT
    # slower than no MTP at all, and only `perf` says so; memory requirements alone do not need it
    text = V3_MTP.format(acceptance="")
    out = run("check", write(text))
    assert out.exit_code == 2 and "deployment v3-mtp: mtp: 1 needs workload.acceptance" in out.stderr
    assert run("check", write(text.replace("max_tpot_ms: 100", "fits: true"))).exit_code == 0


def test_mtp_n_decodes_with_draft_tokens_at_the_acceptance(run_json, write):
    # mtp: 1 with acceptance 0.85 is `perf --mtp 1 --acceptance 0.85`: 1.85 tokens per step (DeepSeek, D16)
    text = V3_MTP.format(acceptance=", acceptance: 0.85")
    got = run_json("check", write(text))["results"][0]["actual"]
    ref = run_json("perf", "-p", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--batch", "16", "--context", "4k",
                   "--mtp", "1", "--acceptance", "0.85")
    assert got == ref["tpot_ms"] == pytest.approx(ref["step_ms"] / 1.85)


@pytest.mark.parametrize("delta, shown", [(-3, "−<0.1%"), (+3, "+<0.1%"), (-0.004, "−0.4%"), (+0.03, "+3%")])
def test_baseline_moves_of_a_few_tokens_never_read_zero_percent(run, run_json, write, tmp_path, delta, shown):
    # the baseline's KV tokens moved by hand: a few tokens (well under 0.05%), 0.4% and 3% of the count
    text = write(PASSING)
    base = run_json("check", text)
    new = base["deployments"][0]["kv_tokens"]
    old = new - delta if isinstance(delta, int) else round(new / (1 + delta))
    base["deployments"][0]["kv_tokens"] = old
    before = tmp_path / "before.json"
    before.write_text(json.dumps(base))
    d = json.loads(run("check", text, "--baseline", str(before), "--format", "json").stdout)
    assert f"k2-thinking-prod: KV tokens {shown} ({old:,} -> {new:,})" in d["moved"]


@pytest.mark.parametrize("limit, message", [
    ("max_tpot_ms: -3", "require.max_tpot_ms -3: must be a positive number"),
    ("max_tpot_ms: 0", "require.max_tpot_ms 0: must be a positive number"),
    ("max_ttft_ms: .nan", "require.max_ttft_ms nan: must be a positive number"),
    ("min_tokens_per_s_per_gpu: .inf", "require.min_tokens_per_s_per_gpu inf: must be a positive number"),
    ("min_kv_tokens: 0", "require.min_kv_tokens 0: must be at least 1"),
])
def test_a_limit_that_always_passes_or_never_can_is_a_bad_file(run, write, limit, message):
    r = run("check", write(SERVING.replace("max_tpot_ms: 5", limit)))
    assert r.exit_code == 2 and f"deployment r1-batch1: {message}" in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_bad_price_names_the_key_and_what_it_takes(run, write):
    r = run("check", write(SERVING.replace("price_per_gpu_hour: 3.0", "price_per_gpu_hour: three")))
    assert r.exit_code == 2
    assert "deployment qwen32-chat: workload.price_per_gpu_hour 'three': must be a number" in r.stderr


IO = """\
deployments:
  - name: v3-io
    model: deepseek-v3
    gpu: h200
    gpus: 8
    tp: 8
    workload: {{{context}input: 1k, output: 3k, batch: 8}}
    require: {{max_tpot_ms: 1000}}
"""


def test_with_input_and_output_the_plan_holds_their_sum_by_default(run_json, write):
    default = run_json("check", write(IO.format(context="")))["deployments"][0]
    explicit = run_json("check", write(IO.format(context="context: 4096, ")))["deployments"][0]
    assert default == explicit  # input 1,024 + output 3,072 = 4,096 tokens per sequence


def test_a_context_shorter_than_input_plus_output_is_a_bad_file(run, write):
    r = run("check", write(IO.format(context="context: 2k, ")))
    assert r.exit_code == 2 and "deployment v3-io: workload.context '2k': shorter than input + output (1k + 3k = 4k tokens" in r.stderr


def test_a_baseline_with_the_earlier_key_names_still_loads(run, write, tmp_path):
    # releases before the shared vocabulary wrote used_per_gpu and cost_per_mtok
    d = json.loads(run("check", write(SERVING), "--format", "json").stdout)
    for dep in d["deployments"]:
        dep["used_per_gpu"] = dep.pop("per_gpu")["used"]
        dep["cost_per_mtok"] = dep.pop("cost_per_million_tokens_usd")
    before = tmp_path / "before.json"
    before.write_text(json.dumps(d))
    cheaper = SERVING.replace("price_per_gpu_hour: 3.0", "price_per_gpu_hour: 1.5")
    moved = json.loads(run("check", write(cheaper), "--baseline", str(before), "--format", "json").stdout)["moved"]
    assert any(line.startswith("qwen32-chat: cost per million tokens −50%") for line in moved)
