"""Property: a user's mistake never produces a traceback.

Every command gets argument lists mixing valid and invalid values (numbers, sizes, model refs with
`@` overrides, `--set` pairs, files that are missing, folders, binary, empty, YAML with tags, ...).
Whatever the input, the CLI must end with exit 0, 1 (plan --check / verify: "does not fit", "mismatch")
or 2, never let an exception escape, and on exit 2 say exactly one line on stderr: `error: ...` (a
parse error from the option parser too).
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from k2calc.cli import app

DATA = Path(__file__).parent / "data"
ENV = {"COLUMNS": "120", "NO_COLOR": "1"}
# K2CALC_FUZZ_EXAMPLES=2000 for a longer hunt; 60 per command keeps the suite fast.
SETTINGS = settings(max_examples=int(os.environ.get("K2CALC_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                    database=None)

# ---------------------------------------------------------------------------------------------------
# Files: one module-scoped folder, made once (paths are fixed so strategies can name them up front).


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("fuzz")
    (d / "folder").mkdir()
    (d / "binary.json").write_bytes(b"\x00\x01\x02\xff" * 8)
    (d / "latin1.json").write_bytes(b'{"hidden_size": "\xe9"}')
    (d / "empty.json").write_text("")
    (d / "empty.yaml").write_text("   \n")
    (d / "tag.yaml").write_text("config: !!python/object/apply:os.system ['true']\n")
    (d / "list.json").write_text("[1, 2]\n")
    (d / "scalar.yaml").write_text("7168\n")
    (d / "bad.json").write_text('{"hidden_size": 7168,,}')
    (d / "bad.yaml").write_text("config: [unclosed\n")
    (d / "noext").write_text("{: :\n")
    good = json.loads((DATA / "deepseek-v3.config.json").read_text())
    (d / "good.config.json").write_text(json.dumps(good))
    (d / "preset.yaml").write_text("name: mine\nconfig:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in good.items()))
    (d / "zero.json").write_text(json.dumps({**good, "hidden_size": 0}))
    (d / "strings.json").write_text(json.dumps({**good, "hidden_size": "7168", "quantization_config": "fp8"}))
    (d / "huge.json").write_text(json.dumps({**good, "vocab_size": 10**30, "num_hidden_layers": 10**6}))
    (d / "floats.json").write_text(json.dumps({**good, "num_attention_heads": 128.0, "rope_theta": "nan"}))
    (d / "weirdquant.json").write_text(json.dumps({**good, "quantization_config": {"quant_method": "fp8",
                                                                                   "weight_block_size": [0, 128]}}))
    (d / "weirdquant2.json").write_text(json.dumps({**good, "quantization_config": {"quant_method": "awq"},
                                                    "torch_dtype": "float8"}))
    (d / "textcfg.json").write_text(json.dumps({"model_type": "mm", "text_config": {**good, "hidden_size": -1}}))
    (d / "modelargs.json").write_text(json.dumps({"dim": 7168, "n_layers": 61}))
    # hostile files (issue 9): an alias bomb, deep nesting, a 5,000-digit integer, a repeated key, NaN
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
    (d / "bomb.yaml").write_text(bomb + "config: *i\ngpus: *i\n")
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "bigint.json").write_text(json.dumps(good)[:-1] + ', "hidden_size": ' + "9" * 5000 + "}")
    (d / "dup.json").write_text(json.dumps(good)[:-1] + ', "hidden_size": 1}')
    (d / "nan.json").write_text(json.dumps(good)[:-1] + ', "extra": NaN}')
    model = d / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(good))
    ckpt = d / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(good))
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": "many"}, "weight_map": {"model.embed_tokens.weight": "model-00001.safetensors"}}))
    (ckpt / "model-00001.safetensors").write_bytes(b"\xff" * 16)
    ckpt2 = d / "ckpt2"
    ckpt2.mkdir()
    (ckpt2 / "model.safetensors.index.json").write_text("[]")
    ckpt3 = d / "ckpt3"
    ckpt3.mkdir()
    (ckpt3 / "config.json").write_text(json.dumps(good))
    (ckpt3 / "model.safetensors.index.json").write_text(json.dumps({"weight_map": [1]}))
    gpus = d / "gpus"
    gpus.mkdir()
    (gpus / "ok.yaml").write_text(
        "gpus:\n  - name: tiny\n    memory_bytes: 1024\n    hbm_bandwidth_tb_per_s: 1\n    bf16_dense_tflops: 1\n"
        "    link_bandwidth_gb_per_s: 1\n    gpus_per_node: 1\n")
    (gpus / "typo.yaml").write_text("gpus:\n  - name: x\n    memory_byte: 1\n")
    (gpus / "notlist.yaml").write_text("gpus: 3\n")
    (gpus / "entries.yaml").write_text("gpus: [1, 'a', null]\n")
    (gpus / "noname.yaml").write_text("gpus:\n  - {memory_bytes: 0}\n")
    (gpus / "namenum.yaml").write_text(
        "gpus:\n  - name: 5\n    aliases: [7]\n    memory_bytes: 80000000000\n    hbm_bandwidth_tb_per_s: .inf\n"
        "    bf16_dense_tflops: .nan\n    link_bandwidth_gb_per_s: 1\n    gpus_per_node: 8\n")
    checks = d / "checks"
    checks.mkdir()
    ok = ("deployments:\n  - {name: a, model: kimi-k2, gpu: h200, tp: 8, engine: vllm, weights: fp8,\n"
          "     workload: {context: 4k, batch: 2, avg_context: 1k}, require: {fits: true, min_kv_tokens: 1}}\n")
    (checks / "ok.yaml").write_text(ok)
    (checks / "weird.yaml").write_text(ok.replace("tp: 8", "tp: -3").replace("context: 4k", "context: 1e999"))
    (checks / "types.yaml").write_text("defaults: 3\ndeployments: [1, null, {name: 5}]\n")
    (checks / "values.yaml").write_text(ok.replace("engine: vllm", "engine: sglang, mem_fraction: .nan, "
                                                    "max_num_seqs: 0, block_size: 99999999999999999999"))
    (checks / "serving.yaml").write_text(ok.replace("fits: true", "max_ttft_ms: 5"))
    (checks / "model.yaml").write_text(ok.replace("kimi-k2", "../good.config.json@hidden_size=0"))
    (checks / "baseline.json").write_text('{"deployments": [{"name": "a"}]}')
    return {p.relative_to(d).as_posix(): str(p) for p in [d, *d.rglob("*")]} | {"<missing>": str(d / "missing.json"),
                                                                           "<root>": str(d)}


# Names in the fixture's folder; a strategy draws the name, the test maps it to the real path.
CONFIG_FILES = ["<missing>", "<root>", "folder", "binary.json", "latin1.json", "empty.json", "empty.yaml", "tag.yaml",
                "list.json", "scalar.yaml", "bad.json", "bad.yaml", "noext", "good.config.json", "preset.yaml",
                "zero.json", "strings.json", "huge.json", "floats.json", "weirdquant.json", "weirdquant2.json",
                "textcfg.json", "modelargs.json", "model", "ckpt", "bomb.yaml", "deep.json", "bigint.json", "dup.json",
                "nan.json"]
GPU_FILES = ["<missing>", "folder", "binary.json", "empty.yaml", "tag.yaml", "list.json", "bad.yaml", "good.config.json",
             "gpus/ok.yaml", "gpus/typo.yaml", "gpus/notlist.yaml", "gpus/entries.yaml", "gpus/noname.yaml",
             "gpus/namenum.yaml", "bomb.yaml", "deep.json", "bigint.json"]
CHECK_FILES = ["checks/ok.yaml", "checks/weird.yaml", "checks/types.yaml", "checks/values.yaml",
               "checks/serving.yaml", "checks/model.yaml", "<missing>", "folder", "binary.json", "empty.yaml",
               "tag.yaml", "list.json", "bad.yaml"]
CHECKPOINTS = ["<missing>", "folder", "binary.json", "empty.json", "model", "ckpt", "ckpt2", "ckpt3",
               "ckpt/model.safetensors.index.json", "ckpt/model-00001.safetensors"]


class F(str):
    """A file name of the fixture's folder, replaced by its path at run time."""


