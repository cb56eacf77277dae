"""The hardware catalog: GPUs with their usable memory, bandwidths, peak FLOPS and node size.

Read from `presets/gpus*.yaml` (the shipped `gpus.yaml` plus any `gpus-*.yaml` a user drops beside it)
and from files passed with `--gpu-file`; later files override earlier entries of the same name. Every
file is read through k2calc.inputs (safe YAML, bounded size and depth) and validated: an unknown key is
an error naming the file, the entry and the nearest known field (a hand-written catalog's unknown key is
almost always a typo), and every number is finite, positive and bounded like a config field.
Units live in the field names; memory is an exact byte count, as the driver reports it. `vendor` is a
lowercase name (nvidia, amd): `plan --search --pd` pairs pools of one vendor only, and an entry without
one pairs only with its own type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InputError, suggest
from .inputs import echo, printable, show_path, user_path

# Bounds like the config's: finite, positive, far above any real GPU, so every figure stays a finite
# float (JSON output never holds a bare Infinity) and the layout search stays small.
Pos = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]  # TB/s, GB/s, TFLOPS, GB
Price = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]  # USD per GPU-hour
MAX_MEMORY_BYTES = 2**50  # 1 PiB per GPU
MAX_GPUS_PER_NODE = 1024  # an NVL72 rack is 72
MAX_CATALOG_BYTES = 4 * 2**20


class GPU(BaseModel):
    """One GPU type. `memory_bytes` is what the driver reports, which is what an engine can allocate from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    aliases: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    description: str = ""
    # who makes it (nvidia, amd): a PD pair's pools share one, since engines move KV only between GPUs of
    # one vendor; "" (a --gpu-file entry without it) pairs a type only with itself
    vendor: str = Field("", max_length=40, pattern=r"^([a-z][a-z0-9-]*)?$")
    memory_bytes: Annotated[int, Field(gt=0, le=MAX_MEMORY_BYTES, strict=True)]
    memory_source: str = ""
    memory_estimated: bool = False
    marketed_memory_gb: Pos | None = None
    hbm_bandwidth_tb_per_s: Pos  # 10^12 bytes/s
    bf16_dense_tflops: Pos
    fp8_dense_tflops: Pos | None = None
    fp4_dense_tflops: Pos | None = None
    int4_dense_tops: Pos | None = None
    link_bandwidth_gb_per_s: Pos  # intra-node (NVLink / Infinity Fabric), 10^9 bytes/s, both directions
    # Per GPU, one direction, 10^9 bytes/s: what `k2calc perf` moves tokens over. NVLink (scale-up) inside a
    # node or NVLink domain, the scale-out network (one NIC per GPU) between nodes.
    nvlink_gb_per_s: Pos | None = None
    network_gb_per_s: Pos | None = None
    bandwidth_source: str = ""
    # Per-message latency of this GPU's fabric, µs (k2calc perf's --collective-latency-us / --ep-latency-us
    # when the flag is not given); None: perf's defaults (aiconfigurator's and DeepEP's Hopper figures).
    collective_latency_us: Pos | None = None
    ep_latency_us: Pos | None = None
    latency_source: str = ""
    gpus_per_node: Annotated[int, Field(gt=0, le=MAX_GPUS_PER_NODE, strict=True)]
    scaleup_domain_gpus: Annotated[int, Field(gt=0, le=2**20, strict=True)] | None = None  # NVL72: 72
    # A fully connected mesh (AMD Infinity Fabric: 8 GPUs, 7 links each, one per peer) instead of a switch:
    # traffic to p peers uses min(p, links) of the links, so one peer gets nvlink_gb_per_s / links. None: a
    # switch (NVSwitch) gives any number of peers the full nvlink_gb_per_s.
    fabric_links: Annotated[int, Field(gt=0, le=1024, strict=True)] | None = None
    price_per_gpu_hour_usd: Price | None = None
    source: str = ""  # the catalog file it came from


class _Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = ""
    gpus: list[dict]


def builtin_files() -> list[Path]:
    from .presets import presets_dir

    return sorted(presets_dir().glob("gpus*.yaml"))


def _load_file(path: Path) -> list[GPU]:
    from .config import read_mapping

    where = show_path(path)
    raw = read_mapping(path, "GPU catalog", MAX_CATALOG_BYTES)
    try:
        cat = _Catalog.model_validate(raw)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc = ".".join(echo(p) if not isinstance(p, str) else p[:80] for p in err["loc"])
        raise InputError(f"{where}: {loc}: {err['msg']} (a catalog is `gpus: [...]` with an optional `source`)") from None
    out = []
    for i, entry in enumerate(cat.gpus):
        name = entry.get("name")
        label = printable(name[:80]) if isinstance(name, str) and name else f"#{i + 1}"
        unknown = [k for k in entry if not isinstance(k, str) or k not in GPU.model_fields or k == "source"]
        if unknown:
            k = unknown[0]
            if not isinstance(k, str):
                raise InputError(f"{where}: gpus[{label}]: key {echo(k)}: field names are strings")
            raise InputError(f"{where}: gpus[{label}]: unknown field {echo(k)}{suggest(k, list(GPU.model_fields))}")
        try:
            out.append(GPU.model_validate({**entry, "source": where}))
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            what = ("required field is missing" if err["type"] == "missing"
                    else f"{err['msg']} (got {echo(err['input'])})")
            raise InputError(f"{where}: gpus[{label}]: {loc}: {what}") from None
    return out


def list_gpus(extra_files: list[str | Path] | None = None) -> list[GPU]:
    """The catalog, in file order; an entry of a later file replaces one of the same name."""
    by_name: dict[str, GPU] = {}
    for path in [*builtin_files(), *(user_path(p, "--gpu-file ") for p in extra_files or [])]:
        for gpu in _load_file(path):
            by_name[gpu.name.lower()] = gpu
    return list(by_name.values())


def get_gpu(name: str, extra_files: list[str | Path] | None = None) -> GPU:
    """A GPU by name or alias, case-insensitive."""
    gpus = list_gpus(extra_files)
    key = name.strip().lower()
    for g in gpus:
        if key == g.name.lower() or key in (a.lower() for a in g.aliases):
            return g
    names = [g.name for g in gpus]
    raise InputError(f"--gpu {name}: unknown GPU{suggest(key, names)}; `k2calc gpus` lists them")
