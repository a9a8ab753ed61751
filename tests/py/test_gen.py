"""Tests of the Python test tooling itself: gen_model (safetensors writer, broken inputs,
planted ODs), ref_gpt2 (reference forward pass) and gen_corpus (corpus, BPE tokenizer)."""
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import torch

import common
import gen_corpus
import gen_model
import ref_gpt2

HERE = os.path.dirname(os.path.abspath(__file__))


def _small(name, **kw):
    d = common.tmpdir("gen_" + name)
    args = dict(n_embd=32, n_layer=2, n_head=4, n_positions=32, vocab=300, tokenizer=False)
    args.update(kw)
    cfg = gen_model.make_model(d, **args)
    return d, cfg


# ------------------------------------------------------------------------------ safetensors

def test_safetensors_roundtrip():
    d = common.tmpdir("gen_st")
    rng = np.random.default_rng(1)
    t = {"a": rng.standard_normal((3, 5)).astype(np.float32),
         "b.weight": rng.standard_normal(7).astype(np.float32) * 100,
         "scalar": np.array(-1e4, dtype=np.float32),
         "empty": np.zeros((0, 4), np.float32),
         "c": rng.standard_normal((2, 3, 4)).astype(np.float32)}
    for dt in ("F32", "F16", "BF16"):
        p = os.path.join(d, dt + ".safetensors")
        gen_model.write_safetensors(p, t, dt)
        back, meta = ref_gpt2.read_safetensors(p)
        assert meta == {"format": "pt"}
        assert set(back) == set(t)
        for k, x in t.items():
            y = back[k]
            assert y.shape == x.shape, (dt, k, y.shape, x.shape)
            if dt == "F32":
                want = x
            elif dt == "F16":
                want = x.astype(np.float16)
            else:
                want = torch.from_numpy(x.copy()).to(torch.bfloat16).float().numpy()
            assert np.array_equal(y.astype(np.float32), want.astype(np.float32)), (dt, k)
    # raw integer dtypes through dtype=None
    ints = {"i64": np.arange(6, dtype=np.int64).reshape(2, 3), "u8": np.arange(5, dtype=np.uint8),
            "f64": np.linspace(0, 1, 4)}
    p = os.path.join(d, "raw.safetensors")
    gen_model.write_safetensors(p, ints, None)
    back, _ = ref_gpt2.read_safetensors(p)
    for k, x in ints.items():
        assert back[k].dtype == x.dtype and np.array_equal(back[k], x), k


def test_safetensors_layout():
    d = common.tmpdir("gen_st_layout")
    t = {"z": np.ones(3, np.float32), "a": np.ones((2, 2), np.float32), "m": np.ones(1, np.float32)}
    for dt, item in (("F32", 4), ("F16", 2), ("BF16", 2)):
        p = os.path.join(d, "x.safetensors")
        gen_model.write_safetensors(p, t, dt)
        buf = open(p, "rb").read()
        n = struct.unpack("<Q", buf[:8])[0]
        assert n % 8 == 0
        hs = buf[8:8 + n].decode()
        assert hs == hs.rstrip() + " " * (len(hs) - len(hs.rstrip()))
        h = json.loads(hs)
        assert h["__metadata__"] == {"format": "pt"}
        off = 0
        for k in sorted(x for x in h if x != "__metadata__"):
            assert h[k]["dtype"] == dt
            a, b = h[k]["data_offsets"]
            assert a == off and b - a == item * int(np.prod(h[k]["shape"])), (k, a, b)
            off = b
        assert off == len(buf) - 8 - n, "tensors are not back to back up to the end"


def test_bf16_rounding():
    # ties to even, carries into the exponent, negative numbers, inf, nan
    bits = np.array([0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001, 0x7F7FFFFF, 0xBF808000,
                     0x00008000, 0x7F800000, 0xFF800000, 0x7FC00001], dtype=np.uint32)
    x = np.concatenate([bits.view(np.float32),
                        np.random.default_rng(3).standard_normal(10000).astype(np.float32) * 50])
    got = gen_model.f32_to_bf16_bits(x)
    want = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    fin = np.isfinite(x)
    assert np.array_equal(got[fin], want[fin])
    assert np.array_equal(np.isnan(gen_model.bf16_bits_to_f32(got)), np.isnan(x))
    assert np.array_equal(got[~np.isnan(x)], want[~np.isnan(x)])


