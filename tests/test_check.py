"""`k2calc check`: passes, fails and rejects files; table, JSON, JUnit, GitHub annotations, baseline."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from k2calc.engines import EngineConfig
from k2calc.hardware import get_gpu
from k2calc.config import load_preset
from k2calc.plan import Layout, Workload, plan

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
    assert d["deployments"][0]["engine"] == "vllm" and d["deployments"][0]["used_per_gpu"] == p.per_gpu.used


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
    (PASSING.replace("tp: 8", "tp: eight"), "deployment k2-thinking-prod: tp: Input should be a valid integer (got 'eight')"),
    (PASSING.replace("gpus: 8\n    tp: 8", "tp: 7"), "deployment k2-thinking-prod: tp 7: num_attention_heads (64) is not divisible"),
    (PASSING.replace("batch: 4,", "batchh: 4,"), "deployment k2-thinking-prod: unknown key 'workload.batchh'"),
    (PASSING.replace("gpus: 8", "gpus: 16"), "deployment k2-thinking-prod: gpus 16: the layout uses"),
    (PASSING.replace("deployments:", "deployment:"), "unknown top-level key 'deployment'"),
    (PASSING.replace("engine: vllm", "engine: vlm"), "engine vlm: unknown engine"),
    (PASSING.replace("min_kv_tokens: 500000", "max_tpot_ms: 50"), "require.max_tpot_ms: 50: needs the serving model"),
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
