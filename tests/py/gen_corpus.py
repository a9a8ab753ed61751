#!/usr/bin/python3
"""Synthetic corpora and byte-level BPE tokenizers for odscope's tests and demo.

(a) A Zipf-distributed word corpus: a fixed vocabulary of pseudo-words (letters only, drawn from
    syllables with a seeded generator; frequent words tend to be short), one document per line,
    5-40 words per line, a capitalised first word, commas now and then, a final '.', '?' or '!'.
(b) A byte-level BPE tokenizer trained on a corpus (true BPE: repeatedly merge the most frequent
    adjacent pair inside pre-tokenized words) and written as a Hugging Face tokenizer.json in the
    GPT-2 layout: ids 0-255 are the 256 byte tokens in GPT-2's bytes_to_unicode order, then one id
    per merge in merge order, then "<|endoftext|>" (also listed in added_tokens) as the last id.
(c) encode(): a small Python encoder for such tokenizers (GPT-2 regex approximated with `re`), to
    cross-check odscope's tokenizer on ASCII text.

CLI:
  gen_corpus.py corpus    --out FILE [--lines N] [--seed S] [--words W] [--zipf A]
                          [--min-words 5] [--max-words 40]
  gen_corpus.py tokenizer --corpus FILE --out tokenizer.json [--vocab-size 1024]
                          [--counts FILE] [--merges-format string|pairs]
  gen_corpus.py encode    --tokenizer tokenizer.json (--text S | --file F)
Nothing is printed except by `encode` (ids, space-separated, one line per input line).
"""
import argparse
import heapq
import json
import os
import re
import sys

import numpy as np

EOT = "<|endoftext|>"

# --------------------------------------------------------------------------------------------
# (a) Zipf corpus

_ONSETS = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v",
           "w", "z", "br", "ch", "cl", "dr", "fl", "gr", "pl", "qu", "sh", "st", "th", "tr", "wh"]
_VOWELS = ["a", "e", "i", "o", "u", "y", "ai", "ea", "ee", "oo", "ou", "ie"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "ng", "st", "ck", "nd", "rk", "x"]


def make_words(n_words=2000, seed=0):
    """n_words distinct lowercase pseudo-words; index = frequency rank (short words first)."""
    rng = np.random.default_rng(seed)
    words, seen = [], set()
    while len(words) < n_words:
        # frequent (early) words get fewer syllables, like natural language
        frac = len(words) / n_words
        max_syl = 1 + int(frac * 3.999)
        n_syl = int(rng.integers(1, max_syl + 1))
        w = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
                    + _CODAS[rng.integers(len(_CODAS))] for _ in range(n_syl))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def zipf_lines(n_lines=2000, seed=0, n_words=2000, zipf=1.07, min_words=5, max_words=40,
               vocab_seed=1234):
    """n_lines documents (strings without newline). The word list depends only on n_words and
    vocab_seed, so corpora with different seeds share one vocabulary."""
    words = make_words(n_words, vocab_seed)
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_words + 1, dtype=np.float64)
    p = 1.0 / (ranks + 2.7) ** zipf
    p /= p.sum()
    lines = []
    for _ in range(n_lines):
        n = int(rng.integers(min_words, max_words + 1))
        idx = rng.choice(n_words, size=n, p=p)
        toks = []
        cap = True
        for j, i in enumerate(idx):
            w = words[i]
            if cap:
                w = w.capitalize()
                cap = False
            if j < n - 1:
                r = rng.random()
                if r < 0.07:
                    w += ","
                elif r < 0.10:
                    w += "."
                    cap = True
            toks.append(w)
        r = rng.random()
        toks[-1] += "." if r < 0.8 else ("?" if r < 0.93 else "!")
        lines.append(" ".join(toks))
    return lines


def write_corpus(path, n_lines=2000, seed=0, **kw):
    """Write a Zipf corpus to path (one document per line, UTF-8, trailing newline)."""
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for ln in zipf_lines(n_lines, seed, **kw):
            f.write(ln + "\n")
    return path


