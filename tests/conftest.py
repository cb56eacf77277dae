"""Shared fixtures: a CLI runner with a wide, fixed terminal so tables never wrap."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from k2calc.cli import app

DATA = Path(__file__).parent / "data"

# Tests that rebuild models in transformers on the meta device (CI installs both).
live = pytest.mark.skipif(
    not (importlib.util.find_spec("torch") and importlib.util.find_spec("transformers")),
    reason="torch and transformers not installed (CI installs them: pip install torch==2.13.0 transformers)",
)


def generated_spec(fields: dict):
    """A ModelSpec from config fields a property test drew (validated as a user's config.json would be)."""
    from k2calc.config import ModelSpec, build_config

    cfg, _ = build_config(fields, "generated")
    return ModelSpec("generated", cfg, "generated")


@pytest.fixture
def run():
    """Invoke the CLI in-process: run("params", "--preset", "kimi-k2") -> Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})

    return invoke


@pytest.fixture
def run_json(run):
    """Invoke with --format json and parse stdout."""

    def invoke(*args: str):
        result = run(*args, "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return invoke
