#!/usr/bin/python3
"""Float64 PyTorch reference forward pass of Hugging Face decoder families: GPT-NeoX, OPT, Llama,
Mistral, Qwen2, Gemma, Gemma-2, OLMo-2 and StableLM, written from transformers' modeling and
configuration files (modeling_<family>.py, configuration_<family>.py, modeling_rope_utils.py,
masking_utils.py) and independent of odscope's C code.

    forward(model_dir, ids) -> (hidden [T, D_out], logits [T, V])   numpy float64

reads config.json and the safetensors file(s) itself (ref_gpt2's reader: single file or sharded
index; F32/F16/BF16 converted exactly), runs one unpadded sequence at positions 0..T-1 with the
eager attention path, and returns the final hidden state (after the final norm; OPT: after
project_out, so D_out = word_embed_proj_dim) and logits = hidden @ W_U^T (Gemma-2:
final_logit_softcapping c: c * tanh(z / c)). Everything is computed in float64 from the stored
(rounded) weights. forward_tensors(cfg, tensors, ids) does the same from a config dict and a
name -> array dict; resolve(cfg) gives the effective hyper-parameters with HF's defaults.

HF semantics followed (and where they come from)
- Defaults of omitted keys are those of configuration_<family>.py (resolve() lists them), e.g.
  num_key_value_heads: Llama/OLMo-2 = num_attention_heads, Mistral 8, Qwen2 32, StableLM 32,
  Gemma-2 4; head_dim: Llama/Mistral/Qwen2/OLMo-2 hidden/heads, Gemma/Gemma-2 256, StableLM and
  NeoX always hidden/heads; rms_norm_eps 1e-6 (OLMo-2 1e-5); layer_norm_eps 1e-5; OPT has no eps
  key (nn.LayerNorm's 1e-5); tie_word_embeddings false except OPT/Gemma/Gemma-2 (true).
- RoPE (rotate-half layout on the first rot dims of each head, the rest passes through):
  inv_freq_i = theta^(-2i/rot), i < rot/2, computed in float32 exactly as HF does; rot =
  int(head_dim * rotary_pct) (NeoX, default 0.25) or int(head_dim * partial_rotary_factor)
  (StableLM, default 0.25), head_dim itself elsewhere (the head_dim key when present; rope
  utils before 4.45 computed hidden/heads, from the time Llama had no head_dim key). rope_scaling (key "rope_type", or the older "type"): "default" or absent ->
  plain; "linear" -> inv_freq / factor; "llama3" -> wavelength 2pi/inv_freq above
  original_max_position_embeddings/low_freq_factor: inv_freq / factor; below .../high_freq_factor:
  unchanged; between: (1 - s) inv_freq / factor + s inv_freq, s = (orig/wavelen - low) /
  (high - low). Every other type (dynamic, yarn, longrope, ...) raises ValueError here.
- Masks (modeling_attn_mask_utils / masking_utils, eager): causal, key j visible from query i
  iff j <= i; with a sliding window W (masking_utils.sliding_window_overlay: kv_idx > q_idx - W;
  the older _prepare_4d_causal_attention_mask_with_cache_position masked j <= i - W, the Gemma-2
  4.42 code tril(diagonal=-W): the same set) iff i - W < j <= i, i.e. W keys including the
  query itself. (transformers ~4.38-4.41 built Mistral's eager mask with
  AttentionMaskConverter._make_causal_mask, which masked tril(diagonal=-W-1), i.e. W + 1 keys
  i - W <= j <= i; every version before and after, and vLLM's window (W - 1, 0), use W keys.)
  Which layers slide: Mistral every layer when sliding_window is not null (key
  missing -> 4096); Gemma-2 layer_types default "sliding_attention" iff (i + 1) % 2, i.e. the
  even layers 0, 2, ... (4.42: `not bool(layer_idx % 2)`); Qwen2 only with use_sliding_window
  true, then the layers i >= max_window_layers (Qwen2Config.__post_init__ layer_types); an
  explicit layer_types list wins for both. Masked scores get the dtype minimum, so their
  probability is exactly 0, as here.
- Attention scale 1/sqrt(head_dim), except Gemma-2: query_pre_attn_scalar^-0.5, then soft-cap
  c tanh(s / c) (attn_logit_softcapping) before the mask. OPT scales q (bias included) first.
  GQA: query head h reads key/value head h // (H / KV) (repeat_kv).
- GPT-NeoX: query_key_value output viewed as [H, 3, hd] (q, k, v of head h are rows
  h*3*hd + [0, hd), [hd, 2hd), [2hd, 3hd)); parallel residual x + attn(ln1 x) + mlp(ln2 x), else
  x = x + attn(ln1 x); x + mlp(ln2 x); MLP biases always; attention biases iff attention_bias;
  the unembedding is embed_out (tied to embed_in only with tie_word_embeddings true).
- OPT: positions from embed_positions row p + 2; project_in before adding positions,
  project_out after the final norm; do_layer_norm_before false (opt-350m): self_attn_layer_norm
  after the attention residual add, final_layer_norm (per layer) after the MLP residual add, and
  no decoder.final_layer_norm at all (OPTDecoder sets it to None unless do_layer_norm_before and
  not _remove_final_layer_norm); enable_bias on q/k/v/out_proj and fc1/fc2.
- Llama family RMSNorm x / sqrt(mean x^2 + eps) * w; Gemma/Gemma-2 * (1 + w); gated MLP
  down(act(gate x) * up x); Llama attention_bias (q, k, v, o) and mlp_bias; Qwen2 q/k/v biases
  always (o none); Gemma/Gemma-2 embeddings * sqrt(hidden_size) cast to the activation dtype
  (float32 here: the normalizer is float32(sqrt(D))); Gemma-2 block x + post_attn(attn(in(x))),
  x + post_ff(mlp(pre_ff(x))); Gemma v1 activation hidden_activation, else gelu_pytorch_tanh
  (4.38-4.47; later versions read hidden_act, and Gemma 1.0 configs say "gelu" there).
- OLMo-2: no input norms; q_norm / k_norm are RMSNorms over the whole q / k projection
  ([H*hd], [KV*hd]) before the split into heads; x + post_attn(attn(x)), x + post_ff(mlp(x)).
- StableLM: LayerNorm (bias) everywhere; qk_layernorm: one bias-free LayerNorm over head_dim per
  head (q_layernorm.norms.{h}, h < H; k_layernorm.norms.{h}, h < KV) after the split and before
  RoPE; use_qkv_bias on q/k/v only; parallel residual x + attn(ln1 x) + mlp(ln1 x) (the same
  normed input; no post_attention_layernorm exists then).
- Activations: gelu (erf), gelu_new / gelu_pytorch_tanh / gelu_fast (tanh form), relu,
  silu / swish.

CLI: ref_families.py --model DIR --ids 1,2,3 --out P   (writes P.hidden.npy, P.logits.npy,
float64)
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_gpt2  # noqa: E402  (its safetensors reader)

FAMILIES = ("gpt_neox", "opt", "llama", "mistral", "qwen2", "gemma", "gemma2", "olmo2",
            "stablelm")


# --------------------------------------------------------------------------------------------
# configuration with HF defaults

def _g(cfg, key, default):
    """cfg[key]; the HF default when the key is absent (an explicit null stays None)."""
    return cfg[key] if key in cfg else default


def _rope_params(cfg, theta_key, theta_default):
    """(theta, scaling dict or None); a transformers-5 rope_parameters dict is honoured."""
    theta = _g(cfg, theta_key, theta_default)
    scaling = cfg.get("rope_scaling")
    rp = cfg.get("rope_parameters")
    if isinstance(rp, dict):
        theta = rp.get("rope_theta", theta)
        if rp.get("rope_type", rp.get("type", "default")) != "default":
            scaling = rp
    if theta is None:
        theta = theta_default
    return float(theta), scaling


def resolve(cfg):
    """Effective hyper-parameters of a config dict (HF defaults for omitted keys)."""
    fam = cfg.get("model_type")
    if fam not in FAMILIES:
        raise ValueError(f"model_type {fam!r} not in {FAMILIES}")
    r = {"family": fam}
    if fam == "gpt_neox":
        D, H = _g(cfg, "hidden_size", 6144), _g(cfg, "num_attention_heads", 64)
        r.update(D=D, H=H, KV=H, hd=D // H, L=_g(cfg, "num_hidden_layers", 44),
                 F=_g(cfg, "intermediate_size", 24576), V=_g(cfg, "vocab_size", 50432),
                 P=_g(cfg, "max_position_embeddings", 2048), act=_g(cfg, "hidden_act", "gelu"),
                 eps=_g(cfg, "layer_norm_eps", 1e-5),
                 parallel=_g(cfg, "use_parallel_residual", True),
                 attn_bias=_g(cfg, "attention_bias", True),
                 tied=_g(cfg, "tie_word_embeddings", False))
        pct = _g(cfg, "rotary_pct", 0.25)
        if isinstance(cfg.get("rope_parameters"), dict):
            pct = cfg["rope_parameters"].get("partial_rotary_factor", pct)
        r["rot"] = int(r["hd"] * pct)
        r["theta"], r["rope_scaling"] = _rope_params(cfg, "rotary_emb_base", 10000.0)
        r["windows"] = [None] * r["L"]
        return r
    if fam == "opt":
        D, H = _g(cfg, "hidden_size", 768), _g(cfg, "num_attention_heads", 12)
        pre = _g(cfg, "do_layer_norm_before", True)
        r.update(D=D, H=H, KV=H, hd=D // H, L=_g(cfg, "num_hidden_layers", 12),
                 F=_g(cfg, "ffn_dim", 3072), V=_g(cfg, "vocab_size", 50272),
                 P=_g(cfg, "max_position_embeddings", 2048),
                 E=cfg.get("word_embed_proj_dim") or D,
                 act=_g(cfg, "activation_function", "relu"), pre=pre, eps=1e-5,
                 bias=_g(cfg, "enable_bias", True),
                 ln_affine=_g(cfg, "layer_norm_elementwise_affine", True),
                 final_norm=bool(pre and not _g(cfg, "_remove_final_layer_norm", False)),
                 tied=_g(cfg, "tie_word_embeddings", True), rot=0)
        r["windows"] = [None] * r["L"]
        return r
    defaults = {  # D, L, H, KV (None: = H), head_dim (None: D // H), F, V, P, eps, tied
        "llama": (4096, 32, 32, None, None, 11008, 32000, 2048, 1e-6, False),
        "mistral": (4096, 32, 32, 8, None, 14336, 32000, 4096 * 32, 1e-6, False),
        "qwen2": (4096, 32, 32, 32, None, 22016, 151936, 32768, 1e-6, False),
        "gemma": (3072, 28, 16, 16, 256, 24576, 256000, 8192, 1e-6, True),
        "gemma2": (2304, 26, 8, 4, 256, 9216, 256000, 8192, 1e-6, True),
        "olmo2": (4096, 32, 32, None, None, 11008, 50304, 2048, 1e-5, False),
        "stablelm": (2560, 32, 32, 32, None, 6912, 50304, 4096, 1e-5, False),
    }[fam]
    D0, L0, H0, KV0, hd0, F0, V0, P0, eps0, tied0 = defaults
    D, H = _g(cfg, "hidden_size", D0), _g(cfg, "num_attention_heads", H0)
    KV = _g(cfg, "num_key_value_heads", KV0)
    if KV is None:
        KV = H
    if fam == "stablelm":
        hd = D // H
    else:
        hd = _g(cfg, "head_dim", hd0)
        if hd is None:
            hd = D // H
    r.update(D=D, H=H, KV=KV, hd=hd, L=_g(cfg, "num_hidden_layers", L0),
             F=_g(cfg, "intermediate_size", F0), V=_g(cfg, "vocab_size", V0),
             P=_g(cfg, "max_position_embeddings", P0), tied=_g(cfg, "tie_word_embeddings", tied0),
             eps=_g(cfg, "layer_norm_eps" if fam == "stablelm" else "rms_norm_eps", eps0),
             mlp_bias=False, attn_bias_on=set(), scale=hd ** -0.5, attn_softcap=None,
             final_softcap=None, embed_scale=None, rot=hd)
    r["theta"], r["rope_scaling"] = _rope_params(cfg, "rope_theta", 10000.0)
    L = r["L"]
    r["windows"] = [None] * L
    if fam in ("gemma", "gemma2"):
        act = cfg.get("hidden_activation")
        r["act"] = act if act is not None else "gelu_pytorch_tanh"
        r["embed_scale"] = float(np.float32(math.sqrt(D)))
    else:
        r["act"] = _g(cfg, "hidden_act", "silu")
    if fam in ("llama", "gemma", "gemma2", "olmo2"):
        if _g(cfg, "attention_bias", False):
            r["attn_bias_on"] = {"q_proj", "k_proj", "v_proj", "o_proj"}
    if fam == "llama":
        r["mlp_bias"] = bool(_g(cfg, "mlp_bias", False))
    if fam == "qwen2":
        r["attn_bias_on"] = {"q_proj", "k_proj", "v_proj"}
        types = cfg.get("layer_types")
        W = _g(cfg, "sliding_window", 4096) if _g(cfg, "use_sliding_window", False) else None
        if types is None:
            mwl = _g(cfg, "max_window_layers", 28)
            types = ["sliding_attention" if W is not None and i >= mwl else "full_attention"
                     for i in range(L)]
        r["windows"] = [W if t == "sliding_attention" else None for t in types]
    if fam == "mistral":
        W = _g(cfg, "sliding_window", 4096)
        r["windows"] = [W] * L
    if fam == "gemma2":
        types = cfg.get("layer_types")
        if types is None:
            types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(L)]
        W = _g(cfg, "sliding_window", 4096)
        r["windows"] = [W if t == "sliding_attention" else None for t in types]
        r["scale"] = float(_g(cfg, "query_pre_attn_scalar", 256)) ** -0.5
        r["attn_softcap"] = _g(cfg, "attn_logit_softcapping", 50.0)
        r["final_softcap"] = _g(cfg, "final_logit_softcapping", 30.0)
    if fam == "stablelm":
        r["rot"] = int(hd * _g(cfg, "partial_rotary_factor", 0.25))
        if _g(cfg, "use_qkv_bias", False):
            r["attn_bias_on"] = {"q_proj", "k_proj", "v_proj"}
        r["qk_layernorm"] = bool(_g(cfg, "qk_layernorm", False))
        r["parallel"] = bool(_g(cfg, "use_parallel_residual", False))
    if len(r["windows"]) != L:
        raise ValueError(f"layer_types has {len(r['windows'])} entries for {L} layers")
    if H % KV:
        raise ValueError(f"num_key_value_heads {KV} does not divide num_attention_heads {H}")
    return r


# --------------------------------------------------------------------------------------------
# building blocks (float64 torch)

def act_fn(name):
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        c = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * x * x * x)))
    if name == "relu":
        return torch.relu
    if name in ("silu", "swish"):
        return lambda x: x * torch.sigmoid(x)
    raise ValueError(f"activation {name!r} not implemented in the reference")


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    y = (x - mu) / torch.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def rms_norm(x, w, eps, plus_one=False):
    y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)
    return y * ((1.0 + w) if plus_one else w)


def inv_freq(r):
    """RoPE inverse frequencies [rot/2] as HF computes them (float32), returned as float64."""
    rot, theta = r["rot"], r["theta"]
    if rot % 2:
        raise ValueError(f"rotary dimension {rot} is odd")
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.int64).float() / rot))
    sc = r.get("rope_scaling")
    kind = None if sc is None else sc.get("rope_type", sc.get("type", "default"))
    if kind in (None, "default"):
        pass
    elif kind == "linear":
        inv = inv / float(sc["factor"])
    elif kind == "llama3":
        factor = float(sc["factor"])
        low, high = float(sc["low_freq_factor"]), float(sc["high_freq_factor"])
        old = float(sc["original_max_position_embeddings"])
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wl, inv / factor, inv)
        s = (old / wavelen - low) / (high - low)
        smooth = (1 - s) * scaled / factor + s * scaled
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        inv = torch.where(medium, smooth, scaled)
    else:
        raise ValueError(f"rope_scaling type {kind!r} not implemented in the reference")
    return inv.double()


def apply_rope(x, inv, rot, pos):
    """x [heads, T, hd]: rotate-half RoPE on x[..., :rot] at positions pos [T]."""
    if rot == 0:
        return x
    ang = pos.double()[:, None] * inv[None, :]  # [T, rot/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    xr, xp = x[..., :rot], x[..., rot:]
    h = rot // 2
    rotated = torch.cat([-xr[..., h:], xr[..., :h]], -1)
    return torch.cat([xr * cos + rotated * sin, xp], -1)


def visible(T, window):
    """Boolean [T, T]: key j visible from query i (causal; sliding window i - W < j <= i)."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    m = j <= i
    if window is not None:
        m = m & (j > i - window)
    return m


