"""Bad input: every damaged file gives one clear line naming the file and the
problem, exit status 1, no crash, and no run presented as complete."""
import os
import signal
import sqlite3
import subprocess
import time

import common
import gen_corpus
import gen_model

# break kind, arg, the file the message must name, words it must contain
MODEL_BREAKS = [
    ("truncate", "-100", "model.safetensors", "outside"),
    ("truncate", "4", "model.safetensors", "truncated"),
    ("header-too-long", None, "model.safetensors", "header length"),
    ("offsets-outside", None, "model.safetensors", "outside"),
    ("overlap", None, "model.safetensors", "overlap"),
    ("dtype", None, "model.safetensors", "F99"),
    ("shape", None, "model.safetensors", "h.0.attn.c_attn.weight"),
    ("shape-bytes", None, "model.safetensors", "ln_f.weight"),
    ("missing", None, "model.safetensors", "h.0.mlp.c_fc.bias"),
    ("config", "syntax", "config.json", "malformed"),
    ("config", "empty", "config.json", "malformed"),
    ("config", "not_object", "config.json", "malformed"),
    ("config", "missing_key", "config.json", "n_embd"),
    ("config", "wrong_type", "config.json", "n_embd"),
    ("config", "bad_heads", "config.json", "n_head"),
    ("config", "negative", "config.json", "n_layer"),
    ("config", "zero_vocab", "config.json", "vocab_size"),
    ("config", "bad_model_type", "config.json", "gpt-unknown"),
]
SHARD_BREAKS = [
    ("missing-keep-index", None, "index.json", "h.0.mlp.c_fc.bias"),
    ("index-missing-file", None, "safetensors", "cannot open"),
]
TOKENIZER_BREAKS = ["syntax", "empty", "not_object", "no_model", "bad_type", "vocab_not_object",
                    "merge_unknown", "merge_malformed", "bad_id"]


