"""The command line: help with examples, machine formats, and the installed entry point."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from k2calc.cli import app

COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


def test_top_level_help_shows_an_example(run):
    result = run("--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "k2calc params --preset kimi-k2" in result.stdout


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
    assert any(g["module"] == "kv_a_proj_with_mqa" for g in data["tensors"])


def test_yaml_csv_markdown_carry_the_same_numbers(run):
    y = yaml.safe_load(run("params", "-p", "deepseek-v3", "-f", "yaml").stdout)
    assert y["total"] == 671_026_419_200
    rows = list(csv.reader(io.StringIO(run("params", "-p", "deepseek-v3", "-f", "csv").stdout)))
    assert ["table", "figure", "parameters", "≈"] == rows[0]
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
def test_installed_entry_point_runs_and_is_quick():
    start = time.perf_counter()
    proc = subprocess.run([k2calc_bin, "params", "--preset", "kimi-k2", "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"] == 1_026_408_232_448
    assert elapsed < 1.0  # a guard for loaded CI machines; measured 0.15-0.18 s on an idle one


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
