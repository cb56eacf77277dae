"""The `k2calc` command line: parses options, calls the library, hands the result to the renderer.

No arithmetic here. Every user mistake surfaces as an `InputError`, printed as one line on stderr
with exit code 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from . import __version__
from .defaults import DEFAULT_CHUNK, DEFAULT_MEM_FRACTION
from .errors import InputError
from .render import Format, emit, error_line, warn_line
from .sizes import CONTEXT_RULE


def _click_exceptions():
    """click's exception classes: typer >= 0.20 vendors click as `typer._click`, older typer uses click."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions
    return exceptions


class K2Group(TyperGroup):
    """The command group, with one error rule for everything: a mistake is one line on stderr and exit
    2 (click's usage errors too, which would otherwise print a four-line usage block), a failed write
    of the output is one line and exit 1, and notes on a closed stderr never cost the result."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from .render import finish_output, guard_streams, silence_stdout

        guard_streams()
        exc = _click_exceptions()
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            finish_output()
        except getattr(exc, "NoArgsIsHelpError", ()) as e:  # bare `k2calc` or `k2calc plan`: the help, as before
            e.show()
            code = e.exit_code
        except exc.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "k2calc"
            message = e.format_message().replace("Value error, ", "").rstrip(".")
            error_line(f"{message} (see `{where} --help`)")
            code = e.exit_code
        except exc.ClickException as e:
            error_line(e.format_message())
            code = e.exit_code
        except typer.Abort:
            code = 1
        except OSError as e:  # the output could not be written: a closed stdout, a full disk, a closed pipe
            import errno

            if e.errno != errno.EPIPE:  # a closed pipe (`| head`) is the reader's choice, not an error
                error_line(f"cannot write the output: {e.strerror or e}")
            silence_stdout()
            code = 1
        sys.exit(code if isinstance(code, int) else 0)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"k2calc {__version__}")
        raise typer.Exit()


_SETTINGS = dict(
    name="k2calc",
    cls=K2Group,
    help=(
        "Parameters, FLOPs, KV cache, checkpoint bytes, GPU memory and serving speed of a language model, computed "
        "from its config: the DeepSeek-V3 family (Kimi-K2, DeepSeek-V3/R1/V3.1/V3.2, Moonlight, DeepSeek-V2), "
        "DeepSeek-V4, Kimi-K3 and Llama-style GQA decoders (Llama, Mistral, Qwen, OLMo 2, SmolLM3, Gemma 3, "
        "gpt-oss, Llama 4, GLM-4.5).\n\n"
        "Example:  k2calc params --preset kimi-k2\n\n" + CONTEXT_RULE
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**_SETTINGS)


@app.callback()
def _top(version: Annotated[Optional[bool], typer.Option("--version", "-V", callback=_version, is_eager=True,
                                                         help="Print the version and exit.")] = None) -> None:
    """Parameters, FLOPs, KV cache and GPU memory of DeepSeek-V3-family models, computed from the config."""


# Options shared by every model command, declared once.
PresetOpt = Annotated[Optional[str], typer.Option("--preset", "-p", metavar="NAME", help="Preset name (see `k2calc presets`).")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", metavar="PATH", help="config.json, YAML preset file, or model folder.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", metavar="FIELD=VALUE", help="Override a config field, FIELD=VALUE (repeatable).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
KV_DTYPE_HELP = ("KV cache: bf16|fp16|fp8|fp8-flashmla (fp8 latent, fp32 scale per 128 values, RoPE in bf16), or as "
                 "vLLM/SGLang's --kv-cache-dtype spells them: auto (the model's torch_dtype), bfloat16, float16, "
                 "fp8_e4m3, fp8_e5m2, fp8_ds_mla.")
KVDtypeOpt = Annotated[str, typer.Option("--kv-dtype", "--kv-cache-dtype", help=KV_DTYPE_HELP)]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Show each figure's formula over config fields, numbers substituted.")]


def handle_errors(fn):
    """Turn a user's mistake into one stderr line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            error_line(str(e))
            raise typer.Exit(2) from None

    return wrapper


def resolve_model(preset: str | None, config: Path | None, sets: list[str] | None, quant_config: Path | None = None):
    from .config import load_path, load_preset

    if preset and config:
        raise InputError("give either --preset or --config, not both")
    if config is not None:
        return load_path(config, sets, quant_config)
    if preset:
        return load_preset(preset, sets, quant_config)
    raise InputError("no model given: use --preset NAME (see `k2calc presets`) or --config PATH")


def _emit(report, tables: list, fmt: Format, notes: list[str], formulas=None) -> None:
    """Render a finished report (so an error can never follow a note). Machine formats carry the notes
    in their data and repeat them on stderr; tables and Markdown print them under the tables. With
    --explain, the formulas join both the tables and the JSON (`explain`)."""
    if fmt is not Format.table and fmt is not Format.markdown:
        for note in notes:
            warn_line(note)
    data = report
    if formulas is not None:
        from .views import explain_table

        data = report.model_dump(mode="json")
        data["explain"] = [f.__dict__ for f in formulas]
        tables = [*tables, explain_table(formulas)]
    emit(data, tables, fmt, notes)


@app.command()
@handle_errors
def params(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
           tensors: Annotated[bool, typer.Option("--tensors", help="Also list every tensor with its shape formula.")] = False,
           explain: ExplainOpt = False, format: FormatOpt = Format.table) -> None:
    """Total, active and MTP parameters, by component, layer type and tensor.

    \b
    Example:  k2calc params --preset kimi-k2 --format json
    """
    from .analysis.params import count_params
    from .views import params_tables

    spec = resolve_model(preset, config, set_)
    report = count_params(spec)
    formulas = None
    if explain:
        from .explain import explain_params

        formulas = explain_params(spec.config)
    _emit(report, params_tables(report, tensors), format, report.notes, formulas)