def _setup():
    d = common.tmpdir("bad")
    corpus = os.path.join(d, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for ln in gen_corpus.zipf_lines(40):
            f.write(ln + "\n")
    return d, corpus


def _no_complete_run(db):
    if not os.path.exists(db):
        return
    con = sqlite3.connect(db)
    try:
        n = con.execute("SELECT count(*) FROM runs WHERE status = 'complete'").fetchone()[0]
    except sqlite3.OperationalError:
        n = 0
    con.close()
    assert n == 0, f"{db}: a complete run after a failure"


def _check(model, corpus, db, file_word, word):
    for cmd in (["info", "--model", model],
                ["scan", "--model", model, "--corpus", corpus, "--db", db]):
        msg = common.run_fail(*cmd, contains=[file_word, word])
        assert msg.startswith("odscope: "), msg
    _no_complete_run(db)


def test_broken_models():
    d, corpus = _setup()
    for i, (kind, arg, file_word, word) in enumerate(MODEL_BREAKS):
        m = os.path.join(d, f"m{i}")
        gen_model.make_model(m, n_embd=32, n_layer=1, n_head=2, n_positions=32,
                             tokenizer_lines=40, corpus=corpus)
        gen_model.break_model(m, kind, arg)
        try:
            _check(m, corpus, os.path.join(d, f"m{i}.sqlite"), file_word, word)
        except AssertionError as e:
            raise AssertionError(f"break {kind}:{arg}: {e}")


def test_broken_sharded_models():
    d, corpus = _setup()
    for i, (kind, arg, file_word, word) in enumerate(SHARD_BREAKS):
        m = os.path.join(d, f"s{i}")
        gen_model.make_model(m, n_embd=32, n_layer=1, n_head=2, n_positions=32, shards=3,
                             tokenizer_lines=40, corpus=corpus)
        gen_model.break_model(m, kind, arg)
        try:
            _check(m, corpus, os.path.join(d, f"s{i}.sqlite"), file_word, word)
        except AssertionError as e:
            raise AssertionError(f"break {kind}: {e}")


def test_broken_tokenizers():
    d, corpus = _setup()
    for kind in TOKENIZER_BREAKS:
        m = os.path.join(d, f"t_{kind}")
        gen_model.make_model(m, n_embd=32, n_layer=1, n_head=2, n_positions=32,
                             tokenizer_lines=40, corpus=corpus)
        gen_model.break_model(m, "tokenizer", kind)
        db = os.path.join(d, f"t_{kind}.sqlite")
        for cmd in (["tokenize", "--model", m, "--text", "hello"],
                    ["scan", "--model", m, "--corpus", corpus, "--db", db]):
            try:
                common.run_fail(*cmd, contains="tokenizer.json")
            except AssertionError as e:
                raise AssertionError(f"tokenizer {kind}: {e}")
        _no_complete_run(db)


def _model(d, corpus, name="ok"):
    m = os.path.join(d, name)
    gen_model.make_model(m, n_embd=32, n_layer=1, n_head=2, n_positions=32, tokenizer_lines=40,
                         corpus=corpus)
    return m


def test_bad_corpora():
    d, corpus = _setup()
    m = _model(d, corpus)
    db = os.path.join(d, "c.sqlite")
    empty = os.path.join(d, "empty.txt")
    open(empty, "w").close()
    common.run_fail("scan", "--model", m, "--corpus", empty, "--db", db,
                    contains=["empty.txt", "empty corpus"])
    bad = os.path.join(d, "bad.txt")
    with open(bad, "wb") as f:
        f.write(b"fine line one\nsecond line ok\nthird \xff\xfe bad\nfourth\n")
    common.run_fail("scan", "--model", m, "--corpus", bad, "--db", db,
                    contains=["bad.txt:3", "invalid UTF-8", "offset 6"])
    common.run_fail("scan", "--model", m, "--corpus", os.path.join(d, "nope.txt"), "--db", db,
                    contains="nope.txt")
    _no_complete_run(db)
    # the failed run is recorded as failed, with its message
    con = sqlite3.connect(db)
    rows = con.execute("SELECT status, error FROM runs").fetchall()
    con.close()
    assert rows and all(s == "failed" and e for s, e in rows), rows
    p = common.run("tokenize", "--model", m, "--file", bad, check=False)
    assert p.returncode == 1 and "offset 35" in p.stderr and "bad.txt" in p.stderr, p.stderr


def test_bad_databases():
    d, corpus = _setup()
    m = _model(d, corpus)
    common.run_fail("scan", "--model", m, "--corpus", corpus, "--db",
                    os.path.join(d, "no", "such", "dir", "x.sqlite"), contains="x.sqlite")
    ro = os.path.join(d, "ro")
    os.makedirs(ro, exist_ok=True)
    if os.getuid() != 0:  # root writes anywhere; the missing-directory case covers it
        os.chmod(ro, 0o500)
        common.run_fail("scan", "--model", m, "--corpus", corpus, "--db",
                        os.path.join(ro, "x.sqlite"), contains="x.sqlite")
    junk = os.path.join(d, "junk.sqlite")
    with open(junk, "wb") as f:
        f.write(b"this is not a database" * 100)
    common.run_fail("scan", "--model", m, "--corpus", corpus, "--db", junk,
                    contains=["junk.sqlite", "not an odscope database"])
    common.run_fail("runs", "--db", junk, contains="junk.sqlite")
    # locked by another writer: scan fails clearly, the holder's data is intact
    db = os.path.join(d, "locked.sqlite")
    common.run("scan", "--model", m, "--corpus", corpus, "--db", db, "--quiet")
    holder = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({db!r}, isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        common.run_fail("scan", "--model", m, "--corpus", corpus, "--db", db,
                        contains=["locked.sqlite", "locked"])
    finally:
        holder.kill()
        holder.wait()
    con = sqlite3.connect(db)
    assert con.execute("SELECT status FROM runs").fetchall() == [("complete",)]
    con.close()


def test_killed_scan_is_not_complete():
    d, corpus = _setup()
    big = os.path.join(d, "big.txt")
    with open(big, "w", encoding="utf-8") as f:
        for ln in gen_corpus.zipf_lines(6000, seed=3):
            f.write(ln + "\n")
    m = os.path.join(d, "slow")
    gen_model.make_model(m, n_embd=128, n_layer=4, n_head=4, n_positions=128,
                         tokenizer_lines=40, corpus=corpus)
    db = os.path.join(d, "killed.sqlite")
    p = subprocess.Popen([common.ODSCOPE, "scan", "--model", m, "--corpus", big, "--db", db],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait for the run row, then kill hard
    for _ in range(200):
        time.sleep(0.05)
        if os.path.exists(db):
            try:
                con = sqlite3.connect(db)
                n = con.execute("SELECT count(*) FROM runs").fetchone()[0]
                con.close()
                if n:
                    break
            except sqlite3.OperationalError:
                pass
    p.send_signal(signal.SIGKILL)
    p.wait()
    con = sqlite3.connect(db)
    rows = con.execute("SELECT status FROM runs").fetchall()
    dims = con.execute("SELECT count(*) FROM dims").fetchone()[0]
    con.close()
    assert rows == [("running",)], rows
    assert dims == 0
    out = common.run("runs", "--db", db).stdout
    assert "running" in out
    common.run_fail("ods", "--db", db, contains="no complete run")