# ---------------------------------------------------------------------------------------------------
# Value pools

WEIRD = ["", " ", "0", "-1", "-0", "1.5", "1e9", "1e999", "99999999999999999999999", "nan", "inf", "-inf", "１２",
         "é", "☃", "0x10", "1_000", "--", "-", "@", "a\tb", "x\ny", "None", "null", "true", "[1]", "{a: 1}"]
INTS = ["0", "1", "2", "3", "4", "8", "16", "64", "7", "-1", "-8", "1000000", "99999999999999999999", "2.0", "nan", "",
        "1e3", "9" * 400, str(2**40 + 1)]
FLOATS = ["0", "0.5", "0.9", "1", "1.5", "-0.1", "nan", "inf", "-inf", "1e308", "1e-320", "", "1e999", "x"]
SIZES = ["1", "4k", "128k", "1M", "0", "-4k", "1.5k", "4096", "1e9", "1e12", "2e40", "nan", "inf", "", ",", ",,",
         "128k,", "4k,32k", "4K", "4kk", "k", "1T", "1_024", "1,024", "0.0001k", "1e-9", "1e999999999999",
         "1e-999999999999", "0x10", "１２", "4 k"]
COUNTS = ["15.5T", "1", "0", "1e30", "2M", "1.5", "-1", "nan", "", "1B", "1G", "1t", "1e999999999999"]
PRESETS = ["kimi-k2", "deepseek-v3", "deepseek-v2.5", "deepseek-v3.2", "kimi-k2.5", "moonlight-16b-a3b", "deepseek-r1",
           "kimi-k3", "", "gpus", "KIMI-K2", "../presets/kimi-k2"]