@app.command()
@handle_errors
def presets(format: FormatOpt = Format.table) -> None:
    """List the built-in model presets, each with its source.

    \b
    Example:  k2calc presets
    """
    from .presets import list_presets
    from .views import presets_table

    items = list_presets()
    emit([p.__dict__ for p in items], presets_table(items), format)


@app.command(epilog=CONTEXT_RULE)
@handle_errors
def flops(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
          prefill: Annotated[Optional[str], typer.Option("--prefill", metavar="N", help="A prompt of N tokens (causal); 4k = 4096.")] = None,
          decode: Annotated[Optional[str], typer.Option("--decode", metavar="N", help="One new token with N tokens in the cache.")] = None,
          context: Annotated[Optional[str], typer.Option("--context", metavar="LIST", help="Contexts to sweep, e.g. 4k,32k,128k (binary k: 128k = 131072). Default 4k,32k,128k.")] = None,
          phase: Annotated[str, typer.Option("--phase", help="Phase of the --context sweep: decode|prefill.")] = "decode",
          attention: Annotated[Optional[str], typer.Option("--attention", help="MLA form: naive|absorbed (default: naive for prefill, absorbed for decode).")] = None,
          all_logits: Annotated[bool, typer.Option("--all-logits", help="Prefill: lm_head for every prompt token (training-style), not only the last.")] = False,
          mtp: Annotated[bool, typer.Option("--mtp", help="Include the MTP modules (as draft layers).")] = False,
          seq_len: Annotated[Optional[str], typer.Option("--seq-len", metavar="S", help="Training: sequence length (binary k). Default 4096 when a training option is given.")] = None,
          train_tokens: Annotated[Optional[str], typer.Option("--train-tokens", metavar="D", help="Training: total tokens, decimal (15.5T = 15.5·10^12).")] = None,
          tokens_per_s: Annotated[Optional[float], typer.Option("--tokens-per-s", help="MFU: measured training throughput, tokens/s over all GPUs.")] = None,
          gpus: Annotated[Optional[int], typer.Option("--gpus", help="MFU: number of GPUs.")] = None,
          peak_tflops: Annotated[Optional[float], typer.Option("--peak-tflops", help="MFU: dense peak TFLOP/s per GPU (10^12).")] = None,
          gpu: Annotated[Optional[str], typer.Option("--gpu", help="MFU: take the peak from the GPU catalog (see `k2calc gpus`).")] = None,
          gpu_dtype: Annotated[str, typer.Option("--gpu-dtype", help="MFU with --gpu: bf16|fp8 dense peak.")] = "bf16",
          explain: ExplainOpt = False, format: FormatOpt = Format.table) -> None:
    """Forward FLOPs per token: linear layers from the tensor list, MLA attention by context.

    Conventions: 1 multiply-add = 2 FLOPs; forward pass (training = 3 × forward); matmuls only (norms,
    softmax, activations, RoPE left out); a token at position t attends to t tokens, itself included;
    prefill runs lm_head for the last token only unless --all-logits. Counts use 1000-based prefixes
    (1 GFLOP = 10^9). Context lengths are binary (4k = 4096); --train-tokens is decimal (15.5T = 15.5·10^12).

    \b
    Example:  k2calc flops --preset kimi-k2 --context 4k,32k,128k
    """
    from .analysis.flops import Phase, count_flops, parse_form, parse_phase, training_report
    from .sizes import parse_context, parse_contexts, parse_count
    from .views import flops_tables

    given = [name for name, v in (("--prefill", prefill), ("--decode", decode), ("--context", context))
             if v is not None]
    if len(given) > 1:
        raise InputError(f"give one of --prefill, --decode or --context, not {' and '.join(given)}")
    if prefill is not None:
        chosen, contexts = Phase.prefill, [parse_context(prefill, "--prefill")]
    elif decode is not None:
        chosen, contexts = Phase.decode, [parse_context(decode, "--decode", minimum=0)]
    else:  # an explicitly empty --context is an error, not the default sweep
        chosen, contexts = parse_phase(phase), parse_contexts(context) if context is not None else None
    spec = resolve_model(preset, config, set_)
    training = None
    if any(v is not None for v in (seq_len, train_tokens, tokens_per_s, gpus, peak_tflops, gpu)):
        training = training_report(
            spec, parse_context("4096" if seq_len is None else seq_len, "--seq-len"),
            parse_count(train_tokens, "--train-tokens") if train_tokens is not None else None,
            tokens_per_s=tokens_per_s, gpus=gpus, peak_tflops=peak_tflops, gpu=gpu, gpu_dtype=gpu_dtype)
    report = count_flops(spec, chosen, contexts, parse_form(attention), all_logits=all_logits, mtp=mtp,
                         training=training)
    formulas = None
    if explain:  # the last context's point, component by component
        from .explain import explain_flops

        formulas = explain_flops(spec.config, report, mtp=mtp)
    _emit(report, flops_tables(report), format, report.notes, formulas)


@app.command(epilog=CONTEXT_RULE)
@handle_errors
def kv(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
       context: Annotated[Optional[str], typer.Option("--context", "--max-model-len", metavar="LIST", help="Tokens per sequence, e.g. 128k or 4k,32k,128k (binary k: 128k = 131072). Default: max_position_embeddings.")] = None,
       batch: Annotated[int, typer.Option("--batch", help="Sequences in the batch.")] = 1,
       kv_dtype: KVDtypeOpt = "bf16",
       gqa: Annotated[Optional[int], typer.Option("--gqa", metavar="G", help="Also compare with GQA of G KV groups.")] = None,
       page_size: Annotated[Optional[int], typer.Option("--page-size", help="Round each sequence up to whole pages of this many tokens.")] = None,
       mtp: Annotated[bool, typer.Option("--mtp", help="Speculative decoding: add the MTP draft layers' cache.")] = False,
       explain: ExplainOpt = False, format: FormatOpt = Format.table) -> None:
    """KV-cache bytes: per token per layer, per token, per sequence, per batch; vs MHA and GQA.

    MLA caches kv_lora_rank + qk_rope_head_dim values per token per layer (plus DeepSeek-V3.2's
    indexer keys: fp8 with a float32 scale); GQA 2·num_key_value_heads·head_dim; sliding-window and
    chunked layers keep at most their window. Memory in GiB (2^30 bytes).

    \b
    Example:  k2calc kv --preset deepseek-v3 --context 128k --batch 32
    """
    from .analysis.kv import kv_cache
    from .sizes import parse_contexts
    from .views import kv_tables

    contexts = parse_contexts(context) if context is not None else None  # "" is an error, not the default
    spec = resolve_model(preset, config, set_)
    report = kv_cache(spec, contexts, kv_dtype=kv_dtype, batch=batch, gqa=gqa, page_size=page_size, mtp=mtp)
    formulas = None
    if explain:
        from .explain import explain_kv

        formulas = explain_kv(spec.config, report)
    _emit(report, kv_tables(report), format, report.notes, formulas)


