#!/usr/bin/python3
"""Float64 PyTorch reference forward pass of a Hugging Face GPT-2 model directory.

Written from the published GPT-2 definition (transformers' GPT2Model / GPT2LMHeadModel):
  x = wte[ids] + wpe[pos]
  per block:  a = ln_1(x); q,k,v = split(a @ c_attn.W + c_attn.b)        (Conv1D: W is [in,out])
              per head: softmax(q k^T / sqrt(head_dim) + causal mask) v
              x = x + merge_heads(.) @ attn.c_proj.W + b
              x = x + act(ln_2(x) @ c_fc.W + b) @ mlp.c_proj.W + b
  h = ln_f(x); logits = h @ W_U^T, W_U = lm_head.weight when present (untied) else wte.weight.
LayerNorm uses the biased variance and config layer_norm_epsilon; gelu_new =
0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Inputs longer than n_positions are cut into
windows of n_positions consecutive tokens (the last may be shorter), each run independently with
positions restarting at 0.

The safetensors reader here is independent of odscope and of gen_model's writer; it checks the
header and supports F64/F32/F16/BF16 and integer dtypes, single files and sharded models.

CLI: ref_gpt2.py --model DIR --ids 1,2,3 --out P   (writes P.hidden.npy [T,D] and
P.logits.npy [T,V], float64; prints nothing)
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

_NP = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
       "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
       "BF16": np.uint16}


def read_safetensors(path):
    """name -> numpy array (BF16 converted to float32 exactly) of one safetensors file, plus
    the metadata dict. Raises ValueError on any inconsistency."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    n = struct.unpack("<Q", buf[:8])[0]
    if 8 + n > len(buf):
        raise ValueError(f"{path}: header length {n} beyond file size {len(buf)}")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not an object")
    data = memoryview(buf)[8 + n:]
    meta = header.pop("__metadata__", {})
    out, spans = {}, []
    for name, e in header.items():
        dt = e["dtype"]
        if dt not in _NP:
            raise ValueError(f"{path}: tensor {name}: unknown dtype {dt}")
        shape = tuple(int(s) for s in e["shape"])
        a, b = (int(x) for x in e["data_offsets"])
        item = np.dtype(_NP[dt]).itemsize
        if not 0 <= a <= b <= len(data):
            raise ValueError(f"{path}: tensor {name}: offsets {a},{b} outside data ({len(data)})")
        if (b - a) != item * math.prod(shape):
            raise ValueError(f"{path}: tensor {name}: {b - a} bytes for shape {shape} {dt}")
        spans.append((a, b, name))
        x = np.frombuffer(data[a:b], dtype=np.dtype(_NP[dt]).newbyteorder("<")).reshape(shape)
        if dt == "BF16":
            x = (x.astype(np.uint32).reshape(-1) << 16).view(np.float32).reshape(shape)
        out[name] = x.astype(x.dtype.newbyteorder("="))
    spans.sort()
    for (a0, b0, n0), (a1, b1, n1) in zip(spans, spans[1:]):
        if a1 < b0:
            raise ValueError(f"{path}: tensors {n0} and {n1} overlap")
    return out, meta


def load_tensors(model_dir):
    """All tensors of a model directory (model.safetensors or the sharded index)."""
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            wm = json.load(f)["weight_map"]
        out = {}
        for fn in sorted(set(wm.values())):
            if not os.path.exists(os.path.join(model_dir, fn)):
                raise ValueError(f"{model_dir}: index names missing file {fn}")
            t, _ = read_safetensors(os.path.join(model_dir, fn))
            for k, v in t.items():
                if wm.get(k) != fn:
                    raise ValueError(f"{fn}: tensor {k} not mapped to this file by the index")
                out[k] = v
        missing = set(wm) - set(out)
        if missing:
            raise ValueError(f"index names tensors absent from the shards: {sorted(missing)[:3]}")
        return out
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))[0]


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


ACT = {"gelu_new": gelu_new, "gelu_pytorch_tanh": gelu_new, "gelu_fast": gelu_new,
       "gelu": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),
       "relu": torch.relu}


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


