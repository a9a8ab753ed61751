"""odscope's SentencePiece-style BPE tokenizers against Hugging Face tokenizers:
the llama-2 fixture (Prepend + Replace normalizer, byte fallback), and small
tokenizer.json files trained here in the layouts of Mistral (Metaspace
pre-tokenizer, prepend_scheme "first") and Gemma (Replace normalizer only,
merges that join across the metaspace), plus variants of them.

References as in test_tok_npm.py: @huggingface/tokenizers (JavaScript, the
project's reference) and @anush008/tokenizers (HF's Rust tokenizers 0.22, what
Python's `tokenizers` runs). The JavaScript port ignores Metaspace `split`,
counts prepend_scheme "first" per raw section (not per original offset), trims
lstrip/rstrip with JavaScript's whitespace and knows only Isolated/Removed
splits, so those features are compared with the Rust reference only.
"""
import collections
import functools
import json
import os
import random
import re

import common
import test_tok_npm as npm

MS = "\u2581"  # the metaspace

# Texts for SentencePiece-style files, besides test_tok_npm.TEXTS.
SP_TEXTS = [
    # multilingual
    "Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u00e7a va? \u00bfQu\u00e9 tal? \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, "
    "\u0440\u0443\u0441\u0441\u043a\u0438\u0439, \u0627\u0644\u0639\u0631\u0628\u064a\u0629, \u05e2\u05d1\u05e8\u05d9\u05ea, "
    "\u0939\u093f\u0928\u094d\u0926\u0940",
    "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u, T\u00fcrk\u00e7e \u011f\u0131\u015f, polski \u0105\u0119\u0142\u017a\u017c, "
    "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8 \u0570\u0561\u0575\u0565\u0580\u0565\u0576",
    # CJK
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587\u6df7\u5408\uff0c\ud55c\uad6d\uc5b4\ub3c4 "
    "\uc788\uc5b4\uc694\u3002",
    "\u9f98\u9750\u7228 \u3400\u4dbf \U00020000\U0002a6d6 (rare CJK)",
    # emoji
    "\U0001F916\U0001F999 llamas \U0001F1EF\U0001F1F5 flags \U0001F469\U0001F3FD\u200d\U0001F4BB zwj",
    "\U0001FAE0\U0001FAE1\U0001FAE2 new emoji, \u2764\ufe0f\u200d\U0001F525 and \U0001F3F3\ufe0f\u200d\U0001F308",
    # whitespace runs, leading spaces, newlines and tabs
    "a       b        c",
    " leading",
    "    four leading spaces",
    "  \n  \n",
    "line1\nline2\n\n\tindented\ttab\r\nwindows\rold mac",
    " \t \n  \r\n ",
    "\u3000\u3000ideographic\u00a0nbsp\u2009thin",
    "trailing   ",
    # characters absent from the vocabularies: byte fallback
    "\U0001D518\U0001D52B\U0001D526 fraktur, \u16a0\u16a1\u16a2 runes, \U00010348 gothic",
    "\ue000\uf8ff private use, \U0010fffd last plane, \x00\x01\x1f controls",
    "\u0301 lone mark, a\u0301\u0302\u0303 stacked",
    # the metaspace and byte-token spellings in the input
    MS + "already" + MS + "spaced" + MS,
    MS + " " + MS + MS + "  x",
    "<0x0A> <0xFF> <0x>",
]

# Added tokens next to text, per tokenizer.
SPECIAL_TEXTS = {
    "llama-2": [
        "<s>[INST] hi [/INST]</s>",
        "x<s>y</s>z",
        "<s>a b</s>c d",
        "<s> <s>  </s>   <unk>",
        "</s>\n<s>\n",
        "<unk>z<unk>",
        "a<s>",
        "<s>",
        "< s><s/> <s",
    ],
    "mistral": [
        "<s>[INST] What is this? [/INST] A test.</s>",
        "[INST]x[/INST]y",
        "[INST]what is it[/INST]so it is",
        "  [INST]  spaced  [/INST]  ",
        "<s><s>ab</s>",
        "<unk>",
        "hi<s>",
    ],
    "gemma": [
        "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
        "x<start_of_turn>y",
        "<start_of_turn>a b<end_of_turn>c d",
        "<eos> <bos>  <pad>",
        "<unk>a<unk>",
    ],
}


def _vector_texts():
    """The texts of the llama.cpp tokenizer test vectors (gpt2/vectors.inp)."""
    with open(common.fixture("tokenizers", "gpt2", "vectors.inp"), encoding="utf-8") as f:
        data = f.read()
    return data.split("\n__ggml_vocab_test__\n")[:-1]


def _texts(name):
    return npm.TEXTS + SP_TEXTS + SPECIAL_TEXTS[name]


