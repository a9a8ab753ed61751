"""Every decoder family against the float64 PyTorch reference (tests/py/ref_families.py, written
from the HF transformers modeling code): tiny random-weight HF model directories written by
tests/py/gen_families.py, `odscope forward --ids`, and per variant one line with the max-abs and
relative error (||a - b|| / ||b||) of the final hidden states and of the logits; relative error
< 1e-5 required (REFUSABLE variants, settings odscope may decline, also pass when refused
with exit 1 and one line naming the key). Then the refusals of configurations odscope does not implement (exit 1, one
line naming the key), and checks of the reference itself (RoPE scaling identities, a loop
formulation of the attention, causality, window semantics, non-degenerate attention)."""
import math
import os

import numpy as np
import torch

import common
import gen_families
import ref_families

REL_TOL = 1e-5

LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 64}

# name: (family, number of tokens, make_family keyword arguments). Every sliding window below
# (16) is shorter than the sequence; T <= max_position_embeddings (128) everywhere.
VARIANTS = {
    # GPT-NeoX: hd 24; rotary_pct 0.25 -> 6 rotary dims (3 + 3 halves), fused [H, 3, hd] qkv
    "neox_parallel": ("gpt_neox", 47, {}),
    "neox_seq_fullrot": ("gpt_neox", 53, dict(use_parallel_residual=False, rotary_pct=1.0,
                                              rotary_emb_base=500, seed=1)),
    "neox_f16_shards_nobias": ("gpt_neox", 41, dict(dtype="F16", shards=3, legacy_buffers=True,
                                                    attention_bias=False, rotary_pct=0.5,
                                                    seed=2)),
    # OPT: learned positions at row p + 2, ReLU, biases, tied lm_head
    "opt_preln": ("opt", 47, {}),
    "opt_postln_proj": ("opt", 58, dict(do_layer_norm_before=False, word_embed_proj_dim=32,
                                        bare=True, seed=3)),
    "opt_bf16_untied_nobias": ("opt", 44, dict(dtype="BF16", shards=2, enable_bias=False,
                                               tie_word_embeddings=False, seed=4)),
    # Llama: GQA 4/2, head_dim 24 != 64/4, rope scalings, biases, dtypes, defaults
    "llama_gqa_headdim": ("llama", 47, dict(head_dim=24, rms_norm_eps=1e-5, rope_theta=50000.0,
                                            seed=5)),
    "llama3_rope_biases": ("llama", 64, dict(rope_scaling=LLAMA3, attention_bias=True,
                                             mlp_bias=True, seed=6)),
    "llama_linear_tied": ("llama", 50, dict(rope_scaling={"type": "linear", "factor": 2.0},
                                            tie_word_embeddings=True, seed=7)),
    "llama_bf16_shards": ("llama", 45, dict(dtype="BF16", shards=2, rope_scaling=LLAMA3,
                                            seed=8)),
    "llama_f16_mqa": ("llama", 43, dict(dtype="F16", num_key_value_heads=1, seed=9)),
    "llama_defaults": ("llama", 40, dict(drop=("num_key_value_heads", "head_dim", "rms_norm_eps",
                                               "rope_theta", "rope_scaling", "attention_bias",
                                               "mlp_bias", "tie_word_embeddings"), seed=10)),
    # transformers >= 5 writes rope_parameters (rope_theta and scaling in one dict)
    "llama_v5_rope_parameters": ("llama", 49, dict(drop=("rope_theta", "rope_scaling"),
                                                   rope_parameters=dict(LLAMA3,
                                                                        rope_theta=50000.0),
                                                   seed=25)),
    "neox_v5_rope_parameters": ("gpt_neox", 45, dict(drop=("rotary_pct", "rotary_emb_base",
                                                           "rope_scaling"),
                                                     rope_parameters={
                                                         "rope_type": "default",
                                                         "rope_theta": 2000.0,
                                                         "partial_rotary_factor": 0.5},
                                                     seed=26)),
    # Mistral: sliding window 16 on every layer; num_key_value_heads absent -> 8
    "mistral_window": ("mistral", 48, dict(seed=11)),
    "mistral_kv_default": ("mistral", 42, dict(num_attention_heads=16, drop=(
        "num_key_value_heads", "head_dim"), seed=12)),
    # Qwen2: q/k/v biases; sliding_window present but use_sliding_window false -> full
    "qwen2_tied": ("qwen2", 47, dict(seed=13)),
    "qwen2_sliding": ("qwen2", 52, dict(use_sliding_window=True, max_window_layers=1,
                                        tie_word_embeddings=False, seed=14)),
    # an explicit layer_types list (transformers >= 4.53 writes it) decides which layers slide
    "qwen2_layer_types": ("qwen2", 44, dict(use_sliding_window=True, max_window_layers=3,
                                            layer_types=["sliding_attention", "full_attention",
                                                         "sliding_attention"], seed=27)),
    "gemma2_layer_types": ("gemma2", 45, dict(layer_types=[
        "full_attention", "sliding_attention", "sliding_attention", "full_attention"], seed=28)),
    # Gemma-2: D 72, hd 24, GQA, sandwich norms, soft-caps, window 16 on layers 0 and 2
    "gemma2": ("gemma2", 47, dict(seed=15)),
    "gemma2_bf16_nocap": ("gemma2", 41, dict(dtype="BF16", attn_logit_softcapping=None,
                                             final_logit_softcapping=None, seed=16)),
    # Gemma (v1): (1 + w) RMSNorms, sqrt(D) embedding scale, GeGLU, tied, head_dim 24
    "gemma_v1": ("gemma", 47, dict(seed=22)),
    # OLMo-2: q/k RMSNorm over the whole projection, post-norms only
    "olmo2": ("olmo2", 47, dict(seed=17)),
    "olmo2_f16_shards_tied": ("olmo2", 55, dict(dtype="F16", shards=2, tie_word_embeddings=True,
                                                num_key_value_heads=4, seed=18)),
    # StableLM: LayerNorm, hd 24 with partial_rotary_factor 0.25 -> 6 rotary dims
    "stablelm_seq_qkvbias": ("stablelm", 47, dict(use_qkv_bias=True, seed=19)),
    "stablelm_par_qknorm_gqa": ("stablelm", 51, dict(use_parallel_residual=True,
                                                     qk_layernorm=True, num_key_value_heads=2,
                                                     seed=20)),
    "stablelm_seq_qknorm_f16": ("stablelm", 46, dict(dtype="F16", qk_layernorm=True,
                                                     use_qkv_bias=True, seed=21)),
}