MODEL_REFS = [*PRESETS, "kimi-k2@hidden_size=0", "kimi-k2@bogus=1", "@", "kimi-k2@", "@hidden_size=1",
              "kimi-k2@hidden_size=", "kimi-k2@=1", "kimi-k2@,,", "kimi-k2@hidden_size=1.5",
              "kimi-k2@hidden_size=nan", "kimi-k2@num_hidden_layers=1,first_k_dense_replace=1",
              "deepseek-v3@n_routed_experts=8,num_experts_per_tok=9", "kimi-k2@hidden_size=7168@x=1",
              "kimi-k2@quantization_config=fp8", "kimi-k2@quantization_config=null", "kimi-k2@torch_dtype=int3",
              "kimi-k2@num_nextn_predict_layers=0", "kimi-k2@vocab_size=99999999999999999999999999",
              "kimi-k2@rope_scaling=[1]", "kimi-k2@moe_layer_freq=100", "deepseek-v3.2@index_topk=null",
              "kimi-k2@max_position_embeddings=1", "kimi-k2@n_group=0", "kimi-k2@topk_group=99",
              *[F(f) for f in CONFIG_FILES]]
SETS = ["hidden_size=0", "hidden_size=-1", "bogus=1", "=", "hidden_size", "hidden_size=", "=1", "hidden_size=1e9",
        "hidden_size=nan", "hidden_size=.inf", "hidden_size=1.5", "hidden_size=true", "hidden_size='7168'",
        "vocab_size=99999999999999999999999", "num_hidden_layers=1", "num_hidden_layers=100000", "kv_lora_rank=1",
        "q_lora_rank=null", "q_lora_rank=0", "rope_scaling=[1,2]", "rope_scaling={factor: x}",
        "quantization_config=fp8", "quantization_config={quant_method: fp8, weight_block_size: [0, 0]}",
        "quantization_config={quant_method: fp8, fmt: e9}", "quantization_config={quant_method: compressed-tensors}",
        "quantization_config={}", "num_nextn_predict_layers=3", "num_nextn_predict_layers=-1", "moe_layer_freq=1000",
        "first_k_dense_replace=61", "max_position_embeddings=1", "n_group=0", "n_group=3", "topk_group=9",
        "torch_dtype=fp4", "torch_dtype=5", "torch_dtype=null", "index_n_heads=64", "tie_word_embeddings=yes",
        "n_shared_experts=100", "model_type=[", "architectures=x", "routed_scaling_factor=nan", "rope_theta=-1",
        "num_attention_heads=7", "num_experts_per_tok=1", "n_routed_experts=1", "qk_rope_head_dim=1",
        "hidden_size: 1", "hidden_size=!!python/object:os.system", "hidden_size=&a", "hidden_size=*a",
        "hidden_size=" + "9" * 400, "kv_lora_rank=" + "9" * 400, "num_hidden_layers=100000000",
        "num_nextn_predict_layers=100000000", "vocab_size=1099511627776"]
