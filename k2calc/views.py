"""Human views of the analyses: each turns a report into `Table`s for the rendering layer."""

from __future__ import annotations

from collections import Counter
from itertools import islice

from .inputs import clip, echo
from .render import GIB, Quantity, Table, human_count
from .sizes import format_context, plain_number


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def params_tables(r, tensors: bool = False) -> list[Table]:
    """ParamReport -> summary, by component, by layer type (and by tensor when asked)."""
    summary = Table(f"{r.model}: parameters", ["figure", "parameters", "≈"])
    summary.add("total (main model, MTP excluded)", r.total, human_count(r.total))
    summary.add("active per token", r.active, human_count(r.active))
    summary.add("MTP modules", r.mtp, human_count(r.mtp))
    summary.add("total with MTP", r.total + r.mtp, human_count(r.total + r.mtp))
    summary.add("transformers' count (router bias = buffer)", r.transformers_count,
                human_count(r.transformers_count))
    summary.caption = ("active = every parameter a token touches except the input embedding table; "
                       "counts use 1000-based prefixes (B = 10^9, T = 10^12)")

    comp = Table("by component (main model)", ["component", "parameters", "share", "active per token"])
    for key, n in r.breakdown.items():
        comp.add(key, n, _share(n, r.total), r.active_breakdown[key])
    comp.add("total", r.total, "100.00%", r.active)

    layers = Table("by layer type", ["layer", "count", "parameters per layer", "active per layer", "parameters"])
    for lt in r.layer_types:
        layers.add(lt.type, lt.count, lt.params_per_layer, lt.active_per_layer, lt.params)

    out = [summary, comp, layers]
    if r.vision is not None:
        vision = Table(f"vision ({r.vision.tower}), counted apart from the language model's total",
                       ["component", "parameters", "≈", "share"])
        for key, n in r.vision.breakdown.items():
            vision.add(key, n, human_count(n), _share(n, r.vision.total))
        vision.add("total", r.vision.total, human_count(r.vision.total), "100.00%")
        vision.add("language model + vision", r.total + r.vision.total, human_count(r.total + r.vision.total), "")
        out.append(vision)
    if not tensors:
        return out
    per_tensor = Table("by tensor", ["module", "kind", "shape [out, in]", "formula", "tensors", "parameters"])
    for g in r.tensor_groups + (r.vision.tensor_groups if r.vision else []):
        per_tensor.add(("mtp: " if g.mtp else "") + g.module, g.kind, "×".join(map(str, g.shape)), g.formula,
                    g.tensors, g.params)
    return out + [per_tensor]


def explain_table(formulas, title: str = "formulas") -> Table:
    """Each figure as numbers substituted into its formula, the formula over config fields beneath."""
    t = Table(title, ["figure", "formula", "numbers", "value"], lines=True)
    for f in formulas:
        t.add(f.name, f.symbolic, f.numeric, f.value)
    return t


def presets_table(items) -> list[Table]:
    t = Table("presets", ["name", "Hugging Face repo", "description"])
    for p in items:
        t.add(p.name, ", ".join([p.hf_repo, *p.aliases]), p.description)
    t.caption = ("a preset is named by its name or its Hugging Face repo id (case-insensitive); "
                 "each holds the published config.json (`--format json` gives each source)")
    return [t]


def _flops(n: float) -> Quantity:
    """A FLOP count cell: people see '98.18 GFLOP' (1000-based), CSV the exact number."""
    return Quantity(n, "FLOP")


def flops_tables(r) -> list[Table]:
    """FlopsReport -> per-context sweep, by component (last context), formulas, training."""
    phase = "decode step" if r.phase == "decode" else "prefill (average per prompt token)"
    prompt = r.phase == "prefill"
    form = f", {r.attention_form} MLA" if r.mla else ""
    sweep = Table(f"{r.model}: forward FLOPs per token, {phase}{form}",
                  ["context", "attended", "linear", "attention", "total per token", "attention share"]
                  + (["whole prompt"] if prompt else []))
    for p in r.sweep:
        sweep.add(format_context(p.context), p.attended, _flops(p.linear), _flops(p.attention), _flops(p.total),
                  f"{100 * p.attention_share:.1f}%", *([_flops(p.phase_total)] if prompt else []))
    cross = (f"attention overtakes the linear layers from context {r.crossover_context:,} "
             f"(≈ {format_context(r.crossover_context) if r.crossover_context % 1024 == 0 else f'{r.crossover_context / 1024:.1f}k'})"
             if r.crossover_context is not None else "attention never overtakes the linear layers")
    sweep.caption = f"{cross}; prefixes are 1000-based (1 GFLOP = 10^9 FLOPs)"

    comp = Table(f"by component at context {format_context(r.context)} (per token)", ["component", "FLOPs", "≈", "share"])
    for key, n in r.by_component.items():
        if n or key == "embedding":
            label = "embedding (lookup, no matmul)" if key == "embedding" else key
            comp.add(label, n, _flops(n), _share(n, r.total))
    comp.add("total", r.total, _flops(r.total), "100.00%")
    extra = []
    if r.parts:  # DeepSeek-V4: the same total in the terms of its paper
        v4 = Table(f"DeepSeek-V4 terms at context {format_context(r.context)} (per token)",
                   ["part", "FLOPs", "≈", "share"])
        for key, n in r.parts.items():
            v4.add(key, n, _flops(n), _share(n, r.total))
        extra.append(v4)

    formulas = Table("formulas", ["term", "formula"])
    for key, text in r.formulas.items():
        formulas.add(key, text)
    formulas.caption = "conventions: " + "; ".join(r.conventions)
    tables = [sweep, comp, *extra, formulas]

    t = r.training
    if t is not None:
        train = Table(f"training, sequence length {t.seq_len:,} ({t.attention_form + ' MLA, ' if r.mla else ''}"
                      "logits for every token)",
                      ["figure", "without MTP", "with MTP"])
        train.add("forward per token", _flops(t.forward_per_token), _flops(t.forward_per_token_mtp))
        train.add("forward + backward per token (3×)", _flops(t.train_per_token), _flops(t.train_per_token_mtp))
        if t.train_tokens:
            train.add(f"total for {human_count(t.train_tokens)} tokens", _flops(t.train_total),
                      _flops(t.train_total_mtp))
        if t.mfu is not None:
            m = t.mfu
            train.add("achieved per GPU", _flops(m.achieved_flops_per_gpu).human() + "/s",
                      _flops(m.achieved_flops_per_gpu_mtp).human() + "/s")
            train.add(f"MFU (peak {_flops(m.peak_flops_per_gpu).human()}/s, {m.peak_source})", f"{100 * m.mfu:.1f}%",
                      f"{100 * m.mfu_with_mtp:.1f}%")
        tables.append(train)
    return tables