# Rarely used settings odscope may refuse instead (exit 1, one line naming the key): such a
# variant passes when refused that way and otherwise must match the reference.
REFUSABLE = {
    "opt_no_final_ln": ("opt", 40, dict(_remove_final_layer_norm=True, seed=23),
                        "_remove_final_layer_norm"),
    "opt_ln_no_affine": ("opt", 42, dict(layer_norm_elementwise_affine=False, seed=24),
                         "layer_norm_elementwise_affine"),
}


def _model(name, family, kw):
    d = common.tmpdir("ref_fam_" + name)
    mdir = os.path.join(d, "model")
    cfg = gen_families.make_family(mdir, family, **kw)
    return d, mdir, cfg


def _ids(cfg, T, seed):
    return np.random.default_rng(seed + 100).integers(0, cfg["vocab_size"], T).tolist()


def _compare(name, refusable_key=None):
    """Write variant `name`, run odscope forward and the reference, print and check errors.
    refusable_key: a refusal (exit 1, one stderr line naming that key) also passes."""
    common.need_odscope()
    family, T, kw = (VARIANTS[name] if refusable_key is None else REFUSABLE[name][:3])
    d, mdir, cfg = _model(name, family, kw)
    ids = _ids(cfg, T, kw.get("seed", 0))
    out = os.path.join(d, "out")
    args = ("forward", "--model", mdir, "--ids", ",".join(map(str, ids)), "--out", out)
    if refusable_key is not None:
        p = common.run(*args, check=False)
        if p.returncode != 0:
            msg = common.run_fail(*args, contains=refusable_key)
            print(f"   {name:<24} refused: {msg}")
            return
    else:
        common.run(*args)
    h = np.load(out + ".hidden.npy")
    z = np.load(out + ".logits.npy")
    hr, zr = ref_families.forward(mdir, ids)
    common.check_forward(name, f"{family:<8} {kw.get('dtype', 'F32'):<4} T={T:<3}", h, z, hr, zr,
                         REL_TOL)