FORMATS = ["table", "json", "yaml", "csv", "markdown", "xml", "", "JSON"]
KV_DTYPES = ["bf16", "fp16", "fp8", "fp8-flashmla", "int4", "", "BF16", "fp32"]
WEIGHTS = ["bf16", "fp8", "int4", "fp4", "", "FP8", "nvfp4"]
GPUS = ["h100", "h200", "b200", "mi300x", "H200", "tiny", "5", "h300", "", ",", "h100,h200", "h100,,", " ", "7"]


def opt(name: str, values) -> st.SearchStrategy[list]:
    return st.sampled_from(values).map(lambda v: [name, v])


def flag(name: str) -> st.SearchStrategy[list]:
    return st.just([name])


def weird(name: str) -> st.SearchStrategy[list]:
    return st.one_of(st.sampled_from(WEIRD), st.text(max_size=6)).map(lambda v: [name, v])


MODEL_OPTS = [opt("--preset", PRESETS), opt("-p", MODEL_REFS), opt("--config", [F(f) for f in CONFIG_FILES]),
              opt("--set", SETS), opt("--set", SETS), opt("--format", FORMATS)]


def command(name: str, options: list, positionals: st.SearchStrategy[list] | None = None, base: list | None = None):
    """[name, *base, *positionals, *a few of the options] (each option a list of tokens)."""
    opts = st.lists(st.one_of(*options), max_size=6).map(lambda xs: [t for x in xs for t in x])
    pos = positionals if positionals is not None else st.just([])
    bases = st.sampled_from(base) if base else st.just([])
    return st.tuples(bases, pos, opts).map(lambda t: [name, *t[0], *t[1], *t[2]])


# A valid model most of the time, so the option under test is reached.
WITH_MODEL = [["--preset", "kimi-k2"], ["-p", "deepseek-v3"], ["-p", "deepseek-v3.2"], ["-p", "moonlight-16b-a3b"],
              ["-p", "deepseek-v2.5"], ["-p", "kimi-k2.5"], []]