# --------------------------------------------------------------------------------------------
# (b) byte-level BPE

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode map; returns (ordered byte list, dict)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
          + list(range(ord("\xae"), ord("\xff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, {b: chr(c) for b, c in zip(bs, cs)}


BYTE_ORDER, BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {c: b for b, c in BYTE_ENC.items()}

# GPT-2's pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# with \p{L} ~ [^\W\d_] and \p{N} ~ \d (exact on ASCII text).
GPT2_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+"
                        r"|\s+(?!\S)|\s+")


def pretokenize(text):
    """GPT-2 pre-tokens of text, each mapped to byte-level unicode (space -> 'Ġ')."""
    return ["".join(BYTE_ENC[b] for b in m.encode("utf-8")) for m in GPT2_SPLIT.findall(text)]


def train_bpe(lines, vocab_size=1024, min_count=2):
    """Greedy BPE on the pre-tokenized lines. Returns (vocab dict token->id, merges list of
    (a, b), counts dict id->count of the final segmentation of the training text).
    vocab_size counts everything, "<|endoftext|>" included; training stops early when no pair
    occurs min_count times. Ties between equally frequent pairs go to the smaller (a, b)."""
    if vocab_size < 257:
        raise ValueError("vocab_size must be >= 257 (256 bytes + <|endoftext|>)")
    wc = {}
    for ln in lines:
        for w in pretokenize(ln):
            wc[w] = wc.get(w, 0) + 1
    words = [list(w) for w in wc]
    freqs = list(wc.values())
    pair_count = {}
    pair_where = {}

    def add_pairs(i, sign):
        sym = words[i]
        for a, b in zip(sym, sym[1:]):
            p = (a, b)
            c = pair_count.get(p, 0) + sign * freqs[i]
            pair_count[p] = c
            if sign > 0:
                pair_where.setdefault(p, set()).add(i)
            heapq.heappush(heap, (-c, p))

    heap = []
    for i in range(len(words)):
        add_pairs(i, +1)
    vocab = {BYTE_ENC[b]: i for i, b in enumerate(BYTE_ORDER)}
    merges = []
    while len(vocab) < vocab_size - 1 and heap:
        negc, p = heapq.heappop(heap)
        if pair_count.get(p, 0) != -negc:
            continue  # stale heap entry
        if -negc < min_count:
            break
        a, b = p
        new = a + b
        merges.append(p)
        if new not in vocab:
            vocab[new] = len(vocab)
        for i in sorted(pair_where.pop(p, ())):
            sym = words[i]
            if not any(x == a and y == b for x, y in zip(sym, sym[1:])):
                continue
            add_pairs(i, -1)
            out, j = [], 0
            while j < len(sym):
                if j + 1 < len(sym) and sym[j] == a and sym[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(sym[j])
                    j += 1
            words[i] = out
            add_pairs(i, +1)
        pair_count.pop(p, None)
    vocab[EOT] = len(vocab)
    counts = {}
    for sym, f in zip(words, freqs):
        for s in sym:
            counts[vocab[s]] = counts.get(vocab[s], 0) + f
    return vocab, merges, counts


def tokenizer_json(vocab, merges, merges_format="string"):
    """The HF tokenizer.json dict (GPT-2 layout) for a byte-level BPE vocab and merge list."""
    if merges_format == "string":
        m = [f"{a} {b}" for a, b in merges]
    elif merges_format == "pairs":
        m = [[a, b] for a, b in merges]
    else:
        raise ValueError(f"merges_format {merges_format!r}")
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": vocab[EOT], "content": EOT, "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": True,
                          "special": True}],
        "normalizer": None,
        "pre_tokenizer": dict(bl),
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True,
                           "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": m},
    }


def build_tokenizer(out, lines=None, corpus=None, vocab_size=1024, counts_out=None,
                    merges_format="string"):
    """Train on `lines` (or the lines of file `corpus`) and write tokenizer.json to out.
    counts_out: optional path for "token_id<TAB>count" lines of the training segmentation.
    Returns (tokenizer dict, counts dict)."""
    if lines is None:
        with open(corpus, encoding="utf-8") as f:
            lines = f.read().splitlines()
    vocab, merges, counts = train_bpe(lines, vocab_size)
    tok = tokenizer_json(vocab, merges, merges_format)
    d = os.path.dirname(out)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=2)
        f.write("\n")
    if counts_out:
        write_counts(counts_out, counts)
    return tok, counts


def write_counts(path, counts):
    with open(path, "w") as f:
        for i in sorted(counts):
            f.write(f"{i}\t{counts[i]}\n")


def read_counts(path):
    counts = {}
    with open(path) as f:
        for ln in f:
            if ln.strip():
                a, b = ln.split()
                counts[int(a)] = int(b)
    return counts


