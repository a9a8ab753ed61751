"""GPT-2 reference comparison: `odscope forward` against the float64 PyTorch reference
(tests/py/ref_gpt2.py) on small random-weight models written by tests/py/gen_model.py.

Each test prints, per model, the max-abs error and the normalized error ||a-b||/||b|| of the
final hidden states and of the logits, and requires the normalized error < 1e-5."""
import os

import numpy as np

import common
import gen_corpus
import gen_model
import ref_gpt2

REL_TOL = 1e-5


def _compare(name, model_kw, n_tokens, seed=0, text=None):
    """Write model `name`, run odscope forward (on ids, or on text when given) and the
    reference, print and check the errors. Returns (hidden, logits) of odscope."""
    common.need_odscope()
    d = common.tmpdir("ref_gpt2_" + name)
    mdir = os.path.join(d, "model")
    kw = dict(n_embd=64, n_layer=2, n_head=4, n_positions=128, vocab=512, seed=seed)
    kw.update(model_kw)
    cfg = gen_model.make_model(mdir, **kw)
    V = cfg["vocab_size"]
    out = os.path.join(d, "out")
    if text is None:
        ids = np.random.default_rng(seed + 100).integers(0, V, n_tokens).tolist()
        common.run("forward", "--model", mdir, "--ids", ",".join(map(str, ids)), "--out", out)
    else:
        ids = gen_corpus.encode(os.path.join(mdir, "tokenizer.json"), text)
        common.run("forward", "--model", mdir, "--text", text, "--out", out)
    h = np.load(out + ".hidden.npy")
    z = np.load(out + ".logits.npy")
    hr, zr = ref_gpt2.forward(mdir, ids)
    T, D = len(ids), cfg["n_embd"]
    assert h.shape == (T, D), f"{name}: hidden shape {h.shape}, want {(T, D)}"
    assert z.shape == (T, V), f"{name}: logits shape {z.shape}, want {(T, V)}"
    common.check_forward(name, f"T={T:<4} D={D:<4} V={V:<5}", h, z, hr, zr, REL_TOL)
    return h, z


def test_f32_original_tied():
    _compare("f32_tied", dict(dtype="F32", layout="original"), 100)


def test_prefixed_untied_lm_head():
    _compare("prefixed_untied", dict(layout="prefixed", lm_head=True, n_embd=96, n_head=6,
                                     n_layer=3, seed=1), 120)


def test_sharded():
    _compare("sharded", dict(layout="prefixed", shards=3, n_embd=80, n_head=5, seed=2), 90)


def test_f16_weights():
    _compare("f16", dict(dtype="F16", seed=3), 100)


def test_bf16_weights():
    _compare("bf16", dict(dtype="BF16", layout="prefixed", lm_head=True, seed=4), 100)


def test_windows():
    # n_positions 32 < 100 tokens: windows of 32, 32, 32, 4 with positions restarting at 0
    _compare("windows", dict(n_positions=32, seed=5), 100)


def test_odd_sizes():
    _compare("odd_sizes", dict(n_embd=48, n_head=3, n_layer=3, n_inner=136, vocab=301,
                               eps=1e-6, seed=6), 77)


def test_legacy_mask_buffers():
    # old checkpoints carry h.N.attn.bias [1,1,P,P] and h.N.attn.masked_bias []: ignored
    _compare("mask_buffers", dict(mask_bufs=True, n_positions=64, seed=7), 50)


def test_planted_od():
    h, _ = _compare("planted_od", dict(n_embd=128, plant=[(17, 15.0)], plant_unembed=True,
                                       seed=8), 60)
    assert np.abs(h[:, 17] - 15.0).max() < 0.1


def test_text_input():
    text = " ".join(gen_corpus.zipf_lines(3, seed=9))
    _compare("text", dict(seed=9), 0, text=text)