WeightsOpt = Annotated[Optional[str], typer.Option("--weights", help="Weight format bf16|fp8|fp8-channel|int4|mxfp4|nvfp4 (default: the config's quantization_config, or hf_quant_config.json beside it).")]
QuantConfigOpt = Annotated[Optional[Path], typer.Option("--quant-config", metavar="FILE", help="NVIDIA ModelOpt hf_quant_config.json describing the weight format (read by default from beside config.json).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Dtype the engine holds unquantized weights in (vLLM's and SGLang's --dtype): auto|bfloat16|float16|float32; auto serves a float32 checkpoint in 16 bits.")]
GpuFileOpt = Annotated[Optional[list[str]], typer.Option("--gpu-file", help="Extra GPU catalog YAML (repeatable); its entries override the built-in ones.")]


@app.command()
@handle_errors
def checkpoint(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None, weights: WeightsOpt = None,
               quant_config: QuantConfigOpt = None, format: FormatOpt = Format.table) -> None:
    """Checkpoint bytes by dtype and component, tensor count, main model and MTP apart.

    The total is what model.safetensors.index.json's metadata.total_size says (tensor bytes, headers
    excluded). GiB = 2^30 bytes, GB = 10^9 bytes.

    \b
    Example:  k2calc checkpoint --preset kimi-k2
    """
    from .analysis.checkpoint import checkpoint_report
    from .views import checkpoint_tables

    spec = resolve_model(preset, config, set_, quant_config)
    report = checkpoint_report(spec, weights)
    _emit(report, checkpoint_tables(report), format, report.notes)


@app.command()
@handle_errors
def verify(path: Annotated[Path, typer.Argument(help="Checkpoint folder or its model.safetensors.index.json.")],
           preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None, weights: WeightsOpt = None,
           quant_config: QuantConfigOpt = None, format: FormatOpt = Format.table) -> None:
    """Match a local checkpoint's tensor names, shapes and dtypes against the model (exit 1 if they differ).

    Reads model.safetensors.index.json and, where the shard files are present, only their headers (never
    the weights). The model comes from config.json beside the checkpoint unless --preset/--config.

    \b
    Example:  k2calc verify ./Kimi-K2-Instruct
    """
    from .analysis.checkpoint import checkpoint_folder, verify as verify_checkpoint
    from .config import load_path
    from .views import verify_tables

    if preset or config:
        spec = resolve_model(preset, config, set_, quant_config)
    else:
        from .inputs import path_kind, show_path

        folder, _ = checkpoint_folder(path)
        if path_kind(folder / "config.json") != "file":
            raise InputError(f"{show_path(folder)}: no config.json beside the checkpoint; pass --preset or --config")
        spec = load_path(folder, set_, quant_config)
    report = verify_checkpoint(path, spec, weights)
    _emit(report, verify_tables(report), format, report.notes)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@handle_errors
def gpus(gpu_file: GpuFileOpt = None, format: FormatOpt = Format.table) -> None:
    """List the GPU catalog: driver-reported memory, bandwidth, dense peak FLOPS, node size, sources.

    \b
    Example:  k2calc gpus --format json
    """
    from .hardware import list_gpus
    from .views import gpus_table

    items = list_gpus(gpu_file)
    emit(items, gpus_table(items), format)