def test_sharded_index():
    d1, _ = _small("shard1", seed=5, layout="prefixed", lm_head=True)
    d3, _ = _small("shard3", seed=5, layout="prefixed", lm_head=True, shards=3)
    files = sorted(f for f in os.listdir(d3) if f.endswith(".safetensors"))
    assert files == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)], files
    idx = json.load(open(os.path.join(d3, "model.safetensors.index.json")))
    single = ref_gpt2.load_tensors(d1)
    sharded = ref_gpt2.load_tensors(d3)
    assert set(idx["weight_map"]) == set(single) == set(sharded)
    assert idx["metadata"]["total_size"] == sum(v.nbytes for v in single.values())
    for k in single:
        assert np.array_equal(single[k], sharded[k]), k
    for f in files:
        assert ref_gpt2.read_safetensors(os.path.join(d3, f))[0], f"{f} empty"


def test_layouts_and_config():
    d, cfg = _small("layout_orig")
    names = set(ref_gpt2.load_tensors(d))
    assert "wte.weight" in names and "h.1.mlp.c_proj.bias" in names
    assert "lm_head.weight" not in names
    assert len(names) == 4 + 12 * 2
    c = json.load(open(os.path.join(d, "config.json")))
    for k in ("model_type", "n_embd", "n_layer", "n_head", "n_positions", "n_ctx", "vocab_size",
              "layer_norm_epsilon", "activation_function", "architectures", "bos_token_id",
              "eos_token_id"):
        assert k in c, k
    assert c["model_type"] == "gpt2" and c["architectures"] == ["GPT2LMHeadModel"]
    assert c["n_ctx"] == c["n_positions"] == 32 and c["vocab_size"] == 300
    assert "tie_word_embeddings" not in c
    d, cfg = _small("layout_pref", layout="prefixed", lm_head=True)
    t = ref_gpt2.load_tensors(d)
    assert "transformer.wte.weight" in t and "lm_head.weight" in t
    assert not np.allclose(t["lm_head.weight"], t["transformer.wte.weight"])
    assert json.load(open(os.path.join(d, "config.json")))["tie_word_embeddings"] is False
    # the reference uses lm_head when untied
    m = ref_gpt2.Model(d)
    assert np.array_equal(m.wu.numpy(), t["lm_head.weight"].astype(np.float64))
    d, _ = _small("layout_pref_tied", layout="prefixed")
    assert "lm_head.weight" not in ref_gpt2.load_tensors(d)
    d, _ = _small("mask_bufs", mask_bufs=True, dtype="F16")
    t = ref_gpt2.load_tensors(d)
    assert t["h.0.attn.bias"].shape == (1, 1, 32, 32) and t["h.1.attn.masked_bias"].shape == ()
    ref_gpt2.forward(d, [1, 2, 3])


def test_weight_scales():
    d, _ = _small("scales", n_embd=64, vocab=500)
    h, z = ref_gpt2.forward(d, list(range(1, 33)))
    assert np.isfinite(h).all() and np.isfinite(z).all()
    assert 0.5 < h.std() < 2.0, h.std()
    assert 0.2 < z.std() < 5.0, z.std()
    t = ref_gpt2.load_tensors(d)
    for k, x in t.items():
        if k.endswith(".bias"):
            assert 0 < np.abs(x).mean() < 0.1, k
        if k.endswith("ln_1.weight") or k == "ln_f.weight":
            assert abs(x.mean() - 1) < 0.05 and x.std() > 0.01, k


# ------------------------------------------------------------------------------ reference

def test_gelu_new():
    x = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    ref = torch.nn.functional.gelu(x, approximate="tanh")
    assert torch.max(torch.abs(ref_gpt2.gelu_new(x) - ref)).item() < 1e-12


