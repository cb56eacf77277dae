"""Gemma 3 (model_type gemma3_text, and gemma3's text_config): GQA with sliding-window layers.

Five sliding-window layers per global one (`sliding_window_pattern` 6, or `layer_types`), sandwich norms
(input, post-attention, pre- and post-feedforward RMSNorms), q_norm/k_norm of head_dim, tied embeddings,
a gated GELU MLP. head_dim (128 for the 27B) is its own field, not hidden_size / num_attention_heads. The
embedding is scaled by sqrt(hidden_size) at run time, which adds no tensor.

The released config is compact: every field it leaves out takes the default of transformers' (5.x)
Gemma3TextConfig, which is this class's default (the 2B-sized model's shapes, never another family's).
"""

from __future__ import annotations

from .description import DenseMLP, NormPlacement, QKNorm, Window
from .llama import GQAConfig
from .schema import Dim, Layers


class Gemma3TextConfig(GQAConfig):
    """model_type gemma3_text; defaults of transformers' Gemma3TextConfig: vocab_size 262,208,
    hidden_size 2304, intermediate_size 9216, num_hidden_layers 26, num_attention_heads 8,
    num_key_value_heads 4, head_dim 256, hidden_activation gelu_pytorch_tanh, sliding_window 4096,
    sliding_window_pattern 6 (every 6th layer global) unless `layer_types` is given, tied embeddings,
    no attention bias, max_position_embeddings 131,072."""

    MODEL_TYPES = ("gemma3_text",)
    ARCHITECTURES = ("Gemma3ForCausalLM",)
    vocab_size: Dim = 262_208
    hidden_size: Dim = 2304
    intermediate_size: Dim = 9216
    num_hidden_layers: Layers = 26
    num_attention_heads: Dim = 8
    num_key_value_heads: Dim | None = 4
    head_dim: Dim | None = 256
    hidden_activation: str = "gelu_pytorch_tanh"
    sliding_window: Dim | None = 4096
    sliding_window_pattern: Dim = 6
    layer_types: list[str] | None = None
    tie_word_embeddings: bool = True
    max_position_embeddings: Dim | None = 131_072

    QK_NORM = QKNorm.PER_HEAD
    NORM = NormPlacement.SANDWICH

    def window(self, i: int) -> Window:
        return self.sliding_or_full(i, (i + 1) % self.sliding_window_pattern != 0)

    def mlp(self, i: int):
        return DenseMLP(self.f("intermediate_size"), activation=self.hidden_activation, bias=self.mlp_bias)