@app.command(epilog=CONTEXT_RULE)
@handle_errors
def plan(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
         gpu: Annotated[Optional[str], typer.Option("--gpu", help="GPU type (see `k2calc gpus`); with --search, a comma-separated list (default: all).")] = None,
         gpus_: Annotated[Optional[int], typer.Option("--gpus", help="GPU count; must equal tp × dp-attention × pp. Alone, it means --tp GPUS (as vllm serve --tensor-parallel-size).")] = None,
         tp: Annotated[Optional[int], typer.Option("--tp", "--tensor-parallel-size", help="Attention tensor-parallel size (vLLM's --tensor-parallel-size). Default: --gpus if given alone, else 1.")] = None,
         dp_attention: Annotated[Optional[int], typer.Option("--dp-attention", help="Attention data-parallel replicas (vLLM's --data-parallel-size; SGLang's --dp with --enable-dp-attention, whose --tp is tp × dp here). Default 1.")] = None,
         ep: Annotated[Optional[int], typer.Option("--ep", help="Expert-parallel size; divides tp × dp-attention; each expert split over the rest. Default 1.")] = None,
         pp: Annotated[Optional[int], typer.Option("--pp", "--pipeline-parallel-size", help="Pipeline stages (vLLM's --pipeline-parallel-size). Default 1.")] = None,
         redundant_experts: Annotated[int, typer.Option("--redundant-experts", help="Extra expert copies for EPLB (SGLang's --ep-num-redundant-experts).")] = 0,
         mtp: Annotated[bool, typer.Option("--mtp", help="Load the MTP draft layers (speculative decoding).")] = False,
         context: Annotated[Optional[str], typer.Option("--context", "--max-model-len", help="Tokens per sequence (binary k: 128k = 131072). Default: max_position_embeddings.")] = None,
         batch: Annotated[int, typer.Option("--batch", help="Concurrent sequences.")] = 1,
         chunk: Annotated[str, typer.Option("--chunk", help="Chunked-prefill tokens per step (SGLang's --chunked-prefill-size).")] = str(DEFAULT_CHUNK),
         weights: WeightsOpt = None,
         quant_config: QuantConfigOpt = None,
         dtype: DtypeOpt = "auto",
         kv_dtype: KVDtypeOpt = "bf16",
         mem_fraction: Annotated[Optional[float], typer.Option("--mem-fraction", "--gpu-memory-utilization", help="Share of GPU memory the engine may use for everything (vLLM's --gpu-memory-utilization); with --engine, that engine's own fraction flag. Default 0.9, or the engine's default.")] = None,
         engine: Annotated[str, typer.Option("--engine", help="Account memory as this engine does at start-up: generic|vllm|sglang|trtllm.")] = "generic",
         max_num_batched_tokens: Annotated[Optional[int], typer.Option("--max-num-batched-tokens", help="With --engine: tokens of the profiling forward pass (vLLM's flag; SGLang --chunked-prefill-size; TRT-LLM max_num_tokens). Default: the engine's.")] = None,
         max_num_seqs: Annotated[Optional[int], typer.Option("--max-num-seqs", help="Concurrent sequences per DP replica the engine admits (vLLM's flag). Default: the engine's.")] = None,
         block_size: Annotated[Optional[int], typer.Option("--block-size", help="With --engine: KV block/page size in tokens (vLLM's flag). Default: the engine's.")] = None,
         avg_context: Annotated[Optional[str], typer.Option("--avg-context", help="Also show how many requests of this average context fit (e.g. 8k).")] = None,
         activations_gib: Annotated[Optional[float], typer.Option("--activations-gib", help="Override the activation estimate (GiB per GPU).")] = None,
         overhead_gib: Annotated[Optional[float], typer.Option("--overhead-gib", help="Override the runtime overhead (GiB per GPU; default 3, 5 with EP).")] = None,
         gpu_file: GpuFileOpt = None,
         check: Annotated[bool, typer.Option("--check", help="CI mode: one line, exit 0 if it fits, 1 if not.")] = False,
         search: Annotated[bool, typer.Option("--search", help="Enumerate layouts on whole nodes; print the smallest that fit.")] = False,
         max_nodes: Annotated[Optional[int], typer.Option("--max-nodes", help="With --search: up to this many nodes per GPU type. Default 8.", show_default=False)] = None,
         top: Annotated[Optional[int], typer.Option("--top", help="With --search: rows to show. Default 10.", show_default=False)] = None,
         min_tokens_per_s: Annotated[Optional[float], typer.Option("--min-tokens-per-s", help="With --search: decode tokens/s the deployment must serve (estimate, k2calc perf) at the largest batch that fits.")] = None,
         max_tpot_ms: Annotated[Optional[float], typer.Option("--max-tpot-ms", help="With --search: TPOT limit at --batch (or at the tokens/s target's batch).")] = None,
         max_ttft_ms: Annotated[Optional[float], typer.Option("--max-ttft-ms", help="With --search: TTFT limit for one prompt of --context tokens (with --pd: the prefill pool's, at the prompts per step that serve the rate).")] = None,
         pd: Annotated[bool, typer.Option("--pd", help="With --search: size prefill and decode GPUs apart for --request-rate, --input, --output.")] = False,
         request_rate: Annotated[Optional[float], typer.Option("--request-rate", help="With --pd: requests per second.")] = None,
         input_: Annotated[Optional[str], typer.Option("--input", metavar="I", help="With --pd: prompt tokens per request.")] = None,
         output: Annotated[Optional[str], typer.Option("--output", metavar="O", help="With --pd: output tokens per request.")] = None,
         mm_encoder_tp_mode: Annotated[str, typer.Option("--mm-encoder-tp-mode", help="A multimodal model's vision tower (vLLM's flag): weights = its block linears split over TP (vLLM's default), data = whole on every GPU (SGLang's --mm-enable-dp-encoder).")] = "weights",
         language_model_only: Annotated[bool, typer.Option("--language-model-only", help="Leave the vision tower out, as vLLM's --language-model-only (or --limit-mm-per-prompt 0 for every modality) does.")] = False,
         format: FormatOpt = Format.table) -> None:
    """Per-GPU memory of a deployment (weights, KV cache, activations, overhead) and whether it fits.

    Layout as vLLM counts it: GPUs = tp × dp-attention × pp. The MLA latent cache is replicated over
    attention-TP ranks and split by DP-attention. Memory in GiB (2^30 bytes). Exit 2 for an invalid
    layout; with --check, exit 1 when it does not fit.

    \b
    Example:  k2calc plan --preset kimi-k2 --gpu h200 --gpus 16 --tp 8 --dp-attention 2 --ep 16 --context 128k --batch 32 --weights fp8 --kv-dtype fp8-flashmla
    """
    from .analysis import plan as planlib
    from .hardware import get_gpu, list_gpus
    from .views import plan_tables, search_tables

    if search:
        if check:
            raise InputError("--check and --search do not go together")
        if engine != "generic":
            raise InputError(f"--engine {engine} does not go with --search: the search uses the generic accounting")
        for opt, v in (("--tp", tp), ("--dp-attention", dp_attention), ("--ep", ep), ("--pp", pp), ("--gpus", gpus_)):
            if v is not None:
                raise InputError(f"{opt} does not go with --search: the search tries every layout")
        for opt, v in (("--max-num-batched-tokens", max_num_batched_tokens), ("--max-num-seqs", max_num_seqs),
                       ("--block-size", block_size)):
            if v is not None:
                raise InputError(f"{opt} {v} does not go with --search: it is an --engine setting, and the search "
                                 "uses the generic accounting")
        if avg_context is not None and not pd:
            raise InputError(f"--avg-context {avg_context} does not go with --search: the search ranks layouts by "
                             "the sequences of --context they hold (see `k2calc plan --avg-context` for one layout)")
        for opt, v in (("--mm-encoder-tp-mode", mm_encoder_tp_mode != "weights"),
                       ("--language-model-only", language_model_only)):
            if v:
                raise InputError(f"{opt} does not go with --search: the search places the tower as vLLM's default does")
    spec = resolve_model(preset, config, set_, quant_config)
    layout, workload, knobs = planlib.layout_from_options(
        gpus=gpus_, tp=tp, dp_attention=dp_attention, ep=ep, pp=pp, redundant_experts=redundant_experts, mtp=mtp,
        context=context, batch=batch, chunk=chunk, kv_dtype=kv_dtype,
        mem_fraction=DEFAULT_MEM_FRACTION if mem_fraction is None else mem_fraction,
        activations_gib=activations_gib, overhead_gib=overhead_gib, specs=[spec])
    engine_cfg = planlib.engine_options(engine, mem_fraction, max_num_batched_tokens, max_num_seqs, block_size)
    avg = planlib.parse_avg_context(avg_context)
    if search:
        sizes = {k: v for k, v in (("max_nodes", max_nodes), ("top", top)) if v is not None}  # else the search's
        names = [n.strip() for n in (gpu or "").split(",") if n.strip()]
        if gpu is not None and not names:
            raise InputError(f"--gpu {gpu!r}: no GPU type given (leave --gpu out to search every type)")
        types = [get_gpu(n, gpu_file) for n in names] if names else list_gpus(gpu_file)
        if pd:
            from .analysis.perf import pd_search
            from .sizes import parse_context
            from .views import pd_tables

            if request_rate is None or input_ is None or output is None:
                raise InputError("--pd needs --request-rate, --input and --output")
            if min_tokens_per_s is not None:
                raise InputError("--min-tokens-per-s does not go with --pd: the request rate sets both pools' targets")
            for opt, given in (("--context", context is not None), ("--batch", batch != 1),
                               ("--avg-context", avg_context is not None)):
                if given:
                    raise InputError(f"{opt} does not go with --pd: --input and --output set the pools' contexts "
                                     "and the request rate their batches")
            report = pd_search(spec, types, request_rate=request_rate, input_tokens=parse_context(input_, "--input"),
                               output_tokens=parse_context(output, "--output"), max_tpot_ms=max_tpot_ms,
                               max_ttft_ms=max_ttft_ms, weights=weights, kv_dtype=kv_dtype, chunk=workload.chunk,
                               **sizes, mtp=mtp, redundant_experts=redundant_experts,
                               knobs=knobs, dtype=dtype)
            _emit(report, pd_tables(report), format, report.notes)
            return
        for opt, v in (("--request-rate", request_rate), ("--input", input_), ("--output", output)):
            if v is not None:
                raise InputError(f"{opt} goes with --pd")
        from .analysis.perf import SpeedTargets

        targets = SpeedTargets(min_tokens_per_s=min_tokens_per_s, max_tpot_ms=max_tpot_ms, max_ttft_ms=max_ttft_ms)
        report = planlib.search(spec, types, workload, weights=weights, knobs=knobs, **sizes, mtp=mtp,
                                redundant_experts=redundant_experts, targets=targets, dtype=dtype)
        _emit(report, search_tables(report), format, report.notes)
        return
    for opt, v in (("--min-tokens-per-s", min_tokens_per_s), ("--max-tpot-ms", max_tpot_ms),
                   ("--max-ttft-ms", max_ttft_ms), ("--pd", pd or None), ("--request-rate", request_rate),
                   ("--input", input_), ("--output", output)):
        if v is not None:
            raise InputError(f"{opt} goes with --search (for one layout's speed, see `k2calc perf`)")
    for opt, v in (("--max-nodes", max_nodes), ("--top", top)):
        if v is not None:
            raise InputError(f"{opt} {v} goes with --search (a plan is the one layout given)")
    if not gpu:
        raise InputError("--gpu is required (see `k2calc gpus`), or use --search")
    report = planlib.plan(spec, get_gpu(gpu, gpu_file), layout, workload, weights=weights, knobs=knobs, gpus=gpus_,
                          engine=engine_cfg, avg_context=avg, dtype=dtype, mm_encoder_tp_mode=mm_encoder_tp_mode,
                          language_model_only=language_model_only)
    if check and format is Format.table:
        typer.echo(report.reason)
    else:
        _emit(report, plan_tables(report), format, [report.reason, *report.notes])
    if check and not report.fits:
        raise typer.Exit(1)


