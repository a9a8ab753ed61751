#!/usr/bin/python3
"""Tiny random-weight Hugging Face model directories of the decoder families odscope runs
besides GPT-2: GPT-NeoX (Pythia), OPT, Llama, Mistral, Qwen2, Gemma, Gemma-2, OLMo-2, StableLM.

Each directory holds config.json (the keys a transformers checkpoint of that family carries,
sorted, indent 2, as `save_pretrained` writes them) and model.safetensors, or N shards plus
model.safetensors.index.json, written by gen_model's numpy safetensors writer with the exact HF
tensor names and shapes ("<base>.layers.{i}...", base "model." / "gpt_neox." / "model.decoder."
as the *ForCausalLM classes name them). Tied models (tie_word_embeddings true) carry no
lm_head.weight, as `save_pretrained` drops tied weights. No tokenizer is written (the forward
tests pass token ids).

    make_family(out, family, dtype="F32", shards=1, seed=0, bare=False, legacy_buffers=False,
                drop=(), **overrides) -> config dict

overrides replace config keys (a value None is written as JSON null); drop removes keys from
config.json so that the family's HF default applies. bare=True stores the names of the bare
base model (no "model." / "gpt_neox." prefix, as checkpoints saved from OPTModel & co. have
them); legacy_buffers=True adds the per-layer buffers old GPT-NeoX (Pythia) checkpoints carry
(attention.bias [1,1,P,P] BOOL, attention.masked_bias [], attention.rotary_emb.inv_freq).
Sizes: hidden 64 (NeoX and StableLM 96 with head_dim 24, Gemma 72 with head_dim 24), 3 layers
(Gemma-2 4), 4 heads (2 key/value heads where the family has GQA), vocabulary 211, 128
positions.

Weights (float32 from numpy's default_rng(seed), then rounded to the stored dtype: F16 by
numpy, BF16 by gen_model's round-to-nearest-even): embeddings and an untied unembedding
N(0, 0.25^2) (Gemma-2 0.5^2: its scaled embedding feeds soft-capped logits; OPT 0.6^2: its
post-LN variant feeds the raw embedding into the first attention), learned OPT positions
N(0, 0.3^2); query and key projections (and NeoX's fused query_key_value)
N(0, 1.6^2/in), so that behind a norm q.k/sqrt(hd) has a spread of about 2.5: the softmax is
neither one-hot nor uniform (mean largest probability about 0.5, entropy about 0.5 of uniform,
see ref_families' stats); value, MLP up/gate, fc1, project_in N(0, 1/in); attention output and
MLP down projections N(0, 0.25/in); norm weights 1 + N(0, 0.1^2) (Gemma's (1 + w) form:
w ~ N(0, 0.1^2)), OLMo-2 q/k norms and StableLM per-head q/k LayerNorms 1.5 + N(0, 0.1^2);
every bias N(0, 0.05^2).

CLI:
  gen_families.py --family NAME --out DIR [--dtype F32|F16|BF16] [--shards N] [--seed S]
      [--bare] [--legacy-buffers] [--set KEY=JSON]... [--drop KEY]... [--verbose]
e.g. --set num_key_value_heads=1 --set 'rope_scaling={"rope_type":"linear","factor":2.0}'
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_model  # noqa: E402

FAMILIES = ("gpt_neox", "opt", "llama", "mistral", "qwen2", "gemma", "gemma2", "olmo2",
            "stablelm")
ARCH = {"gpt_neox": "GPTNeoXForCausalLM", "opt": "OPTForCausalLM", "llama": "LlamaForCausalLM",
        "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
        "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
        "olmo2": "Olmo2ForCausalLM", "stablelm": "StableLmForCausalLM"}
BASE = {"gpt_neox": "gpt_neox.", "opt": "model."}  # every other family: "model."
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


# --------------------------------------------------------------------------------------------
# configs

def base_config(family):
    """A tiny config of `family` with the keys its HF checkpoints carry (before overrides)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    common = {"architectures": [ARCH[family]], "model_type": family,
              "transformers_version": "4.46.0", "use_cache": True, "vocab_size": 211,
              "max_position_embeddings": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
              "initializer_range": 0.02}
    c = dict(common)
    if family == "gpt_neox":
        c.update(hidden_size=96, intermediate_size=192, hidden_act="gelu", rotary_pct=0.25,
                 rotary_emb_base=10000, rope_scaling=None, layer_norm_eps=1e-5,
                 use_parallel_residual=True, attention_bias=True, tie_word_embeddings=False,
                 attention_dropout=0.0, hidden_dropout=0.0, classifier_dropout=0.1,
                 bos_token_id=0, eos_token_id=0)
    elif family == "opt":
        c.update(hidden_size=64, ffn_dim=128, word_embed_proj_dim=64, do_layer_norm_before=True,
                 activation_function="relu", enable_bias=True,
                 layer_norm_elementwise_affine=True, _remove_final_layer_norm=False,
                 dropout=0.1, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0,
                 init_std=0.02, pad_token_id=1, bos_token_id=2, eos_token_id=2, prefix="</s>")
        del c["initializer_range"]
    elif family in ("llama", "mistral", "qwen2", "olmo2"):
        c.update(hidden_size=64, intermediate_size=128, hidden_act="silu",
                 num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0,
                 tie_word_embeddings=False, attention_dropout=0.0)
        if family == "llama":
            c.update(head_dim=16, attention_bias=False, mlp_bias=False, rope_scaling=None,
                     pretraining_tp=1, bos_token_id=1, eos_token_id=2)
        elif family == "mistral":
            c.update(head_dim=16, sliding_window=16, rms_norm_eps=1e-5, bos_token_id=1,
                     eos_token_id=2)
        elif family == "qwen2":
            c.update(tie_word_embeddings=True, use_sliding_window=False, sliding_window=16,
                     max_window_layers=2, rope_theta=1000000.0, bos_token_id=0,
                     eos_token_id=0)
        else:
            c.update(attention_bias=False, rope_scaling=None, rope_theta=500000.0,
                     pad_token_id=1, eos_token_id=0, bos_token_id=None)
    elif family in ("gemma", "gemma2"):
        c.update(hidden_size=72, intermediate_size=128, num_key_value_heads=2, head_dim=24,
                 hidden_act="gelu_pytorch_tanh", hidden_activation="gelu_pytorch_tanh",
                 rms_norm_eps=1e-6, rope_theta=10000.0, attention_bias=False,
                 attention_dropout=0.0, pad_token_id=0, eos_token_id=1, bos_token_id=2)
        if family == "gemma2":
            c.update(num_hidden_layers=4, query_pre_attn_scalar=32, attn_logit_softcapping=2.5,
                     final_logit_softcapping=4.0, sliding_window=16,
                     cache_implementation="hybrid")
    elif family == "stablelm":
        c.update(hidden_size=96, intermediate_size=160, hidden_act="silu", num_key_value_heads=4,
                 partial_rotary_factor=0.25, rope_theta=10000, rope_scaling=None,
                 layer_norm_eps=1e-5, use_qkv_bias=False, qk_layernorm=False,
                 use_parallel_residual=False, tie_word_embeddings=False, hidden_dropout=0.0,
                 attention_dropout=0.0, bos_token_id=0, eos_token_id=0)
    return c


