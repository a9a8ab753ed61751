"""odscope's tokenizer against Hugging Face tokenizers from the npm registry, on
texts of our own: prose, code, numbers, whitespace runs, contractions, emoji,
mixed scripts, NFC cases and special tokens.

References (`npm install --prefix tests/npm`; tests/npm/package.json pins them):
  @huggingface/tokenizers  HF's pure JavaScript port (the project's reference).
                           Its regexes are JavaScript's, whose \s differs from
                           Oniguruma's (U+0085 is not space, U+FEFF is), so the
                           texts compared with it avoid those characters.
  @anush008/tokenizers     optional: Node bindings of HF's Rust tokenizers
                           (0.22, Oniguruma regexes), i.e. what Python's
                           `tokenizers` does; compared on more texts, edge
                           characters and seeded random texts.
The bulk comparisons run the unit-test binary's driver mode
(`build/tests/test_tok encode MODEL TEXTS`, one process for all texts);
test_cli_tokenize checks `odscope tokenize` on a few texts too.
"""
import json
import os
import random
import shutil
import subprocess

import common

NPM_DIR = os.path.join(common.ROOT, "tests", "npm")
MODULE = os.path.join(NPM_DIR, "node_modules", "@huggingface", "tokenizers")
RUST_MODULE = os.path.join(NPM_DIR, "node_modules", "@anush008", "tokenizers")
DRIVER = os.path.join(common.ROOT, os.environ.get("BUILD", "build"), "tests", "test_tok")

NODE_SCRIPT = r"""
import { Tokenizer } from "@huggingface/tokenizers";
import fs from "fs";
const tok = new Tokenizer(JSON.parse(fs.readFileSync(process.argv[1], "utf8")), {});
const add = process.argv[2] === "special";
const texts = JSON.parse(fs.readFileSync(0, "utf8"));
console.log(JSON.stringify(texts.map(s => tok.encode(s, { add_special_tokens: add }).ids)));
"""

RUST_SCRIPT = r"""
const { Tokenizer } = require("@anush008/tokenizers");
const fs = require("fs");
const tok = Tokenizer.fromFile(process.argv[1]);
const add = process.argv[2] === "special";
const texts = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const out = [];
  for (const s of texts)
    out.push((await tok.encode(s, null, { addSpecialTokens: add })).getIds());
  console.log(JSON.stringify(out));
})();
"""

TEXTS = [
    # English prose
    "The quick brown fox jumps over the lazy dog.",
    "In 1905, Einstein published four papers that changed physics; the third introduced special relativity.",
    "Outlier dimensions appear in the last layer of most language models, and they matter.",
    "\"Well,\" she said, \"that's not what I meant -- is it?\"",
    "Mr. O'Neill's dog -- a 3-year-old -- didn't bark at the U.S.A. delegation.",
    # contractions, case
    "I'm sure you're right, we've seen it, they'll come, he'd go, it's fine, don't.",
    "I'M SURE YOU'RE RIGHT, WE'VE SEEN IT, THEY'LL COME, HE'D GO, IT'S FINE.",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Ve 'M 'Ll 'D",
    "rock'n'roll y'all ma'am o'clock '''quoted''' ''",
    # numbers
    "0 1 12 123 1234 12345 123456 1234567 12345678901234567890",
    "pi = 3.14159265358979, e = 2.71828; -42, +7, 1e-10, 0x1F, 1,000,000.00",
    "2024-01-15T12:34:56Z 192.168.0.1 +1 (555) 123-4567 50% 3/4",
    # code
    "def f(x):\n    return x * 2  # double\n\nprint(f(21))\n",
    "int main(void)\n{\n\tfor (int i = 0; i < n; i++) {\n\t\tputs(\"hi\");\n\t}\n\treturn 0;\n}\n",
    "{\"key\": [1, 2, {\"nested\": null}], \"ok\": true}",
    "<html><body><p class=\"x\">Hello &amp; goodbye</p></body></html>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "https://example.com/path/to/page?query=1&lang=en#section-2",
    "$ ls -la | grep '\\.c$' && echo \"done\" > /dev/null 2>&1",
    # whitespace runs
    " ",
    "   leading and trailing   ",
    "a  b   c    d     e      f       g        h",
    "\n\n\n",
    "line one\nline two\r\nline three\rline four",
    "\t\ttabbed\t \t mixed \n \n",
    "word" + " " * 40 + "word",
    "trailing newline\n",
    "  \n  \n    \n",
    # unicode, scripts
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber stra\u00dfe \u00e5ngstr\u00f6m",
    "Cafe\u0301 nai\u0308ve (combining accents, NFC composes them)",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3001\u30ab\u30bf\u30ab\u30ca\u3082\u3002",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8 \u1100\u1161\u11a8 (jamo)",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 and \u05e9\u05dc\u05d5\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\u0391\u03b8\u03ae\u03bd\u03b1 \u1f08\u03b8\u03b7\u03bd\u1fb6 \u212b \u2126 \ufb01 \u2460",
    "mixed: English, \u0440\u0443\u0441\u0441\u043a\u0438\u0439, \u4e2d\u6587, 123\u4e00\u4e8c\u4e09, \u0661\u0662\u0663",
    "non\u00a0breaking\u2003em\u3000ideographic spaces",
    # emoji
    "\U0001F600 \U0001F44D\U0001F3FD \U0001F468\u200d\U0001F469\u200d\U0001F467 \u2764\ufe0f \U0001F1FA\U0001F1F8",
    "emoji\U0001F680inside\U0001F525words!!!",
    # punctuation runs
    "!!!??? ...--- ***///___ ~~~ @@@ ### $$$ %%% ^^^ &&& ((())) [[]] {{}}",
    "a.b,c;d:e!f?g-h_i+j=k",
    "\u201csmart quotes\u201d \u2018single\u2019 \u2014 em dash \u2026 ellipsis \u00ab\u00bb",
    # long word, odd inputs
    "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious",
    "x" * 300,
    "ab" * 150 + " " + "\u00e9" * 100,
    "",
    "a",
    "\u00ff\u00fe\u0100 control\x01\x02\x7f chars",
]

