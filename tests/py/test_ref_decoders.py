"""Every family against the float64 PyTorch reference (tests/py/ref_decoders.py): tiny
random-weight HF model directories, `odscope forward --ids`, max-abs and relative error
(||a - b|| / ||b||) of the final hidden states and logits printed per variant, relative error
< 1e-5 required. Plus the refusals of configurations odscope does not implement."""
import os

import numpy as np

import common
import ref_decoders

REL_TOL = 1e-5
T = 47  # longer than every sliding window below

LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 64}

# (name, family, dtype, shards, config overrides)
VARIANTS = [
    ("neox_parallel", "gpt_neox", "F32", 1, {}),
    ("neox_sequential", "gpt_neox", "F32", 1, dict(use_parallel_residual=False, rotary_pct=1.0)),
    ("neox_f16_sharded", "gpt_neox", "F16", 3, dict(rotary_pct=0.5, attention_bias=False)),
    ("opt_preln", "opt", "F32", 1, {}),
    ("opt_postln_proj", "opt", "F32", 1, dict(do_layer_norm_before=False, word_embed_proj_dim=32)),
    ("opt_untied_nobias", "opt", "BF16", 2, dict(tie_word_embeddings=False, enable_bias=False)),
    ("llama_gqa_hd", "llama", "F32", 1, dict(head_dim=24)),
    ("llama3_rope", "llama", "F32", 1, dict(rope_scaling=LLAMA3, attention_bias=True,
                                            mlp_bias=True)),
    ("llama_linear_tied", "llama", "F32", 1, dict(rope_scaling={"type": "linear", "factor": 2.0},
                                                  tie_word_embeddings=True)),
    ("llama_bf16_sharded", "llama", "BF16", 2, dict(rope_scaling=LLAMA3)),
    ("llama_f16", "llama", "F16", 1, dict(num_key_value_heads=1)),
    ("mistral_window", "mistral", "F32", 1, {}),
    ("qwen2_tied", "qwen2", "F32", 1, {}),
    ("qwen2_sliding", "qwen2", "F32", 1, dict(use_sliding_window=True, max_window_layers=1)),
    ("gemma2", "gemma2", "F32", 1, {}),
    ("gemma2_bf16_nocap", "gemma2", "BF16", 1, dict(attn_logit_softcapping=None,
                                                    final_logit_softcapping=None)),
    ("olmo2", "olmo2", "F32", 1, {}),
    ("olmo2_untied_f16", "olmo2", "F16", 2, dict(num_key_value_heads=4)),
    ("stablelm_seq", "stablelm", "F32", 1, {}),
    ("stablelm_qkbias_par", "stablelm", "F32", 1, dict(use_qkv_bias=True, qk_layernorm=True,
                                                       use_parallel_residual=True,
                                                       num_key_value_heads=2)),
]


def _check(name, family, dtype, shards, over, seed=0):
    d = common.tmpdir("ref_dec_" + name)
    mdir = os.path.join(d, "model")
    c, w = ref_decoders.make(mdir, family, dtype, shards, seed, **over)
    ids = np.random.default_rng(seed + 1).integers(0, c["vocab_size"], T).tolist()
    out = os.path.join(d, "out")
    common.run("forward", "--model", mdir, "--ids", ",".join(map(str, ids)), "--out", out)
    h, z = np.load(out + ".hidden.npy"), np.load(out + ".logits.npy")
    hr, zr = ref_decoders.forward(c, w, ids)
    common.check_forward(name, f"{family:<9} {dtype:<4} shards={shards} T={T}", h, z, hr, zr,
                         REL_TOL)


def _family_test(fam):
    def test():
        common.need_odscope()
        failed = []
        for v in VARIANTS:
            if v[1] == fam:
                try:
                    _check(*v)
                except AssertionError as e:
                    failed.append(str(e))
        assert not failed, "; ".join(failed)
    test.__name__ = f"test_{fam}"
    return test


for _fam in ref_decoders.FAMILIES:
    globals()[f"test_{_fam}"] = _family_test(_fam)


def test_reference_window_and_causality():
    """The reference itself: a window >= T equals full attention; later tokens never change
    earlier positions."""
    d = common.tmpdir("ref_dec_self")
    c, w = ref_decoders.make(os.path.join(d, "m"), "mistral", sliding_window=1000)
    ids = list(range(5, 5 + 20))
    h1, _ = ref_decoders.forward(c, w, ids)
    c2 = dict(c, sliding_window=None)
    h2, _ = ref_decoders.forward(c2, w, ids)
    assert np.abs(h1 - h2).max() < 1e-12
    h3, _ = ref_decoders.forward(c, w, ids[:12] + [1] * 8)
    assert np.abs(h1[:12] - h3[:12]).max() < 1e-12
    c3 = dict(c, sliding_window=3)
    h4, _ = ref_decoders.forward(c3, w, ids)
    assert np.abs(h4[:3] - h1[:3]).max() < 1e-12 and np.abs(h4[10:] - h1[10:]).max() > 1e-6


def test_refused_configs():
    """Unsupported configurations exit 1 with one line naming the config key."""
    common.need_odscope()
    d = common.tmpdir("ref_dec_refuse")
    cases = [
        ("yarn", "llama", dict(rope_scaling={"rope_type": "yarn", "factor": 4.0}), "rope_scaling"),
        ("dynamic", "llama", dict(rope_scaling={"type": "dynamic", "factor": 2.0}), "rope_scaling"),
        ("remote", "llama", dict(auto_map={"AutoModelForCausalLM": "x.Y"}), "auto_map"),
        ("quant", "mistral", dict(quantization_config={"quant_method": "gptq"}),
         "quantization_config"),
        ("gqa_neox", "gpt_neox", dict(num_key_value_heads=2), "num_key_value_heads"),
        ("heads", "llama", dict(num_key_value_heads=3), "num_key_value_heads"),
        ("layer_types", "gemma2", dict(layer_types=["sliding_attention"]), "layer_types"),
    ]
    for name, fam, over, key in cases:
        mdir = os.path.join(d, name)
        ref_decoders.make(mdir, fam, **over)
        msg = common.run_fail("forward", "--model", mdir, "--ids", "1,2,3", "--out",
                              os.path.join(d, "out"), contains=[key, "config.json"])
        print(f"   {name:<12} {msg}")