def attention(q, k, v, scale, window=None, softcap=None, stats=None):
    """q [H, T, hd], k/v [KV, T, hd] -> [T, H*hd] (eager: scores * scale, soft-cap, mask,
    softmax, @ v); GQA head h reads kv head h // (H / KV)."""
    H, T, hd = q.shape
    rep = H // k.shape[0]
    k = k.repeat_interleave(rep, 0)
    v = v.repeat_interleave(rep, 0)
    s = (q @ k.transpose(1, 2)) * scale
    if softcap is not None:
        s = torch.tanh(s / softcap) * softcap
    s = s.masked_fill(~visible(T, window), float("-inf"))
    p = torch.softmax(s, -1)
    if stats is not None:
        n_vis = visible(T, window).sum(1)
        sel = n_vis >= 8
        if sel.any():
            pm = p[:, sel]
            ent = -(pm * torch.log(pm.clamp_min(1e-300))).sum(-1) / torch.log(n_vis[sel].double())
            stats.setdefault("max_p", []).append(float(pm.max(-1).values.mean()))
            stats.setdefault("entropy", []).append(float(ent.mean()))
    return (p @ v).transpose(0, 1).reshape(T, -1)


def attention_loops(q, k, v, scale, window=None, softcap=None):
    """The same attention written as plain loops over heads and queries (numpy float64), a
    second formulation to check `attention` against."""
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, k, v))
    H, T, hd = q.shape
    KV = k.shape[0]
    out = np.zeros((T, H, hd))
    for h in range(H):
        g = h // (H // KV)
        for i in range(T):
            lo = 0 if window is None else max(0, i - window + 1)
            js = range(lo, i + 1)
            sc = np.array([q[h, i] @ k[g, j] * scale for j in js])
            if softcap is not None:
                sc = softcap * np.tanh(sc / softcap)
            e = np.exp(sc - sc.max())
            pr = e / e.sum()
            out[i, h] = sum(pr[n] * v[g, j] for n, j in enumerate(js))
    return out.reshape(T, H * hd)


