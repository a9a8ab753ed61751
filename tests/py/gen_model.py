#!/usr/bin/python3
"""Random-weight GPT-2 models in the Hugging Face directory format, for odscope's tests.

Writes DIR/config.json (as transformers' GPT2Config writes it: sorted keys, indent 2),
DIR/model.safetensors (or shards + model.safetensors.index.json) through a numpy safetensors
writer, and DIR/tokenizer.json. Also writes deliberately broken variants for bad-input tests.

CLI:
  gen_model.py --out DIR [--n-embd 64] [--n-layer 2] [--n-head 4] [--n-positions 128]
      [--n-inner N] [--vocab N] [--dtype F32|F16|BF16] [--layout original|prefixed] [--lm-head]
      [--shards N] [--seed 0] [--eps 1e-5] [--activation gelu_new] [--mask-buffers]
      [--plant DIM:VALUE]... [--plant-unembed] [--plant-unembed-scale 0.2]
      [--plant-rank id|corpus|FILE]
      [--tokenizer PATH | --no-tokenizer] [--corpus FILE] [--tokenizer-lines 2000]
      [--merges-format string|pairs] [--break KIND[:ARG]]... [--verbose]

Weights (seeded; float32, then rounded to the file dtype): wte ~ N(0, 0.1), wpe ~ N(0, 0.05);
c_attn ~ N(0, 1/C) (q, k entries of std ~1), c_fc ~ N(0, 1/C), both c_proj ~ N(0, 0.5/in);
LayerNorm weights 1 + N(0, 0.05); all biases N(0, 0.02). An untied lm_head.weight [V, C] gets
its own N(0, 0.1) values (config tie_word_embeddings=false).

Planted outlier dimension, --plant DIM:VALUE (repeatable): ln_f.bias[DIM] = VALUE and
ln_f.weight[DIM] = 0.01, so the final hidden state h[:, DIM] = VALUE +- ~0.03 for every input.
--plant-unembed additionally sets the unembedding column of each planted DIM (wte when tied,
lm_head when untied) to W_U[t, DIM] = sign(VALUE) * A * (1 - 2 r(t) / (V - 1)), A =
--plant-unembed-scale, r(t) the rank of token t: linear from +A (rank 0) to -A (last rank), so
the OD's logit contribution VALUE * W_U[t, DIM] promotes low-rank ("frequent") tokens and
suppresses high-rank ones. --plant-rank chooses r: "id" (default, r(t) = t: low ids count as
frequent), "corpus" (tokens ranked by their count in the generated tokenizer's training text,
most frequent first; ties and unseen tokens by id), or a file of token_id<TAB>count lines.

Tokenizer: --tokenizer PATH copies a tokenizer.json (vocab_size = its size, or --vocab when that
is larger); default: a byte-level BPE tokenizer trained by gen_corpus on --corpus FILE (default a
built-in Zipf corpus of --tokenizer-lines lines, corpus seed 0) to --vocab ids (default 512), and
vocab_size = the tokenizer's real size; --no-tokenizer writes none (vocab_size = --vocab).

--break KIND[:ARG] damages the written model (see BREAKS; applied in order after writing).
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_corpus  # noqa: E402

DTYPES = {"F32": (np.float32, 4, "float32"), "F16": (np.float16, 2, "float16"),
          "BF16": (np.uint16, 2, "bfloat16")}
ST_NAMES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32",
            np.dtype(np.float16): "F16", np.dtype(np.int64): "I64", np.dtype(np.int32): "I32",
            np.dtype(np.int16): "I16", np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8",
            np.dtype(np.bool_): "BOOL"}


# --------------------------------------------------------------------------------------------
# safetensors writer

def f32_to_bf16_bits(x):
    """float32 array -> uint16 bfloat16 bit patterns, round to nearest even (NaN kept NaN)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    if nan.any():
        r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def encode_tensor(x, dtype):
    """(bytes, dtype string) of float array x stored as dtype F32/F16/BF16 (or a raw numpy
    array when dtype is None: its own dtype)."""
    if dtype is None:
        a = np.ascontiguousarray(x)
        return a.astype(a.dtype.newbyteorder("<")).tobytes(), ST_NAMES[a.dtype]
    if dtype == "BF16":
        return f32_to_bf16_bits(x).astype("<u2").tobytes(), "BF16"
    np_t = DTYPES[dtype][0]
    a = np.ascontiguousarray(x, dtype=np_t)
    return a.astype(np.dtype(np_t).newbyteorder("<")).tobytes(), dtype


