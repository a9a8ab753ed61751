"""Integration tests: the CLI on generated GPT-2 models with planted outlier
dimensions, checked through the database it writes."""
import json
import os
import re
import signal
import subprocess
import time

import numpy as np

import common
from common import q
import gen_corpus
import gen_model

PLANT = [(5, 8.0), (20, -6.0)]


def _corpus(d, n_lines=300, seed=0, name="corpus.txt"):
    path = os.path.join(d, name)
    with open(path, "w", encoding="utf-8") as f:
        for ln in gen_corpus.zipf_lines(n_lines, seed=seed):
            f.write(ln + "\n")
    return path


_cache = {}


def planted_model(name="planted", **kw):
    """A small GPT-2 (D 256: two planted dims stay under the 1% of entries above the global
    0.99 quantile) with ODs at dims 5 (+8) and 20 (-6), and a corpus (cached per name)."""
    if name in _cache:
        return _cache[name]
    d = common.tmpdir(name)
    corpus = _corpus(d)
    model = os.path.join(d, "model")
    args = dict(n_embd=256, n_layer=2, n_head=4, n_positions=64, corpus=corpus, plant=PLANT,
                tokenizer_lines=300)
    args.update(kw)
    gen_model.make_model(model, **args)
    _cache[name] = (d, model, corpus)
    return _cache[name]


def test_help_every_command():
    out = common.run("--help").stdout
    cmds = re.findall(r"^  (\w+) ", out, re.M)
    assert {"info", "tokenize", "forward", "scan", "ods", "runs"} <= set(cmds), cmds
    for c in cmds:
        a = common.run("help", c).stdout
        b = common.run(c, "-h").stdout
        assert a == b and a.startswith(f"usage: odscope {c}"), c
        assert "--help" in a
    common.run_fail("nosuchcommand", rc=2)
    common.run_fail("scan", "--bogus", rc=2, contains="--bogus")


def test_scan_finds_planted_ods():
    d, model, corpus = planted_model()
    db = os.path.join(d, "a.sqlite")
    p = common.run("scan", "--model", model, "--corpus", corpus, "--db", db)
    assert re.search(r"^run 1:", p.stdout, re.M), p.stdout
    (status, n_docs, n_tokens, n_inputs, n_ods, exact, thr) = q(
        db, "SELECT status, n_docs, n_tokens, n_inputs, n_ods, exact, threshold FROM runs")[0]
    assert status == "complete" and exact == 1
    ods = q(db, "SELECT dim, sign, quantile, int8 FROM ods WHERE run_id = 1 ORDER BY rank")
    assert [(o[0], o[1]) for o in ods if o[2]] == [(5, 1), (20, -1)], ods
    assert n_ods == 2
    assert all(o[3] == 1 for o in ods if o[0] in (5, 20))
    # all 256 dims have statistics; the planted ones have median near the planted value
    assert q(db, "SELECT count(*) FROM dims WHERE run_id = 1")[0][0] == 256
    (m5,) = q(db, "SELECT q50 FROM dims WHERE run_id = 1 AND dim = 5")[0]
    assert abs(m5 - 8.0) < 0.2, m5
    # frequencies sum to the tokens, and match an independent count with the CLI tokenizer
    assert q(db, "SELECT sum(count) FROM freq WHERE run_id = 1")[0][0] == n_tokens
    assert q(db, "SELECT count(*) FROM vocab")[0][0] > 256
    with open(corpus, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip("\n")]
    assert n_docs == len(lines)
    assert n_inputs == n_tokens - n_docs