def _variant_test(name):
    def test():
        _compare(name)
    test.__name__ = "test_" + name
    test.__doc__ = f"odscope forward of variant {name} against the reference"
    return test


def _refusable_test(name):
    def test():
        _compare(name, REFUSABLE[name][3])
    test.__name__ = "test_" + name
    test.__doc__ = f"variant {name}: refused naming {REFUSABLE[name][3]}, or the reference"
    return test


for _name in VARIANTS:
    globals()["test_" + _name] = _variant_test(_name)
for _name in REFUSABLE:
    globals()["test_" + _name] = _refusable_test(_name)


# --------------------------------------------------------------------------------------------
# refusals

def _refuse(name, family, key, **over):
    common.need_odscope()
    d = common.tmpdir("ref_fam_refuse_" + name)
    mdir = os.path.join(d, "model")
    gen_families.make_family(mdir, family, **over)
    msg = common.run_fail("forward", "--model", mdir, "--ids", "1,2,3", "--out",
                          os.path.join(d, "out"), contains=key)
    print(f"   {name:<14} {msg}")


def test_refuse_rope_yarn():
    _refuse("yarn", "llama", "rope_scaling",
            rope_scaling={"rope_type": "yarn", "factor": 4.0,
                          "original_max_position_embeddings": 32})


def test_refuse_rope_dynamic():
    _refuse("dynamic", "qwen2", "rope_scaling", rope_scaling={"type": "dynamic", "factor": 2.0})


def test_refuse_rope_longrope():
    _refuse("longrope", "mistral", "rope_scaling",
            rope_scaling={"rope_type": "longrope", "short_factor": [1.0] * 8,
                          "long_factor": [2.0] * 8})


def test_refuse_auto_map():
    _refuse("auto_map", "llama", "auto_map",
            auto_map={"AutoConfig": "configuration_x.XConfig",
                      "AutoModelForCausalLM": "modeling_x.XForCausalLM"})


# --------------------------------------------------------------------------------------------
# the reference itself (no odscope needed)

def _ref(family, T=40, seed=0, stats=None, ids=None, **kw):
    d = common.tmpdir(f"ref_fam_self_{family}")
    cfg = gen_families.make_family(os.path.join(d, "m"), family, seed=seed, **kw)
    cfg2, w = ref_families.load(os.path.join(d, "m"))
    ids = _ids(cfg, T, seed) if ids is None else ids
    return cfg2, w, ids