class Model:
    """A loaded model: config dict and float64 torch weights with canonical names."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        raw = load_tensors(model_dir)
        w = {}
        for k, v in raw.items():
            if k.startswith("transformer."):
                k = k[len("transformer."):]
            w[k] = torch.from_numpy(np.asarray(v, dtype=np.float64))
        C, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
        F = cfg.get("n_inner") or 4 * C
        need = {"wte.weight": (V, C), "wpe.weight": (P, C), "ln_f.weight": (C,),
                "ln_f.bias": (C,)}
        for i in range(L):
            p = f"h.{i}."
            need.update({p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
                         p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
                         p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
                         p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
                         p + "mlp.c_fc.weight": (C, F), p + "mlp.c_fc.bias": (F,),
                         p + "mlp.c_proj.weight": (F, C), p + "mlp.c_proj.bias": (C,)})
        for k, s in need.items():
            if k not in w:
                raise ValueError(f"{model_dir}: missing tensor {k}")
            if tuple(w[k].shape) != s:
                raise ValueError(f"{model_dir}: {k} has shape {tuple(w[k].shape)}, want {s}")
        tied = cfg.get("tie_word_embeddings", True)
        if "lm_head.weight" in w and not tied:
            if tuple(w["lm_head.weight"].shape) != (V, C):
                raise ValueError(f"{model_dir}: lm_head.weight has shape "
                                 f"{tuple(w['lm_head.weight'].shape)}, want {(V, C)}")
            self.wu = w["lm_head.weight"]
        elif not tied:
            raise ValueError(f"{model_dir}: tie_word_embeddings false but no lm_head.weight")
        else:
            self.wu = w["wte.weight"]
        if cfg.get("activation_function", "gelu_new") not in ACT:
            raise ValueError(f"activation {cfg['activation_function']}")
        self.act = ACT[cfg.get("activation_function", "gelu_new")]
        self.w = w
        self.C, self.H, self.L, self.P = C, cfg["n_head"], L, P
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)

    def hidden(self, ids):
        """Final hidden states [T, C] (float64 tensor) of one window (T <= n_positions)."""
        w, C, H = self.w, self.C, self.H
        T = len(ids)
        assert 0 < T <= self.P
        hd = C // H
        ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64))
        x = w["wte.weight"][ids_t] + w["wpe.weight"][:T]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for i in range(self.L):
            p = f"h.{i}."
            a = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], self.eps)
            qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q, k, v = qkv.split(C, dim=-1)
            q, k, v = (t.reshape(T, H, hd).transpose(0, 1) for t in (q, k, v))  # [H,T,hd]
            s = q @ k.transpose(-1, -2)
            if self.cfg.get("scale_attn_weights", True):
                s = s / math.sqrt(hd)
            if self.cfg.get("scale_attn_by_inverse_layer_idx", False):
                s = s / float(i + 1)
            s = s.masked_fill(~mask, float("-inf"))
            o = torch.softmax(s, dim=-1) @ v  # [H,T,hd]
            o = o.transpose(0, 1).reshape(T, C)
            x = x + o @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            m = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], self.eps)
            m = self.act(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        return layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], self.eps)

    def forward(self, ids):
        """(hidden [T,C], logits [T,V]) float64 numpy; windows of n_positions tokens."""
        ids = [int(t) for t in ids]
        V = self.wu.shape[0]
        if any(not 0 <= t < V for t in ids):
            raise ValueError(f"token id outside 0..{V - 1}")
        hs = [self.hidden(ids[s:s + self.P]) for s in range(0, len(ids), self.P)]
        h = torch.cat(hs, 0)
        return h.numpy(), (h @ self.wu.T).numpy()


def forward(model_dir, ids):
    """(hidden [T,D], logits [T,V]) numpy float64 of token ids through the model in model_dir."""
    with torch.no_grad():
        return Model(model_dir).forward(ids)


def main(argv=None):
    ap = argparse.ArgumentParser(description="float64 reference GPT-2 forward pass")
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