def test_scan_inputs_and_windows():
    """N = tokens minus one per document, for any window/stride (a position is collected once)."""
    d, model, corpus = planted_model()
    with open(corpus, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip("\n")][:40]
    small = os.path.join(d, "small.txt")
    with open(small, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    lens = [len(common.run("tokenize", "--model", model, "--text", ln).stdout.split())
            for ln in lines]
    for ctx, stride in ((64, 64), (16, 16), (16, 8), (7, 3)):
        db = os.path.join(d, f"w{ctx}_{stride}.sqlite")
        common.run("scan", "--model", model, "--corpus", small, "--db", db, "--ctx", ctx,
                   "--stride", stride, "--quiet")
        n_tokens, n_inputs = q(db, "SELECT n_tokens, n_inputs FROM runs")[0]
        assert n_tokens == sum(lens)
        assert n_inputs == sum(n - 1 for n in lens), (ctx, stride, n_inputs)


def test_scan_special_prepends_bos():
    """--special puts the post-processor's BOS before every document: one more input per
    document (the first real token now has context), the same corpus token counts."""
    d, model, corpus = planted_model()
    bos_model = os.path.join(d, "model_bos")
    if not os.path.exists(bos_model):
        os.makedirs(bos_model)
        for fn in os.listdir(model):
            src = os.path.join(model, fn)
            if fn != "tokenizer.json":
                os.symlink(src, os.path.join(bos_model, fn))
        with open(os.path.join(model, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        tj["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [7], "tokens": ["<s>"]}}}
        with open(os.path.join(bos_model, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f)
    with open(corpus, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip("\n")][:30]
    small = os.path.join(d, "small_bos.txt")
    with open(small, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    lens = [len(common.run("tokenize", "--model", model, "--text", ln).stdout.split())
            for ln in lines]
    first = common.run("tokenize", "--model", bos_model, "--special", "--text", lines[0]).stdout.split()
    assert first[0] == "7" and len(first) == lens[0] + 1, first
    for special, want in ((False, sum(n - 1 for n in lens)), (True, sum(lens))):
        db = os.path.join(d, f"bos_{special}.sqlite")
        if os.path.exists(db):
            os.remove(db)
        common.run("scan", "--model", bos_model, "--corpus", small, "--db", db, "--quiet",
                   *(["--special"] if special else []))
        n_tokens, n_inputs, opts = q(db, "SELECT n_tokens, n_inputs, options FROM runs")[0]
        assert n_tokens == sum(lens), (special, n_tokens)
        assert n_inputs == want, (special, n_inputs, want)
        assert json.loads(opts)["special"] is special
        common.run("ablate", "--db", db, "--random", "1")
        n_abl = q(db, "SELECT n_inputs FROM ablations")[0][0]
        assert n_abl == want - len(lines), (special, n_abl, want)  # the last has no gold


def test_sketch_matches_exact():
    d, model, corpus = planted_model()
    db = os.path.join(d, "sketch.sqlite")
    common.run("scan", "--model", model, "--corpus", corpus, "--db", db, "--quiet")
    common.run("scan", "--model", model, "--corpus", corpus, "--db", db, "--quiet", "--mem", "16K")
    ex, sk = q(db, "SELECT exact, rel_err, threshold FROM runs ORDER BY id")
    assert ex[0] == 1 and sk[0] == 0 and sk[1] > 0
    assert abs(sk[2] - ex[2]) <= 0.01 * ex[2]
    a = np.array(q(db, "SELECT q05, q50, q95, aq50, aq99 FROM dims WHERE run_id = 1 ORDER BY dim"))
    b = np.array(q(db, "SELECT q05, q50, q95, aq50, aq99 FROM dims WHERE run_id = 2 ORDER BY dim"))
    assert np.all(np.abs(a - b) <= 0.0051 * np.abs(a) + 1e-6), np.max(np.abs(a - b))
    assert q(db, "SELECT dim FROM ods WHERE run_id = 1 AND quantile = 1 ORDER BY dim") == \
        q(db, "SELECT dim FROM ods WHERE run_id = 2 AND quantile = 1 ORDER BY dim")


def test_ods_and_runs_formats():
    d, model, corpus = planted_model()
    db = os.path.join(d, "fmt.sqlite")
    common.run("scan", "--model", model, "--corpus", corpus, "--db", db, "--quiet")
    csv = common.run("ods", "--db", db, "--format", "csv").stdout.splitlines()
    assert csv[0].split(",")[0] == "dim" and [r.split(",")[0] for r in csv[1:]] == ["5", "20"]
    tsv = common.run("ods", "--db", db, "--format", "tsv", "--run", "1").stdout.splitlines()
    assert tsv[0].split("\t")[0] == "dim" and len(tsv) == 3
    js = json.loads(common.run("ods", "--db", db, "--format", "json").stdout)
    assert [o["dim"] for o in js] == [5, 20] and js[0]["sign"] == 1
    table = common.run("ods", "--db", db).stdout
    assert table.splitlines()[0].split()[0] == "dim"
    runs = json.loads(common.run("runs", "--db", db, "--format", "json").stdout)
    assert runs[0]["status"] == "complete" and runs[0]["model_type"] == "gpt2"
    assert "complete" in common.run("runs", "--db", db).stdout
    common.run_fail("ods", "--db", db, "--run", "99", contains="no run 99")
    common.run_fail("ods", "--db", db, "--format", "xml", rc=2)
    common.run_fail("ods", "--db", os.path.join(d, "none.sqlite"), contains="none.sqlite")


def test_info_tokenize_forward():
    d, model, corpus = planted_model()
    info = common.run("info", "--model", model).stdout
    assert "gpt2" in info and "d_model      256" in info and "tied" in info
    assert "byte-level BPE" in info
    ids = common.run("tokenize", "--model", model, "--text", "hello world").stdout.split()
    assert ids and all(i.isdigit() for i in ids)
    out = os.path.join(d, "fw")
    common.run("forward", "--model", model, "--ids", "1,2,3,4,5", "--out", out)
    h = np.load(out + ".hidden.npy")
    z = np.load(out + ".logits.npy")
    assert h.shape == (5, 256) and h.dtype == np.float32 and z.shape[0] == 5
    assert np.all(np.abs(h[:, 5] - 8.0) < 0.2)
    common.run("forward", "--model", model, "--text", "hello world", "--out", out)
    assert np.load(out + ".hidden.npy").shape == (len(ids), 256)
    common.run_fail("forward", "--model", model, "--ids", "1,99999", "--out", out,
                    contains="99999")


def test_forward_without_tokenizer():
    d = common.tmpdir("notok")
    model = os.path.join(d, "m")
    gen_model.make_model(model, n_embd=32, n_layer=1, n_head=2, n_positions=16, vocab=100,
                         tokenizer=False)
    common.run("forward", "--model", model, "--ids", ",".join(["3"] * 40), "--out",
               os.path.join(d, "x"))
    assert np.load(os.path.join(d, "x.hidden.npy")).shape == (40, 32)
    assert "none" in common.run("info", "--model", model).stdout


def test_corpus_formats():
    d, model, corpus = planted_model()
    with open(corpus, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip("\n")][:30]
    jl = os.path.join(d, "c.jsonl")
    with open(jl, "w", encoding="utf-8") as f:
        for ln in lines:
            f.write(json.dumps({"id": 1, "body": ln}) + "\n")
    txt = os.path.join(d, "c30.txt")
    with open(txt, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    dr = os.path.join(d, "cdir")
    os.makedirs(dr, exist_ok=True)
    for i, ln in enumerate(lines):
        with open(os.path.join(dr, f"{i:03d}.txt"), "w", encoding="utf-8") as f:
            f.write(ln)
    db = os.path.join(d, "formats.sqlite")
    common.run("scan", "--model", model, "--corpus", txt, "--db", db, "--quiet")
    common.run("scan", "--model", model, "--corpus", jl, "--field", "body", "--db", db, "--quiet")
    common.run("scan", "--model", model, "--corpus", dr, "--db", db, "--quiet")
    rows = q(db, "SELECT n_docs, n_tokens, n_inputs, threshold FROM runs ORDER BY id")
    assert rows[0] == rows[1] == rows[2], rows
    common.run_fail("scan", "--model", model, "--corpus", jl, "--field", "nope", "--db", db,
                    contains=[jl + ":1", "nope"])