@app.command()
@handle_errors
def perf(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
         gpu: Annotated[Optional[str], typer.Option("--gpu", help="GPU type (see `k2calc gpus`).")] = None,
         gpus_: Annotated[Optional[int], typer.Option("--gpus", help="GPU count; must equal tp × dp-attention × pp. Alone, it means --tp GPUS (as vllm serve --tensor-parallel-size).")] = None,
         tp: Annotated[Optional[int], typer.Option("--tp", "--tensor-parallel-size", help="Attention tensor-parallel size. Default: --gpus if given alone, else 1.")] = None,
         dp_attention: Annotated[Optional[int], typer.Option("--dp-attention", help="Attention data-parallel replicas. Default 1.")] = None,
         ep: Annotated[Optional[int], typer.Option("--ep", help="Expert-parallel size; divides tp × dp-attention. Default 1.")] = None,
         pp: Annotated[Optional[int], typer.Option("--pp", "--pipeline-parallel-size", help="Pipeline stages. Default 1.")] = None,
         redundant_experts: Annotated[int, typer.Option("--redundant-experts", help="Extra expert copies (EPLB).")] = 0,
         weights: WeightsOpt = None,
         dtype: DtypeOpt = "auto",
         expert_weights: Annotated[Optional[str], typer.Option("--expert-weights", help="Routed experts stored as bf16|fp8|int4|nvfp4 (default: as --weights).")] = None,
         kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV cache: bf16|fp16|fp8|fp8-flashmla (fp8 is attended at the FP8 peak).")] = "bf16",
         mtp: Annotated[int, typer.Option("--mtp", metavar="N", help="Speculative decoding: N draft tokens per step from the MTP module.")] = 0,
         acceptance: Annotated[Optional[float], typer.Option("--acceptance", help="With --mtp: share of draft tokens accepted (0-1); a step yields 1 + a + … + a^N tokens.")] = None,
         phase: Annotated[str, typer.Option("--phase", help="decode (TPOT) or prefill (TTFT).")] = "decode",
         batch: Annotated[int, typer.Option("--batch", help="Sequences in the deployment (decode) or prompts (prefill).")] = 1,
         context: Annotated[Optional[str], typer.Option("--context", help="Decode: tokens cached per sequence; prefill: prompt length (binary k). Default 4k; with --input/--output, input + output/2.")] = None,
         chunk: Annotated[Optional[str], typer.Option("--chunk", help=f"Prefill tokens per step per DP replica (--phase prefill or --input/--output). Default {DEFAULT_CHUNK}.")] = None,
         input_: Annotated[Optional[str], typer.Option("--input", metavar="I", help="Both phases: prompt tokens per request (with --output).")] = None,
         output: Annotated[Optional[str], typer.Option("--output", metavar="O", help="Both phases: output tokens per request (with --input).")] = None,
         sweep: Annotated[Optional[str], typer.Option("--sweep", metavar="AXIS=LIST", help="batch=1,4,16,64 or context=1k,8k,32k: one row per point.")] = None,
         price_per_gpu_hour: Annotated[Optional[float], typer.Option("--price-per-gpu-hour", help="USD per GPU-hour: cost per million tokens.")] = None,
         engine: Annotated[Optional[str], typer.Option("--engine", help="generic|vllm|sglang|trtllm: also the batch this engine's KV cache holds at the context (as `plan --engine`); a --batch beyond it is flagged.")] = None,
         mem_fraction: Annotated[Optional[float], typer.Option("--mem-fraction", help="With --engine: the engine's fraction flag (as `plan`).")] = None,
         max_num_batched_tokens: Annotated[Optional[int], typer.Option("--max-num-batched-tokens", help="With --engine: tokens of its profiling pass (as `plan`).")] = None,
         max_num_seqs: Annotated[Optional[int], typer.Option("--max-num-seqs", help="With --engine: concurrent sequences per DP replica it admits (as `plan`).")] = None,
         block_size: Annotated[Optional[int], typer.Option("--block-size", help="With --engine: KV block size in tokens (as `plan`).")] = None,
         no_overlap: Annotated[bool, typer.Option("--no-overlap", help="No two-micro-batch overlap of communication with compute.")] = False,
         compute_efficiency: Annotated[Optional[float], typer.Option("--compute-efficiency", help="Share of the matmul peak reached (default 0.70, DeepGEMM).")] = None,
         memory_efficiency: Annotated[Optional[float], typer.Option("--memory-efficiency", help="Share of HBM bandwidth matmuls reach (default 0.60, DeepGEMM decode).")] = None,
         attention_compute_efficiency: Annotated[Optional[float], typer.Option("--attention-compute-efficiency", help="Default 0.67 (FlashMLA).")] = None,
         attention_memory_efficiency: Annotated[Optional[float], typer.Option("--attention-memory-efficiency", help="Default 0.85 (FlashMLA).")] = None,
         nvlink_efficiency: Annotated[Optional[float], typer.Option("--nvlink-efficiency", help="Default 0.78 (DeepEP intranode).")] = None,
         network_efficiency: Annotated[Optional[float], typer.Option("--network-efficiency", help="Default 0.88 (DeepEP internode).")] = None,
         layer_latency_us: Annotated[Optional[float], typer.Option("--layer-latency-us", help="Fixed latency per layer, in place of --kernels-per-layer × --kernel-latency-us (default: 30 kernels × 3 µs).")] = None,
         kernel_latency_us: Annotated[Optional[float], typer.Option("--kernel-latency-us", help="Default 3 µs per kernel (aiconfigurator).")] = None,
         kernels_per_layer: Annotated[Optional[int], typer.Option("--kernels-per-layer", help="Default 30 kernels per layer: the fixed latency is kernels × kernel latency.")] = None,
         collective_latency_us: Annotated[Optional[float], typer.Option("--collective-latency-us", help="µs per all-reduce or gather. Default: the GPU catalog's collective_latency_us, else 10.")] = None,
         ep_latency_us: Annotated[Optional[float], typer.Option("--ep-latency-us", help="µs per EP dispatch or combine. Default: the GPU catalog's ep_latency_us, else 35 (DeepEP).")] = None,
         imbalance: Annotated[Optional[float], typer.Option("--imbalance", help="Busiest EP rank over the mean (default 1.18, SGLang).")] = None,
         gpu_file: GpuFileOpt = None,
         format: FormatOpt = Format.table) -> None:
    """Serving speed (an estimate): step time, TPOT or TTFT, tokens/s per deployment, GPU and user, cost.

    A roofline per operation at the layout's shard shapes (weights in their stored format), MLA attention
    reading the KV cache, expected experts touched, TP/EP communication, two-micro-batch overlap, a fixed
    latency per layer and MTP. Defaults and their sources: README "Serving speed". Tokens/s are 10^3-based.

    \b
    Example:  k2calc perf --preset deepseek-v3 --gpu h100 --gpus 72 --dp-attention 72 --ep 72 --redundant-experts 32 --batch 18432 --context 2000
    """
    from .analysis import perf as perflib
    from .hardware import get_gpu
    from .analysis.plan import default_layout, engine_options
    from .sizes import parse_context
    from .views import perf_tables

    if not gpu:
        raise InputError("--gpu is required (see `k2calc gpus`)")
    if context is not None and (input_ is not None or output is not None):
        raise InputError(f"--context {context} does not go with --input/--output: decode runs at input + output/2 "
                         "tokens cached and prefill at the input")
    if chunk is not None and phase == "decode" and input_ is None and output is None and engine is None:
        raise InputError(f"--chunk {chunk} goes with --phase prefill or --input/--output: a decode step has no "
                         "prefill chunks")
    if engine is None:
        for opt, v in (("--mem-fraction", mem_fraction), ("--max-num-batched-tokens", max_num_batched_tokens),
                       ("--max-num-seqs", max_num_seqs), ("--block-size", block_size)):
            if v is not None:
                raise InputError(f"{opt} goes with --engine (the memory that limits the batch)")
    engine_cfg = None if engine is None else engine_options(engine, mem_fraction, max_num_batched_tokens,
                                                            max_num_seqs, block_size)
    spec = resolve_model(preset, config, set_)
    layout = default_layout(gpus_, tp=tp, dp_attention=dp_attention, ep=ep, pp=pp, redundant_experts=redundant_experts)
    knobs = perflib.perf_knobs(
        overlap=not no_overlap, compute_efficiency=compute_efficiency, memory_efficiency=memory_efficiency,
        attention_compute_efficiency=attention_compute_efficiency,
        attention_memory_efficiency=attention_memory_efficiency, nvlink_efficiency=nvlink_efficiency,
        network_efficiency=network_efficiency, layer_latency_us=layer_latency_us, kernel_latency_us=kernel_latency_us,
        kernels_per_layer=kernels_per_layer, collective_latency_us=collective_latency_us, ep_latency_us=ep_latency_us,
        imbalance=imbalance)
    report = perflib.perf(
        spec, get_gpu(gpu, gpu_file), layout, phase=phase, batch=batch, context=parse_context(context or "4k"),
        chunk=DEFAULT_CHUNK if chunk is None else parse_context(chunk, "--chunk"), weights=weights,
        expert_weights=expert_weights, kv_dtype=kv_dtype, mtp=mtp, acceptance=acceptance,
        input_tokens=parse_context(input_, "--input") if input_ is not None else None,
        output_tokens=parse_context(output, "--output") if output is not None else None,
        price_per_gpu_hour=price_per_gpu_hour, sweep=perflib.parse_sweep(sweep) if sweep is not None else None,
        knobs=knobs, gpus=gpus_, engine=engine_cfg, mem_fraction=mem_fraction, dtype=dtype)
    _emit(report, perf_tables(report), format, report.notes)