SPECIAL_TEXTS = {
    "gpt2": [
        "Hello<|endoftext|>world",
        "<|endoftext|> <|endoftext|>  text  <|endoftext|>",
        "<|endoftext <|endoftext|>|>",
    ],
    "gpt-neox-20b": [
        "<|endoftext|>Hello<|unk|>",
        "indent:" + " " * 24 + "x" + " " * 30 + "y" + " " * 2 + "z",
        "<|endoftext|>  <|padding|>",
    ],
    "llama-3": [
        "<|begin_of_text|>Hello<|end_of_text|>",
        "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
        "<|reserved_special_token_5|> <|not_a_token|>",
    ],
}


# Characters where JavaScript's \s differs from Oniguruma's (HF's Rust regexes),
# in the contexts where that changes the pieces; compared with the Rust reference only.
EDGE_TEXTS = [
    "a\u0085'll b\u0085c \u0085\u0085 x",
    "\ufeffBOM at the start, and \ufeff inside \n\ufeff",
    "mongolian\u180evowel \u180e separator",
    "line\u2028separator\u2029paragraph \u2028 \u2029",
    "\n\n\ufeff\ufeff\u2028 x",
    "\u1680ogham \u200bzero\u200cwidth\u200d \u2060joiner",
    "it\u017fs 'S '\u017f \u212aelvin 'K",
]


