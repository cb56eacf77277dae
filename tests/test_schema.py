"""Every command's --format json output validates against `k2calc schema COMMAND`, strictly: each key
it writes is declared, each declared required key is there, with the declared type. The validator is
the small subset of JSON Schema that pydantic emits (jsonschema is not a dependency)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DATA


def validate(value, schema: dict, root: dict, path: str = "$") -> None:
    """Raise AssertionError naming the JSON path where `value` breaks `schema`. Objects are closed:
    a key the schema does not declare is an error (so a renamed key cannot slip through)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return validate(value, root["$defs"][name], root, path)
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            errors = []
            for option in schema[combinator]:
                try:
                    return validate(value, option, root, path)
                except AssertionError as e:
                    errors.append(str(e))
            raise AssertionError(f"{path}: matches none of {combinator}: {errors}")
    if "const" in schema:
        assert value == schema["const"], f"{path}: {value!r} != {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    kind = schema.get("type")
    checks = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
              "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "null": lambda v: v is None}
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        assert any(checks[k](value) for k in kinds), f"{path}: {value!r} is not {kind}"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            assert key in value, f"{path}: required key {key!r} missing"
        extra = schema.get("additionalProperties", not props)  # closed when properties are listed
        for key, item in value.items():
            if key in props:
                validate(item, props[key], root, f"{path}.{key}")
            elif isinstance(extra, dict):
                validate(item, extra, root, f"{path}.{key}")
            else:
                assert extra, f"{path}: key {key!r} is not in the schema"
    if isinstance(value, list):
        prefix = schema.get("prefixItems")
        if prefix is not None:
            assert len(value) == len(prefix), f"{path}: {len(value)} items, schema has {len(prefix)}"
            for i, (item, sub) in enumerate(zip(value, prefix)):
                validate(item, sub, root, f"{path}[{i}]")
        elif "items" in schema:
            for i, item in enumerate(value):
                validate(item, schema["items"], root, f"{path}[{i}]")


RUNS = [
    ("params", "--preset", "kimi-k2.5", "--tensors", "--explain"),
    ("params", "--preset", "deepseek-v3"),
    ("presets",),
    ("flops", "--preset", "kimi-k2", "--explain", "--tokens-per-s", "1e6", "--gpus", "2048", "--gpu", "h800"),
    ("kv", "--preset", "deepseek-v3.2", "--context", "4k,128k", "--gqa", "8", "--mtp", "--explain"),
    ("checkpoint", "--preset", "kimi-k2.5"),
    ("gpus",),
    ("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "8"),
    ("plan", "--preset", "kimi-k2", "--search", "--context", "128k"),
    ("plan", "--preset", "deepseek-v3", "--search", "--pd", "--request-rate", "10", "--input", "2000", "--output",
     "500", "--max-tpot-ms", "50", "--gpu", "h200", "--max-nodes", "2"),
    ("perf", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--sweep", "batch=1,8"),
    ("perf", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--input", "1k", "--output", "256",
     "--sweep", "batch=1,8", "--price-per-gpu-hour", "2"),
    ("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--explain"),
]


@pytest.mark.parametrize("args", RUNS, ids=lambda a: " ".join(a[:2]))
def test_json_output_matches_the_published_schema(run, args):
    schema = json.loads(run("schema", args[0]).stdout)
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    validate(json.loads(result.stdout), schema, schema)


def test_verify_json_matches_its_schema(run, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_bytes((DATA / "deepseek-v3.config.json").read_bytes())
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 1}, "weight_map": {"model.embed_tokens.weight": "model-00001.safetensors"}}))
    schema = json.loads(run("schema", "verify").stdout)
    result = run("verify", str(folder), "--format", "json")
    assert result.exit_code == 1, result.output  # the checkpoint differs from the model
    validate(json.loads(result.stdout), schema, schema)


