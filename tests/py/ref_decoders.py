#!/usr/bin/python3
"""Random-weight models of every supported family in the Hugging Face format, and a float64
PyTorch reference forward pass written from the families' published definitions (the HF
`transformers` modeling files: modeling_gpt_neox.py, modeling_opt.py, modeling_llama.py,
modeling_mistral.py, modeling_qwen2.py, modeling_gemma2.py, modeling_olmo2.py,
modeling_stablelm.py and modeling_rope_utils.py), independent of odscope's C code.

make(dir, family, dtype="F32", shards=1, seed=0, **cfg_overrides) writes config.json and the
weights (HF tensor names and shapes) and returns (config, tensors as float32 after rounding to
the stored dtype). forward(config, tensors, ids) -> (hidden[T, d_out], logits[T, V]) in float64:
hidden is the final hidden state (after the final norm; OPT: after project_out), logits are
hidden @ W_U^T with Gemma-2's final soft-cap.

HF semantics followed (eager attention, one unpadded sequence, positions 0..T-1):
- RoPE: inv_freq_i = theta^(-2i/rot) on the first rot = head_dim * partial dims of each head,
  rotate-half layout; "linear" divides inv_freq by factor, "llama3" rescales by wavelength
  (low/high_freq_factor, original_max_position_embeddings).
- sliding window: key j is visible from query i iff i - window < j <= i (masking_utils'
  sliding_window_overlay); Mistral: every layer; Gemma-2: even layers (layer_types
  "sliding_attention" when (i + 1) % 2); Qwen2: layers >= max_window_layers when
  use_sliding_window.
- Gemma-2: embeddings * sqrt(hidden) (float32 normalizer), RMSNorm x * (1 + w), scores *
  query_pre_attn_scalar^-0.5 then softcap tanh(s / c) c, GeGLU with tanh GELU.
- OLMo-2: q_norm / k_norm RMSNorm over the whole projection; norms after attention and MLP.
- StableLM: LayerNorm with bias, per-head q/k LayerNorm without bias (q_layernorm.norms.{h}),
  parallel residual x + attn(ln(x)) + mlp(ln(x)).
- GPT-NeoX: query_key_value output laid out [H, 3, hd]; parallel residual x + attn(ln1(x)) +
  mlp(ln2(x)), else sequential.
- OPT: learned positions at row position + 2; do_layer_norm_before false: LayerNorm after each
  residual add and no final layer norm; project_in / project_out when word_embed_proj_dim !=
  hidden_size.
"""
import json
import math
import os

import numpy as np
import torch

import gen_model

FAMILIES = ("gpt_neox", "opt", "llama", "mistral", "qwen2", "gemma2", "olmo2", "stablelm")


def _round(x, dtype):
    x = np.asarray(x, dtype=np.float32)
    if dtype == "BF16":
        return gen_model.bf16_bits_to_f32(gen_model.f32_to_bf16_bits(x))
    if dtype == "F16":
        return x.astype(np.float16).astype(np.float32)
    return x


def base_config(family):
    D, H, L, V = 48, 4, 3, 101
    if family == "gpt_neox":
        return dict(model_type=family, hidden_size=64, num_hidden_layers=L, num_attention_heads=H,
                    intermediate_size=96, vocab_size=V, max_position_embeddings=128,
                    rotary_pct=0.25, rotary_emb_base=1000, use_parallel_residual=True,
                    layer_norm_eps=1e-5, hidden_act="gelu", tie_word_embeddings=False,
                    attention_bias=True)
    if family == "opt":
        return dict(model_type=family, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
                    ffn_dim=96, vocab_size=V, max_position_embeddings=100,
                    word_embed_proj_dim=D, do_layer_norm_before=True, activation_function="relu",
                    enable_bias=True, tie_word_embeddings=True)
    c = dict(model_type=family, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
             num_key_value_heads=2, intermediate_size=80, vocab_size=V,
             max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=500.0,
             tie_word_embeddings=False, hidden_act="silu")
    if family == "mistral":
        c.update(sliding_window=7, head_dim=16)
    if family == "qwen2":
        c.update(tie_word_embeddings=True, use_sliding_window=False, sliding_window=9,
                 max_window_layers=1)
    if family == "gemma2":
        c.update(head_dim=16, query_pre_attn_scalar=24, attn_logit_softcapping=3.0,
                 final_logit_softcapping=5.0, sliding_window=6, tie_word_embeddings=True,
                 hidden_activation="gelu_pytorch_tanh")
        del c["hidden_act"]
    if family == "olmo2":
        c.update(rms_norm_eps=1e-5)
    if family == "stablelm":
        c.update(hidden_size=64, partial_rotary_factor=0.25, use_qkv_bias=False, qk_layernorm=False,
                 use_parallel_residual=False, layer_norm_eps=1e-5, num_key_value_heads=4)
        del c["rms_norm_eps"]
    return c