def write_safetensors(path, tensors, dtype="F32", metadata=None, order=None):
    """Write tensors (dict name -> numpy array) to a safetensors file. Float arrays are stored
    as dtype (F32/F16/BF16); dtype=None stores every array in its own numpy dtype. Tensors lie
    back to back in `order` (default sorted names); header = 8-byte LE length + JSON padded with
    spaces to a multiple of 8. Returns the total tensor bytes."""
    names = list(order) if order is not None else sorted(tensors)
    header = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    blobs, off = [], 0
    for n in names:
        x = tensors[n]
        if dtype is not None and not np.issubdtype(np.asarray(x).dtype, np.floating):
            raw, dt = encode_tensor(x, None)
        else:
            raw, dt = encode_tensor(x, dtype)
        header[n] = {"dtype": dt, "shape": list(np.shape(x)), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    _write_raw(path, header, b"".join(blobs))
    return off


def _write_raw(path, header, data, pad=True):
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if pad:
        h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        f.write(data)


def _read_raw(path):
    """(header dict, data bytes) of a well-formed safetensors file (for the break helpers)."""
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    return json.loads(buf[8:8 + n]), buf[8 + n:]


# --------------------------------------------------------------------------------------------
# weights

def layer_names(i):
    p = f"h.{i}."
    return [p + s for s in ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                            "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                            "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                            "mlp.c_proj.bias")]


def expected_shapes(cfg):
    """Canonical (unprefixed) tensor name -> shape for a GPT-2 config dict."""
    C, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    F = cfg.get("n_inner") or 4 * C
    s = {"wte.weight": (V, C), "wpe.weight": (P, C), "ln_f.weight": (C,), "ln_f.bias": (C,)}
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        s.update({p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
                  p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
                  p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
                  p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
                  p + "mlp.c_fc.weight": (C, F), p + "mlp.c_fc.bias": (F,),
                  p + "mlp.c_proj.weight": (F, C), p + "mlp.c_proj.bias": (C,)})
    return s