def kv_tables(r) -> list[Table]:
    """KVReport -> sizes (per token per layer up to per batch), per-context sweep, MLA vs MHA/GQA."""
    from .render import human_bytes

    sizes = Table(f"{r.model}: KV cache, {r.dtype}", ["figure", "bytes", "≈"])
    sizes.add(f"per token per layer ({r.formats[0].name.split(' (')[0]}: {r.values_per_token_layer} values)", r.mla_bytes_per_token_layer,
              human_bytes(r.mla_bytes_per_token_layer))
    if r.indexer_bytes_per_token_layer:
        sizes.add("per token per layer (indexer keys)", r.indexer_bytes_per_token_layer,
                  human_bytes(r.indexer_bytes_per_token_layer))
    sizes.add(f"per token ({r.layers} layers)", r.bytes_per_token, human_bytes(r.bytes_per_token))
    if r.constant_bytes_per_request:  # windows, compressor or recurrent states: apart from what grows
        sizes.add("growing part, per token of context", f"{r.growing_bytes_per_token:,.2f}",
                  human_bytes(round(r.growing_bytes_per_token)))
        sizes.add("constant part, per request (any length)", r.constant_bytes_per_request,
                  human_bytes(r.constant_bytes_per_request))
    alloc = f", {r.tokens_allocated:,} allocated in pages of {r.page_size}" if r.page_size else ""
    sizes.add(f"per sequence ({r.context:,} tokens{alloc})", r.bytes_per_sequence, human_bytes(r.bytes_per_sequence))
    sizes.add(f"per batch ({r.batch} sequence{'s' if r.batch != 1 else ''})", r.total_bytes, human_bytes(r.total_bytes))
    if r.mtp_weight_bytes is not None:
        sizes.add(f"MTP draft weights ({r.mtp_params:,} parameters, checkpoint format)", r.mtp_weight_bytes,
                  human_bytes(r.mtp_weight_bytes))
    sizes.caption = "memory in binary units: 1 GiB = 2^30 bytes"
    tables = [sizes]

    if len(r.sweep) > 1:
        sweep = Table("by context", ["context", "tokens allocated", "per sequence", f"batch of {r.batch}"])
        for p in r.sweep:
            sweep.add(format_context(p.context), p.tokens_allocated, Quantity(p.bytes_per_sequence, "bytes"),
                      Quantity(p.total_bytes, "bytes"))
        tables.append(sweep)

    if r.full_attention_bytes_per_sequence is not None:
        by_type = Table(f"by layer type ({r.context:,}-token sequence)",
                        ["layers", "attention", "bytes per token per layer", "tokens kept", "per sequence"])
        for t in r.layer_types:
            by_type.add(t.count, t.attention, t.bytes_per_token_layer, t.tokens_kept,
                        Quantity(t.bytes_per_sequence, "bytes"))
        by_type.add(r.layers, "every layer with full attention", None, r.tokens_allocated,
                    Quantity(r.full_attention_bytes_per_sequence, "bytes"))
        by_type.caption = "sliding-window and chunked layers keep at most their window (chunk) of tokens"
        tables.append(by_type)

    comp = Table("what other attention would cache (same dtype, same layers)",
                 ["cache", "values per token per layer", "formula", "bytes per token", "× this model"])
    for f in r.formats:
        comp.add(f.name, f.values_per_token_layer, f.formula, f.bytes_per_token, Quantity(f.ratio, "x"))
    tables.append(comp)
    return tables


# ---------------------------------------------------------------------------------------------------
# Checkpoint bytes, verify, GPUs, memory plans


def _gib_gb(n: int) -> str:
    return f"{n / GIB:,.2f} GiB ({n / 1e9:,.2f} GB)"