def _compare_both(name, d, texts, rust_texts=()):
    """ours against the JavaScript reference on texts, and against the Rust one
    (when installed) on texts + rust_texts; with and without add_special."""
    npm._need_reference()
    npm._need_driver()
    for special in (False, True):
        npm._check(name, texts, npm.ours(d, texts, special), npm.reference(d, texts, special), "npm")
    if os.path.isdir(npm.RUST_MODULE):
        every = texts + list(rust_texts)
        for special in (False, True):
            npm._check(name, every, npm.ours(d, every, special),
                       npm.reference_rust(d, every, special), "rust")


# ---- small SentencePiece-style BPE tokenizers, trained here ----

def _train(lines, n_merges, whole_lines):
    """A SentencePiece-like BPE on lines (spaces written as the metaspace, one
    before each line): the characters seen at least twice, then n_merges merges
    of the most frequent adjacent pair of known pieces (ties: the larger pair).
    Pairs are counted within words (a word starts at each metaspace after
    another character), or with whole_lines over whole lines, so that merges
    join across the metaspace. Returns (pieces, merges)."""
    seqs = collections.Counter()
    for line in lines:
        s = MS + line.replace(" ", MS)
        for unit in ([s] if whole_lines else re.split(f"(?<=[^{MS}])(?={MS})", s)):
            seqs[tuple(unit)] += 1
    chars = collections.Counter()
    for seq, k in seqs.items():
        for c in seq:
            chars[c] += k
    pieces = [MS] + sorted(c for c, k in chars.items() if k >= 2 and c != MS)
    known = set(pieces)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for seq, k in seqs.items():
            for a, b in zip(seq, seq[1:]):
                if a in known and b in known:
                    pairs[a, b] += k
        if not pairs:
            break
        (a, b), count = max(pairs.items(), key=lambda x: (x[1], x[0]))
        if count < 2:
            break
        merges.append((a, b))
        if a + b not in known:
            pieces.append(a + b)
            known.add(a + b)
        merged = collections.Counter()
        for seq, k in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            merged[tuple(out)] += k
        seqs = merged
    return pieces, merges


@functools.lru_cache(maxsize=None)
def _trained(whole_lines):
    """(pieces, merges) of _train on _corpus(), 400 merges (cached: Gemma's takes a second)."""
    pieces, merges = _train(_corpus(), 400, whole_lines)
    return tuple(pieces), tuple(merges)


def _corpus():
    rnd = random.Random(11)
    words = " ".join(npm.TEXTS[:20]).split()
    lines = [" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 12))) for _ in range(400)]
    return lines + npm.TEXTS


def _added(contents, first_id=0, special=True, **flags):
    return [dict({"id": first_id + i, "content": c, "single_word": False, "lstrip": False,
                  "rstrip": False, "normalized": not special, "special": special}, **flags)
            for i, c in enumerate(contents)]


def _template(bos, bos_id):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}


def _model(specials, pieces, merges, as_pairs, **flags):
    vocab = {s: i for i, s in enumerate(specials)}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    m = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
         "vocab": vocab,
         "merges": [[a, b] for a, b in merges] if as_pairs else [f"{a} {b}" for a, b in merges]}
    m.update(flags)
    return m


def mistral_style(**model_flags):
    """Mistral layout: no normalizer, Metaspace (prepend_scheme "first", split
    false), byte fallback, merges as [a, b] pairs, [INST] added tokens, BOS."""
    pieces, merges = _trained(False)
    model = _model(["<unk>", "<s>", "</s>"], pieces, merges, True, **model_flags)
    n = len(model["vocab"])
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": _added(["<unk>", "<s>", "</s>"]) + _added(["[INST]", "[/INST]"], n),
            "normalizer": None,
            "pre_tokenizer": {"type": "Metaspace", "replacement": MS, "prepend_scheme": "first",
                              "split": False},
            "post_processor": _template("<s>", 1),
            "decoder": {"type": "Metaspace", "replacement": MS, "prepend_scheme": "first", "split": False},
            "model": model}


def gemma_style(**model_flags):
    """Gemma layout: a Replace (" " -> metaspace) normalizer only, no
    pre-tokenizer, byte fallback, unk id 3, merges as "a b" strings that join
    across the metaspace, turn tokens, BOS."""
    pieces, merges = _trained(True)
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    model = _model(specials, pieces, merges, False, **model_flags)
    n = len(model["vocab"])
    assert any(MS in a + b and not (a + b).startswith(MS) for a, b in merges), "no merge across"
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": _added(specials) + _added(["<start_of_turn>", "<end_of_turn>"], n),
            "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": MS},
            "pre_tokenizer": None,
            "post_processor": _template("<bos>", 2),
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": MS}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}]},
            "model": model}


def _write(name, j):
    d = common.tmpdir(f"tok_sp_{name}")
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)
    return d