def test_reference_rope_scaling_identities():
    """llama3 with factor 1, or with thresholds beyond every wavelength, is the default RoPE;
    linear factor f is the default RoPE at positions p / f; the rotate-half code equals a
    complex-number rotation of the pairs (d, d + rot/2); the llama3 variant above exercises all
    three wavelength regimes, each matching a scalar float64 formula."""
    r = ref_families.resolve(gen_families.base_config("llama"))
    base = ref_families.inv_freq(r)
    for sc in (dict(LLAMA3, factor=1.0), dict(LLAMA3, original_max_position_embeddings=10 ** 7)):
        got = ref_families.inv_freq(dict(r, rope_scaling=sc))
        assert torch.equal(got, base), (sc, got, base)
    lin = ref_families.inv_freq(dict(r, rope_scaling={"type": "linear", "factor": 2.5}))
    x = torch.randn(3, 20, r["hd"], dtype=torch.float64)
    pos = torch.arange(20)
    a = ref_families.apply_rope(x, lin, r["rot"], pos)
    b = ref_families.apply_rope(x, base, r["rot"], pos.double() / 2.5)
    assert (a - b).abs().max() < 1e-5  # inv_freq / 2.5 is rounded to float32 as in HF
    for rot in (r["hd"], 6):
        inv = ref_families.inv_freq(dict(r, rot=rot))
        y = ref_families.apply_rope(x, inv, rot, pos)
        half = rot // 2
        c = torch.complex(x[..., :half], x[..., half:rot])
        c = c * torch.exp(1j * pos.double()[:, None] * inv[None, :])
        want = torch.cat([c.real, c.imag, x[..., rot:]], -1)
        assert (y - want).abs().max() < 1e-12, rot
    l3 = ref_families.inv_freq(dict(r, rope_scaling=LLAMA3)).numpy()
    regimes = set()
    for i, f0 in enumerate(base.numpy()):
        wl = 2 * math.pi / f0
        if wl < 64 / 4.0:
            want, regimes = f0, regimes | {"high"}
        elif wl > 64 / 1.0:
            want, regimes = f0 / 8.0, regimes | {"low"}
        else:
            s = (64 / wl - 1.0) / (4.0 - 1.0)
            want, regimes = (1 - s) * f0 / 8.0 + s * f0, regimes | {"mid"}
        assert abs(l3[i] - want) <= 1e-6 * want, (i, l3[i], want)
    assert regimes == {"high", "mid", "low"}, regimes