def checkpoint_tables(r) -> list[Table]:
    """CheckpointReport -> totals, by dtype, by component."""
    summary = Table(f"{r.model}: checkpoint, {r.weight_format_description}", ["figure", "tensors", "bytes", "≈"])
    summary.add("main model", r.main.tensors, r.main.bytes, _gib_gb(r.main.bytes))
    summary.add("MTP modules", r.mtp.tensors, r.mtp.bytes, _gib_gb(r.mtp.bytes))
    if r.vision.tensors:
        summary.add("vision tower and projector", r.vision.tensors, r.vision.bytes, _gib_gb(r.vision.bytes))
    summary.add("total (= index metadata.total_size)", r.tensors, r.total_bytes, _gib_gb(r.total_bytes))
    summary.caption = "1 GiB = 2^30 bytes, 1 GB = 10^9 bytes; safetensors headers not included"
    dtypes = Table("by dtype", ["dtype", "tensors", "elements", "bytes", "share"])
    for name, d in r.by_dtype.items():
        dtypes.add(name, d.tensors, d.elements, d.bytes, _share(d.bytes, r.total_bytes))
    comp = Table("by component (weights with their scales)", ["component", "bytes", "≈", "share"])
    for key, n in r.by_component.items():
        comp.add(key, n, _gib_gb(n), _share(n, r.total_bytes))
    comp.add("total", r.total_bytes, _gib_gb(r.total_bytes), "100.00%")
    return [summary, dtypes, comp]


def verify_tables(r, limit: int = 20) -> list[Table]:
    """VerifyReport -> summary and the first `limit` missing / extra / mismatched tensors."""
    head = Table(f"{r.model}: verify {r.path}", ["check", "result"])
    head.add("verdict", "matches the model" if r.ok else "differs from the model")
    head.add("weight format", r.weight_format_description)
    head.add("tensors expected / found", f"{r.expected_tensors:,} / {r.found_tensors:,}")
    head.add("safetensors headers read", f"{r.headers_read} of {r.files}")
    head.add("missing / extra / mismatched", f"{r.missing_count:,} / {r.extra_count:,} / {r.mismatched_count:,}")
    if r.corrupt:
        head.add("data layout", f"{len(r.corrupt)} problem{'s' if len(r.corrupt) > 1 else ''} (see below)")
    head.add("expected bytes", f"{r.expected_bytes:,}")
    if r.index_total_size is not None:
        head.add("index metadata.total_size", f"{r.index_total_size:,}")
    if r.header_bytes is not None:
        head.add("tensor bytes in headers", f"{r.header_bytes:,}")
    if r.size_difference is not None:
        head.add("size difference (found - expected)", f"{r.size_difference:+,}")
    tables = [head]
    diff = Table("differences", ["tensor", "problem", "expected", "found"])
    for name in r.missing[:limit]:
        diff.add(name, "missing", "", "")
    for name in r.extra[:limit]:
        diff.add(name, "extra", "", "")
    for m in r.mismatched[:limit]:
        diff.add(m.name, "mismatch", f"{m.expected_dtype} {m.expected_shape}", f"{m.found_dtype} {m.found_shape}")
    if diff.rows:
        more = (max(0, r.missing_count - limit) + max(0, r.extra_count - limit)
                + max(0, r.mismatched_count - limit))
        diff.caption = f"{more:,} more not shown (--format json lists up to 10,000 of each)" if more else ""
        tables.append(diff)
    if r.corrupt:
        layout = Table("data layout problems (safetensors: tensors tile the data section exactly)", ["problem"])
        for line in r.corrupt:
            layout.add(line)
        tables.append(layout)
    return tables


def gpus_table(gpus) -> list[Table]:
    """Two tables, so each fits a terminal: the numbers, then the descriptions and memory sources."""
    t = Table("GPUs", ["name", "memory (driver)", "HBM TB/s", "BF16 TFLOPS", "FP8 TFLOPS", "FP4 TFLOPS",
                       "link GB/s", "GPUs/node"])
    about = Table("GPU descriptions", ["name", "description", "memory source"])

    def num(v):
        return int(v) if isinstance(v, float) and v.is_integer() else v

    for g in gpus:
        # memory: people see GiB, CSV and Markdown get the driver's exact byte count
        t.add(g.name, Quantity(g.memory_bytes, "bytes"), num(g.hbm_bandwidth_tb_per_s), num(g.bf16_dense_tflops),
              num(g.fp8_dense_tflops), num(g.fp4_dense_tflops), num(g.link_bandwidth_gb_per_s), g.gpus_per_node)
        about.add(g.name, g.description, g.memory_source)
    t.caption = ("memory: what the driver reports (1 GiB = 2^30 bytes); FLOPS dense, datasheet defaults; "
                 "TB and GB are 10^12 and 10^9 bytes")
    return [t, about]


def _gib(n: int) -> str:
    return f"{n / GIB:,.2f}"