# --------------------------------------------------------------------------------------------
# families

class _W:
    """Weights by full HF name, reachable with or without the base-model prefix."""

    def __init__(self, tensors, base):
        self.t, self.base = tensors, base

    def get(self, name, required=True):
        for cand in (name, self.base + name):
            if cand in self.t:
                return self.t[cand]
        if required:
            raise ValueError(f"missing tensor {self.base + name}")
        return None

    def lin(self, name, x, bias=None):
        """x @ W^T (+ b): bias True requires name.bias, None takes it when present."""
        y = x @ self.get(name + ".weight").T
        b = self.get(name + ".bias", required=bias is True)
        if b is not None and bias is not False:
            y = y + b
        return y


def _check_shape(W, name, shape):
    t = W.get(name)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name}: shape {tuple(t.shape)}, want {tuple(shape)}")


def _neox(r, W, ids, pos, stats):
    D, H, hd, rot, eps = r["D"], r["H"], r["hd"], r["rot"], r["eps"]
    act, inv = act_fn(r["act"]), inv_freq(r)
    _check_shape(W, "layers.0.attention.query_key_value.weight", (3 * D, D))
    x = W.get("embed_in.weight")[ids]
    T = len(ids)
    for i in range(r["L"]):
        p = f"layers.{i}."

        def ln(n, y):
            return layer_norm(y, W.get(p + n + ".weight"), W.get(p + n + ".bias"), eps)

        qkv = W.lin(p + "attention.query_key_value", ln("input_layernorm", x),
                    bias=bool(r["attn_bias"])).reshape(T, H, 3 * hd)
        q, k, v = (qkv[..., n * hd:(n + 1) * hd].transpose(0, 1) for n in range(3))
        q, k = apply_rope(q, inv, rot, pos), apply_rope(k, inv, rot, pos)
        o = W.lin(p + "attention.dense", attention(q, k, v, hd ** -0.5, stats=stats),
                  bias=bool(r["attn_bias"]))

        def mlp(y):
            return W.lin(p + "mlp.dense_4h_to_h",
                         act(W.lin(p + "mlp.dense_h_to_4h", y, bias=True)), bias=True)

        if r["parallel"]:
            x = x + o + mlp(ln("post_attention_layernorm", x))
        else:
            x = x + o
            x = x + mlp(ln("post_attention_layernorm", x))
    h = layer_norm(x, W.get("final_layer_norm.weight"), W.get("final_layer_norm.bias"), eps)
    wu = W.get("embed_in.weight") if r["tied"] else W.get("embed_out.weight")
    return h, wu