def test_reference_attention_loops():
    """The vectorized attention equals a loop formulation (GQA, windows, soft-cap)."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(4, 23, 8, generator=g, dtype=torch.float64)
    k = torch.randn(2, 23, 8, generator=g, dtype=torch.float64)
    v = torch.randn(2, 23, 8, generator=g, dtype=torch.float64)
    for window, cap in ((None, None), (5, None), (1, None), (None, 2.0), (7, 1.5)):
        a = ref_families.attention(q, k, v, 0.4, window, cap).numpy()
        b = ref_families.attention_loops(q, k, v, 0.4, window, cap)
        assert np.abs(a - b).max() < 1e-12, (window, cap)


def test_reference_causal():
    """Changing the tokens after position t changes no hidden state at positions <= t."""
    for fam in ref_families.FAMILIES:
        cfg, w, ids = _ref(fam, T=36, seed=1)
        h1, _ = ref_families.forward_tensors(cfg, w, ids)
        ids2 = ids[:20] + [(t + 7) % cfg["vocab_size"] for t in ids[20:]]
        h2, _ = ref_families.forward_tensors(cfg, w, ids2)
        assert np.abs(h1[:20] - h2[:20]).max() < 1e-12, fam
        assert np.abs(h1[20:] - h2[20:]).max() > 1e-3, fam


def test_reference_windows():
    """Sliding windows: W >= T is full attention; W < T leaves positions < W unchanged and
    changes the rest; which layers slide (Mistral all, Gemma-2 even, Qwen2 i >=
    max_window_layers and only with use_sliding_window)."""
    T, W = 40, 9

    def h(cfg, w, ids, **over):
        return ref_families.forward_tensors(dict(cfg, **over), w, ids)[0]

    for fam in ("mistral", "gemma2", "qwen2"):
        cfg, w, ids = _ref(fam, T=T, seed=2, use_sliding_window=True)
        full = h(cfg, w, ids, sliding_window=None) if fam != "qwen2" else \
            h(cfg, w, ids, use_sliding_window=False)
        assert np.abs(h(cfg, w, ids, sliding_window=T) - full).max() < 1e-12, fam
        hw = h(cfg, w, ids, sliding_window=W)
        assert np.abs(hw[:W] - full[:W]).max() < 1e-12, fam
        assert np.abs(hw[W:] - full[W:]).max() > 1e-3, fam
    cfg, w, ids = _ref("gemma2", T=T, seed=2)
    L = ref_families.resolve(cfg)["L"]
    types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(L)]
    assert ref_families.resolve(cfg)["windows"] == [16 if i % 2 == 0 else None for i in range(L)]
    assert np.abs(h(cfg, w, ids) - h(cfg, w, ids, layer_types=types)).max() == 0
    cfg, w, ids = _ref("qwen2", T=T, seed=2)
    r = ref_families.resolve(dict(cfg, use_sliding_window=True, max_window_layers=1))
    assert r["windows"] == [None, 16, 16], r["windows"]
    assert ref_families.resolve(cfg)["windows"] == [None] * 3  # use_sliding_window false
    assert np.abs(h(cfg, w, ids, use_sliding_window=True, max_window_layers=3)
                  - h(cfg, w, ids)).max() == 0
    assert ref_families.resolve(dict(cfg, model_type="mistral"))["windows"] == [16] * 3
    c = dict(cfg, model_type="mistral")
    c.pop("sliding_window")
    assert ref_families.resolve(c)["windows"] == [4096] * 3


def test_reference_attention_not_degenerate():
    """In every variant's model the attention is neither one-hot nor uniform: per layer, the
    mean largest probability lies in (0.1, 0.9) and the mean entropy in (0.2, 0.95) of
    log(#visible keys)."""
    for name, (family, T, kw) in [(n, v[:3]) for n, v in {**VARIANTS, **REFUSABLE}.items()]:
        kw = {k: v for k, v in kw.items() if k not in ("dtype", "shards")}
        cfg, w, ids = _ref(family, T=T, **kw)
        st = {}
        ref_families.forward_tensors(cfg, w, ids, st)
        for mp, ent in zip(st["max_p"], st["entropy"]):
            assert 0.1 < mp < 0.9 and 0.2 < ent < 0.95, (name, st)


def test_reference_defaults():
    """resolve() applies the HF defaults of omitted keys."""
    def res(fam, *drop, **over):
        c = gen_families.base_config(fam)
        for k in drop:
            c.pop(k)
        c.update(over)
        return ref_families.resolve(c)

    r = res("llama", "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta",
            "tie_word_embeddings")
    assert (r["KV"], r["hd"], r["eps"], r["theta"], r["tied"]) == (4, 16, 1e-6, 10000.0, False)
    assert res("mistral", "num_key_value_heads", num_attention_heads=16)["KV"] == 8
    assert res("mistral", num_key_value_heads=None)["KV"] == 4
    assert res("qwen2", "num_key_value_heads", num_attention_heads=32)["KV"] == 32
    assert res("stablelm", "num_key_value_heads", num_attention_heads=32)["KV"] == 32
    r = res("gemma2", "head_dim", "num_key_value_heads", "query_pre_attn_scalar",
            "attn_logit_softcapping", "final_logit_softcapping", "sliding_window")
    assert (r["hd"], r["KV"], r["scale"], r["attn_softcap"], r["final_softcap"]) == \
        (256, 4, 256 ** -0.5, 50.0, 30.0)
    assert r["windows"][:4] == [4096, None, 4096, None] and r["tied"]
    assert res("olmo2", "rms_norm_eps")["eps"] == 1e-5
    r = res("gpt_neox", "rotary_pct", "rotary_emb_base", "attention_bias",
            "use_parallel_residual", "tie_word_embeddings")
    assert (r["rot"], r["theta"], r["attn_bias"], r["parallel"], r["tied"]) == \
        (6, 10000.0, True, True, False)
    r = res("opt", "word_embed_proj_dim", "enable_bias", "do_layer_norm_before")
    assert (r["E"], r["bias"], r["pre"], r["final_norm"], r["tied"]) == (64, True, True, True, True)
    assert not res("opt", do_layer_norm_before=False)["final_norm"]
    assert not res("opt", _remove_final_layer_norm=True)["final_norm"]
    r = res("stablelm", "partial_rotary_factor", "layer_norm_eps")
    assert (r["rot"], r["eps"], r["qk_layernorm"], r["parallel"]) == (6, 1e-5, False, False)