def plan_tables(r) -> list[Table]:
    """PlanReport -> per-GPU breakdown and verdict, weights by module, KV under TP vs DP-attention."""
    w = r.workload
    stage = f", pipeline stage {r.stage} of {r.stages}" if r.stages > 1 else ""
    per = Table(f"{r.model} on {r.gpus}×{r.gpu}, {r.layout_label}: memory per GPU{stage}", ["part", "GiB", "bytes"])
    p = r.per_gpu
    per.add("weights", _gib(p.weights), p.weights)
    per.add(f"KV cache ({w.kv_dtype}, {w.batch} × {w.context:,} tokens)", _gib(p.kv_cache), p.kv_cache)
    per.add(f"activations (chunk {w.chunk:,} tokens)", _gib(p.activations), p.activations)
    e = r.engine_memory
    if e is None:
        per.add("runtime overhead", _gib(p.overhead), p.overhead)
        per.add("free within the budget" if p.free >= 0 else "short", _gib(abs(p.free)), p.free)
        per.add(f"outside the budget (1 - mem-fraction {r.mem_fraction:g})", _gib(p.unallocated), p.unallocated)
    else:
        per.add("CUDA context, NCCL/all-to-all buffers, CUDA graphs", _gib(p.overhead), p.overhead)
        per.add("KV pool the batch leaves free" if p.free >= 0 else "KV pool short", _gib(abs(p.free)), p.free)
        per.add(f"left unallocated by {e.engine}" if p.unallocated >= 0 else f"{e.engine} overflows the GPU by",
                _gib(abs(p.unallocated)), p.unallocated)
    per.add("GPU memory (the rows above add up to it)", _gib(p.memory), p.memory)
    per.caption = (f"budget: {e.fraction_flag if e else '--mem-fraction'} {r.mem_fraction:g} -> {_gib(p.budget)} GiB"
                   + (f" ({e.engine}'s rule: the {e.engine} table below)" if e else ""))

    verdict = Table("verdict", ["figure", "value"])
    verdict.add("fits", r.fits)
    verdict.add("headroom per GPU (GiB)", _gib(p.free))
    verdict.add(f"largest batch at {w.context:,} tokens", r.max_batch)
    verdict.add("KV-cache tokens the deployment holds", r.kv_tokens)
    verdict.add("weights", r.weight_format_description)

    # one bytes column: people see "19.69 GiB", CSV and Markdown the exact byte count
    mods = Table("weights per GPU by module", ["module", "kind", "sharding", "layers", "bytes"])
    for m in r.modules:
        mods.add(m.module, m.kind, m.sharding, m.layers, Quantity(m.bytes, "bytes"))
    mods.add("total", "", "", "", Quantity(p.weights, "bytes"))

    kv = Table(f"KV cache: {r.kv_sharding}",
               ["layout", "sequences per GPU", "KV per GPU (GiB)", "weights per GPU (GiB)", "fits", "max batch",
                "KV tokens held"])
    for k in r.kv_layouts:
        kv.add(k.layout_label + (" (this plan)" if k.current else ""), k.sequences_per_gpu, _gib(k.kv_cache),
               _gib(k.weights), k.fits, k.max_batch, k.kv_tokens)
    kv.caption = f"{r.kv_bytes_per_token_layer} bytes per token per layer; same GPUs per stage, same EP"

    act = Table("activations and overhead (estimates; --activations-gib / --overhead-gib override)",
                ["part", "bytes", "GiB"])
    for key, n in r.activations_detail.items():
        act.add(f"activations: {key}", n, _gib(n))
    for key, n in r.overhead_detail.items():
        act.add(f"overhead: {key}", n, _gib(n))
    act.caption = "peak activations = hidden states + the widest of attention / dense MLP / MoE dispatch + logits"
    tables = [per, verdict]
    c = r.concurrency
    if c is not None:
        conc = Table("concurrency: sequences the KV cache holds", ["figure", "value"])
        conc.add(f"sequences at the full context ({c.context:,} tokens)", c.sequences_at_context)
        if c.avg_context:
            conc.add(f"requests of ~{c.avg_context:,} tokens on average", c.sequences_at_avg_context)
            conc.add("limited by", c.limited_by)
        if c.max_num_seqs is not None:
            conc.add("--max-num-seqs per DP replica", c.max_num_seqs)
        tables.append(conc)
    if e is not None:
        from .analysis.engines import BUDGET_COVERS

        eng = Table(f"{e.engine}: start-up memory per GPU as the engine accounts it", ["figure", "GiB", "bytes"])
        eng.add(f"budget ({e.fraction_flag} {e.fraction:g}, {e.fraction_source})", _gib(e.budget), e.budget)
        eng.add("weights", _gib(e.weights), e.weights)
        eng.add(f"activation peak at {e.max_num_batched_tokens:,} tokens (estimate)", _gib(e.activations), e.activations)
        eng.add("non-PyTorch buffers: NCCL, all-to-all (default)", _gib(e.non_torch), e.non_torch)
        eng.add("CUDA graphs (default)", _gib(e.cuda_graphs), e.cuda_graphs)
        eng.add("KV cache available", _gib(e.kv_available), e.kv_available)
        eng.add(f"KV cache allocated ({e.kv_tokens_per_replica:,} tokens, blocks of {e.block_size})", _gib(e.kv_cache),
                e.kv_cache)
        eng.add("used per GPU after start-up", _gib(e.used), e.used)
        eng.caption = (BUDGET_COVERS[e.engine] + "\nthe engine would log: " + " | ".join(e.log)
                       + (f"\n{e.problem}" if e.problem else ""))
        tables.append(eng)
    return [*tables, mods, kv, act]