def _llama2_variant(name, edit):
    with open(common.fixture("tokenizers", "llama-2", "tokenizer.json"), encoding="utf-8") as f:
        j = json.load(f)
    edit(j)
    return _write(name, j)


# ---- tests ----

def test_llama2():
    """The llama-2 fixture: our texts, the llama.cpp test texts, added tokens."""
    d = npm._model_dir("llama-2")
    _compare_both("llama-2", d, _texts("llama-2") + _vector_texts(),
                  npm.EDGE_TEXTS + npm._random_texts(21, 400))


def test_mistral_style():
    d = _write("mistral", mistral_style())
    _compare_both("mistral", d, _texts("mistral"), npm.EDGE_TEXTS + npm._random_texts(22, 300))


def test_gemma_style():
    d = _write("gemma", gemma_style())
    _compare_both("gemma", d, _texts("gemma"), npm.EDGE_TEXTS + npm._random_texts(23, 300))


def _metaspace(scheme, split):
    def edit(j):
        j["normalizer"] = None
        j["pre_tokenizer"] = {"type": "Metaspace", "replacement": MS, "prepend_scheme": scheme,
                              "split": split}
    return edit


def _legacy_metaspace(j):
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": MS, "str_rep": MS, "add_prefix_space": True}


def _added_flags(j):
    """Added tokens with every flag, normalized ones matched through Prepend + Replace."""
    n = len(j["model"]["vocab"])
    j["added_tokens"] += (_added(["foo bar", "<N>"], n, special=False)
                          + _added(["<L>"], n + 2, lstrip=True) + _added(["<R>"], n + 3, rstrip=True)
                          + _added(["mask"], n + 4, special=False, single_word=True)
                          + _added(["<LRn>"], n + 5, special=False, lstrip=True, rstrip=True))


def _split(behavior, pattern):
    def edit(j):
        j["pre_tokenizer"] = {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": False}
    return edit


def test_rust_variants():
    """Metaspace schemes and split, the older add_prefix_space spelling, added
    tokens with every flag, Split behaviors, unk without byte fallback: on
    variants of the llama-2 fixture and of the small tokenizers (Rust reference)."""
    npm._need_rust_reference()
    npm._need_driver()
    rnd = random.Random(5)
    pool = [" ", "  ", "\t", "\n", "a", "b", "the", " the", "ing", "\u00e9", "\u4e2d", "\U0001F600",
            "\U0001D518", MS, "<s>", "</s>", "<unk>", "foo bar", "foo", " bar", "<N>", "<L>", "<R>",
            "mask", " mask ", "xmask", "<LRn>", "[INST]", "<start_of_turn>", "12", "-", "--", "!"]
    texts = ["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 20))) for _ in range(300)]
    texts += SP_TEXTS + SPECIAL_TEXTS["llama-2"] + _vector_texts()[:20]
    dirs = []
    for scheme in ("first", "always", "never"):
        for split in (False, True):
            dirs.append(_llama2_variant(f"ms_{scheme}_{split}", _metaspace(scheme, split)))
    dirs.append(_llama2_variant("ms_legacy", _legacy_metaspace))
    dirs.append(_llama2_variant("added", _added_flags))
    dirs.append(_llama2_variant("ms_added", lambda j: (_metaspace("first", False)(j), _added_flags(j))))
    for behavior in ("Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"):
        g = gemma_style()
        _split(behavior, {"String": MS})(g)
        dirs.append(_write(f"split_{behavior}", g))
        g = mistral_style()
        g["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}|-+"}, "behavior": behavior, "invert": False},
            g["pre_tokenizer"]]}
        dirs.append(_write(f"seq_{behavior}", g))
    dirs.append(_write("mistral_unk_fused", mistral_style(byte_fallback=False)))
    dirs.append(_write("mistral_unk", mistral_style(byte_fallback=False, fuse_unk=False)))
    dirs.append(_write("gemma_ignore_merges", gemma_style(ignore_merges=True)))
    for d in dirs:
        for special in (False, True):
            npm._check(os.path.basename(d), texts, npm.ours(d, texts, special),
                       npm.reference_rust(d, texts, special), "rust")


def test_cli_tokenize():
    """`odscope tokenize` on the llama-2 fixture, with and without --special."""
    npm._need_reference()
    if not os.path.exists(common.ODSCOPE):
        raise common.Skip("odscope not built")
    d = npm._model_dir("llama-2")
    texts = ["Hello world", SP_TEXTS[2], "<s>[INST] hi [/INST]", SP_TEXTS[14]]
    for special in (False, True):
        want = npm.reference(d, texts, special)
        for t, w in zip(texts, want):
            got = common.run("tokenize", "--model", d, "--text", t,
                             *(["--special"] if special else [])).stdout.split()
            assert [int(x) for x in got] == w, f"--text {t!r} special={special}: {got} != {w}"