def _opt(r, W, ids, pos, stats):
    D, H, hd, eps, E = r["D"], r["H"], r["hd"], r["eps"], r["E"]
    act = act_fn(r["act"])
    bias = bool(r["bias"])
    T = len(ids)
    x = W.get("decoder.embed_tokens.weight")[ids]
    if E != D:
        x = W.lin("decoder.project_in", x, bias=False)
    x = x + W.get("decoder.embed_positions.weight")[pos + 2]

    def ln(name, y):
        if not r["ln_affine"]:
            return layer_norm(y, None, None, eps)
        return layer_norm(y, W.get(name + ".weight"), W.get(name + ".bias"), eps)

    for i in range(r["L"]):
        p = f"decoder.layers.{i}."
        res = x
        if r["pre"]:
            x = ln(p + "self_attn_layer_norm", x)
        q = W.lin(p + "self_attn.q_proj", x, bias=bias) * hd ** -0.5
        k = W.lin(p + "self_attn.k_proj", x, bias=bias)
        v = W.lin(p + "self_attn.v_proj", x, bias=bias)
        q, k, v = (t.reshape(T, H, hd).transpose(0, 1) for t in (q, k, v))
        x = res + W.lin(p + "self_attn.out_proj", attention(q, k, v, 1.0, stats=stats),
                        bias=bias)
        if not r["pre"]:
            x = ln(p + "self_attn_layer_norm", x)
        res = x
        if r["pre"]:
            x = ln(p + "final_layer_norm", x)
        x = W.lin(p + "fc2", act(W.lin(p + "fc1", x, bias=bias)), bias=bias)
        x = res + x
        if not r["pre"]:
            x = ln(p + "final_layer_norm", x)
    if r["final_norm"]:
        x = ln("decoder.final_layer_norm", x)
    if E != D:
        x = W.lin("decoder.project_out", x, bias=False)
    wu = W.get("decoder.embed_tokens.weight") if r["tied"] else W.get("lm_head.weight")
    return x, wu