def search_tables(r, rate: str = "tokens/s") -> list[Table]:
    """SearchReport -> its rows; `rate` heads the tokens/s column (a PD pool's: input or output tokens/s)."""
    w = r.workload
    t = Table(f"{r.model}: smallest deployments for batch {w.batch} × {w.context:,} tokens ({w.kv_dtype} KV)",
              ["rank", "GPU", "GPUs", "nodes", "layout", "weights/GPU (GiB)", "KV/GPU (GiB)", "free/GPU (GiB)",
               "max batch", "KV tokens held"])
    priced = any(row.cost_per_hour_usd is not None for row in r.results)
    speed = any(row.tokens_per_s is not None for row in r.results)
    if priced:  # no empty price column when the catalog has no prices
        t.columns.append("$/hour")
    ttft = any(row.ttft_ms is not None for row in r.results)
    tpot = any(row.tpot_ms is not None for row in r.results)  # a prefill pool has none
    if speed:
        t.columns += ["batch"] + (["TPOT (ms)"] if tpot else []) + [rate] + (["TTFT (ms)"] if ttft else [])
    for row in r.results:
        extra = []
        if speed:
            extra = ([row.batch] + ([_ms(row.tpot_ms)] if tpot else []) + [_rate(row.tokens_per_s)]
                     + ([_ms(row.ttft_ms)] if ttft else []))
        t.add(row.rank, row.gpu, row.gpus, row.nodes, row.layout_label, _gib(row.weights), _gib(row.kv_cache),
              _gib(row.free), row.max_batch, row.kv_tokens, *([row.cost_per_hour_usd] if priced else []), *extra)
    t.caption = (f"{r.layouts_evaluated:,} valid layouts on 1-{r.max_nodes} nodes of {', '.join(r.gpu_types)} "
                 f"evaluated in {r.elapsed_ms:.0f} ms, {r.layouts_fitting:,} fit; weights: {r.weight_format_description}; "
                 f"mem-fraction {r.mem_fraction:g}")
    return [t]


def _brief(x) -> str:
    """A config value in a table cell, bounded (a hostile config's 4 MB value is not a cell)."""
    if isinstance(x, str):
        return clip(x, 60)
    if isinstance(x, (float, bool)) or (isinstance(x, int) and x.bit_length() < 200):
        return str(x)
    return echo(x, 60)


def pd_tables(r) -> list[Table]:
    """PDReport -> the prefill pool, the decode pool, and the pair."""
    pre, dec = search_tables(r.prefill, "input tokens/s"), search_tables(r.decode, "output tokens/s")
    pre[0].title = f"prefill pool: {plain_number(r.request_rate_per_s)} requests/s × {r.input_tokens:,} input tokens"
    dec[0].title = f"decode pool: {plain_number(r.request_rate_per_s)} requests/s × {r.output_tokens:,} output tokens"
    total = Table(f"{r.model}: PD-disaggregated deployment (an estimate)", ["figure", "value"])
    if r.prefill_row is not None and r.decode_row is not None:
        total.add("prefill", f"{r.prefill_row.gpus} × {r.prefill_row.gpu} {r.prefill_row.layout_label}")
        total.add("decode", f"{r.decode_row.gpus} × {r.decode_row.gpu} {r.decode_row.layout_label}")
    if r.decode_at_load is not None:
        load = r.decode_at_load
        total.add(f"decode at {plain_number(r.request_rate_per_s)} requests/s",
                  f"{load.batch:,} sequences in flight, TPOT {load.tpot_ms:,.2f} ms (Little's law)")
    total.add("GPUs (one vendor's best pair)", "—" if r.total_gpus is None else r.total_gpus)
    if r.cost_per_hour_usd is not None:
        total.add("$/hour", f"${r.cost_per_hour_usd:,.2f}")
    return [*pre, *dec, total]


def _config_value(v) -> str:
    if isinstance(v, dict):  # rope_scaling, compactly: "yarn ×40, β 32/1, mscale 1.0/1.0, from 4096"
        kind = _brief(v.get("type") or v.get("rope_type") or "")
        parts = [f"{kind} ×{_brief(v['factor'])}" if "factor" in v else kind]
        if "beta_fast" in v or "beta_slow" in v:
            parts.append(f"β {_brief(v.get('beta_fast'))}/{_brief(v.get('beta_slow'))}")
        if "mscale" in v or "mscale_all_dim" in v:
            parts.append(f"mscale {_brief(v.get('mscale'))}/{_brief(v.get('mscale_all_dim'))}")
        if "original_max_position_embeddings" in v:
            parts.append(f"from {_brief(v['original_max_position_embeddings'])}")
        known = {"type", "rope_type", "factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                 "original_max_position_embeddings"}
        extra = [k for k in v if k not in known]
        parts += [f"{_brief(k)} {_brief(v[k])}" for k in extra[:8]]
        if len(extra) > 8:
            parts.append(f"… {len(extra) - 8:,} more")
        return ", ".join(p for p in parts if p)
    if v is None:
        return "—"
    if isinstance(v, list) and len(v) > 4:  # layer_types, compress_ratios, no_rope_layers: counts, first seen first
        if all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in v):
            counts = Counter(v)  # insertion-ordered: first seen first, in one pass (a hostile list is long)
            shown = [f"{n}× {_brief(x)}" for x, n in islice(counts.items(), 8)]
            return ", ".join(shown + ([f"… {len(counts) - 8:,} more"] if len(counts) > 8 else []))
        return f"{len(v)} values"
    return _brief(v)