@app.command()
@handle_errors
def check(file: Annotated[Path, typer.Argument(help="YAML file of named deployments and their requirements.")],
          junit: Annotated[Optional[Path], typer.Option("--junit", metavar="FILE", help="Also write JUnit XML here.")] = None,
          baseline: Annotated[Optional[Path], typer.Option("--baseline", metavar="PREVIOUS.json", help="A previous `check --format json`: report what moved.")] = None,
          gpu_file: GpuFileOpt = None, format: FormatOpt = Format.table) -> None:
    """CI capacity checks: plan every deployment of FILE and test its requirements.

    Exit 0 when all pass, 1 when any fails (each named on stderr), 2 for a bad file. With GITHUB_ACTIONS
    set, failures are also GitHub annotations.

    \b
    Example:  k2calc check deployments.yaml --junit capacity.xml --baseline previous.json
    """
    import os

    from .check import github_annotations, junit_xml, run_check
    from .views import check_tables

    report = run_check(file, baseline=baseline, gpu_files=gpu_file)
    emit(report, check_tables(report), format)
    if junit is not None:
        try:
            junit.write_text(junit_xml(report))
        except OSError as e:
            raise InputError(f"--junit {junit}: cannot write it ({e.strerror})") from None
    if os.environ.get("GITHUB_ACTIONS"):
        for line in github_annotations(report):
            typer.echo(line)
    for line in report.failures:
        error_line(f"check failed: {line}")
    if not report.passed:
        raise typer.Exit(1)