STRATEGIES = {
    "params": command("params", [*MODEL_OPTS, flag("--tensors"), flag("--explain"), weird("--preset")], base=WITH_MODEL),
    "presets": command("presets", [opt("--format", FORMATS), weird("--format")]),
    "flops": command("flops", [
        *MODEL_OPTS, opt("--prefill", SIZES), opt("--decode", SIZES), opt("--context", SIZES),
        opt("--phase", ["decode", "prefill", "train", ""]), opt("--attention", ["naive", "absorbed", "mha", ""]),
        flag("--all-logits"), flag("--mtp"), opt("--seq-len", SIZES), opt("--train-tokens", COUNTS),
        opt("--tokens-per-s", FLOATS), opt("--gpus", INTS), opt("--peak-tflops", FLOATS), opt("--gpu", GPUS),
        opt("--gpu-dtype", ["bf16", "fp8", "fp4", ""]), flag("--explain"), weird("--context")], base=WITH_MODEL),
    "kv": command("kv", [
        *MODEL_OPTS, opt("--context", SIZES), opt("--batch", INTS), opt("--kv-dtype", KV_DTYPES), opt("--gqa", INTS),
        opt("--page-size", INTS), flag("--mtp"), flag("--explain"), weird("--context")], base=WITH_MODEL),
    "checkpoint": command("checkpoint", [*MODEL_OPTS, opt("--weights", WEIGHTS)], base=WITH_MODEL),
    "verify": command("verify", [*MODEL_OPTS, opt("--weights", WEIGHTS)],
                      positionals=st.sampled_from(CHECKPOINTS).map(lambda f: [F(f)])),
    "gpus": command("gpus", [opt("--gpu-file", [F(f) for f in GPU_FILES]), opt("--format", FORMATS)]),
    "plan": command("plan", [
        *MODEL_OPTS, opt("--gpu", GPUS), opt("--gpus", INTS), opt("--tp", INTS), opt("--dp-attention", INTS),
        opt("--ep", INTS), opt("--pp", INTS), opt("--redundant-experts", INTS), flag("--mtp"), opt("--context", SIZES),
        opt("--batch", INTS), opt("--chunk", SIZES), opt("--weights", WEIGHTS), opt("--kv-dtype", KV_DTYPES),
        opt("--mem-fraction", FLOATS), opt("--activations-gib", FLOATS), opt("--overhead-gib", FLOATS),
        opt("--gpu-file", [F(f) for f in GPU_FILES]), flag("--check"), flag("--search"), opt("--max-nodes", INTS),
        opt("--top", INTS), opt("--engine", ["generic", "vllm", "sglang", "trtllm", "vlm", ""]),
        opt("--max-num-seqs", INTS), opt("--max-num-batched-tokens", INTS), opt("--block-size", INTS),
        opt("--avg-context", SIZES), opt("--max-tpot-ms", FLOATS),
        opt("--min-tokens-per-s", FLOATS), opt("--max-ttft-ms", FLOATS), flag("--pd"), opt("--request-rate", FLOATS),
        opt("--input", SIZES), opt("--output", SIZES)], base=[["-p", "kimi-k2", "--gpu", "h200"], ["-p", "deepseek-v3", "--gpu", "h100"],
                                   ["-p", "moonlight-16b-a3b", "--search"], ["-p", "deepseek-v3.2", "--gpu", "b200"],
                                   ["-p", "kimi-k2.5", "--gpu", "h200", "--tp", "8"], []]),
    "perf": command("perf", [
        *MODEL_OPTS, opt("--gpu", GPUS), opt("--gpus", INTS), opt("--tp", INTS), opt("--dp-attention", INTS),
        opt("--ep", INTS), opt("--pp", INTS), opt("--redundant-experts", INTS), opt("--weights", WEIGHTS),
        opt("--expert-weights", WEIGHTS), opt("--kv-dtype", KV_DTYPES), opt("--mtp", INTS),
        opt("--acceptance", FLOATS), opt("--phase", ["decode", "prefill", "x"]), opt("--batch", INTS),
        opt("--context", SIZES), opt("--chunk", SIZES), opt("--input", SIZES), opt("--output", SIZES),
        opt("--sweep", ["batch=1,4", "context=1k,4k", "batch=", "x=1", "batch=0", "context=,", "batch=a"]),
        opt("--price-per-gpu-hour", FLOATS), flag("--no-overlap"), opt("--compute-efficiency", FLOATS),
        opt("--memory-efficiency", FLOATS), opt("--layer-latency-us", FLOATS), opt("--imbalance", FLOATS),
        opt("--gpu-file", [F(f) for f in GPU_FILES])],
        base=[["-p", "deepseek-v3", "--gpu", "h200", "--tp", "8"], ["-p", "kimi-k2", "--gpu", "h100"],
              ["-p", "deepseek-v3", "--gpu", "h100", "--dp-attention", "8", "--ep", "8"], []]),
    "check": command("check", [
        opt("--format", FORMATS), opt("--junit", [F("<root>"), F("folder"), F("out.xml"), F("nodir/out.xml")]),
        opt("--baseline", [F("checks/baseline.json"), F("<missing>"), F("binary.json"), F("list.json"), F("folder")]),
        opt("--gpu-file", [F(f) for f in GPU_FILES])],
        positionals=st.sampled_from(CHECK_FILES).map(lambda f: [F(f)])),
    "compare": command("compare", [
        opt("--context", SIZES), opt("--kv-context", SIZES), opt("--kv-dtype", KV_DTYPES), opt("--gpu", GPUS),
        opt("--gpus", INTS), opt("--gpu-file", [F(f) for f in GPU_FILES]), flag("--all-fields"), flag("--explain"),
        opt("--format", FORMATS), opt("--batch", INTS), opt("--price-per-gpu-hour", FLOATS)],
        positionals=st.lists(st.sampled_from(MODEL_REFS), min_size=0, max_size=3)),
    "schema": command("schema", [flag("-h"), weird("--format")], positionals=st.sampled_from(["params", "plan", "plot", "", "x", "compare"])
                      .map(lambda c: [c])),
    "plot": command("plot", [
        opt("--context", SIZES), opt("--kv-dtype", KV_DTYPES), opt("--batch", INTS),
        opt("--phase", ["decode", "prefill", "x"]), opt("--attention", ["naive", "absorbed", "x"]), opt("--gpu", GPUS),
        opt("--gpus", INTS), opt("--tp", INTS), opt("--dp-attention", INTS), opt("--ep", INTS), opt("--pp", INTS),
        opt("--weights", WEIGHTS), opt("--mem-fraction", FLOATS), opt("--gpu-file", [F(f) for f in GPU_FILES]),
        opt("-o", [F("<root>"), F("folder"), F("out.txt"), F("out.png"), F("out.svg"), F("nodir/out.png"),
                   F("binary.json")])],
        positionals=st.tuples(st.sampled_from(["kv", "flops", "memory", "params", "perf", "bogus", ""]),
                              st.lists(st.sampled_from(MODEL_REFS), min_size=0, max_size=2))
        .map(lambda t: [t[0], *t[1]])),
}


def test_every_command_is_fuzzed():
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert names == set(STRATEGIES)


# ---------------------------------------------------------------------------------------------------
# The property


def _resolve(args: list, files: dict[str, str]) -> list[str]:
    root = Path(files["<root>"])
    return [(files.get(a) or str(root / a)) if isinstance(a, F) else a for a in args]


def assert_no_traceback(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env=ENV)
    exc = result.exception
    shown = f"k2calc {' '.join(map(repr, args))}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        pytest.fail(f"exception escaped: {shown}\n{tb}")
    assert result.exit_code in (0, 1, 2), shown
    assert "Traceback" not in result.output, shown
    if result.exit_code == 1:  # only "does not fit", "mismatch" and a failed requirement exit 1
        assert args[0] in ("verify", "check") or (args[0] == "plan" and "--check" in args), shown
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0] != "error: ", shown


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_cli_never_shows_a_traceback(name, files):
    # Without matplotlib, `plot -o x.png` is a one-line error too: the property holds either way.
    @SETTINGS
    @given(STRATEGIES[name])
    def prop(args):
        assert_no_traceback(_resolve(args, files))

    prop()