def compare_tables(r, all_fields: bool = False) -> list[Table]:
    """CompareReport -> config (differing fields, or all), then one table per figure section."""
    from .render import Quantity

    models = r.models
    # Beyond three models the difference and ratio columns would not fit beside the values: the tables
    # then show the values alone (JSON, YAML and CSV keep `diff` and `ratio`).
    against = len(models) <= 3
    versus = [f"{m} − {models[0]}" for m in models[1:]] if against else []
    ratios = [f"{m} / {models[0]}" for m in models[1:]] if against else []

    shown = [row for row in r.config if all_fields or row.differs]
    cfg = Table("config" + ("" if all_fields else ": fields that differ"), ["field", *models]
                + ([] if not all_fields else ["differs"]))
    for row in shown:
        cfg.add(row.field, *(_config_value(v) for v in row.values), *([("≠" if row.differs else "")] if all_fields else []))
    folded = len(r.config) - len(shown)
    if folded:
        cfg.caption = f"{folded} equal fields folded (--all-fields shows them)"
    if not against:
        cfg.caption += ("; " if folded else "") + "differences and ratios against the first model: --format json"

    def section(title: str, rows, caption: str = "") -> Table:
        t = Table(title, ["figure", *models, *versus, *ratios], caption=caption)
        for m in rows:
            unit = m.unit if m.unit in ("params", "FLOP", "bytes") else "count"
            vals = [None if v is None else Quantity(v, unit) for v in m.values]
            diffs = [None if d is None else Quantity(d, unit) for d in m.diff[1:]] if against else []
            rats = [None if x is None else Quantity(x, "x") for x in m.ratio[1:]] if against else []
            t.add(m.label, *vals, *diffs, *rats)
        return t

    tables = [cfg,
              section("parameters", r.params, "counts: 1000-based prefixes (B = 10^9, T = 10^12); "
                      "active excludes the input embedding table"),
              section("forward FLOPs per token", r.flops, "1 multiply-add = 2 FLOPs; matmuls only; "
                      + ("(naive|absorbed): the MLA form; " if any("(" in m.label for m in r.flops) else "")
                      + "prefill = average per token of a prompt that long, decode = one new token with that many "
                      "cached"),
              section("KV cache", r.kv, "per token: every layer; per sequence: sliding windows and chunks "
                                       "keep at most their tokens; memory in binary units (1 GiB = 2^30 bytes)"),
              section("checkpoint", r.checkpoint, "; ".join(f"{m}: {f}" for m, f in
                                                             zip(models, r.weight_format_descriptions)))]
    if r.plan is not None:
        p = Table(f"memory plan: {r.plan_target}", ["model", "fits", "best layout", "max batch", "KV tokens held",
                                                    "weights per GPU", "free per GPU"])
        for row in r.plan:
            p.add(row.model, row.fits, row.layout_label or "—", row.max_batch, row.kv_tokens,
                  None if row.weights is None else Quantity(row.weights, "bytes"),
                  None if row.free is None else Quantity(row.free, "bytes"))
        tables.append(p)
    if r.serve is not None:
        sv = Table(f"serving: {r.serve_target}", ["model", "layout", "batch", "TPOT (ms)", "tokens/s per GPU",
                                                   "$ per million output tokens"])
        for row in r.serve:
            sv.add(row.model, row.layout_label or "—", row.batch if row.batch is not None else "—",
                   _ms(row.tpot_ms), _rate(row.tokens_per_s_per_gpu), _usd(row.cost_per_million_tokens_usd))
        sv.caption = "an estimate (README: Serving speed)"
        if r.serve_problem:
            sv.caption += f"; no serving figures: {r.serve_problem}"
        elif any(row.tpot_ms is not None and row.cost_per_million_tokens_usd is None for row in r.serve):
            sv.caption += "; cost needs --price-per-gpu-hour or a catalog price"
        tables.append(sv)
    if r.explain:
        for model, formulas in r.explain.items():
            t = Table(f"{model}: formulas", ["figure", "formula", "numbers", "value"], lines=True)
            for f in formulas:
                t.add(f["name"], f["symbolic"], f["numeric"], f["value"])
            tables.append(t)
    return tables


# ---------------------------------------------------------------------------------------------------
# Terminal bar charts for `k2calc plot` (shown with or without matplotlib)

_EIGHTHS = " ▏▎▍▌▋▊▉"


def _bar(value: float, scale: float, width: int = 20) -> str:
    """A bar of █ characters, value / scale of `width`, to the eighth of a character."""
    if scale <= 0 or value <= 0:
        return ""
    eighths = round(8 * width * min(value, scale) / scale)
    return "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")


def _stacked_bar(parts: list[tuple[float, str]], scale: float, width: int = 20) -> str:
    """Segments of different characters, each value / scale of `width` (cumulative rounding)."""
    out, cum, pos = [], 0.0, 0
    for value, char in parts:
        cum += max(value, 0)
        end = round(width * min(cum, scale) / scale) if scale > 0 else 0
        out.append(char * (end - pos))
        pos = end
    return "".join(out)


