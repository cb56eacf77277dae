"""KV-cache sizes: what one token leaves behind in each layer, for every attention kind.

MLA caches, per token per layer, the compressed latent c_kv (`kv_lora_rank` values) and the decoupled
RoPE key (`qk_rope_head_dim` values), shared by every head: the widths of `kv_a_proj_with_mqa`'s output.
MHA/GQA/MQA cache a key and a value of `head_dim` per KV head: 2·num_key_value_heads·head_dim values.
A sliding-window or chunked layer keeps at most its window (chunk) of tokens; a sequence's cache is the
sum over its layers.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..arch.description import Architecture, Attention, Expr, Indexer, const, describe
from ..errors import InputError

# Bytes per cached value for the plain dtypes (fp8 with one scale per tensor: the scale is negligible).
KV_DTYPES = ("bf16", "fp16", "fp8", "fp8-flashmla")
_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1}
FLASHMLA_BLOCK = 128  # FlashMLA's fp8 layout: one float32 scale per 128 latent values
# The same caches as vLLM and SGLang spell them (`--kv-cache-dtype`); `auto` is the model's own dtype.
KV_DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8",
                    "fp8_ds_mla": "fp8-flashmla"}
_TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16"}


def resolve_kv_dtype(kv_dtype: str, cfg) -> str:
    """k2calc's name for a KV-cache dtype typed as k2calc, vLLM or SGLang spell it. `auto` is the
    model's dtype (`torch_dtype`, bf16 when the config does not say), as vLLM and SGLang read it."""
    name = kv_dtype.strip().lower()
    if name == "auto":
        torch_dtype = cfg.torch_dtype or "bfloat16"
        if torch_dtype not in _TORCH_DTYPES:
            raise InputError(f"--kv-dtype auto: the model's torch_dtype {torch_dtype!r} is not a KV-cache dtype "
                             f"k2calc models (choose from {', '.join(KV_DTYPES)})")
        return _TORCH_DTYPES[torch_dtype]
    name = KV_DTYPE_ALIASES.get(name, name)
    if name not in KV_DTYPES:
        engine = ", ".join(["auto", *KV_DTYPE_ALIASES])
        raise InputError(f"--kv-dtype {kv_dtype}: unknown KV-cache dtype (choose from {', '.join(KV_DTYPES)}, "
                         f"or as vLLM/SGLang spell them: {engine})")
    return name


def latent(cfg) -> Expr:
    """Values one layer caches per token: kv_lora_rank + qk_rope_head_dim for MLA (576 for V3 and K2, the
    output width of kv_a_proj_with_mqa); 2·num_key_value_heads·head_dim for GQA (keys and values)."""
    return cached_values(describe(cfg).attention)


def cached_values(att: Attention) -> Expr:
    """Values one token caches in a layer with this attention (K and V of each KV head, or MLA's latent)."""
    if att.mla is not None:
        return att.mla.latent
    if att.shared_kv is not None:  # DeepSeek-V4: one head that is both key and value
        return att.shared_kv.head_dim
    if att.linear is not None:  # KDA: a fixed state per request, nothing per token
        return const(0)
    return const(2) * att.num_key_value_heads * att.head_dim


def latent_width(cfg) -> int:
    return latent(cfg).value


def attention_bytes(att: Attention, kv_dtype: str = "bf16") -> Expr:
    """Bytes of attention cache one token holds in one layer, as a formula over config fields."""
    if att.shared_kv is not None:
        return shared_kv_entry_bytes(att, kv_dtype)
    if att.mla is not None and kv_dtype == "fp8-flashmla":
        r, rope = att.mla.kv_lora_rank, att.mla.qk_rope_head_dim
        # Latent in fp8 + a float32 scale per 128 latent values + RoPE part kept in bf16:
        # 512 + 4·4 + 64·2 = 656 bytes for kv_lora_rank 512, rope 64.
        return r * const(1) + r.ceil_div(FLASHMLA_BLOCK) * const(4) + rope * const(2)
    if kv_dtype == "fp8-flashmla":
        raise InputError("--kv-dtype fp8-flashmla: FlashMLA's layout caches an MLA latent; this model has "
                         f"{att.kind.value} attention (use fp8)")
    return cached_values(att) * const(value_bytes(kv_dtype))