def tokenizer_size(tok):
    """Number of ids of a tokenizer.json dict (max id of vocab and added tokens, plus one)."""
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]
    return max(ids) + 1


def _merge_pairs(tok):
    out = []
    for m in tok["model"]["merges"]:
        if isinstance(m, str):
            a, b = m.split(" ")
            out.append((a, b))
        else:
            out.append((m[0], m[1]))
    return out


def check_merges(tok):
    """Raise AssertionError unless every merge's parts and concatenation are in the vocab and
    every non-byte token is produced by some merge."""
    vocab = tok["model"]["vocab"]
    produced = set()
    for a, b in _merge_pairs(tok):
        assert a in vocab and b in vocab, f"merge {a!r} {b!r}: part missing from vocab"
        assert a + b in vocab, f"merge {a!r} {b!r}: {a + b!r} missing from vocab"
        produced.add(a + b)
    specials = {t["content"] for t in tok.get("added_tokens", [])}
    for t in vocab:
        assert len(t) == 1 or t in produced or t in specials, f"token {t!r} unreachable"
    assert len(set(vocab.values())) == len(vocab), "duplicate ids"


class Encoder:
    """Byte-level BPE encoder for a tokenizer.json dict (no special-token handling)."""

    def __init__(self, tok):
        self.vocab = tok["model"]["vocab"]
        self.ranks = {p: i for i, p in reversed(list(enumerate(_merge_pairs(tok))))}
        self.inv = {i: t for t, i in self.vocab.items()}
        self.cache = {}

    def _word(self, w):
        if w in self.cache:
            return self.cache[w]
        sym = list(w)
        while len(sym) > 1:
            best = min(((self.ranks.get(p, 1 << 60), p) for p in zip(sym, sym[1:])))
            if best[0] == 1 << 60:
                break
            a, b = best[1]
            out, j = [], 0
            while j < len(sym):
                if j + 1 < len(sym) and sym[j] == a and sym[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(sym[j])
                    j += 1
            sym = out
        ids = [self.vocab[s] for s in sym]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        ids = []
        for w in pretokenize(text):
            ids.extend(self._word(w))
        return ids

    def decode(self, ids):
        return bytes(BYTE_DEC[c] for i in ids for c in self.inv[i]).decode("utf-8", "replace")


def encode(tokenizer, text):
    """Ids of text; tokenizer is a path or a tokenizer.json dict."""
    if isinstance(tokenizer, str):
        with open(tokenizer, encoding="utf-8") as f:
            tokenizer = json.load(f)
    return Encoder(tokenizer).encode(text)


# --------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus", help="write a Zipf word corpus")
    c.add_argument("--out", default="corpora/zipf.txt")
    c.add_argument("--lines", type=int, default=2000)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--words", type=int, default=2000, help="vocabulary of pseudo-words")
    c.add_argument("--zipf", type=float, default=1.07, help="Zipf exponent")
    c.add_argument("--min-words", type=int, default=5)
    c.add_argument("--max-words", type=int, default=40)
    t = sub.add_parser("tokenizer", help="train a byte-level BPE tokenizer.json")
    t.add_argument("--corpus", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--vocab-size", type=int, default=1024)
    t.add_argument("--counts", help="also write token_id<TAB>count of the training text")
    t.add_argument("--merges-format", choices=["string", "pairs"], default="string")
    e = sub.add_parser("encode", help="print the ids of a text")
    e.add_argument("--tokenizer", required=True)
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--text")
    g.add_argument("--file")
    a = ap.parse_args(argv)
    if a.cmd == "corpus":
        write_corpus(a.out, a.lines, a.seed, n_words=a.words, zipf=a.zipf,
                     min_words=a.min_words, max_words=a.max_words)
    elif a.cmd == "tokenizer":
        build_tokenizer(a.out, corpus=a.corpus, vocab_size=a.vocab_size, counts_out=a.counts,
                        merges_format=a.merges_format)
    else:
        with open(a.tokenizer, encoding="utf-8") as f:
            enc = Encoder(json.load(f))
        if a.text is not None:
            texts = [a.text]
        else:
            with open(a.file, encoding="utf-8") as f:
                texts = f.read().splitlines()
        for tx in texts:
            print(" ".join(map(str, enc.encode(tx))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