def plot_tables(kind: str, reports: list) -> list[Table]:
    """The small terminal chart of `k2calc plot KIND`: the plotted numbers with bars."""
    from .render import human_bytes

    if kind == "kv":
        top = max(p.total_bytes for r in reports for p in r.sweep)
        what = "per sequence" if reports[0].batch == 1 else f"batch of {reports[0].batch}"
        t = Table(f"KV cache {what} by context", ["context", "model", "KV cache", "GiB", ""])
        for n in sorted({p.context for r in reports for p in r.sweep}):
            for r in reports:
                for p in r.sweep:
                    if p.context == n:
                        t.add(format_context(n), r.model, human_bytes(p.total_bytes), round(p.total_bytes / GIB, 3),
                              _bar(p.total_bytes, top))
        t.caption = "1 GiB = 2^30 bytes"
        return [t]
    if kind == "flops":
        top = max(p.total for r in reports for p in r.sweep)
        forms = sorted({r.attention_form for r in reports if r.mla})
        t = Table(f"forward FLOPs per token, {reports[0].phase}" + (f", {forms[0]} MLA" if len(forms) == 1 else ""),
                  ["context", "model", "linear", "attention", "share", ""])
        for n in sorted({p.context for r in reports for p in r.sweep}):
            for r in reports:
                for p in r.sweep:
                    if p.context == n:
                        t.add(format_context(n), r.model + (f" ({r.attention_form})" if len(forms) > 1 else ""),
                              _flops(p.linear), _flops(p.attention),
                              f"{100 * p.attention_share:.1f}%",
                              _stacked_bar([(p.linear, "█"), (p.attention, "▒")], top, 14))
        t.caption = "share: attention / total; bar: █ linear ▒ attention; 1000-based prefixes (1 GFLOP = 10^9)"
        return [t]
    if kind == "memory":
        top = max(max(r.per_gpu.memory, r.per_gpu.budget - r.per_gpu.free) for r in reports)
        first = reports[0]
        t = Table(f"memory per GPU (GiB): {first.gpus}×{first.gpu}, {first.layout_label}",
                  ["model", "weights", "KV", "act.", "overhead", "free", ""])
        for r in reports:
            p = r.per_gpu
            t.add(r.model, _gib(p.weights), _gib(p.kv_cache), _gib(p.activations), _gib(p.overhead), _gib(p.free),
                  _stacked_bar([(p.weights, "█"), (p.kv_cache, "▓"), (p.activations, "▒"), (p.overhead, "░"),
                                        (max(p.free, 0), "·")], top, 16))
        t.caption = (f"bar: █ weights ▓ KV cache ▒ activations ░ overhead · free, of the GPU's "
                     f"{_gib(first.per_gpu.memory)} GiB; free < 0: short, does not fit (1 GiB = 2^30 bytes)")
        return [t]
    if kind == "params":
        tables = []
        for r in reports:
            t = Table(f"{r.model}: parameter share by component ({human_count(r.total)}, main model)",
                      ["component", "parameters", "share", ""])
            for key, n in r.breakdown.items():
                if n:
                    t.add(key, human_count(n), _share(n, r.total), _bar(n, r.total))
            tables.append(t)
        tables[-1].caption = "counts use 1000-based prefixes (B = 10^9, T = 10^12)"
        return tables
    if kind == "perf":
        top = max(p.tokens_per_s_per_gpu for r in reports for p in r.sweep)
        first = reports[0]
        unit = "output" if first.phase == "decode" else "input"
        t = Table(f"{first.phase} throughput vs latency (an estimate): {first.gpus}×{first.gpu}, {first.layout_label}",
                  ["model", "batch", "context", f"{unit} tokens/s per user", f"{unit} tokens/s per GPU", ""])
        for r in reports:
            for p in r.sweep:
                t.add(r.model, p.batch, p.context, _rate(p.tokens_per_s_per_user), _rate(p.tokens_per_s_per_gpu),
                      _bar(p.tokens_per_s_per_gpu, top))
        t.caption = "k2calc perf's model and defaults (README: Serving speed)"
        return [t]
    raise ValueError(kind)


def _ms(v) -> Quantity | None:
    """Milliseconds: people see 12.859, CSV the raw number."""
    return None if v is None else Quantity(v, "ms")


def _rate(v) -> Quantity | None:
    """Tokens per second: people see 2,043.2, CSV the raw number."""
    return None if v is None else Quantity(v, "tokens/s")


def _usd(v) -> Quantity | None:
    """US dollars: people see $0.1234, CSV the raw number."""
    return None if v is None else Quantity(v, "USD")


