"""An adversarial campaign against the k2calc CLI: hostile files, values and paths, run as a user would.

Each case runs `python -m k2calc ...` in a subprocess with a time limit and an address-space limit, and
holds when it keeps the CLI's promise:
- it ends within TIME_LIMIT seconds and MEMORY_LIMIT bytes, with an allowed exit code;
- no traceback; exit 2 prints exactly one stderr line `error: ...`, no longer than LINE_LIMIT;
- machine output on exit 0/1 is strictly valid (JSON without NaN/Infinity);
- every stderr line is bounded (a 31 MB value is never echoed whole).

    python scripts/adversarial.py                  # this checkout
    python scripts/adversarial.py --src /work/main # another checkout (its k2calc on PYTHONPATH)
    python scripts/adversarial.py -k verify -v     # a subset, every case shown

Prints one line per failing case (every case with -v), then `ran N, held M`. Timings are printed for
the cases marked `timed`. A measurement tool: no test asserts a wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TIME_LIMIT = 10.0  # seconds; "a few seconds" is the promise, 10 leaves room for a loaded machine
MEMORY_LIMIT = 3 * 2**30
LINE_LIMIT = 2000  # characters of one stderr line

REPO = Path(__file__).resolve().parent.parent
GOOD = json.loads((REPO / "tests" / "data" / "deepseek-v3.config.json").read_text())


@dataclass
class Case:
    name: str
    args: list[str]
    exits: tuple[int, ...] = (2,)
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    timed: bool = False
    json_out: bool = False  # stdout must be strict JSON on exit 0/1
    shell: str | None = None  # run through /bin/sh instead (closed or full streams)
    owner: str = "inputs"  # "cli": the CLI helper's part of issue 9 (usage errors, streams, encodings)


def _strict_json(text: str) -> None:
    def bad(c):
        raise ValueError(f"non-standard JSON constant {c}")
    json.loads(text, parse_constant=bad)


def _safetensors(path: Path, header: dict | bytes, data: bytes = b"", length: int | None = None) -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)


def build(d: Path) -> list[Case]:  # noqa: PLR0915 - one list of cases reads best in one place
    """The hostile files under `d`, and the cases that use them."""
    cases: list[Case] = []

    def add(name, args, **kw):
        cases.append(Case(name, [str(a) for a in args], **kw))

    def cfg(name: str, text: str | bytes) -> Path:
        p = d / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p

    preset_yaml = "config:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in GOOD.items())
    # without rope_scaling and hidden_size, so a case can give them (a repeated key is refused on its own)
    bare_yaml = "config:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in GOOD.items()
                                      if k not in ("rope_scaling", "hidden_size", "quantization_config"))

    # --- files that are not files -------------------------------------------------------------------
    fifo = d / "fifo.json"
    os.mkfifo(fifo)
    gfifo = d / "fifo.yaml"
    os.mkfifo(gfifo)
    (d / "folder.json").mkdir()
    for cmd in (["params", "--config"], ["kv", "--config"], ["checkpoint", "--config"]):
        add(f"fifo config {cmd[0]}", [*cmd, fifo])
    add("fifo compare", ["compare", fifo, "kimi-k2"])
    add("fifo gpu-file gpus", ["gpus", "--gpu-file", gfifo])
    add("fifo gpu-file plan", ["plan", "-p", "kimi-k2", "--search", "--gpu-file", gfifo])
    add("/dev/zero config", ["params", "--config", "/dev/zero"])
    add("/dev/urandom config", ["params", "--config", "/dev/urandom"])
    add("/dev/zero gpu-file", ["gpus", "--gpu-file", "/dev/zero"])
    add("/dev/urandom gpu-file", ["gpus", "--gpu-file", "/dev/urandom"])
    add("/dev/null config", ["params", "--config", "/dev/null"])
    add("/dev/stdin config", ["params", "--config", "/dev/stdin"], stdin=json.dumps(GOOD).encode())
    add("folder.json config", ["params", "--config", d / "folder.json"])
    add("folder gpu-file", ["gpus", "--gpu-file", d / "folder.json"])
    big = cfg("big.json", b'{"a": "' + b"x" * (40 * 2**20) + b'"}')
    add("40 MB config", ["params", "--config", big], timed=True)
    add("40 MB gpu-file", ["gpus", "--gpu-file", big], timed=True)
    huge_val = cfg("hugeval.json", json.dumps({**GOOD, "hidden_size": "7" * (31 * 2**20)}))
    add("31 MB value echoed", ["params", "--config", huge_val], timed=True)
    unread = cfg("unreadable.json", json.dumps(GOOD))
    unread.chmod(0)
    if os.geteuid() != 0:
        add("unreadable config", ["params", "--config", unread])

    # --- YAML alias bombs -----------------------------------------------------------------------------
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
    last = chr(97 + 8)
    bomb_cfg = cfg("bomb.yaml", bomb + bare_yaml + f"  hidden_size: *{last}\n")
    add("alias bomb in a field", ["params", "--config", bomb_cfg], timed=True)
    bomb_note = cfg("bomb2.yaml", bomb + bare_yaml + f"  hidden_size: 7168\n  rope_scaling: {{x: *{last}}}\n")
    add("alias bomb in an extra field (compare renders it)", ["compare", bomb_note, "deepseek-v3"], timed=True)
    add("alias bomb in an extra field (params)", ["params", "--config", bomb_note], timed=True)
    add("alias bomb with --set note", ["params", "--config", bomb_note, "--set", "rope_scaling=null"], timed=True)
    bomb_q = cfg("bomb3.yaml", bomb + bare_yaml + f"  hidden_size: 7168\n  quantization_config: {{quant_method: *{last}}}\n")
    add("alias bomb in quantization_config", ["checkpoint", "--config", bomb_q], timed=True)
    bomb_g = cfg("bombgpu.yaml", bomb + f"gpus:\n  - name: x\n    memory_bytes: *{last}\n")
    add("alias bomb in a catalog", ["gpus", "--gpu-file", bomb_g], timed=True)
    merge = "a0: &a0 {k0: 1, k1: 1, k2: 1, k3: 1}\n" + "".join(
        f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 8)}], z{i}: 1}}\n" for i in range(1, 9))
    add("merge-key bomb", ["params", "--config", cfg("merge.yaml", merge + preset_yaml)], timed=True)

    # --- deep nesting ---------------------------------------------------------------------------------
    deep = 100_000
    add("deep JSON list", ["params", "--config", cfg("deep.json", "[" * deep + "]" * deep)])
    add("deep JSON field", ["params", "--config",
                            cfg("deep2.json", json.dumps(GOOD)[:-1] + ', "extra_deep": ' + '{"a":' * deep + "1"
                                + "}" * deep + "}")])
    add("deep YAML flow", ["params", "--config", cfg("deep.yaml", "config: " + "[" * deep + "]" * deep + "\n")])
    add("deep YAML flow in a field", ["params", "--config", cfg("deep2.yaml", bare_yaml + "  hidden_size: 7168\n  rope_scaling: "
                                                                  + "{a: " * deep + "1" + "}" * deep + "\n")])
    add("deep YAML block", ["params", "--config", cfg("deep3.yaml", "".join(" " * i + "- \n" for i in range(3000)))])
    add("deep --set", ["params", "-p", "kimi-k2", "--set", "rope_scaling=" + "[" * 50_000 + "]" * 50_000])
    add("deep --set dict", ["params", "-p", "kimi-k2", "--set", "rope_scaling=" + "{a: " * 5000 + "1" + "}" * 5000])
    add("deep catalog", ["gpus", "--gpu-file", cfg("deepgpu.yaml", "gpus: " + "[" * deep + "]" * deep + "\n")])
    add("deep compare", ["compare", d / "deep2.json", "kimi-k2"])
    add("800-deep field (below the recursion limit)", ["compare", cfg("deep800.json", json.dumps(
        GOOD)[:-1] + ', "extra_deep": ' + '{"a":' * 800 + "1" + "}" * 800 + "}"), "kimi-k2"])

    # --- huge integers and floats ---------------------------------------------------------------------
    digits = "9" * 5000
    add("5000-digit int in JSON", ["params", "--config", cfg("bigint.json", json.dumps(GOOD)[:-1]
                                                               + f', "hidden_size": {digits}}}')])
    add("5000-digit int in an extra field", ["params", "--config", cfg("bigint2.json", json.dumps(GOOD)[:-1]
                                                                         + f', "whatever": {digits}}}')],
        exits=(0, 2))
    add("5000-digit int in YAML", ["params", "--config", cfg("bigint.yaml", bare_yaml + f"  hidden_size: {digits}\n")])
    add("5000-digit int via --set", ["params", "-p", "kimi-k2", "--set", f"hidden_size={digits}"])
    add("5000-digit int via @", ["compare", f"kimi-k2@hidden_size={digits}", "deepseek-v3"])
    add("huge hex int via --set", ["params", "-p", "kimi-k2", "--set", "hidden_size=0x" + "f" * 5000])
    add("huge hex int in YAML", ["params", "--config", cfg("hex.yaml", bare_yaml + f"  hidden_size: 0x{'f' * 5000}\n")])
    add("huge octal/binary via --set", ["params", "-p", "kimi-k2", "--set", "hidden_size=0b" + "1" * 20000])
    add("huge float via --set", ["params", "-p", "kimi-k2", "--set", "rope_theta=1e400"])
    add("NaN rope_theta", ["params", "--config", cfg("nan.json", json.dumps(GOOD)[:-1] + ', "rope_theta": NaN}')])
    add("NaN routed_scaling_factor --set", ["params", "-p", "kimi-k2", "--set", "routed_scaling_factor=.nan"])
    add("Infinity rope_theta json output", ["compare", cfg("inf.json", json.dumps(GOOD)[:-1]
                                                             + ', "rope_theta": Infinity}'), "kimi-k2", "-f", "json"])
    add("duplicate JSON key", ["params", "--config", cfg("dup.json", json.dumps(GOOD)[:-1] + ', "hidden_size": 1}')],
        exits=(0, 2))
    add("big int in a safetensors header", ["verify", d / "ck_bigint", "-p", "deepseek-v3"], exits=(1, 2))

    # --- paths ---------------------------------------------------------------------------------------
    add("path too long", ["params", "--config", "/tmp/" + "a" * 5000 + ".json"])
    add("path component too long", ["params", "--config", "/tmp/" + "a" * 300 + "/x.json"])
    add("~nosuchuser config", ["params", "--config", "~nosuchuser_k2/x.json"])
    add("~nosuchuser compare", ["compare", "~nosuchuser_k2/x.json", "kimi-k2"])
    add("~nosuchuser gpu-file", ["gpus", "--gpu-file", "~nosuchuser_k2/g.yaml"])
    add("~nosuchuser verify", ["verify", "~nosuchuser_k2/ck", "-p", "kimi-k2"])
    add("path too long verify", ["verify", "/tmp/" + "b" * 5000, "-p", "kimi-k2"])
    add("path too long gpu-file", ["gpus", "--gpu-file", "/tmp/" + "b" * 5000])
    add("path too long compare", ["compare", "/tmp/" + "c" * 5000 + ".json", "kimi-k2"])
    add("NUL in path", ["params", "--config", "a\x00b.json"], owner="cli")  # argv cannot carry NUL: exec fails
    sur = d / os.fsdecode(b"caf\xe9.json")
    sur.write_text(json.dumps(GOOD))
    add("non-UTF-8 file name", ["params", "--config", sur, "-f", "csv"], exits=(0,))
    add("non-UTF-8 file name json", ["params", "--config", sur, "-f", "json"], exits=(0,), json_out=True)
    sur_bad = d / os.fsdecode(b"bad\xff.json")
    sur_bad.write_text("{")
    add("non-UTF-8 file name in an error", ["params", "--config", sur_bad])
    add("non-UTF-8 file name compare", ["compare", sur, "kimi-k2", "-f", "json"], exits=(0,), json_out=True)

    # --- quantization_config ------------------------------------------------------------------------
    def quant(name, q):
        return cfg(f"q_{name}.json", json.dumps({**GOOD, "quantization_config": q}))

    ct = {"quant_method": "compressed-tensors", "format": "pack-quantized",
          "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int",
                                                                            "group_size": 32, "symmetric": True}}}}
    qcases = {
        "ignore [1]": {**ct, "ignore": [1]},
        "ignore bad regex": {**ct, "ignore": ["re:("]},
        "ignore catastrophic regex": {**ct, "ignore": ["re:(.*.*)*x"]},
        "ignore a string": {**ct, "ignore": "lm_head"},
        "config_groups weights string": {**ct, "config_groups": {"g": {"weights": "int4"}}},
        "config_groups list": {**ct, "config_groups": [{"weights": {"num_bits": 4}}]},
        "config_groups string": {**ct, "config_groups": "x"},
        "group_size true": {**ct, "config_groups": {"g": {"weights": {"num_bits": 4, "group_size": True}}}},
        "weight_block_size 5": {"quant_method": "fp8", "weight_block_size": 5},
        "weight_block_size [true,true]": {"quant_method": "fp8", "weight_block_size": [True, True]},
        "weight_block_size strings": {"quant_method": "fp8", "weight_block_size": ["128", "128"]},
        "weight_block_size 3 ints": {"quant_method": "fp8", "weight_block_size": [128, 128, 128]},
        "weight_block_size huge": {"quant_method": "fp8", "weight_block_size": [2**70, 1]},
        "quant_method list": {"quant_method": ["fp8"]},
        "fmt number": {"quant_method": "fp8", "fmt": 5},
        "scale_fmt list": {"quant_method": "fp8", "scale_fmt": [1]},
    }
    for label, q in qcases.items():
        add(f"quantization_config {label}", ["checkpoint", "--config", quant(label.replace(" ", "_"), q)])
    add("bad regex via plan", ["plan", "--config", d / "q_ignore_bad_regex.json", "--gpu", "h200", "--gpus", "8",
                               "--tp", "8"])
    add("bad regex via --set", ["checkpoint", "-p", "kimi-k2.5", "--set",
                                "quantization_config={quant_method: compressed-tensors, format: pack-quantized, "
                                "config_groups: {g: {weights: {num_bits: 4, group_size: 32}}}, ignore: ['re:[']}"])
    add("quant --weights int4 with bad ignore", ["plan", "--config", d / "q_ignore_[1].json", "--search",
                                                  "--weights", "int4"])

    # --- GPU catalogs ---------------------------------------------------------------------------------
    def gpu_file(name, entry_yaml):
        base = ("  - name: {n}\n    memory_bytes: 85899345920\n    hbm_bandwidth_tb_per_s: 3\n"
                "    bf16_dense_tflops: 900\n    link_bandwidth_gb_per_s: 900\n    gpus_per_node: 8\n")
        return cfg(f"gpu_{name}.yaml", "gpus:\n" + base.format(n=name) + entry_yaml)

    g_int_key = cfg("gpu_intkey.yaml", "gpus:\n  - 5: 1\n    name: x\n")
    add("catalog integer key", ["gpus", "--gpu-file", g_int_key])
    add("catalog integer key (plan)", ["plan", "-p", "kimi-k2", "--gpu", "x", "--gpu-file", g_int_key])
    g_entries = {
        "huge_node": "    gpus_per_node: 1000000000000\n",
        "huge_mem": "    memory_bytes: " + "9" * 400 + "\n",
        "big_mem": "    memory_bytes: 1000000000000000000000000\n",
        "inf_price": "    price_per_gpu_hour_usd: .inf\n",
        "nan_bw": "    hbm_bandwidth_tb_per_s: .nan\n",
        "inf_tflops": "    bf16_dense_tflops: .inf\n",
        "huge_price": "    price_per_gpu_hour_usd: 1e300\n",
        "bool_node": "    gpus_per_node: true\n",
        "name_list": "    name: [a]\n",
        "alias_int": "    aliases: [5]\n",
    }
    base_gpu = {"name": "zz", "memory_bytes": "85899345920", "hbm_bandwidth_tb_per_s": "3", "bf16_dense_tflops": "900",
                "link_bandwidth_gb_per_s": "900", "gpus_per_node": "8"}
    for label, extra in g_entries.items():
        key, _, value = extra.strip().partition(": ")
        entry = {**base_gpu, key: value}
        f = cfg(f"gpu_{label}.yaml", "gpus:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in entry.items()) + "\n")
        add(f"catalog {label} gpus json", ["gpus", "--gpu-file", f, "-f", "json"], exits=(2,), json_out=True)
        add(f"catalog {label} plan --search", ["plan", "-p", "deepseek-v3", "--search", "--gpu", "zz", "--gpu-file",
                                                 f, "-f", "json"], exits=(2,), json_out=True, timed=True)
    price = cfg("gpu_price.yaml", "gpus:\n  - name: zz\n    memory_bytes: 85899345920\n    hbm_bandwidth_tb_per_s: 3\n"
                "    bf16_dense_tflops: 900\n    link_bandwidth_gb_per_s: 900\n    gpus_per_node: 8\n"
                "    price_per_gpu_hour_usd: 2.5\n")
    add("catalog with a price (valid)", ["plan", "-p", "deepseek-v3", "--search", "--gpu", "zz", "--gpu-file", price,
                                         "-f", "json"], exits=(0,), json_out=True)

    # --- checkpoints (verify) -------------------------------------------------------------------------
    ck = d / "ck_empty"
    ck.mkdir()
    (ck / "config.json").write_text(json.dumps(GOOD))
    add("verify a folder with only config.json", ["verify", ck])

    small = {"model_type": "deepseek_v3", "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16,
             "moe_intermediate_size": 4, "num_hidden_layers": 2, "num_attention_heads": 2, "kv_lora_rank": 4,
             "qk_nope_head_dim": 2, "qk_rope_head_dim": 2, "v_head_dim": 2, "n_routed_experts": 2,
             "num_experts_per_tok": 1, "first_k_dense_replace": 1, "tie_word_embeddings": True,
             "num_nextn_predict_layers": 0}
    small_cfg = cfg("small.json", json.dumps(small))
    from k2calc.config import load as _load  # the expected tensors of the tiny model, from this checkout
    from k2calc.analysis.checkpoint import DTYPE_BYTES, checkpoint_tensors, weight_format

    spec = _load(small_cfg)
    stored, _ = checkpoint_tensors(spec, weight_format(spec.config))
    tensors = [(s.name.replace("{e}", str(e)), s.shape, s.dtype) for s in stored for e in range(s.copies)]

    def header(offsets):
        return {n: {"dtype": dt, "shape": list(sh), "data_offsets": list(o)} for (n, sh, dt), o in zip(tensors, offsets)}

    sizes = [max(1, 1) * DTYPE_BYTES[dt] * _prod(sh) for _, sh, dt in tensors]
    contiguous, pos = [], 0
    for s in sizes:
        contiguous.append((pos, pos + s))
        pos += s

    def ckpt(name, hdr, data=None, length=None, index=None):
        p = d / f"ck_{name}"
        p.mkdir()
        (p / "config.json").write_text(json.dumps(small))
        if index is not None:
            (p / "model.safetensors.index.json").write_text(index if isinstance(index, str) else json.dumps(index))
        if hdr is not None:
            _safetensors(p / "model.safetensors", hdr, b"\0" * pos if data is None else data, length)
        return p

    add("verify a sound checkpoint", ["verify", ckpt("ok", header(contiguous))], exits=(0,))
    add("verify 2^30 experts", ["verify", d / "ck_ok", "--set", "n_routed_experts=1073741824"], exits=(1, 2),
        timed=True)
    add("verify 2^40 vocab", ["verify", d / "ck_ok", "--set", "vocab_size=1099511627776"], exits=(1, 2))
    add("verify header with no data", ["verify", ckpt("nodata", header(contiguous), data=b"")], exits=(1, 2))
    add("verify every tensor at offset 0", ["verify", ckpt("zero", header([(0, s) for s in sizes]))], exits=(1, 2))
    shifted = list(contiguous)
    shifted[0] = (shifted[0][0], shifted[0][1] - 10)
    shifted[1] = (shifted[1][0] - 10, shifted[1][1])
    add("verify one 10 short, next 10 long", ["verify", ckpt("shortlong", header(shifted))], exits=(1, 2))
    overlap = list(contiguous)
    overlap[1] = (overlap[1][0] - 4, overlap[1][1] - 4)
    add("verify overlapping tensors", ["verify", ckpt("overlap", header(overlap))], exits=(1, 2))
    gap = [(b + 8, e + 8) for b, e in contiguous]
    add("verify data past the end", ["verify", ckpt("pastend", header(gap))], exits=(1, 2))
    add("verify begin > end", ["verify", ckpt("reversed", header([(e, b) for b, e in contiguous]))], exits=(1, 2))
    add("verify header length beyond the file", ["verify", ckpt("len", header(contiguous), length=2**40)])
    add("verify deep header", ["verify", ckpt("deephdr", b"[" * deep + b"]" * deep)])
    add("verify bigint header", ["verify", ckpt("bigint", b'{"a": {"dtype": "F32", "shape": [' + digits.encode()
                                               + b'], "data_offsets": [0, 4]}}')], exits=(1, 2))
    hdr98 = b'{"__metadata__": {"x": "' + b"y" * (98 * 10**6) + b'"}}'
    add("verify 98 MB header", ["verify", ckpt("hdr98", hdr98)], exits=(1, 2), timed=True)
    many = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(600_000)}
    add("verify 600k-tensor header", ["verify", ckpt("many", many, data=b"\0" * 2_400_000)], exits=(1, 2), timed=True)
    add("verify duplicate header key", ["verify", ckpt("dupkey", b'{"a": {"dtype": "F32", "shape": [1], '
                                                   b'"data_offsets": [0, 4]}, "a": 1}', data=b"\0" * 4)],
        exits=(1, 2))
    add("verify unknown dtype", ["verify", ckpt("dtype", {"a": {"dtype": "Q3", "shape": [1], "data_offsets": [0, 1]}},
                                               data=b"\0")], exits=(1, 2))
    shards = {n: "model-00001.safetensors" for n, _, _ in tensors}
    esc = dict(shards)
    esc[tensors[0][0]] = "../../../../../../etc/passwd"
    add("verify index shard leaves the folder", ["verify", ckpt("escape", None, index={"weight_map": esc})])
    absn = dict(shards)
    absn[tensors[0][0]] = "/etc/passwd"
    add("verify index absolute shard", ["verify", ckpt("abs", None, index={"weight_map": absn})])
    for label, total in (("Infinity", "Infinity"), ("1e400", "1e400"), ("-5", "-5"), ("NaN", "NaN"),
                         ("5000 digits", digits), ("string", '"many"'), ("float", "5.5"), ("true", "true")):
        idx = '{"metadata": {"total_size": ' + total + '}, "weight_map": ' + json.dumps(shards) + "}"
        add(f"verify index total_size {label}", ["verify", ckpt(f"ts_{label.replace(' ', '_')}", None, index=idx),
                                                 "-f", "json"], exits=(1, 2), json_out=True)
    add("verify index fifo", ["verify", fifo, "-p", "kimi-k2"])
    ckf = d / "ck_fifo"
    ckf.mkdir()
    (ckf / "config.json").write_text(json.dumps(small))
    os.mkfifo(ckf / "model.safetensors.index.json")
    add("verify index is a fifo", ["verify", ckf])
    ckz = d / "ck_devzero"
    ckz.mkdir()
    (ckz / "config.json").write_text(json.dumps(small))
    (ckz / "model.safetensors").symlink_to("/dev/zero")
    add("verify shard is /dev/zero", ["verify", ckz])
    ckb = d / "ck_bigidx"
    ckb.mkdir()
    (ckb / "config.json").write_text(json.dumps(small))
    (ckb / "model.safetensors.index.json").write_bytes(b'{"weight_map": {"a": "' + b"b" * (200 * 2**20) + b'"}}')
    add("verify 200 MB index", ["verify", ckb], timed=True)

    # --- slow accepted inputs -------------------------------------------------------------------------
    add("plan --search --max-nodes 256", ["plan", "-p", "kimi-k2", "--search", "--max-nodes", "256"],
        exits=(0, 2), timed=True)
    add("plan --search --max-nodes 256 all types json", ["plan", "-p", "deepseek-v3", "--search", "--max-nodes", "256",
                                                          "-f", "json"], exits=(0, 2), timed=True, json_out=True)
    add("kv 20,000 contexts", ["kv", "-p", "kimi-k2", "--context", ",".join(str(i) for i in range(1, 20001))],
        exits=(0, 2), timed=True)
    add("flops 20,000 contexts", ["flops", "-p", "kimi-k2", "--context", ",".join(str(i) for i in range(1, 20001))],
        exits=(0, 2), timed=True)
    add("compare 20,000 contexts", ["compare", "kimi-k2", "deepseek-v3", "--context",
                                    ",".join(str(i) for i in range(1, 20001))], exits=(0, 2), timed=True)
    add("kv 1,000 contexts", ["kv", "-p", "kimi-k2", "--context", ",".join(str(i) for i in range(1, 1001))],
        exits=(0,), timed=True)
    add("compare 50 models", ["compare", *["kimi-k2"] * 50], exits=(0, 2), timed=True)
    add("params 1024 layers", ["params", "-p", "kimi-k2", "--set", "num_hidden_layers=1024", "--tensors"],
        exits=(0,), timed=True)
    add("kv --page-size 1", ["kv", "-p", "kimi-k2", "--page-size", "1", "--context", "1M"], exits=(0,))
    add("plan --search --top 1e6", ["plan", "-p", "kimi-k2", "--search", "--top", "1000000"], exits=(0,), timed=True)

    perf = ["perf", "-p", "kimi-k2", "--gpu", "h200", "--gpus", "16", "--tp", "8", "--dp-attention", "2", "--ep", "16"]
    add("perf --sweep 5000-digit batch", [*perf, "--sweep", "batch=" + digits])
    add("perf --sweep 20,000 points", [*perf, "--sweep", "context=" + ",".join(str(i) for i in range(1, 20001))],
        timed=True)
    add("plan --search with a speed target at 256 nodes", ["plan", "-p", "kimi-k2", "--search", "--max-nodes", "256",
                                                            "--max-tpot-ms", "50"], exits=(0, 2), timed=True)

    gemma = json.loads((REPO / "tests" / "data" / "gemma-3-27b-it.config.json").read_text())
    gemma["text_config"]["layer_types"] = [f"l{i}" for i in range(300_000)]
    add("compare a 300,000-item list field", ["compare", cfg("longlist.json", json.dumps(gemma)),
                                               REPO / "tests" / "data" / "gemma-3-27b-it.config.json"],
        exits=(0, 2), timed=True)

    # --- accepted silently: decided ---------------------------------------------------------------------
    add("n_group not dividing n_routed_experts", ["params", "-p", "deepseek-v3", "--set", "n_group=7"])
    add("model_type contradicting the fields", ["params", "--config", cfg("mt.json", json.dumps(
        {**GOOD, "model_type": "llama"}))], exits=(0,))
    add("--context with a newline", ["kv", "-p", "kimi-k2", "--context", "4k\n"])
    add("--context with a tab", ["kv", "-p", "kimi-k2", "--context", "\t4k"])
    add("model_type a number", ["params", "--set", "model_type=5", "-p", "kimi-k2"])
    add("rope_scaling a list", ["params", "--set", "rope_scaling=[1]", "-p", "kimi-k2"])
    add("torch_dtype int", ["checkpoint", "--set", "torch_dtype=5", "-p", "kimi-k2"])
    add("architectures list of ints", ["params", "--config", cfg("arch.json", json.dumps(
        {**GOOD, "architectures": [1]}))])

    # --- check files, --baseline, --quant-config ---------------------------------------------------------
    add("check fifo", ["check", fifo])
    add("check /dev/zero", ["check", "/dev/zero"])
    add("check alias bomb", ["check", cfg("bombcheck.yaml", bomb + f"deployments: *{last}\n")], timed=True)
    add("check deep", ["check", cfg("deepcheck.yaml", "deployments: " + "[" * deep + "]" * deep + "\n")])
    add("check 5000-digit int", ["check", cfg("intcheck.yaml", f"deployments:\n  - name: {digits}\n")])
    add("check ~nosuchuser", ["check", "~nosuchuser_k2/c.yaml"])
    okcheck = cfg("okcheck.yaml", "deployments:\n  - name: a\n    model: kimi-k2\n    gpu: h200\n    gpus: 16\n"
                  "    tp: 8\n    dp_attention: 2\n    ep: 16\n    weights: fp8\n    workload: {context: 4096}\n")
    add("check a sound file (valid)", ["check", okcheck], exits=(0,))
    add("check --baseline fifo", ["check", okcheck, "--baseline", fifo])
    add("check --baseline deep", ["check", okcheck, "--baseline", d / "deep.json"])
    add("check --baseline /dev/zero", ["check", okcheck, "--baseline", "/dev/zero"])
    add("check --baseline NaN", ["check", okcheck, "--baseline", cfg("nanbase.json", '{"deployments": NaN}')])
    add("--quant-config fifo", ["checkpoint", "-p", "deepseek-v3", "--quant-config", fifo])
    add("--quant-config /dev/zero", ["checkpoint", "-p", "deepseek-v3", "--quant-config", "/dev/zero"])
    add("--quant-config bad pattern", ["checkpoint", "-p", "deepseek-v3", "--quant-config", cfg(
        "hfq.json", json.dumps({"quantization": {"quant_algo": "NVFP4", "group_size": 16,
                                                 "exclude_modules": ["re:("]}}))])
    add("--quant-config alias bomb", ["checkpoint", "-p", "deepseek-v3", "--quant-config", cfg(
        "hfq.yaml", bomb + f"quantization: {{quant_algo: NVFP4, group_size: 16, exclude_modules: *{last}}}\n")],
        timed=True)
    add("--quant-config ~nosuchuser", ["checkpoint", "-p", "deepseek-v3", "--quant-config", "~nosuchuser_k2/q.json"])

    # --- the CLI helper's part (counted apart) ----------------------------------------------------------
    add("--format xml", ["params", "-p", "kimi-k2", "--format", "xml"], owner="cli")
    add("unknown subcommand", ["frobnicate"], owner="cli")
    add("--format ''", ["params", "-p", "kimi-k2", "--format", ""], owner="cli")
    add("kv --batch abc", ["kv", "-p", "kimi-k2", "--batch", "abc"], owner="cli")
    add("json to /dev/full", [], shell="{py} -m k2calc params -p kimi-k2 -f json > /dev/full", exits=(1,), owner="cli")
    add("json with stdout closed", [], shell="{py} -m k2calc params -p kimi-k2 -f json >&-", exits=(1,), owner="cli")
    add("json with stderr closed", [], shell="{py} -m k2calc params -p kimi-k2.5 -f json 2>&-", exits=(0,), owner="cli")
    add("missing config with stderr closed", [], shell="{py} -m k2calc params --config /nonexistent.json 2>&-",
        owner="cli")
    add("LC_ALL=C non-UTF-8 stdout", ["params", "-p", "kimi-k2"], exits=(0,),
        env={"PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "LC_ALL": "C", "PYTHONIOENCODING": ""}, owner="cli")
    add("surrogate in a model name", ["compare", f"{sur}", "kimi-k2"], exits=(0,), owner="cli")
    add("compare names the --gpus option", ["compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus",
                                            "1099511627776"], owner="cli")
    return cases


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(case: Case, python: str, env: dict[str, str]) -> tuple[bool, str, float]:
    """(held, why not, seconds)."""
    full_env = {**env, **case.env}
    t0 = time.perf_counter()
    try:
        if case.shell:
            cmd = case.shell.format(py=python)
            p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=not ("2>&-" in cmd), timeout=TIME_LIMIT,
                               env=full_env, preexec_fn=_limit, stdin=subprocess.DEVNULL)
        else:
            p = subprocess.run([python, "-m", "k2calc", *case.args], capture_output=True, timeout=TIME_LIMIT,
                               env=full_env, preexec_fn=_limit,
                               input=case.stdin if case.stdin is not None else None,
                               stdin=None if case.stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, f"timeout after {TIME_LIMIT:g} s", time.perf_counter() - t0
    except (ValueError, OSError) as e:  # NUL in argv, an argument over 128 KiB: the OS cannot run it
        return True, f"not runnable ({e})", 0.0
    took = time.perf_counter() - t0
    out = p.stdout or b""
    err = (p.stderr or b"").decode("utf-8", "replace")
    if b"Traceback" in out or "Traceback" in err:
        last = [line for line in err.splitlines() if line.strip()][-1:]
        return False, f"traceback: {last[0][:200] if last else ''}", took
    if p.returncode not in case.exits:
        first = err.strip().splitlines()[:1]
        return False, f"exit {p.returncode} (want {case.exits}): {first[0][:200] if first else ''}", took
    lines = [line for line in err.splitlines() if line.strip()]
    if any(len(line) > LINE_LIMIT for line in lines):
        return False, f"a stderr line of {max(map(len, lines)):,} characters", took
    if p.returncode == 2 and not case.shell:
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return False, f"exit 2 with {len(lines)} stderr lines: {lines[:1]}", took
    if case.json_out and p.returncode in (0, 1):
        try:
            _strict_json(out.decode())
        except ValueError as e:
            return False, f"stdout is not strict JSON: {str(e)[:120]}", took
    return True, "", took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", help="run this checkout's k2calc (put on PYTHONPATH)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("-k", help="only cases whose name contains this")
    ap.add_argument("-v", action="store_true", help="show every case")
    args = ap.parse_args()
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    if args.src:
        env["PYTHONPATH"] = args.src
    with tempfile.TemporaryDirectory() as tmp:
        cases = build(Path(tmp))
        if args.k:
            cases = [c for c in cases if args.k in c.name]
        held = {"inputs": [0, 0], "cli": [0, 0]}
        for c in cases:
            ok, why, took = run(c, args.python, env)
            held[c.owner][0] += 1
            held[c.owner][1] += ok
            if not ok or args.v or c.timed:
                mark = "ok  " if ok else "FAIL"
                print(f"{mark} {took:6.2f}s [{c.owner}] {c.name}{': ' + why if why else ''}", flush=True)
        for owner, (n, k) in held.items():
            print(f"{owner}: ran {n}, held {k}")
        total = sum(n for n, _ in held.values()), sum(k for _, k in held.values())
        print(f"all: ran {total[0]}, held {total[1]}")


if __name__ == "__main__":
    main()