def mla_bytes(cfg, kv_dtype: str = "bf16") -> Expr:
    """Bytes of attention cache (MLA latent, or GQA keys and values) one token holds in the first layer."""
    return attention_bytes(describe(cfg).attention, kv_dtype)


def bytes_per_token_layer(cfg, kv_dtype: str = "bf16") -> int:
    """Bytes of attention cache one token holds in one (the first) layer."""
    return mla_bytes(cfg, kv_dtype).value


# ---------------------------------------------------------------------------------------------------
# The `k2calc kv` report: per token, per sequence, per batch; MHA and GQA beside it; indexer; MTP; pages.

INDEXER_SCALE_BYTES = 4  # the lightning indexer's fp8 keys carry one float32 scale per quantization block
INDEXER_QUANT_BLOCK = 128  # values per scale: reference inference/model.py, vLLM and SGLang indexer caches


def value_bytes(kv_dtype: str) -> int:
    """Bytes per value for a plain (uncompressed-layout) cache in this dtype, for MHA/GQA comparisons."""
    if kv_dtype == "fp8-flashmla":
        return 1
    if kv_dtype not in _BYTES:
        raise InputError(f"--kv-dtype {kv_dtype}: unknown KV-cache dtype (choose from {', '.join(KV_DTYPES)})")
    return _BYTES[kv_dtype]


def indexer_bytes(cfg) -> Expr | None:
    """DeepSeek-V3.2's indexer key cache per token per layer, as a formula: index_head_dim fp8 values + one
    float32 scale per 128 of them (132 bytes for index_head_dim 128), as engines size it. None without."""
    ix = describe(cfg).indexer
    return None if ix is None else index_key_bytes(ix)


def index_key_bytes(ix: Indexer) -> Expr:
    """Bytes of indexer keys one token caches in a layer (fp8 + float32 scales)."""
    d = ix.head_dim
    return d * const(1) + d.ceil_div(INDEXER_QUANT_BLOCK) * const(INDEXER_SCALE_BYTES)


def indexer_bytes_per_token_layer(cfg) -> int:
    expr = indexer_bytes(cfg)
    return expr.value if expr else 0


def cache_bytes_per_token_layer(cfg, kv_dtype: str = "bf16") -> int:
    """Everything one token caches in one (the first) layer: the MLA latent + RoPE key (or GQA keys and
    values) in `kv_dtype`, plus DeepSeek-V3.2's indexer keys (always fp8)."""
    return bytes_per_token_layer(cfg, kv_dtype) + indexer_bytes_per_token_layer(cfg)