def perf_tables(r) -> list[Table]:
    """PerfReport -> the headline figures, the operations behind the step, and the sweep if any. Each headline
    value is one number (CSV writes it raw), its unit in the figure's name."""
    both = r.input_tokens is not None  # --input/--output: prefill then decode; the rest is the decode step's
    head = Table(f"{r.model} on {r.gpus}×{r.gpu}, {r.layout_label}: {'prefill + decode' if both else r.phase} "
                 "(an estimate)", ["figure", "value"])
    unit = "output" if r.phase == "decode" else "input"
    head.add("batch (sequences)" if r.phase == "decode" else "batch (prompts)", r.batch)
    head.add("mean context (tokens)" if both else "context (tokens)", r.context)
    if both:
        head.add("input tokens per request", r.input_tokens)
        head.add("output tokens per request", r.output_tokens)
        head.add("TTFT (ms)", _ms(r.ttft_ms))
        head.add("mean TPOT (ms)", _ms(r.tpot_ms))
        head.add("end-to-end latency (ms)", _ms(r.e2e_latency_ms))
        head.add("output tokens/s (prefill + decode)", _rate(r.tokens_per_s))
        head.add("output tokens/s per GPU", _rate(r.tokens_per_s_per_gpu))
        head.add("decode step (ms)", _ms(r.step_ms))
    else:
        head.add("step (ms)", _ms(r.step_ms))
        head.add("TPOT (ms)" if r.phase == "decode" else "TTFT (ms)", _ms(r.tpot_ms if r.phase == "decode" else r.ttft_ms))
        head.add(f"{unit} tokens/s", _rate(r.tokens_per_s))
        head.add(f"{unit} tokens/s per GPU", _rate(r.tokens_per_s_per_gpu))
    head.add("output tokens/s per user (output ÷ e2e)" if both else f"{unit} tokens/s per user",
             _rate(r.tokens_per_s_per_user))
    if r.mtp:
        head.add(f"tokens per step (MTP {r.mtp}, acceptance {r.acceptance or 0:g})", r.tokens_per_step)
    head.add("bound", r.bound)
    head.add("compute (ms)", _ms(r.compute_ms))
    head.add("communication (ms)", _ms(r.communication_ms))
    head.add("fixed latency (ms)", _ms(r.latency_ms))
    if both and r.cost_per_million_tokens_usd is not None:
        head.add("cost per million input tokens, prefill time (USD)", _usd(r.prefill.cost_per_million_tokens_usd))
        head.add("cost per million output tokens, prefill + decode time (USD)", _usd(r.cost_per_million_tokens_usd))
    elif r.cost_per_million_tokens_usd is not None:
        head.add(f"cost per million {unit} tokens (USD)", _usd(r.cost_per_million_tokens_usd))
    head.add("weights", f"{r.weight_format_description}; routed experts {r.expert_weights}; KV {r.kv_dtype}")
    memory = r.engine or "plan"
    if r.max_batch is not None:
        at = (f"{r.input_tokens + r.output_tokens:,} tokens (input + output)" if both else "this context")
        head.add(f"max batch at {at} ({memory})", r.max_batch)
        head.add(f"--batch fits ({memory})", r.fits)
    head.caption = "1 token/s = 1 token per second; ms = 10^-3 s"

    prefill = r.phase == "prefill" and not both
    ops = Table(f"operations {'of the whole prefill (every chunk)' if prefill else 'per decode step'} on one GPU "
                "(as if nothing overlapped)",
                ["operation", "kind", "count", "FLOPs", "HBM bytes", "sent bytes", "time (ms)", "bound"])
    for c in sorted(r.components, key=lambda c: -c.time_ms):
        ops.add(c.name, c.kind, c.count, _flops(c.flops), Quantity(c.bytes, "bytes"), Quantity(c.comm_bytes, "bytes"),
                _ms(c.time_ms), c.bound)
    ops.caption = (f"count = layers × micro-batches{' × chunks' if prefill else ''}; the step overlaps communication with compute when two "
                   "micro-batches pay" if r.overlap else "count = layers; --no-overlap: everything adds up")
    ops.caption += "; FLOPs 1000-based (1 GFLOP = 10^9); bytes binary (1 MiB = 2^20, 1 GiB = 2^30 bytes)"
    tables = [head, ops]
    if r.sweep:
        # every point's figures the JSON has: with --input/--output its TTFT too, with a price its cost
        cost = r.cost_per_million_tokens_usd is not None
        sw = Table(f"{'prefill + decode' if both else r.phase} sweep over {r.sweep_axis}",
                   ["batch", "context", "decode step (ms)" if both else "step (ms)"] + (["TTFT (ms)", "mean TPOT (ms)"] if both else
                                                       ["TPOT (ms)" if r.phase == "decode" else "TTFT (ms)"])
                   + [f"{unit} tokens/s", f"{unit} tokens/s per GPU", f"{unit} tokens/s per user", "bound"]
                   + ([f"cost per million {unit} tokens (USD)"] if cost else []) + [f"fits ({memory})"], labelled=False)
        for p in r.sweep:
            sw.add(p.batch, p.context, _ms(p.step_ms),
                   *([_ms(p.ttft_ms), _ms(p.tpot_ms)] if both else
                     [_ms(p.tpot_ms if p.phase == "decode" else p.ttft_ms)]),
                   _rate(p.tokens_per_s), _rate(p.tokens_per_s_per_gpu), _rate(p.tokens_per_s_per_user), p.bound,
                   *([_usd(p.cost_per_million_tokens_usd)] if cost else []), p.fits)
        tables.append(sw)
    return tables


def check_tables(r) -> list[Table]:
    """CheckReport -> one row per deployment and requirement; what moved since the baseline."""
    t = Table(f"k2calc check {r.file}: {'all requirements pass' if r.passed else 'FAILED'}",
              ["deployment", "requirement", "required", "actual", "pass"])
    for x in r.results:
        t.add(x.deployment, x.requirement, x.required, x.actual, x.passed)
    d = Table("deployments", ["deployment", "model", "GPUs, layout", "engine", "fits", "KV tokens", "max batch at context",
                              "used per GPU (GiB)"])
    for s in r.deployments:
        d.add(s.name, s.model, f"{s.gpu} {s.layout_label}", s.engine, s.fits, s.kv_tokens, s.max_batch, _gib(s.per_gpu.used))
    tables = [t, d]
    if r.moved:
        m = Table("moved since the baseline", ["change"])
        for line in r.moved:
            m.add(line)
        tables.append(m)
    return tables