def random_weights(cfg, seed=0, lm_head=False):
    """Canonical name -> float32 array (unprefixed; "lm_head.weight" when lm_head)."""
    rng = np.random.default_rng(seed)
    C = cfg["n_embd"]
    F = cfg.get("n_inner") or 4 * C

    def n(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w = {}
    for name, shape in expected_shapes(cfg).items():
        if name == "wte.weight":
            w[name] = n(shape, 0.1)
        elif name == "wpe.weight":
            w[name] = n(shape, 0.05)
        elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            w[name] = (1.0 + n(shape, 0.05)).astype(np.float32)
        elif name.endswith(".bias"):
            w[name] = n(shape, 0.02)
        elif name.endswith("c_attn.weight") or name.endswith("c_fc.weight"):
            w[name] = n(shape, 1.0 / math.sqrt(C))
        elif name.endswith("attn.c_proj.weight"):
            w[name] = n(shape, math.sqrt(0.5 / C))
        elif name.endswith("mlp.c_proj.weight"):
            w[name] = n(shape, math.sqrt(0.5 / F))
        else:
            raise AssertionError(name)
    if lm_head:
        w["lm_head.weight"] = n((cfg["vocab_size"], C), 0.1)
    return w


def plant_ods(w, plants, unembed=False, scale=0.2, ranks=None):
    """Apply planted outlier dimensions in place; plants = [(dim, value)]. ranks: token rank
    array r[t] (default r = t) for the unembedding column (see module doc)."""
    C = w["ln_f.bias"].shape[0]
    wu = w["lm_head.weight"] if "lm_head.weight" in w else w["wte.weight"]
    V = wu.shape[0]
    r = np.arange(V) if ranks is None else np.asarray(ranks)
    for d, v in plants:
        if not 0 <= d < C:
            raise ValueError(f"planted dimension {d} outside 0..{C - 1}")
        w["ln_f.bias"][d] = v
        w["ln_f.weight"][d] = 0.01
        if unembed:
            wu[:, d] = (np.sign(v) or 1.0) * scale * (1.0 - 2.0 * r / max(V - 1, 1))


def ranks_from_counts(counts, V):
    """r[t]: rank of token t by count (descending), ties and unseen tokens by id."""
    c = np.zeros(V, dtype=np.int64)
    for t, k in counts.items():
        if 0 <= t < V:
            c[t] = k
    order = np.lexsort((np.arange(V), -c))
    r = np.empty(V, dtype=np.int64)
    r[order] = np.arange(V)
    return r


def mask_buffers(cfg, i):
    """The legacy per-layer buffers old GPT-2 checkpoints carry (odscope must ignore them)."""
    P = cfg["n_positions"]
    return {f"h.{i}.attn.bias": np.tril(np.ones((P, P), np.float32)).reshape(1, 1, P, P),
            f"h.{i}.attn.masked_bias": np.array(-1e4, dtype=np.float32)}


# --------------------------------------------------------------------------------------------
# the model directory

def gpt2_config(n_embd=64, n_layer=2, n_head=4, n_positions=128, vocab_size=512, n_inner=None,
                eps=1e-5, activation="gelu_new", dtype="F32", tied=True, eos=None):
    eos = vocab_size - 1 if eos is None else eos
    cfg = {
        "_name_or_path": "odscope-random-gpt2",
        "activation_function": activation,
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": eos,
        "embd_pdrop": 0.1,
        "eos_token_id": eos,
        "initializer_range": 0.02,
        "layer_norm_epsilon": eps,
        "model_type": "gpt2",
        "n_ctx": n_positions,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_inner": n_inner,
        "n_layer": n_layer,
        "n_positions": n_positions,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": DTYPES[dtype][2],
        "transformers_version": "4.44.2",
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if not tied:
        cfg["tie_word_embeddings"] = False
    return cfg


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def write_weights(out, tensors, dtype="F32", shards=1):
    """tensors (final names) -> model.safetensors, or `shards` files + index.json."""
    names = sorted(tensors)
    if shards <= 1:
        write_safetensors(os.path.join(out, "model.safetensors"), tensors, dtype)
        return
    if shards > len(names):
        raise ValueError(f"{shards} shards for {len(names)} tensors")
    sizes = [int(np.prod(np.shape(tensors[n]), dtype=np.int64)) for n in names]
    total = sum(sizes)
    groups, cur, acc = [], [], 0
    for k, (n, s) in enumerate(zip(names, sizes)):
        left_names = len(names) - k
        left_groups = shards - len(groups)
        if cur and (acc >= total * (len(groups) + 1) / shards or left_names < left_groups):
            groups.append(cur)
            cur = []
        cur.append(n)
        acc += s
    groups.append(cur)
    assert len(groups) == shards, (len(groups), shards)
    weight_map, total_bytes = {}, 0
    for g, grp in enumerate(groups):
        fn = f"model-{g + 1:05d}-of-{shards:05d}.safetensors"
        total_bytes += write_safetensors(os.path.join(out, fn), {n: tensors[n] for n in grp}, dtype)
        for n in grp:
            weight_map[n] = fn
    write_json(os.path.join(out, "model.safetensors.index.json"),
               {"metadata": {"total_size": total_bytes},
                "weight_map": dict(sorted(weight_map.items()))})


_TOK_CACHE = {}


def _default_tokenizer(vocab, lines, corpus, merges_format):
    key = (vocab, lines, corpus, merges_format)
    if key not in _TOK_CACHE:
        if corpus:
            with open(corpus, encoding="utf-8") as f:
                text = f.read().splitlines()
        else:
            text = gen_corpus.zipf_lines(lines, seed=0)
        v, m, counts = gen_corpus.train_bpe(text, vocab)
        _TOK_CACHE[key] = (gen_corpus.tokenizer_json(v, m, merges_format), counts)
    return _TOK_CACHE[key]


def make_model(out, n_embd=64, n_layer=2, n_head=4, n_positions=128, n_inner=None, vocab=None,
               dtype="F32", layout="original", lm_head=False, shards=1, seed=0, eps=1e-5,
               activation="gelu_new", mask_bufs=False, plant=(), plant_unembed=False,
               plant_unembed_scale=0.2, plant_rank="id", tokenizer=None, corpus=None,
               tokenizer_lines=2000, merges_format="string", breaks=()):
    """Write a model directory (created; existing files in it are replaced). tokenizer: None =
    generate, a path = copy, False = none. Returns the config dict."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}")
    if layout not in ("original", "prefixed"):
        raise ValueError(f"layout {layout!r}")
    if n_embd % n_head:
        raise ValueError("n_head must divide n_embd")
    os.makedirs(out, exist_ok=True)
    counts = None
    tok = None
    if tokenizer is None:
        tok, counts = _default_tokenizer(vocab or 512, tokenizer_lines, corpus, merges_format)
        V = gen_corpus.tokenizer_size(tok)
        eos = tok["model"]["vocab"][gen_corpus.EOT]
    elif tokenizer is False:
        V = vocab or 512
        eos = V - 1
    else:
        with open(tokenizer, encoding="utf-8") as f:
            tj = json.load(f)
        n = gen_corpus.tokenizer_size(tj)
        if vocab is not None and vocab < n:
            raise ValueError(f"--vocab {vocab} smaller than the tokenizer's {n} ids")
        V = vocab or n
        eos = tj["model"]["vocab"].get(gen_corpus.EOT, V - 1)
        for t in tj.get("added_tokens", []):
            if t["content"] == gen_corpus.EOT:
                eos = t["id"]
    cfg = gpt2_config(n_embd, n_layer, n_head, n_positions, V, n_inner, eps, activation, dtype,
                      tied=not lm_head, eos=eos)
    w = random_weights(cfg, seed, lm_head)
    if plant:
        if plant_rank == "id":
            ranks = None
        elif plant_rank == "corpus":
            if counts is None:
                raise ValueError("--plant-rank corpus needs a generated tokenizer")
            ranks = ranks_from_counts(counts, V)
        else:
            ranks = ranks_from_counts(gen_corpus.read_counts(plant_rank), V)
        plant_ods(w, plant, plant_unembed, plant_unembed_scale, ranks)
    if mask_bufs:
        for i in range(n_layer):
            w.update(mask_buffers(cfg, i))
    final = {}
    for k, x in w.items():
        if layout == "prefixed" and k != "lm_head.weight":
            k = "transformer." + k
        final[k] = x
    for fn in os.listdir(out):
        if fn.startswith("model") and (fn.endswith(".safetensors") or fn.endswith(".json")):
            os.remove(os.path.join(out, fn))
    write_weights(out, final, dtype, shards)
    write_json(os.path.join(out, "config.json"), cfg)
    tp = os.path.join(out, "tokenizer.json")
    if tok is not None:
        with open(tp, "w", encoding="utf-8") as f:
            json.dump(tok, f, ensure_ascii=False, indent=2)
            f.write("\n")
    elif tokenizer:
        shutil.copyfile(tokenizer, tp)
    elif os.path.exists(tp):
        os.remove(tp)
    for b in breaks:
        kind, _, arg = b.partition(":")
        break_model(out, kind, arg or None)
    return cfg


# --------------------------------------------------------------------------------------------
# broken inputs

def weight_files(model_dir):
    """The safetensors files of a model directory, in shard order."""
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            return [os.path.join(model_dir, fn)
                    for fn in sorted(set(json.load(f)["weight_map"].values()))]
    return [os.path.join(model_dir, "model.safetensors")]


def file_of(model_dir, name):
    """The safetensors file holding tensor `name` (exact stored name)."""
    for p in weight_files(model_dir):
        if name in _read_raw(p)[0]:
            return p
    raise KeyError(name)


def resolve(model_dir, name):
    """Stored name of canonical tensor name (adds "transformer." when the model is prefixed)."""
    for p in weight_files(model_dir):
        h = _read_raw(p)[0]
        for cand in (name, "transformer." + name):
            if cand in h:
                return cand
    raise KeyError(name)


def truncate(path, n_bytes):
    """Cut a file to its first n_bytes bytes (negative: drop -n_bytes from the end)."""
    size = os.path.getsize(path)
    n = n_bytes if n_bytes >= 0 else size + n_bytes
    with open(path, "r+b") as f:
        f.truncate(max(0, n))


def header_too_long(path, extra=1000):
    """Rewrite the 8-byte header length as (file size + extra)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.write(struct.pack("<Q", size + extra))


def offsets_outside(path, name=None, extra=4096):
    """Move one tensor's data_offsets (default the last in the file) past the end of the data."""
    h, data = _read_raw(path)
    names = [k for k in h if k != "__metadata__"]
    name = name or max(names, key=lambda k: h[k]["data_offsets"][1])
    a, b = h[name]["data_offsets"]
    h[name]["data_offsets"] = [len(data) + extra, len(data) + extra + (b - a)]
    _write_raw(path, h, data)


def overlap(path):
    """Make the second tensor (in data order) start inside the first: both offsets shifted back
    by half the first tensor's size; the data section keeps its length."""
    h, data = _read_raw(path)
    names = sorted((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])
    a0, b0 = h[names[0]]["data_offsets"]
    a1, b1 = h[names[1]]["data_offsets"]
    shift = max(1, (b0 - a0) // 2)
    h[names[1]]["data_offsets"] = [a1 - shift, b1 - shift]
    _write_raw(path, h, data)


def bad_dtype(path, name=None, dtype="F99"):
    """Replace one tensor's dtype string (default the first tensor) by `dtype`."""
    h, data = _read_raw(path)
    name = name or sorted(k for k in h if k != "__metadata__")[0]
    h[name]["dtype"] = dtype
    _write_raw(path, h, data)


def bad_shape(path, name, mode="transpose"):
    """Give tensor `name` a wrong shape. mode "transpose": reversed dims (same byte count, the
    file stays self-consistent; only the config check can catch it); "bytes": first dim + 1 (the
    shape disagrees with data_offsets)."""
    h, data = _read_raw(path)
    shp = h[name]["shape"]
    if mode == "transpose":
        if len(shp) < 2 or shp[0] == shp[-1]:
            raise ValueError(f"cannot transpose {name} {shp} into a different shape")
        h[name]["shape"] = shp[::-1]
    elif mode == "bytes":
        h[name]["shape"] = [shp[0] + 1] + shp[1:]
    else:
        raise ValueError(mode)
    _write_raw(path, h, data)


def remove_tensor(path, name):
    """Rewrite a safetensors file without tensor `name` (remaining tensors re-packed)."""
    h, data = _read_raw(path)
    if name not in h:
        raise KeyError(name)
    meta = h.pop("__metadata__", None)
    del h[name]
    out_h = {} if meta is None else {"__metadata__": meta}
    blobs, off = [], 0
    for k in sorted(h, key=lambda k: h[k]["data_offsets"][0]):
        a, b = h[k]["data_offsets"]
        blobs.append(data[a:b])
        out_h[k] = dict(h[k], data_offsets=[off, off + b - a])
        off += b - a
    _write_raw(path, out_h, b"".join(blobs))


def remove_from_model(model_dir, name, update_index=True):
    """Remove canonical tensor `name` from its file; with update_index also from the sharded
    index (weight_map and total_size), leaving a self-consistent model that lacks a tensor."""
    stored = resolve(model_dir, name)
    path = file_of(model_dir, stored)
    h, _ = _read_raw(path)
    a, b = h[stored]["data_offsets"]
    remove_tensor(path, stored)
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if update_index and os.path.exists(idx):
        with open(idx) as f:
            ix = json.load(f)
        del ix["weight_map"][stored]
        ix["metadata"]["total_size"] -= b - a
        write_json(idx, ix)


def index_missing_file(model_dir, name=None):
    """Point the index entry of canonical tensor `name` (default wte.weight) at a shard file
    that does not exist."""
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(idx):
        raise ValueError("index-missing-file needs a sharded model (--shards N)")
    stored = resolve(model_dir, name or "wte.weight")
    with open(idx) as f:
        ix = json.load(f)
    ix["weight_map"][stored] = "model-00099-of-00099.safetensors"
    write_json(idx, ix)


def bad_json(path, kind="syntax", **kw):
    """Damage a JSON file. kinds: "syntax" (cut in the middle), "empty", "not_object" (a list),
    "drop" (delete top-level key kw['key']), "set" (set key kw['key'] = kw['value'];
    key may be a dotted path like "model.type")."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if kind == "syntax":
        new = text[:len(text) // 2]
    elif kind == "empty":
        new = ""
    elif kind == "not_object":
        new = "[1, 2, 3]\n"
    else:
        obj = json.loads(text)
        parts = kw["key"].split(".")
        o = obj
        for p in parts[:-1]:
            o = o[p]
        if kind == "drop":
            del o[parts[-1]]
        elif kind == "set":
            o[parts[-1]] = kw["value"]
        else:
            raise ValueError(kind)
        new = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)


def bad_config(model_dir, kind="syntax"):
    """Malformed config.json. kinds: syntax, empty, not_object, missing_key (no n_embd),
    wrong_type (n_embd "64"), bad_heads (n_head not dividing n_embd), negative (n_layer -1),
    zero_vocab (vocab_size 0), bad_model_type ("gpt-unknown")."""
    p = os.path.join(model_dir, "config.json")
    with open(p) as f:
        cfg = json.load(f)
    table = {"missing_key": ("drop", "n_embd", None),
             "wrong_type": ("set", "n_embd", str(cfg["n_embd"])),
             "bad_heads": ("set", "n_head", cfg["n_embd"] + 1),
             "negative": ("set", "n_layer", -1),
             "zero_vocab": ("set", "vocab_size", 0),
             "bad_model_type": ("set", "model_type", "gpt-unknown")}
    if kind in table:
        k, key, val = table[kind]
        bad_json(p, k, key=key, value=val)
    else:
        bad_json(p, kind)


def bad_tokenizer(model_dir, kind="syntax"):
    """Malformed tokenizer.json. kinds: syntax, empty, not_object, no_model (key "model"
    deleted), bad_type (model.type "Nonsense"), vocab_not_object (model.vocab a list),
    merge_unknown (a merge of tokens absent from the vocab), merge_malformed (a merge string
    without a space), bad_id (a vocab id of -5)."""
    p = os.path.join(model_dir, "tokenizer.json")
    if kind in ("syntax", "empty", "not_object"):
        return bad_json(p, kind)
    with open(p, encoding="utf-8") as f:
        tok = json.load(f)
    m = tok["model"]
    if kind == "no_model":
        del tok["model"]
    elif kind == "bad_type":
        m["type"] = "Nonsense"
    elif kind == "vocab_not_object":
        m["vocab"] = list(m["vocab"])
    elif kind == "merge_unknown":
        m["merges"].insert(0, "\u2603zz \u2603qq" if isinstance(m["merges"][0], str)
                           else ["\u2603zz", "\u2603qq"])
    elif kind == "merge_malformed":
        m["merges"].insert(0, "nospace" if isinstance(m["merges"][0], str) else ["nospace"])
    elif kind == "bad_id":
        k = next(iter(m["vocab"]))
        m["vocab"][k] = -5
    else:
        raise ValueError(kind)
    with open(p, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=2)


BREAKS = {
    # kind: (description, function(model_dir, arg))
    "truncate": ("cut the (first) weight file at ARG bytes (negative: drop -ARG bytes; "
                 "default: drop the last 100)",
                 lambda d, a: truncate(weight_files(d)[0], int(a) if a else -100)),
    "header-too-long": ("header length > file size",
                        lambda d, a: header_too_long(weight_files(d)[0])),
    "offsets-outside": ("data_offsets of tensor ARG (default the last one) past the end",
                        lambda d, a: offsets_outside(file_of(d, resolve(d, a)) if a
                                                     else weight_files(d)[0],
                                                     resolve(d, a) if a else None)),
    "overlap": ("the second tensor starts inside the first",
                lambda d, a: overlap(weight_files(d)[0])),
    "dtype": ("dtype of tensor ARG (default wte.weight) becomes F99",
              lambda d, a: bad_dtype(file_of(d, resolve(d, a or "wte.weight")),
                                     resolve(d, a or "wte.weight"))),
    "shape": ("tensor ARG (default h.0.attn.c_attn.weight) gets a transposed shape",
              lambda d, a: bad_shape(file_of(d, resolve(d, a or "h.0.attn.c_attn.weight")),
                                     resolve(d, a or "h.0.attn.c_attn.weight"))),
    "shape-bytes": ("tensor ARG (default ln_f.weight) gets a shape that disagrees with its bytes",
                    lambda d, a: bad_shape(file_of(d, resolve(d, a or "ln_f.weight")),
                                           resolve(d, a or "ln_f.weight"), "bytes")),
    "missing": ("tensor ARG (default h.0.mlp.c_fc.bias) removed (and from the index)",
                lambda d, a: remove_from_model(d, a or "h.0.mlp.c_fc.bias", True)),
    "missing-keep-index": ("tensor ARG (default h.0.mlp.c_fc.bias) removed from its shard, "
                           "the index still names it",
                           lambda d, a: remove_from_model(d, a or "h.0.mlp.c_fc.bias", False)),
    "index-missing-file": ("the index maps tensor ARG (default wte.weight) to a file that "
                           "does not exist", lambda d, a: index_missing_file(d, a)),
    "config": ("config.json damaged, ARG one of syntax (default), empty, not_object, "
               "missing_key, wrong_type, bad_heads, negative, zero_vocab, bad_model_type",
               lambda d, a: bad_config(d, a or "syntax")),
    "tokenizer": ("tokenizer.json damaged, ARG one of syntax (default), empty, not_object, "
                  "no_model, bad_type, vocab_not_object, merge_unknown, merge_malformed, bad_id",
                  lambda d, a: bad_tokenizer(d, a or "syntax")),
}


def break_model(model_dir, kind, arg=None):
    """Apply one BREAKS entry to a written model directory."""
    if kind not in BREAKS:
        raise ValueError(f"unknown break {kind!r}; known: {', '.join(BREAKS)}")
    BREAKS[kind][1](model_dir, arg)


# --------------------------------------------------------------------------------------------

def _plant(s):
    d, _, v = s.partition(":")
    try:
        return int(d), float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--plant wants DIM:VALUE, got {s!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="write a random-weight HF GPT-2 model directory",
        epilog="breaks: " + "; ".join(f"{k}: {v[0]}" for k, v in BREAKS.items()))
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-positions", type=int, default=128, help="also written as n_ctx")
    ap.add_argument("--n-inner", type=int, default=None, help="MLP width (default 4*n_embd, "
                    "config n_inner null)")
    ap.add_argument("--vocab", type=int, default=None,
                    help="generated tokenizer: target size (default 512); --no-tokenizer: "
                    "vocab_size (default 512); --tokenizer: vocab_size if larger than it")
    ap.add_argument("--dtype", choices=list(DTYPES), default="F32")
    ap.add_argument("--layout", choices=["original", "prefixed"], default="original",
                    help="original: wte.weight, h.0...; prefixed: transformer.wte.weight, ...")
    ap.add_argument("--lm-head", action="store_true",
                    help="untied lm_head.weight [V,C] with its own values")
    ap.add_argument("--shards", type=int, default=1,
                    help="N > 1: model-0000k-of-0000N.safetensors + index.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eps", type=float, default=1e-5, help="layer_norm_epsilon")
    ap.add_argument("--activation", default="gelu_new",
                    choices=["gelu_new", "gelu_pytorch_tanh", "gelu", "relu"])
    ap.add_argument("--mask-buffers", action="store_true",
                    help="add the legacy h.N.attn.bias [1,1,P,P] and h.N.attn.masked_bias [] "
                    "buffers of old checkpoints")
    ap.add_argument("--plant", type=_plant, action="append", default=[], metavar="DIM:VALUE",
                    help="ln_f.bias[DIM]=VALUE, ln_f.weight[DIM]=0.01 (repeatable)")
    ap.add_argument("--plant-unembed", action="store_true",
                    help="W_U[t,DIM] = sign(VALUE)*A*(1-2r(t)/(V-1)) for planted dims")
    ap.add_argument("--plant-unembed-scale", type=float, default=0.2, metavar="A")
    ap.add_argument("--plant-rank", default="id", metavar="id|corpus|FILE",
                    help="token rank r(t): id, counts of the tokenizer's training text, or a "
                    "token_id<TAB>count file")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--tokenizer", help="copy this tokenizer.json")
    g.add_argument("--no-tokenizer", action="store_true", help="write no tokenizer.json")
    ap.add_argument("--corpus", help="train the generated tokenizer on this text file")
    ap.add_argument("--tokenizer-lines", type=int, default=2000,
                    help="lines of the built-in Zipf corpus the tokenizer is trained on")
    ap.add_argument("--merges-format", choices=["string", "pairs"], default="string",
                    help='generated merges as "a b" strings or ["a","b"] pairs')
    ap.add_argument("--break", dest="breaks", action="append", default=[],
                    metavar="KIND[:ARG]", help="damage the model after writing (see below)")
    ap.add_argument("--verbose", action="store_true", help="print the config")
    a = ap.parse_args(argv)
    tok = False if a.no_tokenizer else a.tokenizer
    try:
        cfg = make_model(a.out, a.n_embd, a.n_layer, a.n_head, a.n_positions, a.n_inner, a.vocab,
                         a.dtype, a.layout, a.lm_head, a.shards, a.seed, a.eps, a.activation,
                         a.mask_buffers, a.plant, a.plant_unembed, a.plant_unembed_scale,
                         a.plant_rank, tok, a.corpus, a.tokenizer_lines, a.merges_format,
                         a.breaks)
    except (ValueError, KeyError, OSError) as e:
        print(f"gen_model: {e}", file=sys.stderr)
        return 1
    if a.verbose:
        print(json.dumps(cfg, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