def layer_bytes(att: Attention, kv_dtype: str = "bf16", kv_heads_divisor: int = 1) -> int:
    """Bytes one token caches in a layer with this attention, indexer keys included. `kv_heads_divisor`:
    the tensor-parallel degree; GQA KV heads split across it up to the KV head count (then replicated),
    MLA's one latent is replicated on every rank."""
    b = attention_bytes(att, kv_dtype).value
    if att.mla is None and kv_heads_divisor > 1:
        heads = att.num_key_value_heads.value
        b = b * -(-heads // kv_heads_divisor) // heads  # ceil(kv_heads / tp) heads per GPU, at least one
    if att.indexer is not None and att.shared_kv is None:  # V4's indexer keys come per compressed entry
        b += index_key_bytes(att.indexer).value
    return b


# ---------------------------------------------------------------------------------------------------
# DeepSeek-V4 as the engines lay it out (SGLang DeepSeekV4SingleKVPool and vLLM's fp8_ds_mla, SOURCES.md):
# an entry of the one K = V head is its NoPE values in fp8, its RoPE values in bf16 and one e8m0 scale per
# 64-value tile of the NoPE part plus one pad byte: 448 + 64·2 + 8 = 584 bytes. Every layer keeps its
# sliding window of entries; a ratio-r layer adds one compressed entry per r tokens (ratio 4: plus an
# indexer key, fp8 + a float32 scale per 128 values = 132 bytes); the compressors keep fp32 state rings of
# coff·ratio rows (kv and score, 2·coff·head_dim values; the indexer's, 2·2·index_head_dim) per request.
# bf16 is vLLM's blog basis: 2 bytes per value, indexer keys too (512·2 and 128·2).
V4_TILE = 64  # NoPE values per e8m0 scale (DSV4_FP8_QUANT_TILE)
V4_STATE_BYTES = 4  # the compressors' state rings are float32


def shared_kv_entry_bytes(att: Attention, kv_dtype: str = "bf16") -> Expr:
    """Bytes of one cached entry (window or compressed) of DeepSeek-V4's one K = V head."""
    v4 = att.shared_kv
    if kv_dtype in ("fp8", "fp8-flashmla"):
        nope = v4.head_dim - v4.qk_rope_head_dim
        return nope * const(1) + v4.qk_rope_head_dim * const(2) + nope.ceil_div(V4_TILE) + const(1)
    return v4.head_dim * const(value_bytes(kv_dtype))


def shared_kv_index_bytes(att: Attention, kv_dtype: str = "bf16") -> Expr:
    """Bytes of one indexer key per compressed entry (ratio-4 layers): fp8 + scales, or bf16."""
    if kv_dtype in ("fp8", "fp8-flashmla"):
        return index_key_bytes(att.indexer)
    return att.indexer.head_dim * const(value_bytes(kv_dtype))


def shared_kv_state_rows(att: Attention) -> tuple[int, int]:
    """(rows, values per row) of the compressors' state ring in this layer: coff·ratio rows of kv + score
    for coff series (2·coff·head_dim), plus the indexer compressor's (2·2·index_head_dim); (0, 0) without."""
    v4 = att.shared_kv
    ratio, coff = v4.compress_ratio.value, v4.coff
    if not ratio:
        return 0, 0
    row = 2 * coff * v4.head_dim.value
    if att.indexer is not None:
        row += 2 * 2 * att.indexer.head_dim.value
    return coff * ratio, row


def shared_kv_state_bytes(att: Attention, state_bytes: int = V4_STATE_BYTES) -> int:
    """The compressors' state rings one request keeps in this layer (0 for a window-only layer)."""
    rows, row = shared_kv_state_rows(att)
    return rows * row * state_bytes


def sglang_bytes_per_full_token(arch: Architecture, swa_full_tokens_ratio: float = 0.1, state_bytes: int = 4,
                                kv_dtype: str = "fp8") -> float:
    """SGLang's DeepSeek-V4 pool coefficient (DSV4PoolConfigurator._get_bytes_per_full_token, SOURCES.md):
    bytes per token of full capacity F, every pool that scales with F divided by F. The window pool holds
    swa_full_tokens_ratio·F entries on every layer, the compressed pools F/ratio entries (+ indexer keys),
    the ratio-4 state rings scale with the window pool (rows/window per window token); the ratio-128 rings
    are reserved per request apart (`--swa-full-tokens-ratio`, state dtype: fp32 4 bytes or bf16 2)."""
    total = 0.0
    for lay in arch.layers:
        att = lay.attention
        entry = shared_kv_entry_bytes(att, kv_dtype).value
        total += swa_full_tokens_ratio * entry + shared_kv_growing(att, kv_dtype)
        if att.indexer is not None:
            rows, row = shared_kv_state_rows(att)
            total += swa_full_tokens_ratio * rows / att.window.cap * row * state_bytes
    return total


def sglang_pool_line(arch: Architecture, full_tokens: int, swa_full_tokens_ratio: float = 0.1,
                     page_size: int = 256) -> dict[str, int]:
    """SGLang's DeepSeek-V4 pool sizes for a full capacity of `full_tokens` (its log line "full=..., swa=...,
    c4=..., c128=..."): the window pool is swa_full_tokens_ratio of it in whole pages, each compressed pool one
    entry per `ratio` tokens (page_size 256: a 64-entry page of the ratio-4 pool)."""
    ratios = sorted({lay.attention.shared_kv.compress_ratio.value for lay in arch.layers} - {0})
    out = {"full": full_tokens // page_size * page_size,
           "swa": int(full_tokens * swa_full_tokens_ratio) // page_size * page_size}
    out.update({f"c{r}": full_tokens // r for r in ratios})
    return out


def shared_kv_growing(att: Attention, kv_dtype: str = "bf16") -> float:
    """Bytes per token of context this layer's compressed branch adds: (entry + indexer key) / ratio."""
    ratio = att.shared_kv.compress_ratio.value
    if not ratio:
        return 0.0
    per_entry = shared_kv_entry_bytes(att, kv_dtype).value
    if att.indexer is not None:
        per_entry += shared_kv_index_bytes(att, kv_dtype).value
    return per_entry / ratio


def linear_state_bytes(att: Attention, kv_dtype: str = "bf16") -> int:
    """A KDA layer's per-request state: the fp32 recurrent state num_heads·head_dim·head_dim and the
    short-convolution tails of q, k and v, (conv_kernel-1)·num_heads·head_dim each in the model dtype
    (vLLM kda_state_shape / kda_state_dtype; transformers keeps the recurrent state in float32)."""
    la = att.linear
    width = la.num_heads.value * la.head_dim.value
    return width * la.head_dim.value * 4 + 3 * (la.conv_kernel.value - 1) * width * 2


def layer_sequence_bytes(att: Attention, tokens: int, kv_dtype: str = "bf16", kv_heads_divisor: int = 1) -> int:
    """Bytes one sequence of `tokens` holds in a layer with this attention: its kept tokens' cache, or
    (DeepSeek-V4) window entries + compressed entries + state rings, or (KDA) a fixed state."""
    if att.linear is not None:  # the state splits by heads under tensor parallelism (vLLM's KDA layer)
        heads = att.linear.num_heads.value
        return linear_state_bytes(att, kv_dtype) * -(-heads // kv_heads_divisor) // heads
    if att.shared_kv is not None:
        ratio = att.shared_kv.compress_ratio.value
        entry = shared_kv_entry_bytes(att, kv_dtype).value
        b = kept_tokens(att, tokens) * entry + shared_kv_state_bytes(att)
        if ratio:
            b += tokens // ratio * entry
        if att.indexer is not None:
            b += tokens // ratio * shared_kv_index_bytes(att, kv_dtype).value
        return b
    return kept_tokens(att, tokens) * layer_bytes(att, kv_dtype, kv_heads_divisor)


def layer_decode_read_bytes(att: Attention, tokens: int, kv_dtype: str = "bf16", kv_heads_divisor: int = 1) -> int:
    """Bytes one decode step reads of a sequence's cache in this layer: all it holds (`layer_sequence_bytes`),
    except where an indexer picks index_topk entries (DeepSeek-V3.2, V4's ratio-4 layers): the sparse kernel
    gathers only those, while the indexer reads every cached indexer key."""
    ix = att.indexer
    if ix is None or att.linear is not None:
        return layer_sequence_bytes(att, tokens, kv_dtype, kv_heads_divisor)
    topk = ix.topk.value
    if att.shared_kv is not None:  # window entries and state rings in full; top-k of the compressed entries
        entry = shared_kv_entry_bytes(att, kv_dtype).value
        compressed = tokens // att.shared_kv.compress_ratio.value
        return (kept_tokens(att, tokens) * entry + shared_kv_state_bytes(att) + min(compressed, topk) * entry
                + compressed * shared_kv_index_bytes(att, kv_dtype).value)
    kept, key = kept_tokens(att, tokens), index_key_bytes(ix).value
    return min(kept, topk) * (layer_bytes(att, kv_dtype, kv_heads_divisor) - key) + kept * key


def growing_and_constant(arch: Architecture, kv_dtype: str = "bf16", layers=None) -> tuple[float, int]:
    """(bytes per token of context, bytes per request) once a sequence is longer than every window: what
    grows with the length, and what a request holds whatever its length (windows, compressor and
    recurrent states). Full-attention layers only grow; windowed and KDA layers are constant."""
    grow, const_ = 0.0, 0
    for i in range(arch.num_hidden_layers) if layers is None else layers:
        att = arch.layer(i).attention
        if att.linear is not None:
            const_ += linear_state_bytes(att, kv_dtype)
        elif att.shared_kv is not None:
            grow += shared_kv_growing(att, kv_dtype)
            const_ += att.window.cap * shared_kv_entry_bytes(att, kv_dtype).value + shared_kv_state_bytes(att)
        elif att.window.cap is not None:
            const_ += att.window.cap * layer_bytes(att, kv_dtype)
        else:
            grow += layer_bytes(att, kv_dtype)
    return grow, const_


def kept_tokens(att: Attention, tokens: int) -> int:
    """Tokens a layer keeps in its cache for a sequence of `tokens`: capped by a window or chunk."""
    cap = att.window.cap
    return tokens if cap is None else min(tokens, cap)


def sequence_bytes(arch: Architecture, tokens: int, kv_dtype: str = "bf16", layers=None,
                   kv_heads_divisor: int = 1) -> int:
    """Bytes of cache one sequence of `tokens` holds over `layers` (indices; default every decoder layer)."""
    idx = range(arch.num_hidden_layers) if layers is None else layers
    return sum(layer_sequence_bytes(arch.layer(i).attention, tokens, kv_dtype, kv_heads_divisor) for i in idx)


def beyond_max_position_note(cfg, contexts: list[int], what: str = "--context") -> str | None:
    """A note (not an error) when a context is longer than the config's max_position_embeddings."""
    limit = cfg.max_position_embeddings
    over = [n for n in contexts if limit and n > limit]
    if not over:
        return None
    return f"{what} {', '.join(str(n) for n in over)} is longer than max_position_embeddings ({limit})"


def mha_values(cfg, groups: int | None = None) -> Expr:
    """What plain attention would cache per token per layer: keys of qk_nope+qk_rope and values of
    v_head_dim (GQA models: head_dim each), for every head (MHA) or for each of `groups` KV groups (GQA)."""
    att = describe(cfg).attention
    kv_heads = att.num_heads if groups is None else Expr("groups", groups)
    if att.mla is not None:
        return kv_heads * (att.mla.qk_nope_head_dim + att.mla.qk_rope_head_dim + att.mla.v_head_dim)
    if att.linear is not None:  # a model of KDA layers only: what softmax attention of its heads would cache
        return kv_heads * (att.linear.head_dim + att.linear.head_dim)
    return kv_heads * (att.head_dim + att.head_dim)


def check_gqa(cfg, groups: int) -> None:
    if groups < 1:
        raise InputError(f"--gqa {groups}: must be at least 1")
    if cfg.num_attention_heads % groups:
        raise InputError(f"--gqa {groups}: num_attention_heads ({cfg.num_attention_heads}) is not divisible by {groups}")


def pages(tokens: int, page_size: int | None) -> int:
    """Tokens allocated for a sequence: rounded up to whole pages of page_size tokens."""
    if not page_size:
        return tokens
    return -(-tokens // page_size) * page_size


class CacheFormat(BaseModel):
    """One way of caching keys and values, for the comparison table."""

    name: str
    formula: str  # values per token per layer
    values_per_token_layer: int
    bytes_per_token: int  # all layers
    ratio: float  # bytes_per_token / this model's bytes_per_token


class KVPoint(BaseModel):
    context: int  # tokens per sequence
    tokens_allocated: int  # rounded up to whole pages
    bytes_per_sequence: int
    total_bytes: int  # batch sequences
    gib_per_sequence: float
    total_gib: float


class KVLayerType(BaseModel):
    """Layers that cache alike: their attention, how many, bytes per token per layer, window (None: all)."""

    attention: str
    count: int
    bytes_per_token_layer: int
    window: int | None
    tokens_kept: int = 0  # of the last context's sequence: min(tokens, window)
    bytes_per_sequence: int = 0  # these layers' share of the last context's sequence


class KVReport(KVPoint):
    """The last (or only) context's figures at the top level; `sweep` holds one point per context."""

    model: str
    dtype: str
    layers: int  # layers holding a cache: decoder layers, plus the MTP draft layers with --mtp
    mtp_layers: int
    values_per_token_layer: int  # kv_lora_rank + qk_rope_head_dim
    formula: str
    mla_bytes_per_token_layer: int
    indexer_bytes_per_token_layer: int
    bytes_per_token_layer: int  # MLA + indexer
    bytes_per_token: int  # all layers (windows not applied: what a token adds while within every window)
    batch: int
    page_size: int | None
    mha_bytes_per_token: int  # same dtype (1 byte per value for fp8-flashmla)
    ratio_vs_mha: float  # mha_bytes_per_token / bytes_per_token: how many times more MHA would cache
    gqa_groups: int | None
    gqa_bytes_per_token: int | None
    ratio_vs_gqa: float | None
    formats: list[CacheFormat]
    mtp_params: int | None  # the draft modules' weights (parameters), with --mtp
    mtp_weight_bytes: int | None = None  # ...and their bytes in the config's weight format, with --mtp
    sweep: list[KVPoint]
    layer_types: list[KVLayerType] = []
    # Past every window: the cache grows by growing_bytes_per_token per token of context and holds
    # constant_bytes_per_request whatever the length (windows, compressor and recurrent states).
    growing_bytes_per_token: float = 0.0
    constant_bytes_per_request: int = 0
    full_attention_bytes_per_sequence: int | None = None  # windowed models: with no window anywhere
    notes: list[str]


def kv_cache(spec, contexts: list[int] | None = None, *, kv_dtype: str = "bf16", batch: int = 1, gqa: int | None = None,
             page_size: int | None = None, mtp: bool = False) -> KVReport:
    """The `k2calc kv` report for sequences of each context length, `batch` of them."""
    from ..sizes import GIB, MAX_CONTEXT, MAX_INT

    cfg = spec.arch
    kv_dtype = resolve_kv_dtype(kv_dtype, spec.config)
    notes = list(spec.notes)
    if not contexts:
        from ..sizes import context_window

        contexts = [context_window([spec])]
        notes.append(f"context: max_position_embeddings = {cfg.max_position_embeddings:,} (--context to choose)")
    if batch < 1:
        raise InputError(f"--batch {batch}: must be at least 1")
    if batch > MAX_INT:
        raise InputError(f"--batch {batch}: too large (at most 2^40 = {MAX_INT:,} sequences)")
    if page_size is not None and page_size < 1:
        raise InputError(f"--page-size {page_size}: must be at least 1")
    if page_size is not None and page_size > MAX_CONTEXT:
        raise InputError(f"--page-size {page_size}: too large (at most 2^40 = {MAX_CONTEXT:,} tokens)")
    if gqa is not None:
        check_gqa(cfg, gqa)
    if mtp and cfg.num_nextn_predict_layers == 0:
        raise InputError(f"{spec.name}: --mtp: the model has no MTP modules (num_nextn_predict_layers is 0)")
    mtp_layers = cfg.num_nextn_predict_layers if mtp else 0
    layers = cfg.num_hidden_layers + mtp_layers
    mla = bytes_per_token_layer(cfg, kv_dtype)
    idx = indexer_bytes_per_token_layer(cfg)
    per_token_layer = cache_bytes_per_token_layer(cfg, kv_dtype)  # mla + idx
    # Every layer's cache for one token; windows cap the tokens kept per layer in `sequence_bytes`.
    per_token = sum(layer_bytes(cfg.layer(i).attention, kv_dtype) for i in range(layers))
    windowed = any(cfg.layer(i).attention.window.cap is not None for i in range(layers))
    vb = value_bytes(kv_dtype)

    def fmt(name: str, values: Expr) -> CacheFormat:
        b = values.value * vb * layers
        return CacheFormat(name=name, formula=values.text, values_per_token_layer=values.value, bytes_per_token=b,
                           ratio=b / per_token if per_token else 0.0)  # 0: nothing cached per token

    att0 = cfg.attention
    label = ("MLA" if cfg.is_mla else f"shared KV 1×{att0.shared_kv.head_dim.value}, K = V" if att0.shared_kv
             else "KDA (a fixed state, nothing per token)" if att0.linear
             else f"GQA {att0.num_key_value_heads.value}×{att0.head_dim.value}")
    formats = [CacheFormat(name=f"{label} ({kv_dtype})" + (" + indexer keys" if idx else ""),
                           formula=latent(cfg).text + (" (+ indexer: index_head_dim fp8 + fp32 scale per 128)"
                                                                       if idx else ""),
                           values_per_token_layer=latent_width(cfg), bytes_per_token=per_token, ratio=1.0)]
    mha = fmt("MHA", mha_values(cfg))
    formats.append(mha)
    gqa_fmt = None
    if gqa is not None:
        gqa_fmt = fmt(f"GQA, {gqa} groups", mha_values(cfg, gqa))
        formats.append(gqa_fmt)

    grow, constant = growing_and_constant(cfg, kv_dtype, range(layers))
    sweep = []
    for n in contexts:
        if n < 1:
            raise InputError(f"--context {n}: must be at least 1")
        alloc = pages(n, page_size)
        uneven = windowed or constant or grow != per_token  # windows, compressed entries, fixed states
        seq = sequence_bytes(cfg, alloc, kv_dtype, range(layers)) if uneven else alloc * per_token
        sweep.append(KVPoint(context=n, tokens_allocated=alloc, bytes_per_sequence=seq, total_bytes=seq * batch,
                             gib_per_sequence=seq / GIB, total_gib=seq * batch / GIB))
    long_note = beyond_max_position_note(cfg, contexts)
    if long_note:
        notes.append(long_note)
    types = layer_types(cfg, kv_dtype, range(layers))
    last = pages(contexts[-1], page_size)
    held: dict[tuple, int] = {}  # each type's share, summed layer by layer (V4's compressed entries, KDA states)
    for i in range(layers):
        att = cfg.layer(i).attention
        held[_type_key(att, kv_dtype)] = held.get(_type_key(att, kv_dtype), 0) + layer_sequence_bytes(att, last, kv_dtype)
    for t in types:
        t.tokens_kept = last if t.window is None else min(last, t.window)
        t.bytes_per_sequence = held[(t.attention, t.bytes_per_token_layer, t.window)]
    full = last * per_token if windowed else None
    shared = [cfg.layer(i).attention for i in range(layers) if cfg.layer(i).attention.shared_kv is not None]
    if windowed and not shared:  # V4's windows come with compressed entries: its own note below
        notes.append("windowed layers keep at most their window of tokens: "
                     + "; ".join(f"{t.count} × {t.attention}" for t in types if t.window)
                     + f"; with full attention in every layer a sequence would cache {full:,} bytes")
    if shared:
        a = shared[0]
        entry = shared_kv_entry_bytes(a, kv_dtype)
        ix = next((x for x in shared if x.indexer is not None), None)
        notes.append(f"DeepSeek-V4: one K = V head, {entry.value} bytes per entry ({entry.text}); every layer keeps "
                     f"its {a.window.cap}-token window, a ratio-r layer one entry per r tokens"
                     + (f" plus a {shared_kv_index_bytes(ix, kv_dtype).value}-byte indexer key (ratio 4)" if ix else "")
                     + f"; the compressors' fp32 state rings are per request. Growing part {grow:,.2f} bytes per "
                     f"token, constant part {constant:,} bytes per request"
                     + (" (the engines' fp8 layout: SGLang, vLLM fp8_ds_mla)" if kv_dtype.startswith("fp8")
                        else " (bf16 basis of vLLM's blog; engines store fp8: --kv-dtype fp8)"))
    kda = [cfg.layer(i).attention for i in range(layers) if cfg.layer(i).attention.linear is not None]
    if kda:
        notes.append(f"{len(kda)} KDA (linear-attention) layers keep a fixed state per request, "
                     f"{linear_state_bytes(kda[0], kv_dtype):,} bytes each (fp32 recurrent state num_heads·head_dim² "
                     "+ bf16 convolution tails), whatever the length: the constant part; only the other layers grow")
    # (V4's fp8 layout, under both fp8 names, is the engines' 584-byte entry, noted above.)
    if kv_dtype == "fp8-flashmla" and not shared:
        notes.append(f"fp8-flashmla: latent in fp8 with a float32 scale per {FLASHMLA_BLOCK} values, RoPE part in bf16; "
                     "MHA/GQA compared at 1 byte per value")
    elif kv_dtype == "fp8" and not shared:
        notes.append("fp8: one scale per tensor, every value in one byte (the scale is not counted)")
    if idx:
        notes.append(f"lightning indexer: {idx} bytes per token per layer of fp8 keys + a float32 scale per "
                     f"{INDEXER_QUANT_BLOCK} values, always fp8")
    mtp_params = mtp_weight_bytes = None
    if mtp:
        from .checkpoint import checkpoint_report
        from ..arch.tensors import build_tensors

        mtp_params = sum(t.params for t in build_tensors(cfg) if t.mtp)
        ck = checkpoint_report(spec)  # the draft weights as the model's own checkpoint stores them
        mtp_weight_bytes = ck.mtp.bytes
        notes.append(f"--mtp: {mtp_layers} draft layer(s) cache like a decoder layer; their weights are "
                     f"{mtp_params:,} parameters, {mtp_weight_bytes:,} bytes in the checkpoint's format "
                     f"({ck.weight_format.name})")
    return KVReport(
        **sweep[-1].model_dump(), model=spec.name, dtype=kv_dtype, layers=layers, mtp_layers=mtp_layers,
        values_per_token_layer=latent_width(cfg), formula=latent(cfg).text,
        mla_bytes_per_token_layer=mla, indexer_bytes_per_token_layer=idx, bytes_per_token_layer=per_token_layer,
        bytes_per_token=per_token, batch=batch, page_size=page_size, mha_bytes_per_token=mha.bytes_per_token,
        ratio_vs_mha=mha.bytes_per_token / per_token if per_token else 0.0, gqa_groups=gqa,
        gqa_bytes_per_token=gqa_fmt.bytes_per_token if gqa_fmt else None,
        ratio_vs_gqa=gqa_fmt.bytes_per_token / per_token if gqa_fmt and per_token else None,
        formats=formats, mtp_params=mtp_params, mtp_weight_bytes=mtp_weight_bytes, sweep=sweep,
        layer_types=types, full_attention_bytes_per_sequence=full, growing_bytes_per_token=grow,
        constant_bytes_per_request=constant, notes=notes,
    )


def layer_types(arch: Architecture, kv_dtype: str, layers) -> list[KVLayerType]:
    """Layers grouped by what they cache: one row per attention kind, window and bytes per token."""
    rows: dict[tuple, KVLayerType] = {}
    for i in layers:
        att = arch.layer(i).attention
        key = _type_key(att, kv_dtype)
        if key in rows:
            rows[key].count += 1
        else:
            rows[key] = KVLayerType(attention=key[0], count=1, bytes_per_token_layer=key[1], window=key[2])
    return list(rows.values())


def _type_key(att: Attention, kv_dtype: str) -> tuple[str, int, int | None]:
    """What makes layers cache alike: attention label, bytes per token per layer, window."""
    return att.describe(), layer_bytes(att, kv_dtype), att.window.cap
