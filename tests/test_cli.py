"""The command line: help with examples, machine formats, and the installed entry point."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from k2calc.cli import app

COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


def test_top_level_help_shows_an_example(run):
    result = run("--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "k2calc params --preset kimi-k2" in result.stdout


def test_top_level_help_and_readme_name_the_families_beyond_deepseek():
    # Both once said "DeepSeek-V3-family models" only; every preset family must be named up front.
    readme_intro = (Path(__file__).resolve().parent.parent / "README.md").read_text().split("## Set-up")[0]
    helptext = " ".join(app.info.help.split())  # as written: the terminal may wrap inside "gpt-oss"
    for family in ("DeepSeek-V4", "Kimi-K3", "Qwen", "OLMo 2", "SmolLM3", "Gemma 3", "gpt-oss", "Llama 4", "GLM-4.5"):
        assert family in helptext and family in " ".join(readme_intro.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(run, command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and f"k2calc {command}" in result.stdout


def test_params_json_contract(run_json):
    data = run_json("params", "--preset", "kimi-k2")
    for key in ("model", "total", "active", "mtp", "breakdown"):
        assert key in data
    assert data["model"] == "kimi-k2"
    assert all(isinstance(data[k], int) for k in ("total", "active", "mtp"))
    keys = {"embedding", "lm_head", "attention", "dense_mlp", "routed_experts", "shared_experts", "router", "norms"}
    assert set(data["breakdown"]) >= keys
    assert sum(data["breakdown"].values()) == data["total"] == 1_026_408_232_448


def test_json_is_not_wrapped_at_narrow_terminals(run):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["params", "-p", "deepseek-v3", "-f", "json", "--tensors"], env={"COLUMNS": "20"})
    data = json.loads(result.stdout)
    assert data["total"] == 671_026_419_200
    assert any(g["module"] == "kv_a_proj_with_mqa" for g in data["tensor_groups"])


def test_yaml_csv_markdown_carry_the_same_numbers(run):
    y = yaml.safe_load(run("params", "-p", "deepseek-v3", "-f", "yaml").stdout)
    assert y["total"] == 671_026_419_200
    rows = list(csv.reader(io.StringIO(run("params", "-p", "deepseek-v3", "-f", "csv").stdout)))
    assert rows[0][:4] == ["section", "name", "parameters", "≈"]
    assert [r for r in rows[1:] if r[0] == "section"] == []  # one header for the whole stream
    assert all(len(r) == len(rows[0]) for r in rows)
    assert any(r[1].startswith("total") and r[2] == "671026419200" for r in rows)
    md = run("params", "-p", "deepseek-v3", "-f", "markdown").stdout
    assert "| total (main model, MTP excluded) | 671,026,419,200 |" in md


def test_table_output_names_units_and_the_active_convention(run):
    out = run("params", "--preset", "deepseek-v3").stdout
    assert "671,026,419,200" in out and "36,625,618,432" in out
    assert "except the input embedding table" in out and "10^9" in out


def test_multimodal_note_is_shown(run):
    result = run("params", "--preset", "kimi-k2.5")
    assert "multimodal" in result.stdout and "vision tower (MoonViT)" in result.stdout
    assert "vision tower" in run("params", "--preset", "kimi-k2.5", "-f", "json").stderr


def test_set_what_if_changes_the_count(run_json):
    base = run_json("params", "-p", "kimi-k2")
    more = run_json("params", "-p", "kimi-k2", "--set", "n_routed_experts=512")
    per_expert_per_layer = 3 * 7168 * 2048 + 7168 + 1  # expert weights, router row, router bias
    assert more["total"] - base["total"] == 60 * 128 * per_expert_per_layer


def test_presets_lists_every_required_preset_with_a_description(run_json):
    names = {p["name"]: p for p in run_json("presets")}
    for required in ("kimi-k2", "kimi-k2-thinking", "kimi-k2.5", "deepseek-v3", "deepseek-r1", "deepseek-v3.1",
                     "deepseek-v3.2", "moonlight-16b-a3b", "deepseek-v2.5"):
        assert names[required]["description"] and names[required]["source"].startswith("https://huggingface.co/")


def test_both_preset_and_config_is_an_error(run):
    result = run("params", "-p", "kimi-k2", "-c", "x.json")
    assert result.exit_code == 2 and "not both" in result.stderr


# ---------------------------------------------------------------------------------------------------
# The installed entry point, as a user runs it.

k2calc_bin = shutil.which("k2calc")
installed = pytest.mark.skipif(k2calc_bin is None, reason="k2calc entry point not installed (pip install -e .)")


@installed
def test_installed_entry_point_runs():
    # speed is measured by scripts/bench.py, never asserted: a test's wall clock depends on the machine
    proc = subprocess.run([k2calc_bin, "params", "--preset", "kimi-k2", "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"] == 1_026_408_232_448


@installed
def test_installed_entry_point_bad_input_has_no_traceback(tmp_path):
    proc = subprocess.run([k2calc_bin, "params", "--config", str(tmp_path / "nope.json")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_module_runs_with_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "k2calc", "presets", "-f", "json"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "kimi-k2" in proc.stdout


# ---------------------------------------------------------------------------------------------------
# One line, whatever goes wrong: the option parser, the output streams, their encoding.


@pytest.mark.parametrize("args", [("params", "--format", "xml"), ("bogus",), ("params", "--format", ""),
                                  ("kv", "--batch", "abc"), ("plan", "--gpus", "x")])
def test_a_parse_error_is_one_line_pointing_to_help(run, args):
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--help`)" in lines[0], result.stderr
    assert "Usage:" not in result.output


def test_a_parse_error_names_the_bad_value(run):
    result = run("params", "--format", "xml")
    assert "'xml' is not one of 'table', 'json', 'yaml', 'csv', 'markdown'" in result.stderr
    assert "`k2calc params --help`" in result.stderr


def _sh(command: str, **env: str) -> subprocess.CompletedProcess:
    """Run a shell line with the installed entry point (stream redirections need a real process)."""
    import os

    return subprocess.run(["sh", "-c", command.replace("k2calc", k2calc_bin, 1)], capture_output=True,
                          timeout=60, env={**os.environ, **env})


@installed
def test_closed_stdout_is_one_line_and_exit_1():
    proc = _sh("k2calc params --preset kimi-k2 --format json >&-")
    assert proc.returncode == 1
    assert proc.stderr.decode() == "error: cannot write the output: stdout is closed\n"


@installed
@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_disk_is_one_line_and_exit_1():
    proc = _sh("k2calc params --preset kimi-k2 --format json > /dev/full")
    assert proc.returncode == 1
    assert proc.stderr.decode() == "error: cannot write the output: No space left on device\n"


@installed
def test_closed_stderr_never_costs_the_result():
    proc = _sh("k2calc params --preset kimi-k2.5 --format json 2>&-")
    assert proc.returncode == 0  # its vision-tower note had nowhere to go
    assert json.loads(proc.stdout)["total"] == 1_026_408_232_448
    assert _sh("k2calc params --config missing.json 2>&-").returncode == 2


@installed
@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "LC_ALL": "C", "PYTHONIOENCODING": ""}])
def test_a_non_utf8_stdout_gets_ascii_stand_ins(env):
    proc = _sh("k2calc params --preset kimi-k2", **env)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr
    out = proc.stdout.decode("ascii")
    assert "1,026,408,232,448" in out and "1.026 T" in out and "~" in out  # the "≈" column header


def test_a_lone_surrogate_in_a_name_reaches_every_format(tmp_path):
    from typer.testing import CliRunner

    from tests.conftest import DATA

    path = tmp_path / "bad\udcff.json"  # how Python spells a file name's undecodable byte
    try:
        path.write_bytes((DATA / "deepseek-v3.config.json").read_bytes())
    except (UnicodeEncodeError, OSError):
        pytest.skip("the file system cannot hold such a name")
    for fmt in ("table", "csv", "markdown", "json", "yaml"):
        result = CliRunner().invoke(app, ["params", "--config", str(path), "--format", fmt], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (fmt, result.output)
        assert "671" in result.stdout
