"""The Python API returns the same typed reports the CLI renders."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

import k2calc


def test_readme_example_runs():
    m = k2calc.load("kimi-k2")
    # Kimi-K2-Instruct's checkpoint holds 1,026,408,232,448 weight parameters (SOURCES.md).
    assert m.params().total == 1_026_408_232_448
    # 61 layers × (512 + 64) cached values × 2 bytes (bf16).
    assert m.kv(context=131072).bytes_per_token == 61 * 576 * 2
    assert m.kv(context="128k").bytes_per_sequence == 61 * 576 * 2 * 131072


def test_api_reports_equal_cli_json(run_json):
    m = k2calc.load("deepseek-v3")
    assert m.params().model_dump(mode="json") == run_json("params", "-p", "deepseek-v3")
    assert m.checkpoint().total_bytes == run_json("checkpoint", "-p", "deepseek-v3")["total_bytes"]
    assert m.flops(["4k", "128k"]).model_dump(mode="json") == run_json("flops", "-p", "deepseek-v3",
                                                                        "--context", "4k,128k")


def test_plan_and_search_through_the_api():
    m = k2calc.load("deepseek-v3")
    fits = m.plan("h200", tp=8, context="4k", weights="fp8")
    assert fits.fits and fits.gpus == 8
    best = m.search(["h200"], context="4k", max_nodes=1)
    assert best.results and best.results[0].gpus == 8


def test_set_overrides_for_what_if():
    base = k2calc.load("kimi-k2").params()
    more = k2calc.load("kimi-k2", set={"n_routed_experts": 512}).params()
    assert more.breakdown["routed_experts"] == 60 * 512 * 3 * 7168 * 2048
    assert more.active == base.active + 60 * 128 * (7168 + 1)  # only the router grows per token


def test_bad_input_raises_input_error():
    with pytest.raises(k2calc.InputError, match="unknown preset"):
        k2calc.load("kimi-k9")  # (kimi-k3 exists since issue 13)
    with pytest.raises(k2calc.InputError, match="greater than 0"):
        k2calc.load("kimi-k2", set={"hidden_size": 0})


def test_compare_through_the_api():
    import k2calc.analysis.comparison  # noqa: F401 - a submodule must not shadow the API function

    r = k2calc.compare("kimi-k2", k2calc.load("deepseek-v3"))
    assert r.models == ["kimi-k2", "deepseek-v3"] and "n_routed_experts" in r.differing_fields


def test_api_docstring_examples():
    import k2calc.api

    failures, tried = doctest.testmod(k2calc.api)
    assert tried >= 3 and failures == 0


def test_import_k2calc_is_light():
    code = "import sys, k2calc; print(sorted(m for m in ('pydantic', 'rich', 'typer', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_readme_python_example_is_true():
    """Every line of the README's API example runs, and every `# 123` comment is the value it shows."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    env: dict = {}
    checked = 0
    for line in block.strip().splitlines():
        code, _, comment = line.partition("#")
        code = code.strip()
        if not code:
            continue
        if code.startswith("import") or "=" in code.split("(")[0]:
            exec(code, env)  # noqa: S102 - the README's own example
            continue
        value = eval(code, env)  # noqa: S307
        if re.fullmatch(r"\s*\d+\s*", comment):
            assert value == int(comment), line
            checked += 1
    assert checked >= 4


def test_training_flops_through_the_api():
    # DeepSeek-V3 trained on 14.8T tokens (tech report). 3 × forward per token, so total = 3 · fwd · D.
    t = k2calc.load("deepseek-v3").training(4096, 14_800_000_000_000)
    assert t.train_per_token == 3 * t.forward_per_token
    assert t.train_total == t.train_per_token * 14_800_000_000_000
    # 6 × active parameters is the usual estimate; attention at 4k adds a little on top.
    assert 6 * 36.6e9 < t.train_per_token < 6 * 36.6e9 * 1.25


def test_api_rejects_empty_gpu_list_batch_zero_and_non_finite_knobs():
    m = k2calc.load("deepseek-v3")
    with pytest.raises(k2calc.InputError, match="no GPU types to search"):
        m.search([])
    with pytest.raises(k2calc.InputError, match="--batch 0"):
        m.plan("h200", tp=8, batch=0)
    with pytest.raises(k2calc.InputError, match="--overhead-gib nan"):
        m.plan("h200", tp=8, overhead_gib=float("nan"))
    with pytest.raises(k2calc.InputError, match="context 1e400: too large"):
        m.kv(context="1e400")
    # the API's defaults are the plan's: vLLM's 0.9 of memory, SGLang's 8192-token chunk
    r = m.plan("h200", tp=8, weights="fp8")
    assert r.mem_fraction == 0.9 and r.workload.chunk == 8192