@app.command(epilog=CONTEXT_RULE)
@handle_errors
def compare(
    models: Annotated[list[str], typer.Argument(help="Two or more presets, config files or model folders.", show_default=False)],
    context: Annotated[Optional[str], typer.Option("--context", help="Contexts for the FLOPs rows (binary k: 128k = 131072). Default 4k,32k,128k.")] = None,
    kv_context: Annotated[Optional[str], typer.Option("--kv-context", "--max-model-len", help="Sequence length for the KV-cache and plan rows. Default: the longest --context given, else the shortest max_position_embeddings of the models.")] = None,
    kv_dtype: KVDtypeOpt = "bf16",
    gpu: Annotated[Optional[str], typer.Option("--gpu", help="Add a memory plan on this GPU type (with --gpus).")] = None,
    gpus_: Annotated[Optional[int], typer.Option("--gpus", help="GPU count for the memory plan (whole nodes).")] = None,
    gpu_file: GpuFileOpt = None,
    all_fields: Annotated[bool, typer.Option("--all-fields", help="Show equal config fields too.")] = False,
    batch: Annotated[Optional[int], typer.Option("--batch", help="With --gpu and --gpus: serving rows at this many sequences (at most what fits). Default 64.", show_default=False)] = None,
    price_per_gpu_hour: Annotated[Optional[float], typer.Option("--price-per-gpu-hour", help="With --gpu: USD per GPU-hour, for the cost per million tokens.")] = None,
    explain: ExplainOpt = False,
    format: FormatOpt = Format.table,
) -> None:
    """Models side by side: config, parameters, FLOPs, KV cache, checkpoint bytes, and a memory plan.

    Differences and ratios are against the first model. Every figure comes from the same analysis
    the single-model commands run.

    \b
    Example:  k2calc compare kimi-k2 deepseek-v3 --gpu h200 --gpus 8
    """
    from .analysis.comparison import compare as compare_models
    from .config import load
    from .sizes import parse_context, parse_contexts
    from .views import compare_tables

    if len(models) < 2:
        raise InputError("compare needs two or more models (presets, config files or folders)")
    specs = [load(m) for m in models]
    report = compare_models(specs, None if context is None else parse_contexts(context, "--context"),
                            kv_dtype=kv_dtype,
                            kv_context=None if kv_context is None else parse_context(kv_context, "--kv-context"),
                            gpu=gpu, gpus=gpus_, gpu_file=gpu_file, explain=explain, batch=batch,
                            price_per_gpu_hour=price_per_gpu_hour)
    _emit(report, compare_tables(report, all_fields), format, report.notes)