# --------------------------------------------------------------------------------------------
# tensor names and shapes

def tensor_shapes(cfg):
    """Full HF tensor name -> shape of config `cfg` (defaults as in ref_families.resolve)."""
    import ref_families  # the effective sizes, with HF defaults for omitted keys
    r = ref_families.resolve(cfg)
    fam, D, V, L, F = r["family"], r["D"], r["V"], r["L"], r["F"]
    H, KV, hd = r["H"], r["KV"], r["hd"]
    s = {}
    if fam == "gpt_neox":
        b = "gpt_neox."
        s[b + "embed_in.weight"] = (V, D)
        for i in range(L):
            p = f"{b}layers.{i}."
            for n in ("input_layernorm", "post_attention_layernorm"):
                s[p + n + ".weight"] = (D,)
                s[p + n + ".bias"] = (D,)
            s[p + "attention.query_key_value.weight"] = (3 * D, D)
            s[p + "attention.dense.weight"] = (D, D)
            if r["attn_bias"]:
                s[p + "attention.query_key_value.bias"] = (3 * D,)
                s[p + "attention.dense.bias"] = (D,)
            s[p + "mlp.dense_h_to_4h.weight"] = (F, D)
            s[p + "mlp.dense_h_to_4h.bias"] = (F,)
            s[p + "mlp.dense_4h_to_h.weight"] = (D, F)
            s[p + "mlp.dense_4h_to_h.bias"] = (D,)
        s[b + "final_layer_norm.weight"] = (D,)
        s[b + "final_layer_norm.bias"] = (D,)
        if not r["tied"]:
            s["embed_out.weight"] = (V, D)
        return s
    if fam == "opt":
        b = "model.decoder."
        E = r["E"]
        s[b + "embed_tokens.weight"] = (V, E)
        s[b + "embed_positions.weight"] = (r["P"] + 2, D)
        if E != D:
            s[b + "project_in.weight"] = (D, E)
            s[b + "project_out.weight"] = (E, D)
        for i in range(L):
            p = f"{b}layers.{i}."
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                s[p + f"self_attn.{n}.weight"] = (D, D)
                if r["bias"]:
                    s[p + f"self_attn.{n}.bias"] = (D,)
            s[p + "fc1.weight"] = (F, D)
            s[p + "fc2.weight"] = (D, F)
            if r["bias"]:
                s[p + "fc1.bias"] = (F,)
                s[p + "fc2.bias"] = (D,)
            if r["ln_affine"]:
                for n in ("self_attn_layer_norm", "final_layer_norm"):
                    s[p + n + ".weight"] = (D,)
                    s[p + n + ".bias"] = (D,)
        if r["final_norm"] and r["ln_affine"]:
            s[b + "final_layer_norm.weight"] = (D,)
            s[b + "final_layer_norm.bias"] = (D,)
        if not r["tied"]:
            s["lm_head.weight"] = (V, E)
        return s
    b = "model."
    s[b + "embed_tokens.weight"] = (V, D)
    for i in range(L):
        p = f"{b}layers.{i}."
        for n, o, k in (("q_proj", H * hd, D), ("k_proj", KV * hd, D), ("v_proj", KV * hd, D),
                        ("o_proj", D, H * hd)):
            s[p + f"self_attn.{n}.weight"] = (o, k)
            if (n in r["attn_bias_on"]):
                s[p + f"self_attn.{n}.bias"] = (o,)
        for n, o, k in (("gate_proj", F, D), ("up_proj", F, D), ("down_proj", D, F)):
            s[p + f"mlp.{n}.weight"] = (o, k)
            if r["mlp_bias"]:
                s[p + f"mlp.{n}.bias"] = (o,)
        if fam == "olmo2":
            norms = ["post_attention_layernorm", "post_feedforward_layernorm"]
            s[p + "self_attn.q_norm.weight"] = (H * hd,)
            s[p + "self_attn.k_norm.weight"] = (KV * hd,)
        elif fam == "gemma2":
            norms = ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                     "post_feedforward_layernorm"]
        elif fam == "stablelm" and r["parallel"]:
            norms = ["input_layernorm"]
        else:
            norms = ["input_layernorm", "post_attention_layernorm"]
        for n in norms:
            s[p + n + ".weight"] = (D,)
            if fam == "stablelm":
                s[p + n + ".bias"] = (D,)
        if fam == "stablelm" and r["qk_layernorm"]:
            for h in range(H):
                s[p + f"self_attn.q_layernorm.norms.{h}.weight"] = (hd,)
            for h in range(KV):
                s[p + f"self_attn.k_layernorm.norms.{h}.weight"] = (hd,)
    s[b + "norm.weight"] = (D,)
    if fam == "stablelm":
        s[b + "norm.bias"] = (D,)
    if not r["tied"]:
        s["lm_head.weight"] = (V, D)
    return s