def _head_dim(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def weights(c, rng):
    """HF tensors (float32) of config c."""
    fam, D, L, V = c["model_type"], c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    H = c["num_attention_heads"]
    KV = c.get("num_key_value_heads", H)
    hd = _head_dim(c)
    F = c.get("intermediate_size", c.get("ffn_dim"))

    def lin(o, i, s=1.0):
        return (rng.standard_normal((o, i)) * s / math.sqrt(i)).astype(np.float32)

    def vec(n, base=0.0, s=0.05):
        return (base + rng.standard_normal(n) * s).astype(np.float32)

    w = {}
    one = 0.0 if fam == "gemma2" else 1.0  # Gemma stores w of x * (1 + w)
    if fam == "gpt_neox":
        w["gpt_neox.embed_in.weight"] = vec((V, D), 0, 0.5)
        w["embed_out.weight"] = lin(V, D)
        for l in range(L):
            p = f"gpt_neox.layers.{l}."
            for n in ("input_layernorm", "post_attention_layernorm"):
                w[p + n + ".weight"], w[p + n + ".bias"] = vec(D, 1, 0.1), vec(D)
            w[p + "attention.query_key_value.weight"] = lin(3 * D, D)
            w[p + "attention.dense.weight"] = lin(D, D, 0.7)
            if c.get("attention_bias", True):
                w[p + "attention.query_key_value.bias"] = vec(3 * D, 0, 0.1)
                w[p + "attention.dense.bias"] = vec(D)
            w[p + "mlp.dense_h_to_4h.weight"], w[p + "mlp.dense_h_to_4h.bias"] = lin(F, D), vec(F)
            w[p + "mlp.dense_4h_to_h.weight"], w[p + "mlp.dense_4h_to_h.bias"] = lin(D, F, 0.7), vec(D)
        w["gpt_neox.final_layer_norm.weight"] = vec(D, 1, 0.1)
        w["gpt_neox.final_layer_norm.bias"] = vec(D)
        return w
    if fam == "opt":
        E = c.get("word_embed_proj_dim", D)
        b = c.get("enable_bias", True)
        w["model.decoder.embed_tokens.weight"] = vec((V, E), 0, 0.5)
        w["model.decoder.embed_positions.weight"] = vec((c["max_position_embeddings"] + 2, D), 0, 0.3)
        if E != D:
            w["model.decoder.project_in.weight"] = lin(D, E)
            w["model.decoder.project_out.weight"] = lin(E, D)
        for l in range(L):
            p = f"model.decoder.layers.{l}."
            for n in ("self_attn_layer_norm", "final_layer_norm"):
                w[p + n + ".weight"], w[p + n + ".bias"] = vec(D, 1, 0.1), vec(D)
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                w[p + f"self_attn.{n}.weight"] = lin(D, D)
                if b:
                    w[p + f"self_attn.{n}.bias"] = vec(D, 0, 0.1)
            w[p + "fc1.weight"], w[p + "fc2.weight"] = lin(F, D), lin(D, F, 0.7)
            if b:
                w[p + "fc1.bias"], w[p + "fc2.bias"] = vec(F), vec(D)
        if c.get("do_layer_norm_before", True):
            w["model.decoder.final_layer_norm.weight"] = vec(D, 1, 0.1)
            w["model.decoder.final_layer_norm.bias"] = vec(D)
        if not c.get("tie_word_embeddings", True):
            w["lm_head.weight"] = lin(V, E)
        return w
    # the Llama layout: llama, mistral, qwen2, gemma2, olmo2, stablelm
    ln_bias = fam == "stablelm"
    w["model.embed_tokens.weight"] = vec((V, D), 0, 0.5)
    if not c["tie_word_embeddings"]:
        w["lm_head.weight"] = lin(V, D)
    norms = {"gemma2": ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                        "post_feedforward_layernorm"],
             "olmo2": ["post_attention_layernorm", "post_feedforward_layernorm"],
             "stablelm": ["input_layernorm"] + ([] if c.get("use_parallel_residual")
                                                else ["post_attention_layernorm"])}.get(
        fam, ["input_layernorm", "post_attention_layernorm"])
    qkv_bias = (fam == "qwen2" or (fam == "llama" and c.get("attention_bias"))
                or (fam == "stablelm" and c["use_qkv_bias"]))
    o_bias = fam == "llama" and c.get("attention_bias")
    mlp_bias = fam == "llama" and c.get("mlp_bias")
    for l in range(L):
        p = f"model.layers.{l}."
        for n in norms:
            w[p + n + ".weight"] = vec(D, one, 0.1)
            if ln_bias:
                w[p + n + ".bias"] = vec(D)
        for n, o in (("q", H * hd), ("k", KV * hd), ("v", KV * hd)):
            w[p + f"self_attn.{n}_proj.weight"] = lin(o, D)
            if qkv_bias:
                w[p + f"self_attn.{n}_proj.bias"] = vec(o, 0, 0.1)
        w[p + "self_attn.o_proj.weight"] = lin(D, H * hd, 0.7)
        if o_bias:
            w[p + "self_attn.o_proj.bias"] = vec(D)
        if fam == "olmo2":
            w[p + "self_attn.q_norm.weight"] = vec(H * hd, 1, 0.1)
            w[p + "self_attn.k_norm.weight"] = vec(KV * hd, 1, 0.1)
        if fam == "stablelm" and c["qk_layernorm"]:
            for h in range(H):
                w[p + f"self_attn.q_layernorm.norms.{h}.weight"] = vec(hd, 1, 0.1)
            for h in range(KV):
                w[p + f"self_attn.k_layernorm.norms.{h}.weight"] = vec(hd, 1, 0.1)
        w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"] = lin(F, D), lin(F, D)
        w[p + "mlp.down_proj.weight"] = lin(D, F, 0.7)
        if mlp_bias:
            for n, o in (("gate", F), ("up", F), ("down", D)):
                w[p + f"mlp.{n}_proj.bias"] = vec(o)
    w["model.norm.weight"] = vec(D, one, 0.1)
    if ln_bias:
        w["model.norm.bias"] = vec(D)
    return w