def _random_texts(seed, n):
    """Seeded random mixes of ASCII, scripts, marks, spaces, emoji and specials."""
    rnd = random.Random(seed)
    pool = list(" \t\n\r  abcdefghijklmnopqrstuvwxyzABCXYZ0123456789'\".,;:!?-_()[]{}<>|/\\@#$%^&*~`+=") + [
        "\u00e9", "e\u0301", "\u00df", "\u00f1", "\u0301", "\u0308", "\u0323", "\u044f", "\u0416", "\u4e2d",
        "\u6587", "\ud55c", "\u1100", "\u1161", "\u11a8", "\u0627", "\u05e9", "\u0928", "\u094d", "\u0e01",
        "\U0001F600", "\U0001F44D", "\u200d", "\ufe0f", "\U0001F3FD", "\u00a0", "\u3000", "\u2028",
        "\u0085", "\ufeff", "\u180e", "\uff11", "\u0663", "\u216b", "\u017f", "\u212a", "\u00c5",
        "\u2126", "\ufb01", "\u1e9b\u0323", "\u0344", "\u0958", "\uac00", "\uac01", "'s", "'ll", "'RE",
        "<|endoftext|>", "<|unk|>", "<|begin_of_text|>", "<|eot_id|>", "<|", "|>", "    ", "\n\n", " the",
        " of", "ing", "tion", "12345", "\x00", "\x01", "\x7f"]
    return ["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 60))) for _ in range(n)]


def _need_reference():
    if not shutil.which("node"):
        raise common.Skip("node not installed")
    if not os.path.isdir(MODULE):
        raise common.Skip("@huggingface/tokenizers not installed (npm install --prefix tests/npm)")


def _need_rust_reference():
    if not shutil.which("node"):
        raise common.Skip("node not installed")
    if not os.path.isdir(RUST_MODULE):
        raise common.Skip("@anush008/tokenizers not installed (npm install --prefix tests/npm)")


def _need_driver():
    if not os.path.exists(DRIVER):
        raise common.Skip(f"{os.path.relpath(DRIVER, common.ROOT)} not built")


def _model_dir(name):
    """A model directory holding only the fixture's tokenizer.json (a symlink)."""
    src = common.fixture("tokenizers", name, "tokenizer.json")
    d = common.tmpdir(f"tok_npm_{name}")
    os.symlink(os.path.abspath(src), os.path.join(d, "tokenizer.json"))
    return d


def reference(model_dir, texts, special=False):
    """Ids of each text by @huggingface/tokenizers."""
    p = subprocess.run(["node", "--input-type=module", "-e", NODE_SCRIPT,
                        os.path.join(model_dir, "tokenizer.json"), "special" if special else "-"],
                       input=json.dumps(texts), capture_output=True, text=True, cwd=NPM_DIR)
    assert p.returncode == 0, f"node failed: {p.stderr[-2000:]}"
    return json.loads(p.stdout)


def reference_rust(model_dir, texts, special=False):
    """Ids of each text by HF's Rust tokenizers (@anush008/tokenizers)."""
    p = subprocess.run(["node", "-e", RUST_SCRIPT, os.path.join(model_dir, "tokenizer.json"),
                        "special" if special else "-"],
                       input=json.dumps(texts), capture_output=True, text=True, cwd=NPM_DIR)
    assert p.returncode == 0, f"node failed: {p.stderr[-2000:]}"
    return json.loads(p.stdout)


def ours(model_dir, texts, special=False):
    """Ids of each text by odscope's tokenizer (driver mode of the unit-test binary)."""
    path = os.path.join(model_dir, "texts.bin")
    with open(path, "wb") as f:
        for t in texts:
            b = t.encode()
            f.write(b"%d\n%s" % (len(b), b))
    p = subprocess.run([DRIVER, "encode", model_dir, path] + (["special"] if special else []),
                       capture_output=True)
    assert p.returncode == 0, f"test_tok encode failed: {p.stderr.decode(errors='replace')}"
    lines = p.stdout.decode().split("\n")[:len(texts)]
    assert len(lines) == len(texts), f"{len(lines)} lines for {len(texts)} texts"
    out = []
    for ln in lines:
        assert not ln.startswith("ERR"), ln
        out.append([int(x) for x in ln.split()])
    return out


def _check(name, texts, got, want, ref):
    bad = [(t, g, w) for t, g, w in zip(texts, got, want) if g != w]
    msg = "".join(f"\n  text {t!r}:\n    ours {g}\n    {ref} {w}" for t, g, w in bad[:5])
    assert not bad, f"{name}: {len(bad)} of {len(texts)} texts differ from {ref}:{msg}"


def _compare(name):
    _need_reference()
    _need_driver()
    d = _model_dir(name)
    texts = TEXTS + SPECIAL_TEXTS[name]
    _check(name, texts, ours(d, texts), reference(d, texts), "npm")
    # with add_special: BOS for llama-3, nothing for the others
    _check(name, texts[:5], ours(d, texts[:5], True), reference(d, texts[:5], True), "npm")


def _compare_rust(name, seed):
    _need_rust_reference()
    _need_driver()
    d = _model_dir(name)
    texts = TEXTS + SPECIAL_TEXTS[name] + EDGE_TEXTS + _random_texts(seed, 300)
    _check(name, texts, ours(d, texts), reference_rust(d, texts), "rust")
    _check(name, texts[:5], ours(d, texts[:5], True), reference_rust(d, texts[:5], True), "rust")


def test_gpt2():
    _compare("gpt2")


def test_gpt_neox():
    _compare("gpt-neox-20b")


def test_llama3():
    _compare("llama-3")


def test_rust_gpt2():
    _compare_rust("gpt2", 1)


def test_rust_gpt_neox():
    _compare_rust("gpt-neox-20b", 2)


def test_rust_llama3():
    _compare_rust("llama-3", 3)


def test_cli_tokenize():
    """`odscope tokenize --model DIR --text S` / `--file F` print the reference ids."""
    _need_reference()
    if not os.path.exists(common.ODSCOPE):
        raise common.Skip("odscope not built")
    d = _model_dir("gpt2")
    texts = [TEXTS[0], TEXTS[7], TEXTS[12], TEXTS[31], SPECIAL_TEXTS["gpt2"][0]]
    want = reference(d, texts)
    for i, (t, w) in enumerate(zip(texts, want)):
        if "\n" not in t:
            got = common.run("tokenize", "--model", d, "--text", t).stdout.split()
            assert [int(x) for x in got] == w, f"--text {t!r}: {got} != {w}"
        path = os.path.join(d, f"text{i}.txt")
        with open(path, "wb") as f:
            f.write(t.encode())
        got = common.run("tokenize", "--model", d, "--file", path).stdout.split()
        assert [int(x) for x in got] == w, f"--file {t!r}: {got} != {w}"


def _variant(name, edit):
    """A copy of the GPT-2 tokenizer.json changed by edit(json), in tests/tmp."""
    with open(common.fixture("tokenizers", "gpt2", "tokenizer.json"), encoding="utf-8") as f:
        j = json.load(f)
    edit(j)
    d = common.tmpdir(f"tok_npm_{name}")
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(j, f)
    return d


def _added_tokens_variant(j):
    """Prefix space, added tokens with every flag (some whose content is in the
    vocab, which keep their vocab id), TemplateProcessing."""
    j["pre_tokenizer"]["add_prefix_space"] = True

    def tok(content, special, lstrip=False, rstrip=False, normalized=False, single_word=False):
        return {"id": 0, "content": content, "special": special, "lstrip": lstrip,
                "rstrip": rstrip, "normalized": normalized, "single_word": single_word}
    j["added_tokens"] += [
        tok("<L>", True, lstrip=True), tok("<R>", True, rstrip=True),
        tok("<LR>", False, lstrip=True, rstrip=True, normalized=True),
        tok("mask", False, normalized=True, single_word=True),
        tok("<LR", True), tok("\u00e9", False, normalized=True)]
    j["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<L>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "<R>", "type_id": 0}},
                   {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {n: {"id": n, "ids": [i], "tokens": [n]} for n, i in
                           (("<L>", 50257), ("<R>", 50258), ("<|endoftext|>", 50256))}}


def _pipeline_variant(j):
    """NFC, a Sequence of two Splits (Regex, String) + ByteLevel with prefix space,
    ignore_merges, RobertaProcessing, a normalized added token NFC changes."""
    j["normalizer"] = {"type": "NFC"}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
        {"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
    j["model"]["ignore_merges"] = True
    j["post_processor"] = {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 50256],
                           "cls": ["!", 0], "trim_offsets": True, "add_prefix_space": False}
    j["added_tokens"] += [{"id": 50257, "content": "Cafe\u0301", "special": False, "lstrip": False,
                           "rstrip": False, "normalized": True, "single_word": False}]


def test_rust_variants():
    """Features the fixtures do not exercise, on edited copies of GPT-2's tokenizer.json."""
    _need_rust_reference()
    _need_driver()
    rnd = random.Random(7)
    pool = [" ", "  ", "\t", "\n", "a", "b", "mask", " mask ", "xmask", "mask_", "\u00e9", "e\u0301",
            "\u0301", "\u00b2", "\u203f", "\u200d", "Caf\u00e9", "Cafe\u0301", "<L>", "<R>", "<LR>", "<LR",
            "LR>", "<|endoftext|>", "12345", "7", " the", "ing", "!", "?", "\u00a0", "\u3000",
            "\u4e2d", "'s"]
    texts = ["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 25))) for _ in range(500)]
    for name, edit in (("added", _added_tokens_variant), ("pipeline", _pipeline_variant)):
        d = _variant(name, edit)
        for special in (False, True):
            _check(name, texts, ours(d, texts, special), reference_rust(d, texts, special), "rust")