def test_check_json_matches_its_schema(run, tmp_path):
    from tests.test_check import FAILING

    path = tmp_path / "deployments.yaml"
    path.write_text(FAILING)
    schema = json.loads(run("schema", "check").stdout)
    result = run("check", str(path), "--format", "json")
    assert result.exit_code == 1, result.output  # one requirement fails
    data = json.loads(result.stdout)
    validate(data, schema, schema)
    assert set(data["deployments"][0]["layout"]) == {"tp", "dp_attention", "pp", "ep", "redundant_experts", "mtp"}


def test_every_command_that_writes_json_has_a_schema():
    from k2calc.cli import app
    from k2calc.schema import COMMANDS

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert names - set(COMMANDS) == {"plot", "schema"} and set(COMMANDS) <= names  # plot writes files; schema is the schemas


def test_the_validator_rejects_a_renamed_key(run_json, run):
    schema = json.loads(run("schema", "kv").stdout)
    data = run_json("kv", "--preset", "deepseek-v3", "--context", "4k")
    validate(data, schema, schema)
    data["sweep"][0]["bytes_total"] = data["sweep"][0].pop("total_bytes")
    with pytest.raises(AssertionError, match="total_bytes' missing"):
        validate(data, schema, schema)
    data["sweep"][0]["total_bytes"] = 0
    with pytest.raises(AssertionError, match="'bytes_total' is not in the schema"):
        validate(data, schema, schema)


def test_one_vocabulary_across_commands(run_json):
    kv = run_json("kv", "--preset", "deepseek-v3", "--context", "4k")
    ckpt = run_json("checkpoint", "--preset", "deepseek-v3")
    assert "total_bytes" in kv["sweep"][0] and "total_bytes" in ckpt  # one name for a byte total
    params = run_json("params", "--preset", "deepseek-v3")
    assert isinstance(ckpt["tensors"], int) and isinstance(params["tensor_groups"], list)
    plan = run_json("plan", "--preset", "deepseek-v3", "--gpu", "h200", "--gpus", "8")
    search = run_json("plan", "--preset", "deepseek-v3", "--search", "--gpu", "h200", "--max-nodes", "1")
    compare = run_json("compare", "kimi-k2", "deepseek-v3", "--gpu", "h200", "--gpus", "8")
    fits = next(row for row in compare["plan"] if row["fits"])
    for layout in (plan["layout"], search["results"][0]["layout"], fits["layout"]):
        assert set(layout) == {"tp", "dp_attention", "pp", "ep", "redundant_experts", "mtp"}
    assert plan["weight_format"]["name"] == ckpt["weight_format"]["name"] == "fp8"
    # bytes per GPU: one name in plan's per_gpu, search rows and compare's plan rows
    assert {"weights", "free"} <= set(plan["per_gpu"]) & set(search["results"][0]) & set(fits)


def test_compare_rows_keep_their_keys_whatever_the_options(run_json):
    bf16 = run_json("compare", "kimi-k2", "deepseek-v3")
    fp8 = run_json("compare", "kimi-k2", "deepseek-v3", "--kv-dtype", "fp8")
    assert [r["key"] for r in bf16["kv"]] == [r["key"] for r in fp8["kv"]]
    assert [r["label"] for r in bf16["kv"]] != [r["label"] for r in fp8["kv"]]


def test_schema_of_an_unknown_command_is_one_line(run):
    result = run("schema", "plots")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "plot" in result.stderr


def _keys(schema) -> set[str]:
    """Every property name anywhere in a JSON Schema."""
    if isinstance(schema, dict):
        return set(schema.get("properties", {})) | {k for v in schema.values() for k in _keys(v)}
    if isinstance(schema, list):
        return {k for v in schema for k in _keys(v)}
    return set()


def test_perf_and_compare_name_cost_and_throughput_one_way(run):
    keys = set().union(*(_keys(json.loads(run("schema", c).stdout)) for c in ("perf", "compare")))
    assert {k for k in keys if k.startswith("cost_per_million")} == {"cost_per_million_tokens_usd"}
    assert not {k for k in keys if k.startswith("output_tokens_per_s")}