def _rotary_decoder(r, W, ids, pos, stats):
    """Llama, Mistral, Qwen2, Gemma, Gemma-2, OLMo-2, StableLM."""
    fam, D, H, KV, hd, eps = r["family"], r["D"], r["H"], r["KV"], r["hd"], r["eps"]
    act, inv, rot = act_fn(r["act"]), inv_freq(r), r["rot"]
    T = len(ids)
    gemma = fam in ("gemma", "gemma2")
    _check_shape(W, "layers.0.self_attn.q_proj.weight", (H * hd, D))
    _check_shape(W, "layers.0.self_attn.k_proj.weight", (KV * hd, D))

    def norm(name, y):
        if fam == "stablelm":
            return layer_norm(y, W.get(name + ".weight"), W.get(name + ".bias"), eps)
        return rms_norm(y, W.get(name + ".weight"), eps, plus_one=gemma)

    x = W.get("embed_tokens.weight")[ids]
    if r["embed_scale"] is not None:
        x = x * r["embed_scale"]
    for i in range(r["L"]):
        p = f"layers.{i}."

        def self_attn(a):
            q, k, v = (W.lin(p + f"self_attn.{n}_proj", a, bias=f"{n}_proj" in r["attn_bias_on"])
                       for n in "qkv")
            if fam == "olmo2":
                q = rms_norm(q, W.get(p + "self_attn.q_norm.weight"), eps)
                k = rms_norm(k, W.get(p + "self_attn.k_norm.weight"), eps)
            q = q.reshape(T, H, hd).transpose(0, 1)
            k = k.reshape(T, KV, hd).transpose(0, 1)
            v = v.reshape(T, KV, hd).transpose(0, 1)
            if fam == "stablelm" and r["qk_layernorm"]:
                q = torch.stack([layer_norm(q[h], W.get(
                    p + f"self_attn.q_layernorm.norms.{h}.weight"), None, eps) for h in range(H)])
                k = torch.stack([layer_norm(k[h], W.get(
                    p + f"self_attn.k_layernorm.norms.{h}.weight"), None, eps)
                    for h in range(KV)])
            q, k = apply_rope(q, inv, rot, pos), apply_rope(k, inv, rot, pos)
            o = attention(q, k, v, r["scale"], r["windows"][i], r["attn_softcap"], stats)
            return W.lin(p + "self_attn.o_proj", o, bias="o_proj" in r["attn_bias_on"])

        def mlp(a):
            mb = r["mlp_bias"]
            g = W.lin(p + "mlp.gate_proj", a, bias=mb)
            u = W.lin(p + "mlp.up_proj", a, bias=mb)
            return W.lin(p + "mlp.down_proj", act(g) * u, bias=mb)

        if fam == "olmo2":
            x = x + norm(p + "post_attention_layernorm", self_attn(x))
            x = x + norm(p + "post_feedforward_layernorm", mlp(x))
        elif fam == "gemma2":
            x = x + norm(p + "post_attention_layernorm", self_attn(norm(p + "input_layernorm", x)))
            x = x + norm(p + "post_feedforward_layernorm",
                         mlp(norm(p + "pre_feedforward_layernorm", x)))
        elif fam == "stablelm" and r["parallel"]:
            a = norm(p + "input_layernorm", x)
            x = x + self_attn(a) + mlp(a)
        else:
            x = x + self_attn(norm(p + "input_layernorm", x))
            x = x + mlp(norm(p + "post_attention_layernorm", x))
    h = norm("norm", x)
    wu = W.get("embed_tokens.weight") if r["tied"] else W.get("lm_head.weight")
    return h, wu