def random_weights(cfg, seed=0):
    """Full HF name -> float32 array (see the module doc for the distributions)."""
    import ref_families
    r = ref_families.resolve(cfg)
    rng = np.random.default_rng(seed)
    gemma_norm = r["family"] in ("gemma", "gemma2")
    emb_std = {"gemma2": 0.5, "opt": 0.6}.get(r["family"], 0.25)
    w = {}
    for name, shape in tensor_shapes(cfg).items():
        leaf = name.rsplit(".", 1)[-1]
        mod = name[:-len(leaf) - 1]

        def n(std):
            return (rng.standard_normal(shape) * std).astype(np.float32)

        if leaf == "bias":
            x = n(0.05)
        elif mod.endswith(("q_norm", "k_norm")) or "_layernorm.norms." in mod:
            x = 1.5 + n(0.1)  # q/k norms: scores of O(1.5^2)
        elif len(shape) == 1:  # norm weights
            x = n(0.1) if gemma_norm else 1.0 + n(0.1)
        elif mod.endswith("embed_positions"):
            x = n(0.3)
        elif mod.endswith(("embed_in", "embed_tokens", "embed_out", "lm_head")):
            x = n(emb_std)
        elif mod.endswith(("dense", "o_proj", "out_proj", "down_proj", "dense_4h_to_h", "fc2",
                           "project_out")):
            x = n(0.5 / math.sqrt(shape[1]))
        elif mod.endswith(("q_proj", "k_proj", "query_key_value")):
            x = n(1.6 / math.sqrt(shape[1]))
        else:  # v, up/gate, fc1, project_in
            x = n(1.0 / math.sqrt(shape[1]))
        w[name] = x.astype(np.float32)
    return w