def make(out, family, dtype="F32", shards=1, seed=0, **overrides):
    c = base_config(family)
    c.update(overrides)
    w = weights(c, np.random.default_rng(seed))
    os.makedirs(out, exist_ok=True)
    gen_model.write_json(os.path.join(out, "config.json"), c)
    gen_model.write_weights(out, w, dtype, shards)
    return c, {k: _round(v, dtype) for k, v in w.items()}


# ---------------------------------------------------------------------------------------------
# reference forward (float64)

def _ln(x, w, b, eps):
    m = x.mean(-1, keepdim=True)
    v = ((x - m) ** 2).mean(-1, keepdim=True)
    y = (x - m) / torch.sqrt(v + eps) * w
    return y + b if b is not None else y


def _rms(x, w, eps, plus1=False):
    y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)
    return y * ((1.0 + w) if plus1 else w)


def _act(name, x):
    if name in ("silu", "swish"):
        return torch.nn.functional.silu(x)
    if name in ("gelu_pytorch_tanh", "gelu_new", "gelu_fast"):
        return torch.nn.functional.gelu(x, approximate="tanh")
    if name == "gelu":
        return torch.nn.functional.gelu(x)
    if name == "relu":
        return torch.relu(x)
    raise ValueError(name)


def _inv_freq(c, rot):
    theta = c.get("rope_theta", c.get("rotary_emb_base", 10000.0))
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    rs = c.get("rope_scaling")
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        return inv / rs["factor"]
    assert kind == "llama3", kind
    f, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    wl = 2 * math.pi / inv
    scaled = torch.where(wl > old / lo, inv / f, inv)
    smooth = (old / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / f + smooth * scaled
    medium = ~(wl < old / hi) & ~(wl > old / lo)
    return torch.where(medium, smoothed, scaled)


def _rope(x, inv, rot):
    """x[T, heads, hd]: rotate-half on the first rot dims."""
    T = x.shape[0]
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([torch.cos(ang), torch.cos(ang)], -1)[:, None, :]
    sin = torch.cat([torch.sin(ang), torch.sin(ang)], -1)[:, None, :]
    xr, xp = x[..., :rot], x[..., rot:]
    x1, x2 = xr[..., : rot // 2], xr[..., rot // 2:]
    return torch.cat([xr * cos + torch.cat([-x2, x1], -1) * sin, xp], -1)


def _attend(q, k, v, scale, softcap, window):
    """q[T, H, hd], k/v[T, KV, hd] -> [T, H * hd]; causal, optional soft-cap and window."""
    T, H, hd = q.shape
    rep = H // k.shape[1]
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    s = torch.einsum("ihd,jhd->hij", q, k) * scale
    if softcap:
        s = torch.tanh(s / softcap) * softcap
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    mask = j <= i
    if window:
        mask = mask & (j > i - window)
    s = s.masked_fill(~mask, float("-inf"))
    return torch.einsum("hij,jhd->ihd", torch.softmax(s, -1), v).reshape(T, H * hd)


def _sliding(c, l):
    fam = c["model_type"]
    w = c.get("sliding_window")
    if not w:
        return 0
    if fam == "mistral":
        return w
    if fam == "gemma2":
        return w if (l + 1) % 2 else 0
    if fam == "qwen2":
        return w if c.get("use_sliding_window") and l >= c.get("max_window_layers", 28) else 0
    return 0


def forward(c, tensors, ids):
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in tensors.items()}
    fam = c["model_type"]
    D, L, H = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    KV = c.get("num_key_value_heads", H)
    hd = _head_dim(c)
    T = len(ids)
    ids = torch.tensor(ids)

    def lin(name, x):
        y = x @ t[name + ".weight"].T
        return y + t[name + ".bias"] if name + ".bias" in t else y

    if fam == "gpt_neox":
        eps, rot = c["layer_norm_eps"], int(hd * c["rotary_pct"])
        inv = _inv_freq(c, rot)
        x = t["gpt_neox.embed_in.weight"][ids]
        for l in range(L):
            p = f"gpt_neox.layers.{l}."
            N = lambda n, y: _ln(y, t[p + n + ".weight"], t[p + n + ".bias"], eps)  # noqa: E731
            a = N("input_layernorm", x)
            qkv = lin(p + "attention.query_key_value", a).view(T, H, 3 * hd)
            q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
            o = _attend(_rope(q, inv, rot), _rope(k, inv, rot), v, hd ** -0.5, 0, 0)
            o = lin(p + "attention.dense", o)
            mlp = lambda y: lin(p + "mlp.dense_4h_to_h", _act(c["hidden_act"], lin(p + "mlp.dense_h_to_4h", y)))  # noqa: E731,E501
            if c["use_parallel_residual"]:
                x = x + o + mlp(N("post_attention_layernorm", x))
            else:
                x = x + o
                x = x + mlp(N("post_attention_layernorm", x))
        h = _ln(x, t["gpt_neox.final_layer_norm.weight"], t["gpt_neox.final_layer_norm.bias"], 1e-5
                if "layer_norm_eps" not in c else c["layer_norm_eps"])
        return h.numpy(), (h @ t["embed_out.weight"].T).numpy()

    if fam == "opt":
        pre = c.get("do_layer_norm_before", True)
        pd = "model.decoder."
        x = t[pd + "embed_tokens.weight"][ids]
        if pd + "project_in.weight" in t:
            x = x @ t[pd + "project_in.weight"].T
        x = x + t[pd + "embed_positions.weight"][torch.arange(T) + 2]
        for l in range(L):
            p = pd + f"layers.{l}."
            N = lambda n, y: _ln(y, t[p + n + ".weight"], t[p + n + ".bias"], 1e-5)  # noqa: E731
            a = N("self_attn_layer_norm", x) if pre else x
            q = (lin(p + "self_attn.q_proj", a) * hd ** -0.5).view(T, H, hd)
            k = lin(p + "self_attn.k_proj", a).view(T, H, hd)
            v = lin(p + "self_attn.v_proj", a).view(T, H, hd)
            x = x + lin(p + "self_attn.out_proj", _attend(q, k, v, 1.0, 0, 0))
            if not pre:
                x = N("self_attn_layer_norm", x)
            a = N("final_layer_norm", x) if pre else x
            x = x + lin(p + "fc2", _act(c.get("activation_function", "relu"), lin(p + "fc1", a)))
            if not pre:
                x = N("final_layer_norm", x)
        if pre:
            x = _ln(x, t[pd + "final_layer_norm.weight"], t[pd + "final_layer_norm.bias"], 1e-5)
        if pd + "project_out.weight" in t:
            x = x @ t[pd + "project_out.weight"].T
        U = t[pd + "embed_tokens.weight"] if c.get("tie_word_embeddings", True) else t["lm_head.weight"]
        return x.numpy(), (x @ U.T).numpy()

    # the Llama layout
    if fam == "stablelm":
        eps = c["layer_norm_eps"]
        rot = int(hd * c["partial_rotary_factor"])
        N = lambda n, y: _ln(y, t[n + ".weight"], t[n + ".bias"], eps)  # noqa: E731
    else:
        eps, rot = c["rms_norm_eps"], hd
        N = lambda n, y: _rms(y, t[n + ".weight"], eps, fam == "gemma2")  # noqa: E731
    inv = _inv_freq(c, rot)
    act = c.get("hidden_activation") if fam == "gemma2" else c.get("hidden_act", "silu")
    x = t["model.embed_tokens.weight"][ids]
    if fam == "gemma2":
        x = x * float(np.float32(math.sqrt(D)))
    scale = c["query_pre_attn_scalar"] ** -0.5 if fam == "gemma2" else hd ** -0.5
    softcap = c.get("attn_logit_softcapping") if fam == "gemma2" else 0
    for l in range(L):
        p = f"model.layers.{l}."
        a = x if fam == "olmo2" else N(p + "input_layernorm", x)
        q, k, v = lin(p + "self_attn.q_proj", a), lin(p + "self_attn.k_proj", a), lin(p + "self_attn.v_proj", a)
        if fam == "olmo2":
            q, k = _rms(q, t[p + "self_attn.q_norm.weight"], eps), _rms(k, t[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.view(T, H, hd), k.view(T, KV, hd), v.view(T, KV, hd)
        if fam == "stablelm" and c["qk_layernorm"]:
            q = torch.stack([_ln(q[:, h], t[p + f"self_attn.q_layernorm.norms.{h}.weight"], None, eps)
                             for h in range(H)], 1)
            k = torch.stack([_ln(k[:, h], t[p + f"self_attn.k_layernorm.norms.{h}.weight"], None, eps)
                             for h in range(KV)], 1)
        o = _attend(_rope(q, inv, rot), _rope(k, inv, rot), v, scale, softcap, _sliding(c, l))
        o = lin(p + "self_attn.o_proj", o)

        def mlp(y):
            return lin(p + "mlp.down_proj", _act(act, lin(p + "mlp.gate_proj", y)) * lin(p + "mlp.up_proj", y))
        if fam == "stablelm" and c["use_parallel_residual"]:
            x = x + o + mlp(a)
            continue
        if fam in ("gemma2", "olmo2"):
            o = N(p + "post_attention_layernorm", o)
        x = x + o
        if fam == "olmo2":
            m = mlp(x)
        else:
            m = mlp(N(p + ("pre_feedforward_layernorm" if fam == "gemma2" else "post_attention_layernorm"), x))
        if fam in ("gemma2", "olmo2"):
            m = N(p + "post_feedforward_layernorm", m)
        x = x + m
    h = N("model.norm", x)
    U = t["model.embed_tokens.weight"] if c["tie_word_embeddings"] else t["lm_head.weight"]
    z = h @ U.T
    if fam == "gemma2" and c.get("final_logit_softcapping"):
        cap = c["final_logit_softcapping"]
        z = torch.tanh(z / cap) * cap
    return h.numpy(), z.numpy()


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", required=True, choices=FAMILIES)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="F32", choices=("F32", "F16", "BF16"))
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    a = ap.parse_args()
    over = {kv.split("=", 1)[0]: json.loads(kv.split("=", 1)[1]) for kv in a.set}
    make(a.out, a.family, a.dtype, a.shards, a.seed, **over)
