"""Reproduce the published DeepSeek-V4 and Kimi-K3 figures from their config.json alone (pure Python).

Research aid for issue 13, not part of the library: it writes out, by hand, the released checkpoints'
tensor lists (HF checkpoint names, shapes as formulas over config fields, stored dtypes) and the engines'
KV-cache accounting, then compares every derived number with the published or measured one it is meant
to reproduce. docs/arch-notes/deepseek-v4-kimi-k3.md explains each formula and cites its source.

Run from the repo root:  python scripts/v4k3_figures.py          (exit 1 if a reproduction fails)
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN = ROOT / "tests" / "golden"

# Bytes per stored element. fp4 is 0.5 (two e2m1 values per byte, stored as int8/uint8 in safetensors).
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp8_e4m3": 1, "e8m0": 1, "int64": 8, "fp4_e2m1": 0.5, "uint8": 1}
GiB = 1 << 30


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


class Tensors:
    """A checkpoint tensor list: (name, shape, stored dtype, role). role: weight | scale | buffer."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, tuple[int, ...], str, str]] = []

    def add(self, name: str, shape: tuple[int, ...], dtype: str, role: str = "weight") -> None:
        self.rows.append((name, tuple(shape), dtype, role))

    def fp8_linear(self, name: str, out_f: int, in_f: int) -> None:
        """fp8 e4m3 weight with one e8m0 scale per 128x128 block (DeepSeek-V4 `.scale`)."""
        self.add(f"{name}.weight", (out_f, in_f), "fp8_e4m3")
        self.add(f"{name}.scale", (cdiv(out_f, 128), cdiv(in_f, 128)), "e8m0", "scale")

    def mxfp4_linear(self, weight: str, scale: str, out_f: int, in_f: int, scale_dtype: str) -> None:
        """MXFP4: e2m1 values packed two per byte along the input dim, one e8m0 byte per 32 inputs."""
        self.add(weight, (out_f, in_f), "fp4_e2m1")  # logical shape; stored [out_f, in_f // 2] in bytes
        self.add(scale, (out_f, in_f // 32), scale_dtype, "scale")

    @staticmethod
    def numel(shape) -> int:
        return math.prod(shape)

    def params(self, pred=lambda name: True) -> int:
        """Logical parameters (fp4 counted per value, as transformers does after dequantization)."""
        return sum(self.numel(s) for n, s, d, r in self.rows if r == "weight" and pred(n))

    def stored_elements(self) -> int:
        """Elements as a safetensors reader counts them (packed fp4: one int8 per two values)."""
        return sum(self.numel(s) // (2 if d == "fp4_e2m1" else 1) for n, s, d, r in self.rows)

    def bytes(self) -> float:
        return sum(self.numel(s) * DTYPE_BYTES[d] for n, s, d, r in self.rows)


# --------------------------------------------------------------------------------------------------
# DeepSeek-V4 (model_type deepseek_v4): checkpoint names as released (reference-inference names).
# --------------------------------------------------------------------------------------------------

def v4_layer(t: Tensors, p: str, c: dict, ratio: int, hash_layer: bool) -> None:
    """One decoder block (main layer `layers.{i}.` or MTP block `mtp.{j}.`)."""
    H, hc = c["hidden_size"], c["hc_mult"]
    nh, hd, ql = c["num_attention_heads"], c["head_dim"], c["q_lora_rank"]
    og, olr = c["o_groups"], c["o_lora_rank"]
    E, I, V, k = c["n_routed_experts"], c["moe_intermediate_size"], c["vocab_size"], c["num_experts_per_tok"]
    mix = (2 + hc) * hc  # mHC: pre (hc) + post (hc) + comb (hc*hc) coefficients
    for site in ("attn", "ffn"):
        t.add(f"{p}hc_{site}_fn", (mix, hc * H), "fp32")
        t.add(f"{p}hc_{site}_base", (mix,), "fp32")
        t.add(f"{p}hc_{site}_scale", (3,), "fp32")
    t.add(f"{p}attn_norm.weight", (H,), "bf16")
    t.add(f"{p}ffn_norm.weight", (H,), "bf16")
    a = f"{p}attn."
    t.add(f"{a}attn_sink", (nh,), "fp32")
    t.fp8_linear(f"{a}wq_a", ql, H)
    t.add(f"{a}q_norm.weight", (ql,), "bf16")
    t.fp8_linear(f"{a}wq_b", nh * hd, ql)
    t.fp8_linear(f"{a}wkv", hd, H)  # one shared 512-wide KV head, K = V
    t.add(f"{a}kv_norm.weight", (hd,), "bf16")
    t.fp8_linear(f"{a}wo_a", og * olr, nh * hd // og)  # grouped: o_groups blocks side by side
    t.fp8_linear(f"{a}wo_b", H, og * olr)
    if ratio:
        coff = 2 if ratio == 4 else 1  # ratio-4 compressor keeps two overlapping series (Ca, Cb)
        t.add(f"{a}compressor.wkv.weight", (coff * hd, H), "bf16")
        t.add(f"{a}compressor.wgate.weight", (coff * hd, H), "bf16")
        t.add(f"{a}compressor.ape", (ratio, coff * hd), "fp32")
        t.add(f"{a}compressor.norm.weight", (hd,), "bf16")
    if ratio == 4:
        ih, ihd = c["index_n_heads"], c["index_head_dim"]
        t.fp8_linear(f"{a}indexer.wq_b", ih * ihd, ql)
        t.add(f"{a}indexer.weights_proj.weight", (ih, H), "bf16")
        t.add(f"{a}indexer.compressor.wkv.weight", (2 * ihd, H), "bf16")
        t.add(f"{a}indexer.compressor.wgate.weight", (2 * ihd, H), "bf16")
        t.add(f"{a}indexer.compressor.ape", (4, 2 * ihd), "fp32")
        t.add(f"{a}indexer.compressor.norm.weight", (ihd,), "bf16")
    f = f"{p}ffn."
    t.add(f"{f}gate.weight", (E, H), "bf16")
    if hash_layer:
        t.add(f"{f}gate.tid2eid", (V, k), "int64", "buffer")
    else:
        t.add(f"{f}gate.bias", (E,), "fp32", "buffer")
    for e in range(E):
        for w, (o, i) in (("w1", (I, H)), ("w3", (I, H)), ("w2", (H, I))):
            t.mxfp4_linear(f"{f}experts.{e}.{w}.weight", f"{f}experts.{e}.{w}.scale", o, i, "e8m0")
    Is = I * c["n_shared_experts"]
    t.fp8_linear(f"{f}shared_experts.w1", Is, H)
    t.fp8_linear(f"{f}shared_experts.w3", Is, H)
    t.fp8_linear(f"{f}shared_experts.w2", H, Is)


def v4_tensors(c: dict, mtp: bool = True) -> Tensors:
    H, hc, V, L = c["hidden_size"], c["hc_mult"], c["vocab_size"], c["num_hidden_layers"]
    t = Tensors()
    t.add("embed.weight", (V, H), "bf16")
    for i in range(L):
        v4_layer(t, f"layers.{i}.", c, c["compress_ratios"][i], i < c["num_hash_layers"])
    t.add("norm.weight", (H,), "bf16")
    t.add("hc_head_fn", (hc, hc * H), "fp32")
    t.add("hc_head_base", (hc,), "fp32")
    t.add("hc_head_scale", (1,), "fp32")
    t.add("head.weight", (V, H), "bf16")
    if mtp:
        for j in range(c["num_nextn_predict_layers"]):
            p = f"mtp.{j}."
            v4_layer(t, p, c, c["compress_ratios"][L + j], False)
            t.fp8_linear(f"{p}e_proj", H, H)
            t.fp8_linear(f"{p}h_proj", H, H)
            for n in ("enorm", "hnorm", "norm"):
                t.add(f"{p}{n}.weight", (H,), "bf16")
            t.add(f"{p}hc_head_fn", (hc, hc * H), "fp32")
            t.add(f"{p}hc_head_base", (hc,), "fp32")
            t.add(f"{p}hc_head_scale", (1,), "fp32")
    return t


def v4_expert_params(c: dict) -> int:
    return 3 * c["moe_intermediate_size"] * c["hidden_size"]


def v4_active(c: dict, t: Tensors) -> int:
    """Active per token: main model, no input embedding, only top-k of the routed experts."""
    main = t.params(lambda n: not n.startswith("mtp."))
    embed = c["vocab_size"] * c["hidden_size"]
    idle = (c["n_routed_experts"] - c["num_experts_per_tok"]) * v4_expert_params(c)
    return main - embed - c["num_hidden_layers"] * idle


# --------------------------------------------------------------------------------------------------
# Kimi-K3 (model_type kimi_k3; text model KimiLinearForCausalLM): names as released.
# --------------------------------------------------------------------------------------------------

def k3_tensors(cfg: dict, vision: bool = True) -> Tensors:
    c, la, vc = cfg["text_config"], cfg["text_config"]["linear_attn_config"], cfg["vision_config"]
    H, V, L = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"]
    nh, dk, kconv = la["num_heads"], la["head_dim"], la["short_conv_kernel_size"]
    qkv = nh * dk
    n_mla, qn, qr, vh = c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    full = {i - 1 for i in la["full_attn_layers"]}  # 1-based in the config
    E, I, Lat = c["num_experts"], c["moe_intermediate_size"], c["routed_expert_hidden_size"]
    t = Tensors()
    m = "language_model.model."
    t.add(f"{m}embed_tokens.weight", (V, H), "bf16")
    for i in range(L):
        p = f"{m}layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm", "self_attention_res_norm", "mlp_res_norm"):
            t.add(f"{p}{n}.weight", (H,), "bf16")
        t.add(f"{p}self_attention_res_proj.weight", (1, H), "bf16")  # attention-residual pseudo-query
        t.add(f"{p}mlp_res_proj.weight", (1, H), "bf16")
        a = f"{p}self_attn."
        if i in full:  # gated MLA, no positional encoding (mla_use_nope)
            t.add(f"{a}q_a_proj.weight", (c["q_lora_rank"], H), "bf16")
            t.add(f"{a}q_a_layernorm.weight", (c["q_lora_rank"],), "bf16")
            t.add(f"{a}q_b_proj.weight", (n_mla * (qn + qr), c["q_lora_rank"]), "bf16")
            t.add(f"{a}kv_a_proj_with_mqa.weight", (c["kv_lora_rank"] + qr, H), "bf16")
            t.add(f"{a}kv_a_layernorm.weight", (c["kv_lora_rank"],), "bf16")
            t.add(f"{a}kv_b_proj.weight", (n_mla * (qn + vh), c["kv_lora_rank"]), "bf16")
            t.add(f"{a}g_proj.weight", (n_mla * vh, H), "bf16")  # output gate (mla_use_output_gate)
            t.add(f"{a}o_proj.weight", (H, n_mla * vh), "bf16")
        else:  # KDA
            for x in "qkv":
                t.add(f"{a}{x}_proj.weight", (qkv, H), "bf16")
                t.add(f"{a}{x}_conv1d.weight", (qkv, 1, kconv), "fp32")
            t.add(f"{a}f_a_proj.weight", (dk, H), "bf16")
            t.add(f"{a}f_b_proj.weight", (qkv, dk), "bf16")
            t.add(f"{a}dt_bias", (qkv,), "fp32")
            t.add(f"{a}A_log", (dk,), "fp32")  # [128] in the release; equals head_dim here (see notes)
            t.add(f"{a}b_proj.weight", (nh, H), "bf16")
            t.add(f"{a}g_proj.weight", (qkv, H), "bf16")  # full-rank output gate (use_full_rank_gate)
            t.add(f"{a}o_norm.weight", (dk,), "fp32")
            t.add(f"{a}o_proj.weight", (H, qkv), "bf16")
        if i < c["first_k_dense_replace"]:
            for n, (o, ii) in (("gate_proj", (c["intermediate_size"], H)), ("up_proj", (c["intermediate_size"], H)),
                               ("down_proj", (H, c["intermediate_size"]))):
                t.add(f"{p}mlp.{n}.weight", (o, ii), "bf16")
        else:
            b = f"{p}block_sparse_moe."
            t.add(f"{b}gate.weight", (E, H), "bf16")
            t.add(f"{b}gate.e_score_correction_bias", (E,), "fp32", "buffer")
            t.add(f"{b}routed_expert_down_proj.weight", (Lat, H), "bf16")  # hidden -> latent
            t.add(f"{b}routed_expert_norm.weight", (Lat,), "bf16")
            t.add(f"{b}routed_expert_up_proj.weight", (H, Lat), "bf16")  # latent -> hidden
            for e in range(E):
                for w, (o, ii) in (("w1", (I, Lat)), ("w3", (I, Lat)), ("w2", (Lat, I))):
                    t.mxfp4_linear(f"{b}experts.{e}.{w}.weight_packed", f"{b}experts.{e}.{w}.weight_scale",
                                   o, ii, "uint8")
            Is = I * c["num_shared_experts"]
            t.add(f"{b}shared_experts.gate_proj.weight", (Is, H), "bf16")
            t.add(f"{b}shared_experts.up_proj.weight", (Is, H), "bf16")
            t.add(f"{b}shared_experts.down_proj.weight", (H, Is), "bf16")
    t.add(f"{m}norm.weight", (H,), "bf16")
    t.add(f"{m}output_attn_res_norm.weight", (H,), "bf16")
    t.add(f"{m}output_attn_res_proj.weight", (1, H), "bf16")
    t.add("language_model.lm_head.weight", (V, H), "bf16")
    if vision:
        vh_, vi, ps = vc["vt_hidden_size"], vc["vt_intermediate_size"], vc["patch_size"]
        qkvh = vc["qkv_hidden_size"]
        t.add("vision_tower.patch_embed.proj.weight", (vh_, 3, ps, ps), "bf16")
        t.add("vision_tower.patch_embed.pos_emb.weight",
              (vc["init_pos_emb_height"], vc["init_pos_emb_width"], vh_), "bf16")
        for j in range(vc["vt_num_hidden_layers"]):
            p = f"vision_tower.encoder.blocks.{j}."
            t.add(f"{p}wqkv.weight", (3 * qkvh, vh_), "bf16")
            t.add(f"{p}wo.weight", (vh_, qkvh), "bf16")
            t.add(f"{p}norm0.weight", (vh_,), "bf16")
            t.add(f"{p}norm1.weight", (vh_,), "bf16")
            t.add(f"{p}mlp.fc0.weight", (vi, vh_), "bf16")
            t.add(f"{p}mlp.fc1.weight", (vh_, vi), "bf16")
        t.add("vision_tower.encoder.final_layernorm.weight", (vh_,), "bf16")
        merged = vh_ * math.prod(vc["merge_kernel_size"])
        t.add("mm_projector.proj.0.weight", (merged, merged), "bf16")
        t.add("mm_projector.proj.2.weight", (vc["text_hidden_size"], merged), "bf16")
        t.add("mm_projector.post_norm.weight", (vc["text_hidden_size"],), "bf16")
    return t


def k3_active(cfg: dict, t: Tensors) -> int:
    """Active per token (text): no input embedding, no vision tower, top-k of the routed experts."""
    c = cfg["text_config"]
    text = t.params(lambda n: n.startswith("language_model."))
    embed = c["vocab_size"] * c["hidden_size"]
    per_expert = 3 * c["moe_intermediate_size"] * c["routed_expert_hidden_size"]
    moe_layers = c["num_hidden_layers"] - c["first_k_dense_replace"]
    return text - embed - moe_layers * (c["num_experts"] - c["num_experts_per_token"]) * per_expert


# --------------------------------------------------------------------------------------------------
# FLOPs per token (decode, one new token at context length T) and KV bytes per token
# --------------------------------------------------------------------------------------------------

def v4_kv_per_token(c: dict, fp8: bool = True) -> float:
    """Growing KV bytes per token (all main layers): c4 entries + indexer keys per 4 tokens, c128 per 128.

    fp8: the engines' 584-byte entry (448 fp8 NoPE + 64 bf16 RoPE values + 8 scale bytes) and 132-byte
    fp8 indexer key (128 + one fp32 scale); bf16: 512 and 128 values of 2 bytes (vLLM blog's basis).
    """
    hd, rope, ihd = c["head_dim"], c["qk_rope_head_dim"], c["index_head_dim"]
    entry = (hd - rope) + 2 * rope + 8 if fp8 else 2 * hd
    idx = ihd + ihd // 128 * 4 if fp8 else 2 * ihd
    r = c["compress_ratios"][: c["num_hidden_layers"]]
    return r.count(4) * (entry + idx) / 4 + r.count(128) * entry / 128


def v4_flops(c: dict, T: int) -> dict[str, float]:
    """Decode FLOPs for one token at context T (multiply-add = 2 FLOPs).

    linear: 2 x active parameters (every projection, incl. compressors, indexer wq_b/weights_proj,
    grouped o_a/o_b, mHC fn, shared + top-k experts, lm_head). Attention core over the one shared
    512-wide head, K = V: QK and PV each 2*heads*head_dim per attended entry.
    """
    t = v4_tensors(c, mtp=False)
    nh, hd, W = c["num_attention_heads"], c["head_dim"], c["sliding_window"]
    r = c["compress_ratios"][: c["num_hidden_layers"]]
    per_entry = 4 * nh * hd
    return {
        "linear": 2 * v4_active(c, t),
        "window": len(r) * min(T, W) * per_entry,
        "c4_topk": r.count(4) * min(T // 4, c["index_topk"]) * per_entry,
        "c4_indexer": r.count(4) * 2 * c["index_n_heads"] * c["index_head_dim"] * (T // 4),
        "c128": r.count(128) * (T // 128) * per_entry,
    }


def v32_flops(c: dict, T: int) -> dict[str, float]:
    """DeepSeek-V3.2 decode FLOPs at context T: DSA (indexer over all T keys, MLA over top-k)."""
    golden = json.loads((ROOT / "tests" / "golden" / "deepseek-v3.2.json").read_text())["tensors"]
    total = sum(n for k, n in golden.items() if not k.endswith("e_score_correction_bias"))
    H, L = c["hidden_size"], c["num_hidden_layers"]
    idle = (L - c["first_k_dense_replace"]) * (c["n_routed_experts"] - c["num_experts_per_tok"]) * 3 * \
        c["moe_intermediate_size"] * H
    active = total - c["vocab_size"] * H - idle
    qk, v = c["kv_lora_rank"] + c["qk_rope_head_dim"], c["kv_lora_rank"]  # absorbed MLA: MQA over the latent
    return {
        "linear": 2 * active,
        "mla_topk": L * 2 * c["num_attention_heads"] * (qk + v) * min(T, c["index_topk"]),
        "indexer": L * 2 * c["index_n_heads"] * c["index_head_dim"] * T,
    }


def fmt_parts(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v / 1e9:,.1f}" for k, v in parts.items()) + f"; total {sum(parts.values()) / 1e9:,.1f} GFLOP"


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------

FAILED: list[str] = []
PUB = load("v4-k3-published.json")  # the published figures, each with its source


def check(label: str, ours, published, ok: bool) -> None:
    print(f"  [{'ok' if ok else 'MISMATCH'}] {label}: ours {ours}  |  published {published}")
    if not ok:
        FAILED.append(label)


def check_report(name: str, t: Tensors, pub: dict, gib: str | None = None) -> None:
    """A checkpoint's published totals: tensor count, stored elements, tensor bytes (and a report's GiB)."""
    check(f"{name} checkpoint tensors", fmt(len(t.rows)), fmt(pub["tensors"]), len(t.rows) == pub["tensors"])
    check(f"{name} checkpoint stored elements", fmt(t.stored_elements()), fmt(pub["stored_elements"]),
          t.stored_elements() == pub["stored_elements"])
    check(f"{name} checkpoint tensor bytes (index total_size)", fmt(t.bytes()), fmt(pub["tensor_bytes"]),
          t.bytes() == pub["tensor_bytes"])
    if gib is not None:
        check(f"{name} tensor bytes as the model report prints them (GiB)", f"{t.bytes() / GiB:.2f}", gib,
              f"{t.bytes() / GiB:.2f}" == gib)


def fmt(n: float) -> str:
    return f"{n:,.0f}" if isinstance(n, int) or float(n).is_integer() else f"{n:,.4f}"


def main() -> int:
    pro, flash = load("deepseek-v4-pro.config.json"), load("deepseek-v4-flash.config.json")
    k3 = load("kimi-k3.config.json")
    v32 = load("deepseek-v3.2.config.json")
    ckpt = PUB["checkpoints"]

    print("DeepSeek-V4 parameters")
    for name, c, total_pub, active_pub in (("V4-Pro", pro, 1.6e12, 49e9), ("V4-Flash", flash, 284e9, 13e9)):
        t = v4_tensors(c)
        main_p = t.params(lambda n: not n.startswith("mtp."))
        mtp_p = t.params(lambda n: n.startswith("mtp."))
        golden = json.loads((GOLDEN / f"deepseek-v4-{name[3:].lower()}.json").read_text())["parameters_total"]
        check(f"{name} main-model parameters = transformers 5.24 meta count", fmt(main_p), fmt(golden),
              main_p == golden)
        if name == "V4-Pro":  # "1.6T": 1.5730T without MTP and 1.5988T with it both round to 1.6T
            check(f"{name} main + MTP rounds to the published total", f"{fmt(main_p)} + {fmt(mtp_p)} = "
                  f"{(main_p + mtp_p) / 1e12:,.4f}T", "1.6T", round((main_p + mtp_p) / 1e11) == 16)
        else:  # "284B" is the main model without MTP (the model card's own split)
            check(f"{name} main model (no MTP) is the published total", f"{main_p / 1e9:,.2f}B (+ MTP "
                  f"{mtp_p / 1e9:,.2f}B)", "284B", round(main_p / 1e9) == 284)
        act = v4_active(c, t)
        check(f"{name} active (no input embedding, top-k experts, no MTP)", f"{act / 1e9:,.3f}B",
              f"{active_pub / 1e9:,.0f}B", round(act / 1e9) == round(active_pub / 1e9))
        print(f"      checkpoint: {len(t.rows):,} tensors, {t.stored_elements():,} stored elements, "
              f"{t.bytes():,.0f} bytes = {t.bytes() / GiB:,.2f} GiB (MTP included)")
    t = v4_tensors(pro)
    # gogongxt/python scripts/models/deepseek_v4_pro.md: 64 files, 145,116 tensors, 861,608,274,846 elements,
    # "805.32 GB" of tensors (the tool prints GiB: bytes / 2**30).
    check_report("V4-Pro", t, ckpt["deepseek-v4-pro"], "805.32")
    tf = v4_tensors(flash)
    check_report("V4-Flash", tf, ckpt["deepseek-v4-flash"])
    st = {"bf16": "BF16", "fp32": "F32", "fp8_e4m3": "F8_E4M3", "e8m0": "F8_E8M0", "int64": "I64", "fp4_e2m1": "I8"}
    counts: dict[str, int] = {}
    for _, _, d, _ in tf.rows:
        counts[st[d]] = counts.get(st[d], 0) + 1
    published = ckpt["deepseek-v4-flash"]["dtype_counts"]
    check("V4-Flash tensors per stored dtype", counts, published, counts == published)
    n_mtp = sum(1 for n, *_ in tf.rows if n.startswith("mtp.0."))
    check("V4-Flash tensors under mtp.0.", n_mtp, ckpt["deepseek-v4-flash"]["mtp_tensors"],
          n_mtp == ckpt["deepseek-v4-flash"]["mtp_tensors"])

    print("\nKimi-K3 parameters")
    t3 = k3_tensors(k3)
    text = t3.params(lambda n: n.startswith("language_model."))
    vis = t3.params(lambda n: not n.startswith("language_model."))
    check_report("K3", t3, ckpt["kimi-k3"], "1453.66")
    bias = sum(t3.numel(sh) for n, sh, d, r in t3.rows if r == "buffer")
    hf = PUB["parameters"]["kimi-k3"]["hf_page_count"]
    check("K3 logical parameters + router bias = Hugging Face page count (second-hand)", fmt(text + vis + bias),
          fmt(hf), text + vis + bias == hf)
    check("K3 total (text + vision) rounds to 2.8T", f"{fmt(text)} + {fmt(vis)} = {(text + vis) / 1e12:.4f}T",
          "2.8T", round((text + vis) / 1e11) == 28)
    act = k3_active(k3, t3)
    check("K3 active (no input embedding, no vision, top-16 experts)", f"{act / 1e9:,.3f}B", "104B",
          round(act / 1e9) == 104)

    print("\nKV cache (vLLM blog, bf16, 1M = 2**20 tokens, growing part only)")
    ctx = 1 << 20

    v32_tok = v32["num_hidden_layers"] * (v32["kv_lora_rank"] + v32["qk_rope_head_dim"] + v32["index_head_dim"]) * 2
    pro_tok, flash_tok = v4_kv_per_token(pro, fp8=False), v4_kv_per_token(flash, fp8=False)
    check("V3.2-style 61-layer stack at 1M (576 MLA + 128 indexer values, bf16)", f"{v32_tok * ctx / GiB:.2f} GiB",
          "83.9 GiB", f"{v32_tok * ctx / GiB:.1f}" == "83.9")
    check("V4-Pro at 1M (c4: 512+128 per 4 tokens, c128: 512 per 128, bf16)", f"{pro_tok * ctx / GiB:.2f} GiB",
          "9.62 GiB", f"{pro_tok * ctx / GiB:.2f}" == "9.62")
    check("ratio", f"{v32_tok / pro_tok:.2f}x", "~8.7x", round(v32_tok / pro_tok, 1) == 8.7)
    print(f"      V4-Flash on the same basis: {flash_tok * ctx / GiB:.2f} GiB ({flash_tok} B/token)")

    print("\nSGLang bytes_per_full_token (DSV4PoolConfigurator)")

    def sglang_bpft(c: dict, swa_ratio: float, state_bytes: int = 4, fp4_indexer: bool = False,
                    c128_state_in_coeff: bool = False, layers: int | None = None) -> float:
        r = c["compress_ratios"][: c["num_hidden_layers"] if layers is None else layers]
        n, n4, n128 = len(r), r.count(4), r.count(128)
        nope, rope, ihd = c["head_dim"] - c["qk_rope_head_dim"], c["qk_rope_head_dim"], c["index_head_dim"]
        kv = nope + 2 * rope + 8  # 448 fp8 + 64 bf16 + 8 scale bytes = 584
        idx = ihd // 2 + ihd // 32 if fp4_indexer else ihd + ihd // 128 * 4  # 68 or 132
        a = nope + rope
        window = c["sliding_window"]  # swa_page_size = window_size = 128
        ring4, ring128 = 8, 128  # get_compress_state_ring_size, no speculative decoding
        c4_state = 2 * 2 * a * state_bytes
        c4_idx_state = 2 * 2 * ihd * state_bytes
        c128_state = 2 * a * state_bytes
        out = (swa_ratio * kv * n + kv / 4 * n4 + kv / 128 * n128 + idx / 4 * n4
               + swa_ratio * ring4 / window * (c4_state + c4_idx_state) * n4)
        if c128_state_in_coeff:
            out += swa_ratio * ring128 / window * c128_state * n128
        return out

    bpft = PUB["kv"]["sglang_bytes_per_full_token"]
    for key, val in (
        ("deepseek-v4-flash fp8 indexer, fp32 state, swa 0.1", sglang_bpft(flash, 0.1)),
        ("deepseek-v4-flash fp8 indexer, bf16 state, swa 0.1", sglang_bpft(flash, 0.1, state_bytes=2)),
        ("deepseek-v4-pro fp8 indexer, fp32 state, swa 0.15", sglang_bpft(pro, 0.15)),
        # older SGLang: all 62 compress_ratios entries (MTP's too), c128 state rings in the coefficient
        ("deepseek-v4-pro sglang v0.5.12.post1, swa 0.1",
         sglang_bpft(pro, 0.1, c128_state_in_coeff=True, layers=62)),
    ):
        check(key, f"{val:.2f}", bpft[key], f"{val:.2f}" == bpft[key])
    full = 1641472
    check("V4-Flash pool line from full=1641472: swa, c4, c128",
          (int(full * 0.1) // 256 * 256, full // 4, full // 128), "(164096, 410368, 12824)",
          (int(full * 0.1) // 256 * 256, full // 4, full // 128) == (164096, 410368, 12824))

    print("\nV4 per-request constant (SGLang layout, fp32 state, offline c128 rings, no speculative decoding)")
    for name, c in (("V4-Pro", pro), ("V4-Flash", flash)):
        r = c["compress_ratios"][: c["num_hidden_layers"]]
        a, ihd, W = c["head_dim"], c["index_head_dim"], c["sliding_window"]
        window = len(r) * W * 584
        c4_rings = r.count(4) * 8 * (2 * 2 * a * 4 + 2 * 2 * ihd * 4)
        c128_rings = r.count(128) * 128 * (2 * a * 4)
        total = window + c4_rings + c128_rings
        print(f"      {name}: window {window:,} + c4 state rings {c4_rings:,} + c128 state rings {c128_rings:,} "
              f"= {total:,} B ({total / (1 << 20):.2f} MiB); growing part {v4_kv_per_token(c):,.4f} B/token "
              f"(1M tokens: {v4_kv_per_token(c) * ctx / GiB:.2f} GiB)")

    print("\nK3 per-request state (KDA) and MLA cache")
    c = k3["text_config"]
    la = c["linear_attn_config"]
    n_kda, n_mla = len(la["kda_layers"]), len(la["full_attn_layers"])
    rec = la["num_heads"] * la["head_dim"] * la["head_dim"] * 4  # fp32 recurrent state per layer
    conv = 3 * la["num_heads"] * la["head_dim"] * (la["short_conv_kernel_size"] - 1) * 2  # bf16 q,k,v conv tails
    mla = (c["kv_lora_rank"] + c["qk_rope_head_dim"]) * 2
    print(f"      KDA: {n_kda} layers x ({rec:,} recurrent fp32 + {conv:,} conv bf16) = "
          f"{n_kda * (rec + conv):,} B = {n_kda * (rec + conv) / (1 << 20):.2f} MiB per request")
    print(f"      MLA: {n_mla} layers x {mla} B = {n_mla * mla:,} B per token (bf16); "
          f"1M tokens: {n_mla * mla * ctx / GiB:.2f} GiB")

    print("\nFLOPs per token at 1M context vs DeepSeek-V3.2 (model card: Pro 27%, Flash 10%)")
    base = v32_flops(v32, ctx)
    print(f"      V3.2: {fmt_parts(base)}")
    for name, c, pub in (("V4-Pro", pro, 0.27), ("V4-Flash", flash, 0.10)):
        f = v4_flops(c, ctx)
        ratio = sum(f.values()) / sum(base.values())
        print(f"      {name}: {fmt_parts(f)}")
        # Reported, not asserted: the card does not define its FLOPs count (see the notes).
        print(f"      {name} / V3.2 = {ratio:.3f}  (published {pub:.2f}: "
              f"{'close' if abs(ratio - pub) < 0.01 else 'NOT reproduced'})")

    print("\nKV cache vs DeepSeek-V3.2 at 1M (model card: Pro 10%, Flash 7%)")
    for label, v32_bytes in (("V3.2 bf16 576 + bf16 indexer 128 (vLLM basis)", (576 + 128) * 2),
                             ("V3.2 fp8 656 + fp8 indexer 132 (engine layout)", 656 + 132),
                             ("V3.2 fp8 656 + bf16 indexer 256", 656 + 256)):
        b = v32["num_hidden_layers"] * v32_bytes
        ratios = []
        for c in (pro, flash):
            bf16 = label.startswith("V3.2 bf16")
            ratios.append(v4_kv_per_token(c, fp8=not bf16) / b)
        print(f"      {label}: V3.2 {b * ctx / GiB:.2f} GiB; Pro {ratios[0]:.3f}, Flash {ratios[1]:.3f}")

    print("\n" + ("all reproduced" if not FAILED else f"{len(FAILED)} not reproduced: {FAILED}"))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