def forward_tensors(cfg, tensors, ids, stats=None):
    """(hidden [T, D_out], logits [T, V]) float64 numpy from a config dict and name -> array
    (numpy or torch) tensors. stats: a dict that receives per-layer attention diagnostics
    (max_p: mean largest probability, entropy: mean entropy / log(#visible keys), over heads and
    queries that see >= 8 keys)."""
    r = resolve(cfg)
    ids = [int(t) for t in ids]
    if not ids:
        raise ValueError("no token ids")
    if any(not 0 <= t < r["V"] for t in ids):
        raise ValueError(f"token id outside 0..{r['V'] - 1}")
    if len(ids) > r["P"]:
        raise ValueError(f"{len(ids)} tokens > max_position_embeddings {r['P']}")
    t64 = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in tensors.items()
           if np.issubdtype(np.asarray(v).dtype, np.floating)}
    base = {"gpt_neox": "gpt_neox.", "opt": "model."}.get(r["family"], "model.")
    W = _W(t64, base)
    ids_t = torch.as_tensor(ids, dtype=torch.int64)
    pos = torch.arange(len(ids))
    fn = {"gpt_neox": _neox, "opt": _opt}.get(r["family"], _rotary_decoder)
    with torch.no_grad():
        h, wu = fn(r, W, ids_t, pos, stats)
        if tuple(wu.shape) != (r["V"], h.shape[1]):
            raise ValueError(f"unembedding shape {tuple(wu.shape)}, want {(r['V'], h.shape[1])}")
        z = h @ wu.T
        if r.get("final_softcap") is not None:
            c = float(r["final_softcap"])
            z = torch.tanh(z / c) * c
    return h.numpy(), z.numpy()


def load(model_dir):
    """(config dict, name -> numpy tensors) of a model directory."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    return cfg, ref_gpt2.load_tensors(model_dir)


def forward(model_dir, ids, stats=None):
    """(hidden [T, D_out], logits [T, V]) float64 numpy of token ids through model_dir."""
    cfg, tensors = load(model_dir)
    return forward_tensors(cfg, tensors, ids, stats)


def main(argv=None):
    ap = argparse.ArgumentParser(description="float64 reference forward pass (HF families)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True, help="prefix: writes P.hidden.npy, P.logits.npy")
    a = ap.parse_args(argv)
    ids = [int(t) for t in a.ids.replace(" ", ",").split(",") if t]
    h, z = forward(a.model, ids)
    np.save(a.out + ".hidden.npy", h)
    np.save(a.out + ".logits.npy", z)
    return 0


if __name__ == "__main__":
    sys.exit(main())