def legacy_neox_buffers(cfg):
    """The buffers pre-4.3x GPT-NeoX checkpoints (Pythia) store per layer."""
    import ref_families
    r = ref_families.resolve(cfg)
    P, rot = r["P"], r["rot"]
    inv = 1.0 / (r["theta"] ** (np.arange(0, rot, 2, dtype=np.float32) / rot))
    out = {}
    for i in range(r["L"]):
        p = f"gpt_neox.layers.{i}.attention."
        out[p + "bias"] = np.tril(np.ones((P, P), dtype=np.bool_)).reshape(1, 1, P, P)
        out[p + "masked_bias"] = np.array(-1e4, dtype=np.float32)
        out[p + "rotary_emb.inv_freq"] = inv.astype(np.float32)
    return out


def _unprefix(name, family):
    base = BASE.get(family, "model.")
    return name[len(base):] if name.startswith(base) else name


# --------------------------------------------------------------------------------------------
# the model directory

def make_family(out, family, dtype="F32", shards=1, seed=0, bare=False, legacy_buffers=False,
                drop=(), **overrides):
    """Write a random-weight model directory of `family` into `out` (created; model files in it
    are replaced) and return its config dict (as written)."""
    if dtype not in TORCH_DTYPE:
        raise ValueError(f"dtype {dtype!r}: want F32, F16 or BF16")
    cfg = base_config(family)
    cfg["torch_dtype"] = TORCH_DTYPE[dtype]
    cfg.update(overrides)
    for k in drop:
        cfg.pop(k, None)
    w = random_weights(cfg, seed)
    if legacy_buffers:
        if family != "gpt_neox":
            raise ValueError("legacy_buffers: GPT-NeoX only")
        w.update(legacy_neox_buffers(cfg))
    if bare:
        w = {(k if k.startswith(("lm_head.", "embed_out.")) else _unprefix(k, family)): v
             for k, v in w.items()}
    os.makedirs(out, exist_ok=True)
    for fn in os.listdir(out):
        if fn.startswith("model") and fn.endswith((".safetensors", ".json")):
            os.remove(os.path.join(out, fn))
    gen_model.write_weights(out, w, dtype, shards)
    gen_model.write_json(os.path.join(out, "config.json"), cfg)
    return cfg


def stored_float32(model_dir):
    """The tensors of a written model as float32 (what the file holds after rounding)."""
    import ref_gpt2
    return {k: np.asarray(v, dtype=np.float32) for k, v in ref_gpt2.load_tensors(model_dir).items()}


def _kv(s):
    k, sep, v = s.partition("=")
    if not sep or not k:
        raise argparse.ArgumentTypeError(f"--set wants KEY=JSON, got {s!r}")
    try:
        return k, json.loads(v)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"--set {k}: value is not JSON: {e}")


def main(argv=None):
    ap = argparse.ArgumentParser(description="write a tiny random-weight HF model of a family")
    ap.add_argument("--family", required=True, choices=FAMILIES)
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--dtype", choices=list(TORCH_DTYPE), default="F32")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bare", action="store_true",
                    help="names of the bare base model (no model./gpt_neox. prefix)")
    ap.add_argument("--legacy-buffers", action="store_true",
                    help="GPT-NeoX: add attention.bias/masked_bias/rotary_emb.inv_freq buffers")
    ap.add_argument("--set", dest="sets", type=_kv, action="append", default=[],
                    metavar="KEY=JSON", help="set a config key (JSON value; null writes null)")
    ap.add_argument("--drop", action="append", default=[], metavar="KEY",
                    help="remove a config key (the HF default applies)")
    ap.add_argument("--verbose", action="store_true", help="print the config")
    a = ap.parse_args(argv)
    try:
        cfg = make_family(a.out, a.family, a.dtype, a.shards, a.seed, a.bare, a.legacy_buffers,
                          a.drop, **dict(a.sets))
    except (ValueError, KeyError, OSError) as e:
        print(f"gen_families: {e}", file=sys.stderr)
        return 1
    if a.verbose:
        print(json.dumps(cfg, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
