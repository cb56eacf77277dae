"""Where the YAML presets live: `k2calc/presets/` in an installed wheel, `presets/` in the source tree.

A preset is named by its file name (`kimi-k2`) or by the Hugging Face repo id it was published under
(`moonshotai/Kimi-K2-Instruct`, its `hf_repo`, or one of its `aliases`), case-insensitively. Nothing
is ever downloaded: a repo id only selects a built-in preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import InputError
from .inputs import echo

_HERE = Path(__file__).resolve().parent
HF_URL = "https://huggingface.co/"


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


@lru_cache(maxsize=None)
def _head(path: Path) -> dict:
    """A preset's metadata (everything before its `config:`), without parsing the config itself."""
    import yaml

    text = path.read_text(encoding="utf-8")
    head, _, _ = text.partition("\nconfig:")
    data = yaml.safe_load(head)
    return data if isinstance(data, dict) else {}


def repo_ids(name: str) -> list[str]:
    """The Hugging Face repo ids that name preset `name`: its `hf_repo`, then its `aliases`."""
    head = _head(_model_files()[name])
    ids = [head.get("hf_repo"), *(head.get("aliases") or [])]
    return [str(i) for i in ids if i]


def _key(text: str) -> str:
    """How names are compared: case-insensitive, a pasted https://huggingface.co/ URL is its repo id."""
    text = text.strip().casefold()
    return text.removeprefix(HF_URL).strip("/")


def find_preset(name: str) -> str | None:
    """The preset a name or Hugging Face repo id refers to, or None."""
    files = _model_files()
    if name in files:
        return name
    key = _key(name)
    for preset in files:
        if key == preset.casefold() or key in (_key(r) for r in repo_ids(preset)):
            return preset
    return None


def suggest_presets(name: str, n: int = 3) -> list[str]:
    """Presets close to `name`, best first: each scored by its nearest spelling (its name, its repo ids,
    or a repo id without its organisation), so `kimi-k2-instruct` suggests `kimi-k2` before
    `kimi-k2-thinking`."""
    import difflib

    key = _key(name)
    scored = []
    for preset in _model_files():
        spellings = [preset, *(_key(r) for r in repo_ids(preset))]
        spellings += [s.rpartition("/")[2] for s in spellings if "/" in s]
        score = max(difflib.SequenceMatcher(None, key, s).ratio() for s in spellings)
        if score >= 0.6:
            scored.append((-score, preset))
    return [p for _, p in sorted(scored)[:n]]


def preset_path(name: str) -> Path:
    found = find_preset(name)
    if found is None:
        near = suggest_presets(name)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise InputError(f"unknown preset {echo(name)}{hint}; `k2calc presets` lists them with their Hugging Face "
                         "repo ids (k2calc never downloads a config: pass --config PATH for others)")
    return _model_files()[found]


@dataclass(frozen=True)
class PresetInfo:
    name: str
    hf_repo: str
    description: str
    source: str
    aliases: list[str] = field(default_factory=list)


def list_presets() -> list[PresetInfo]:
    """Name, Hugging Face repo id, one-line description and source of every preset (safe YAML loading)."""
    out = []
    for name, path in _model_files().items():
        raw = _head(path)
        src = raw.get("source") or {}
        ids = repo_ids(name)
        out.append(PresetInfo(name, ids[0] if ids else "", str(raw.get("description", "")),
                              str(src.get("hub", "")) if isinstance(src, dict) else str(src), ids[1:]))
    return out