def test_reference_causal():
    d, _ = _small("causal", n_positions=64)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 300, 40).tolist()
    h0, z0 = ref_gpt2.forward(d, ids)
    for j in (0, 7, 25, 39):
        ids2 = list(ids)
        ids2[j] = (ids2[j] + 11) % 300
        h1, z1 = ref_gpt2.forward(d, ids2)
        assert np.array_equal(h0[:j], h1[:j]), j
        assert np.array_equal(z0[:j], z1[:j]), j
        assert np.abs(h0[j:] - h1[j:]).max(axis=1).min() > 1e-6, f"change at {j} not seen after"


def _numpy_incremental(model_dir, ids):
    """Token-by-token GPT-2 with a key/value cache, in numpy: an independent formulation."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    t = {k.replace("transformer.", ""): v.astype(np.float64)
         for k, v in ref_gpt2.load_tensors(model_dir).items()}
    C, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = C // H
    wu = t["lm_head.weight"] if cfg.get("tie_word_embeddings", True) is False else t["wte.weight"]

    def ln(x, w, b):
        return (x - x.mean()) / math.sqrt(x.var() + eps) * w + b

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    cache = [([], []) for _ in range(cfg["n_layer"])]
    hs = []
    for pos, tok in enumerate(ids):
        x = t["wte.weight"][tok] + t["wpe.weight"][pos]
        for i in range(cfg["n_layer"]):
            p = f"h.{i}."
            a = ln(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"])
            qkv = a @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]
            q, k, v = qkv[:C], qkv[C:2 * C], qkv[2 * C:]
            cache[i][0].append(k)
            cache[i][1].append(v)
            K, Vv = np.array(cache[i][0]), np.array(cache[i][1])
            o = np.empty(C)
            for hh in range(H):
                sl = slice(hh * hd, (hh + 1) * hd)
                s = K[:, sl] @ q[sl] / math.sqrt(hd)
                e = np.exp(s - s.max())
                o[sl] = (e / e.sum()) @ Vv[:, sl]
            x = x + o @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
            m = ln(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"])
            x = x + gelu(m @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"]) \
                @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
        hs.append(ln(x, t["ln_f.weight"], t["ln_f.bias"]))
    h = np.array(hs)
    return h, h @ wu.T


def test_reference_vs_incremental():
    for name, kw in (("inc_tied", {}),
                     ("inc_untied", dict(layout="prefixed", lm_head=True, n_embd=48, n_head=3,
                                         n_inner=80, seed=2))):
        d, _ = _small(name, **kw)
        ids = np.random.default_rng(4).integers(0, 300, 30).tolist()
        h, z = ref_gpt2.forward(d, ids)
        h2, z2 = _numpy_incremental(d, ids)
        assert np.abs(h - h2).max() < 1e-10, (name, np.abs(h - h2).max())
        assert np.abs(z - z2).max() < 1e-10, (name, np.abs(z - z2).max())


def test_reference_windows():
    d, _ = _small("windows", n_positions=16)
    ids = np.random.default_rng(5).integers(0, 300, 16 * 2 + 5).tolist()
    h, z = ref_gpt2.forward(d, ids)
    assert h.shape == (37, 32) and z.shape == (37, 300)
    for s in (0, 16, 32):
        hw, zw = ref_gpt2.forward(d, ids[s:s + 16])
        # equal up to BLAS blocking of the different matrix shapes
        assert np.abs(h[s:s + 16] - hw).max() < 1e-12 and np.abs(z[s:s + 16] - zw).max() < 1e-12


def test_reference_half_weights():
    # F16/BF16 files hold rounded weights; the reference computes with exactly those values
    for dt in ("F16", "BF16"):
        d, _ = _small("half_" + dt, dtype=dt, seed=3)
        t = ref_gpt2.load_tensors(d)
        w32 = gen_model.random_weights(json.load(open(os.path.join(d, "config.json"))), 3)
        x = w32["h.0.mlp.c_fc.weight"]
        want = (x.astype(np.float16) if dt == "F16" else
                gen_model.bf16_bits_to_f32(gen_model.f32_to_bf16_bits(x)))
        assert np.array_equal(t["h.0.mlp.c_fc.weight"].astype(np.float32), want)
        assert t["wte.weight"].dtype == (np.float16 if dt == "F16" else np.float32)


def test_ref_cli():
    d, _ = _small("refcli")
    out = os.path.join(common.tmpdir("gen_refcli_out"), "p")
    p = subprocess.run([sys.executable, os.path.join(HERE, "ref_gpt2.py"), "--model", d,
                        "--ids", "1,2,3,4", "--out", out], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "", p.stderr
    h, z = ref_gpt2.forward(d, [1, 2, 3, 4])
    assert np.array_equal(np.load(out + ".hidden.npy"), h)
    assert np.array_equal(np.load(out + ".logits.npy"), z)


# ------------------------------------------------------------------------------ planted ODs

def _spearman(a, b):
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return np.corrcoef(ra, rb)[0, 1]


def test_planted_od():
    # 2 ODs in 256 dims: under 1% of the entries, so the 0.99 global quantile stays below them
    d, _ = _small("plant", n_embd=256, vocab=400, plant=[(7, 12.0), (30, -9.0)],
                  plant_unembed=True)
    ids = np.random.default_rng(6).integers(0, 400, 60).tolist()
    h, z = ref_gpt2.forward(d, ids)
    assert np.abs(h[:, 7] - 12.0).max() < 0.1 and np.abs(h[:, 30] + 9.0).max() < 0.1
    a = np.abs(h)
    q_glob = np.quantile(a, 0.99)
    ods = [j for j in range(256) if np.median(a[:, j]) > q_glob]
    assert ods == [7, 30], ods
    wu = ref_gpt2.load_tensors(d)["wte.weight"]
    # sign(VALUE) * W_U[:, d] decreases with the token id: low ids promoted
    assert np.all(np.diff(wu[:, 7]) < 0) and np.all(np.diff(-wu[:, 30]) < 0)
    contrib = 12.0 * wu[:, 7].astype(np.float64)
    assert np.argmax(contrib) == 0 and np.argmin(contrib) == 399
    # without ablation the top-1 predictions lean to low ids; ablating the ODs removes that
    top_full = z.argmax(1)
    wu64 = wu.astype(np.float64)
    h_abl = h.copy()
    h_abl[:, [7, 30]] = 0
    top_abl = (h_abl @ wu64.T).argmax(1)
    assert top_full.mean() < top_abl.mean(), (top_full.mean(), top_abl.mean())


def test_planted_od_untied_and_corpus_rank():
    d, cfg = _small("plant_corpus", tokenizer=None, vocab=400, layout="prefixed", lm_head=True,
                    plant=[(3, 8.0)], plant_unembed=True, plant_rank="corpus")
    t = ref_gpt2.load_tensors(d)
    tok = json.load(open(os.path.join(d, "tokenizer.json")))
    counts = gen_model._default_tokenizer(400, 2000, None, "string")[1]
    c = np.array([counts.get(i, 0) for i in range(cfg["vocab_size"])], dtype=float)
    col = t["lm_head.weight"][:, 3]
    seen = c > 0
    assert _spearman(col[seen], c[seen]) > 0.95
    # wte (input embedding) is untouched by the unembedding plant when untied
    assert np.abs(t["transformer.wte.weight"][:, 3]).max() < 1.0
    assert cfg["vocab_size"] == gen_corpus.tokenizer_size(tok)
    # rank file path gives the same result as "corpus"
    f = os.path.join(common.tmpdir("gen_counts"), "counts.tsv")
    gen_corpus.write_counts(f, counts)
    d2, _ = _small("plant_file", tokenizer=None, vocab=400, layout="prefixed", lm_head=True,
                   plant=[(3, 8.0)], plant_unembed=True, plant_rank=f)
    assert np.array_equal(ref_gpt2.load_tensors(d2)["lm_head.weight"], t["lm_head.weight"])


# ------------------------------------------------------------------------------ broken inputs

def _raises(fn, *a):
    try:
        fn(*a)
    except (ValueError, KeyError, json.JSONDecodeError, UnicodeDecodeError, struct.error):
        return
    raise AssertionError(f"{fn.__name__}{a} did not raise")


def test_breaks():
    for kind, arg in (("truncate", None), ("truncate", "5"), ("truncate", "100"),
                      ("header-too-long", None), ("offsets-outside", None),
                      ("offsets-outside", "wte.weight"), ("overlap", None), ("dtype", None),
                      ("shape", None), ("shape-bytes", None), ("missing", None),
                      ("missing", "ln_f.bias")):
        for layout in ("original", "prefixed"):
            d, _ = _small(f"brk_{kind}_{layout}", layout=layout)
            gen_model.break_model(d, kind, arg)
            _raises(ref_gpt2.Model, d)
    for kind in ("missing", "missing-keep-index", "index-missing-file", "dtype", "truncate"):
        d, _ = _small("brk_sharded", shards=2, layout="prefixed")
        gen_model.break_model(d, kind, "h.1.ln_2.weight" if kind.startswith("missing") else None)
        _raises(ref_gpt2.Model, d)
    d, _ = _small("brk_sharded", shards=2)
    gen_model.break_model(d, "missing", "h.1.ln_2.weight")
    ix = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    assert "h.1.ln_2.weight" not in ix["weight_map"]
    assert ix["metadata"]["total_size"] == sum(v.nbytes for v in ref_gpt2.load_tensors(d).values())
    for kind in ("syntax", "empty", "not_object", "missing_key", "wrong_type", "bad_heads",
                 "negative", "zero_vocab", "bad_model_type"):
        d, _ = _small("brk_cfg")
        gen_model.bad_config(d, kind)
        with open(os.path.join(d, "config.json")) as f:
            text = f.read()
        try:
            c = json.loads(text)
        except json.JSONDecodeError:
            continue
        ok = (isinstance(c, dict) and isinstance(c.get("n_embd"), int) and c["n_layer"] > 0
              and c["vocab_size"] > 0 and c["n_embd"] % c["n_head"] == 0
              and c["model_type"] == "gpt2")
        assert not ok, kind
    for kind in ("syntax", "empty", "not_object", "no_model", "bad_type", "vocab_not_object",
                 "merge_unknown", "merge_malformed", "bad_id"):
        d, _ = _small("brk_tok", tokenizer=None)
        gen_model.bad_tokenizer(d, kind)
        try:
            tok = json.load(open(os.path.join(d, "tokenizer.json")))
            assert tok["model"]["type"] == "BPE"
            gen_corpus.check_merges(tok)
            assert min(tok["model"]["vocab"].values()) >= 0
        except (json.JSONDecodeError, KeyError, TypeError, AssertionError, ValueError,
                AttributeError):
            continue
        raise AssertionError(f"bad_tokenizer {kind} left a valid tokenizer")


def test_cli():
    d = common.tmpdir("gen_cli")
    p = subprocess.run([sys.executable, os.path.join(HERE, "gen_model.py"), "--out", d,
                        "--n-embd", "48", "--n-head", "3", "--n-layer", "1", "--vocab", "300",
                        "--dtype", "BF16", "--layout", "prefixed", "--lm-head", "--shards", "2",
                        "--plant", "5:10", "--plant-unembed", "--break", "config:missing_key"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stderr
    c = json.load(open(os.path.join(d, "config.json")))
    assert "n_embd" not in c and c["vocab_size"] == 300 and c["torch_dtype"] == "bfloat16"
    assert os.path.exists(os.path.join(d, "model-00002-of-00002.safetensors"))
    p = subprocess.run([sys.executable, os.path.join(HERE, "gen_model.py"), "--out", d,
                        "--n-embd", "48", "--plant", "99:1"], capture_output=True, text=True)
    assert p.returncode == 1 and "planted dimension 99" in p.stderr, p.stderr


# ------------------------------------------------------------------------------ corpus, tokenizer

def test_corpus():
    a = gen_corpus.zipf_lines(500, seed=3)
    assert a == gen_corpus.zipf_lines(500, seed=3)
    assert a != gen_corpus.zipf_lines(500, seed=4)
    words = {}
    for ln in a:
        ws = ln.split()
        assert 5 <= len(ws) <= 40, ln
        assert ln[-1] in ".?!"
        for w in ws:
            w = w.strip(",.?!").lower()
            assert w.isalpha() and w.isascii(), w
            words[w] = words.get(w, 0) + 1
    assert len(set(gen_corpus.make_words(2000, 1234))) == 2000
    f = np.array(sorted(words.values(), reverse=True), dtype=float)
    r = np.arange(1, len(f) + 1)
    sel = slice(5, 200)
    slope = np.polyfit(np.log(r[sel]), np.log(f[sel]), 1)[0]
    assert -1.6 < slope < -0.6, slope
    out = os.path.join(common.tmpdir("gen_corpus"), "c.txt")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_corpus.py"), "corpus", "--out", out,
                    "--lines", "50", "--seed", "3"], check=True)
    assert open(out).read().splitlines() == gen_corpus.zipf_lines(50, seed=3)


def test_tokenizer_merges():
    lines = gen_corpus.zipf_lines(1500, seed=1)
    d = common.tmpdir("gen_tok")
    for fmt in ("string", "pairs"):
        path = os.path.join(d, f"tok_{fmt}.json")
        tok, counts = gen_corpus.build_tokenizer(path, lines, vocab_size=700, merges_format=fmt,
                                                 counts_out=path + ".counts")
        tok = json.load(open(path, encoding="utf-8"))
        gen_corpus.check_merges(tok)
        m = tok["model"]
        assert m["type"] == "BPE" and tok["version"] == "1.0"
        assert tok["pre_tokenizer"] == {"type": "ByteLevel", "add_prefix_space": False,
                                        "trim_offsets": True, "use_regex": True}
        assert tok["decoder"]["type"] == "ByteLevel"
        assert tok["post_processor"]["type"] == "ByteLevel"
        assert tok["normalizer"] is None
        v = m["vocab"]
        assert len(v) == 700 and sorted(v.values()) == list(range(700))
        assert v[gen_corpus.EOT] == 699
        assert tok["added_tokens"][0]["id"] == 699 and tok["added_tokens"][0]["special"]
        # 256 byte tokens first, in GPT-2 order ("!" = 0, "Ā" (byte 0) = 188, "Ġ" (space) = 220)
        assert v["!"] == 0 and v["\u0100"] == 188 and v["\u0120"] == 220
        assert all(len(t) == 1 for t, i in v.items() if i < 256)
        # merge i creates id 256 + i (no duplicate strings were produced here)
        pairs = gen_corpus._merge_pairs(tok)
        assert len(pairs) == 700 - 257
        assert all(v[a + b] == 256 + i for i, (a, b) in enumerate(pairs))
        assert isinstance(m["merges"][0], str if fmt == "string" else list)
        enc = gen_corpus.Encoder(tok)
        from collections import Counter
        cnt = Counter()
        for ln in lines:
            ids = enc.encode(ln)
            assert enc.decode(ids) == ln
            cnt.update(ids)
        assert dict(cnt) == counts == gen_corpus.read_counts(path + ".counts")
        assert enc.encode("Hello, world! 123 _x\n\n  y") and \
            enc.decode(enc.encode("h\u00e9llo \u2603 \n\t x")) == "h\u00e9llo \u2603 \n\t x"


def test_encoder_vs_gpt2_fixture():
    d = common.fixture("tokenizers", "gpt2")
    tok = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))
    enc = gen_corpus.Encoder(tok)
    texts = open(os.path.join(d, "vectors.inp"), encoding="utf-8").read() \
        .split("\n__ggml_vocab_test__\n")
    outs = open(os.path.join(d, "vectors.out"), encoding="utf-8").read().splitlines()
    n = 0
    for tx, ids in zip(texts, outs):
        if not tx.isascii():
            continue  # the `re` approximation of \p{L}/\p{N} is exact only on ASCII
        assert enc.encode(tx) == [int(x) for x in ids.split()], tx
        n += 1
    assert n >= 10, n
