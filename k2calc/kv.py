"""KV-cache sizes of MLA: what one token leaves behind in each layer.

MLA caches, per token per layer, the compressed latent c_kv (`kv_lora_rank` values) and the decoupled
RoPE key (`qk_rope_head_dim` values), shared by every head: the widths of `kv_a_proj_with_mqa`'s output.
"""

from __future__ import annotations

from .config import ModelConfig
from .errors import InputError

# Bytes per cached value for the plain dtypes (fp8 with one scale per tensor: the scale is negligible).
KV_DTYPES = ("bf16", "fp16", "fp8", "fp8-flashmla")
_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1}
FLASHMLA_BLOCK = 128  # FlashMLA's fp8 layout: one float32 scale per 128 latent values


def latent_width(cfg: ModelConfig) -> int:
    """Values MLA caches per token per layer: kv_lora_rank + qk_rope_head_dim (576 for V3 and K2)."""
    return cfg.kv_lora_rank + cfg.qk_rope_head_dim


def bytes_per_token_layer(cfg: ModelConfig, kv_dtype: str = "bf16") -> int:
    """Bytes of MLA cache one token holds in one layer."""
    if kv_dtype == "fp8-flashmla":
        # Latent in fp8 + a float32 scale per 128 latent values + RoPE part kept in bf16:
        # 512 + 4·4 + 64·2 = 656 bytes for kv_lora_rank 512, rope 64.
        blocks = -(-cfg.kv_lora_rank // FLASHMLA_BLOCK)
        return cfg.kv_lora_rank * 1 + blocks * 4 + cfg.qk_rope_head_dim * 2
    if kv_dtype not in _BYTES:
        raise InputError(f"--kv-dtype {kv_dtype}: unknown KV-cache dtype (choose from {', '.join(KV_DTYPES)})")
    return latent_width(cfg) * _BYTES[kv_dtype]
