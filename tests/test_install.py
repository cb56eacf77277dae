"""A non-editable install (a wheel, not the source tree) still finds the presets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"could not build a wheel here: {proc.stderr.strip()[-300:]}")
    return next(out.glob("k2calc-*.whl"))


def test_wheel_carries_every_preset_as_package_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    presets = {Path(n).name for n in names if n.startswith("k2calc/presets/")}
    assert {p.name for p in (ROOT / "presets").glob("*.yaml")} <= presets
    assert not any(n.startswith("presets/") for n in names)


def _dependency_dirs() -> list[str]:
    """Where the running interpreter finds k2calc's run-time dependencies (and nothing else of its own)."""
    import pydantic
    import rich
    import typer
    import yaml

    return sorted({str(Path(m.__file__).resolve().parent.parent) for m in (typer, rich, pydantic, yaml)})


def test_presets_load_from_a_fresh_virtual_environment(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    # A venv of its own: nothing from the base interpreter's site-packages. The running environment's
    # dependencies are handed over explicitly (a .pth file naming their folders: no download, and no
    # reliance on what the base interpreter happens to have); the wheel itself goes into the venv.
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    (Path(site) / "k2calc_test_deps.pth").write_text("\n".join(_dependency_dirs()) + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=600)
    code = ("import json, k2calc.presets as p, k2calc.config as c;"
            "print(json.dumps([str(p.presets_dir()), c.load_preset('kimi-k2').config.n_routed_experts]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    where, experts = json.loads(proc.stdout)
    assert Path(where).is_relative_to(env_dir) and experts == 384
    cli = subprocess.run([str(env_dir / "bin" / "k2calc"), "params", "--preset", "deepseek-v3", "-f", "json"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["total"] == 671_026_419_200