@app.command(epilog=CONTEXT_RULE)
@handle_errors
def plot(
    kind: Annotated[str, typer.Argument(help="kv | flops | memory | params | perf.", show_default=False)],
    models: Annotated[list[str], typer.Argument(help="One or more presets, config files or model folders.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the plot to this .png, .svg or .pdf file (needs the plot extra).")] = None,
    context: Annotated[Optional[str], typer.Option("--context", metavar="LIST", help="kv, flops: contexts to sweep (binary k), default every power of two from 4k to 128k; memory: tokens per sequence, default the shortest max_position_embeddings.")] = None,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", "--kv-cache-dtype", help="kv, memory: " + KV_DTYPE_HELP)] = "bf16",
    batch: Annotated[int, typer.Option("--batch", help="kv, memory: sequences (kv plots the batch's cache).")] = 1,
    phase: Annotated[str, typer.Option("--phase", help="flops: decode|prefill.")] = "decode",
    attention: Annotated[Optional[str], typer.Option("--attention", help="flops: MLA form naive|absorbed (default: naive for prefill, absorbed for decode).")] = None,
    gpu: Annotated[Optional[str], typer.Option("--gpu", help="memory: GPU type (see `k2calc gpus`).")] = None,
    gpus_: Annotated[Optional[int], typer.Option("--gpus", help="memory: GPU count; must equal tp × dp-attention × pp.")] = None,
    tp: Annotated[Optional[int], typer.Option("--tp", "--tensor-parallel-size", help="memory: attention tensor-parallel size (default: --gpus).")] = None,
    dp_attention: Annotated[Optional[int], typer.Option("--dp-attention", help="memory: attention data-parallel replicas.")] = None,
    ep: Annotated[Optional[int], typer.Option("--ep", help="memory: expert-parallel size.")] = None,
    pp: Annotated[Optional[int], typer.Option("--pp", help="memory: pipeline stages.")] = None,
    weights: WeightsOpt = None,
    mem_fraction: Annotated[float, typer.Option("--mem-fraction", "--gpu-memory-utilization", help="memory: share of GPU memory the engine may use.")] = DEFAULT_MEM_FRACTION,
    sweep: Annotated[Optional[str], typer.Option("--sweep", metavar="AXIS=LIST", help="perf: batch=1,4,16 or context=1k,8k (default batch=1,4,16,64,256,1024).")] = None,
    redundant_experts: Annotated[int, typer.Option("--redundant-experts", help="perf: extra expert copies (EPLB).")] = 0,
    gpu_file: GpuFileOpt = None,
) -> None:
    """Plot KV cache or FLOPs vs context, per-GPU memory of a plan, or parameter shares, for one or more models.

    Writes PNG, SVG or PDF with -o (from the suffix; needs matplotlib: pip install "k2calc[plot]"). memory and
    params (and kv/flops without -o) also print a small bar chart in the terminal. The numbers are those
    of `k2calc kv`, `flops`, `plan` and `params`; memory takes `k2calc plan`'s layout options.

    \b
    Example:  k2calc plot kv kimi-k2 deepseek-v3 -o kv.png
    """
    from . import plot as plotlib
    from .config import load
    from .views import plot_tables

    if output is not None:
        plotlib.output_format(output)
    reports = plotlib.reports_for(
        kind, [load(m) for m in models], context=context, kv_dtype=kv_dtype, batch=batch, phase=phase,
        attention=attention, gpu=gpu, gpus=gpus_, tp=tp, dp_attention=dp_attention, ep=ep, pp=pp, weights=weights,
        mem_fraction=mem_fraction, gpu_file=gpu_file, sweep=sweep, redundant_experts=redundant_experts)
    # perf: a curve through batches whose KV cache cannot be held would mislead; say which (perf's notes)
    notes = [f"{r.model}: {n}" for r in reports for n in r.notes if "do not fit in memory" in n] \
        if kind == "perf" else None
    if kind in ("memory", "params", "perf") or output is None or not plotlib.available():
        emit(None, plot_tables(kind, reports), Format.table, notes)
    if output is not None:
        written = plotlib.write(kind, reports, output)
        typer.echo(f"wrote {written} ({written.stat().st_size:,} bytes)")


@app.command()
@handle_errors
def schema(command: Annotated[str, typer.Argument(help="The command whose --format json output to describe.",
                                                  show_default=False)]) -> None:
    """The JSON Schema of a command's --format json output, from the same models that write it.

    One vocabulary for every command (README: JSON vocabulary). plan's schema covers both a plan and
    plan --search.

    \b
    Example:  k2calc schema params
    """
    import json

    from .schema import json_schema

    sys.stdout.write(json.dumps(json_schema(command), indent=2) + "\n")


def _only_command(argv: list[str]) -> typer.Typer:
    """The app, or when the first argument names a command, an app holding only that command: typer
    converts every registered command's signature before running one, and a call should pay for one."""
    name = argv[0] if argv else None
    infos = [c for c in app.registered_commands if (c.name or c.callback.__name__) == name]
    if not infos:
        return app  # top-level help, --version, completion, a mistyped command (its suggestion needs them all)
    only = typer.Typer(**_SETTINGS)
    only.registered_callback = app.registered_callback
    only.registered_commands = infos
    return only


def main() -> None:
    """The console entry point."""
    import os

    # k2calc uses no pydantic plugins: skip their discovery (importlib.metadata over every installed
    # distribution), as typer does for its own adapters
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    _only_command(sys.argv[1:])()


if __name__ == "__main__":
    main()
