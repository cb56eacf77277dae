"""Where the YAML presets live: `k2calc/presets/` in an installed wheel, `presets/` in the source tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, suggest
from .inputs import echo

_HERE = Path(__file__).resolve().parent


def presets_dir() -> Path:
    """The wheel carries the presets inside the package; an editable install reads the repo's folder."""
    for candidate in (_HERE / "presets", _HERE.parent / "presets"):
        if candidate.is_dir():
            return candidate
    raise InputError("k2calc installation has no presets folder")  # a broken install, not a user typo


def _model_files() -> dict[str, Path]:
    """Model presets by name; the hardware catalog (gpus*.yaml) lives beside them."""
    return {
        p.stem: p for p in sorted(presets_dir().glob("*.yaml")) if not p.stem.startswith("gpus")
    }


def preset_names() -> list[str]:
    return list(_model_files())


def preset_path(name: str) -> Path:
    files = _model_files()
    if name not in files:
        raise InputError(f"unknown preset {echo(name)}{suggest(name, list(files))}; `k2calc presets` lists them")
    return files[name]


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    source: str


def list_presets() -> list[PresetInfo]:
    """Name, one-line description and source of every preset (read with safe YAML loading)."""
    from .config import read_mapping

    out = []
    for name, path in _model_files().items():
        raw = read_mapping(path)
        src = raw.get("source") or {}
        out.append(PresetInfo(name, str(raw.get("description", "")), str(src.get("hub", "")) if isinstance(src, dict) else str(src)))
    return out
