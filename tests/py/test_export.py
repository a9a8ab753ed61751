"""odscope export: golden files for every table and format on a small deterministic database,
LaTeX compiled (or checked structurally), JSON and CSV parsed back, missing tables refused,
and an end-to-end export of a scanned model.

The small database is built here (make_db): the schema from db/schema.sql, then rows inserted
with sqlite3, including the planned ablation tables when the schema does not have them yet.
Regenerate the golden files after an intended change with ODS_UPDATE_GOLDEN=1."""
import csv
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess

import common

GOLDEN = os.path.join(common.ROOT, "tests", "golden", "export")
TABLES = ["runs", "ods", "tokens", "ablation", "freq", "dims", "corr", "top1", "compare"]
FORMATS = {"csv": "csv", "tsv": "tsv", "latex": "tex", "markdown": "md", "json": "json"}
D = 8
# tokens that exercise every escaping path: LaTeX specials, CSV quoting, pipes, unicode
TOKENS = ["the", " of", ",", "_x%", "&#$", "{a}", "~^\\", " \"q\", r", "a|b", "\u00e9t\u00e9",
          "\u0120\u4e2d", "\\n", "<b>", "*", "", "x"]

PLANNED = """
CREATE TABLE IF NOT EXISTS ablations (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, status TEXT,
    options TEXT, faithful INTEGER, n_inputs INTEGER, started_at TEXT, finished_at TEXT);
CREATE TABLE IF NOT EXISTS ablation_results (ablation_id INTEGER NOT NULL, condition TEXT NOT NULL,
    dims TEXT, seed INTEGER, mean_surprisal REAL, median_surprisal REAL, mean_entropy REAL,
    median_entropy REAL, mean_kl REAL, median_kl REAL, accuracy REAL, n_distinct_top1 INTEGER,
    freq_slope REAL, freq_spearman REAL, PRIMARY KEY (ablation_id, condition));
CREATE TABLE IF NOT EXISTS ablation_top1 (ablation_id INTEGER NOT NULL, condition TEXT NOT NULL,
    token_id INTEGER NOT NULL, n_top1 INTEGER NOT NULL, PRIMARY KEY (ablation_id, condition, token_id));
"""


def schema_version():
    with open(os.path.join(common.ROOT, "include", "odscope", "store.h")) as f:
        return int(re.search(r"#define ODS_SCHEMA_VERSION (\d+)", f.read()).group(1))


def _cols(con, table):
    return [r[1] for r in con.execute(f"PRAGMA table_info({table})")]


def _insert(con, table, row):
    """Insert the keys of row that the table has (the schema may have grown since)."""
    have = set(_cols(con, table))
    keys = [k for k in row if k in have]
    con.execute(f"INSERT INTO {table} ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})",
                [row[k] for k in keys])


def make_db(path, tokens=True, ablation=True):
    """A small database with every table filled with known values: runs 1 and 2 (complete,
    two models standing for two checkpoints), run 3 (failed)."""
    if os.path.exists(path):
        os.remove(path)
    con = sqlite3.connect(path)
    with open(os.path.join(common.ROOT, "db", "schema.sql")) as f:
        con.executescript(f.read())
    con.execute(f"PRAGMA user_version = {schema_version()}")
    if ablation:
        con.executescript(PLANNED)
    for h, p in (("aaaa", "models/pythia_70m/step1000"), ("bbbb", "models/pythia_70m/step143000/")):
        _insert(con, "models", dict(hash=h, path=p, model_type="gpt_neox", n_layer=2, d_model=D,
                                    n_head=2, n_vocab=len(TOKENS), n_ctx=64, tied=0,
                                    weight_dtype="F32", tokenizer="bpe"))
        for i, t in enumerate(TOKENS):
            _insert(con, "vocab", dict(model_hash=h, token_id=i, piece=t, text=t))
    for rid, h, status in ((1, "aaaa", "complete"), (2, "bbbb", "complete"), (3, "bbbb", "failed")):
        _insert(con, "runs", dict(
            id=rid, status=status, model_hash=h,
            model_path=con.execute("SELECT path FROM models WHERE hash = ?", (h,)).fetchone()[0],
            corpus_path="corpora/wiki_100%.txt", corpus_hash="cccc", options="{}",
            tool_version="0.1.0", started_at=f"2026-01-0{rid}T10:00:00Z",
            finished_at=f"2026-01-0{rid}T10:05:00Z", n_docs=10, n_tokens=1000, n_inputs=990,
            rule="quantile", q_loc=0.5, q_glob=0.99, threshold=2.5 + rid / 8, exact=1, rel_err=0.0,
            kurtosis=3.25 * rid, mmr=4.125, n_ods=2 if rid == 1 else 1,
            error="boom" if status == "failed" else None, rho_norm_freq=0.25))
    for rid in (1, 2):
        ods = {3: 1, 6: 2} if rid == 1 else {6: 1}
        for d in range(D):
            m = (8.5 if d == 3 else -6.25 if d == 6 else 0.5 + d / 16) * (1 if rid == 1 else 0.75)
            q = abs(m)
            row = dict(run_id=rid, dim=d, count=990, mean=m, std=0.5, min=m - 2, max=m + 2,
                       mean_abs=q, rms=q + 0.1, q_loc_abs=q, frac_above=1.0 if d in ods else 0.0,
                       zscore=q * 1.5 - 2 if d in ods else -0.3 + d / 100,
                       sign=1 if m > 0 else -1, rules="quantile,int8" if d in ods else "",
                       borderline=0)
            for i, k in enumerate(("01", "05", "25", "50", "75", "95", "99")):
                row["q" + k] = m + (i - 3) / 4
                row["aq" + k] = q + (i - 3) / 8
            _insert(con, "dims", row)
            _insert(con, "dim_corr", dict(run_id=rid, dim=d, rho_unemb_freq=(d - 4) / 10,
                                          rho_act_predfreq=0.125 if d in ods else None))
        for d, rank in ods.items():
            _insert(con, "ods", dict(run_id=rid, dim=d, rank=rank, sign=1 if d == 3 else -1,
                                     median_abs=8.5 if d == 3 else 6.25, q_loc_abs=8.5 if d == 3 else 6.25,
                                     zscore=10.75 if d == 3 else 7.5, frac_above=1.0, quantile=1,
                                     fraction=1, zscore_rule=1, int8=1, borderline=0))
            if tokens:
                for kind, ids in (("promoted", [1, 3, 4, 5, 9, 10]), ("suppressed", [6, 7, 8, 11, 12, 13])):
                    for r, t in enumerate(ids, 1):
                        _insert(con, "tokens", dict(run_id=rid, dim=d, kind=kind, rank=r, token_id=t,
                                                    token=TOKENS[t],
                                                    weight=(0.5 - r / 32) * (1 if kind == "promoted" else -1),
                                                    contribution=(4 - r / 4) * (1 if kind == "promoted" else -1),
                                                    count=1000 // (t + 1), freq_rank=t + 1))
        for t in range(len(TOKENS) - 1):
            _insert(con, "freq", dict(run_id=rid, token_id=t, count=1000 // (t + 1) + (t == 4)))
    if not tokens:  # a database from before the token tables
        con.execute("DROP TABLE IF EXISTS tokens")
    if not ablation:  # ... and from before `odscope ablate`
        for t in ("ablation_inputs", "ablation_top1", "ablation_results", "ablations"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    if ablation:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for aid, rid in ((1, 1), (2, 2)):
            _insert(con, "ablations", dict(id=aid, run_id=rid, status="complete", options="{}",
                                           rule="quantile", mean=0, positions="all",
                                           faithful=0, n_inputs=990, started_at="2026-01-01T11:00:00Z",
                                           finished_at="2026-01-01T11:01:00Z"))
            conds = [("full", "", None), ("ablate_ods", "3,6", None), ("only_ods", "3,6", None)]
            conds += [(f"ablate_random_{r}", f"{r},{r + 1}", 100 + r) for r in (1, 2, 10)]
            conds += [(f"only_random_{r}", f"{r},{r + 1}", 100 + r) for r in (1, 2, 10)]
            conds += [("cumulative_1", "3", None), ("single_6", "6", None)]
            for i, (c, dims, seed) in enumerate(conds):
                s = 3.0 + i / 4 + rid / 8
                kind = ("full" if c == "full" else "ods" if c.endswith("_ods") else
                        c.split("_")[0] if c.split("_")[0] in ("cumulative", "single") else "random")
                _insert(con, "ablation_results", dict(
                    ablation_id=aid, condition=c, kind=kind, only=int(c.startswith("only")),
                    n_dims=len(dims.split(",")) if dims else 0,
                    dims=dims, seed=seed, mean_surprisal=s,
                    median_surprisal=s - 0.5, mean_entropy=s + 0.25, median_entropy=s,
                    mean_kl=0.0 if c == "full" else i / 16, median_kl=0.0 if c == "full" else i / 32,
                    accuracy=0.5 - i / 64, n_distinct_top1=20 - i, freq_slope=1.5 - i / 8,
                    freq_spearman=0.875 - i / 32))
                if "ablation_inputs" in tables:  # per-input values for two conditions
                    for n in range(20 if c in ("full", "ablate_ods") else 0):
                        _insert(con, "ablation_inputs", dict(
                            ablation_id=aid, condition=c, input=n, gold=n % 5, top1=(n * 3) % 5,
                            surprisal=s + (n % 7) / 4, entropy=s + (n % 5) / 4, kl=0.0 if c == "full" else (n % 4) / 8))
                for t in range(1, 6):
                    _insert(con, "ablation_top1", dict(ablation_id=aid, condition=c, token_id=t,
                                                       n_top1=(200 // t) if c == "full" else 100 + 10 * t + i))
    con.commit()
    con.close()
    return path


def normalize(text):
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<TIME>", text)
    text = re.sub(r"odscope \d+\.\d+\.\d+", "odscope <VERSION>", text)
    return text


def golden_db():
    d = common.tmpdir("export_golden")
    return d, make_db(os.path.join(d, "g.sqlite"))


def export(db, table, fmt, *extra):
    return common.run("export", "--db", db, "--table", table, "--format", fmt, *extra).stdout


def _compare(name, got):
    path = os.path.join(GOLDEN, name)
    got = normalize(got)
    if os.environ.get("ODS_UPDATE_GOLDEN") or not os.path.exists(path):
        if not os.environ.get("ODS_UPDATE_GOLDEN"):
            raise AssertionError(f"golden file {path} missing (run with ODS_UPDATE_GOLDEN=1)")
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(got)
        return
    with open(path, encoding="utf-8") as f:
        want = f.read()
    if got != want:
        import difflib
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden",
                                            "got", n=1))
        raise AssertionError(f"{name} differs from the golden file:\n{diff[:3000]}")


def _args(table):
    # runs 1 and 2 for every table: the multi-run path; compare by checkpoint step
    return ["--run", "1,2"] + (["--by", "checkpoint"] if table == "compare" else [])


def test_golden_every_table_and_format():
    d, db = golden_db()
    for table in TABLES:
        for fmt, ext in FORMATS.items():
            _compare(f"{table}.{ext}", export(db, table, fmt, *_args(table)))


def test_golden_options():
    d, db = golden_db()
    _compare("ods_run2.md", export(db, "ods", "markdown", "--run", "2"))  # default digits
    _compare("tokens_dim6_digits2.csv", export(db, "tokens", "csv", "--run", "1", "--dim", "6",
                                               "--digits", "2", "--limit", "4"))
    _compare("compare_model.tex", export(db, "compare", "latex", "--by", "model", "--conditions",
                                         "full,ablate_ods,ablate_random", "--caption", "My 50% table"))
    _compare("compare_corpus_run.md", export(db, "compare", "markdown", "--by", "corpus"))


def test_default_runs_and_out_file():
    d, db = golden_db()
    # per-run tables default to the newest complete run (2; 3 failed), runs/compare to all complete
    assert {r["run"] for r in json.loads(export(db, "ods", "json"))} == {2}
    assert [r["run"] for r in json.loads(export(db, "runs", "json"))] == [1, 2]
    assert len(json.loads(export(db, "compare", "json", "--by", "run"))) == 2
    assert [r["run"] for r in json.loads(export(db, "runs", "json", "--run", "all"))] == [1, 2]
    out = os.path.join(d, "ods.tex")
    assert common.run("export", "--db", db, "--table", "ods", "--format", "latex", "--run", "1",
                      "--out", out).stdout == ""
    with open(out) as f:
        assert f.read() == export(db, "ods", "latex", "--run", "1")


def test_json_and_csv_parse_back():
    d, db = golden_db()
    con = sqlite3.connect(db)
    for table in TABLES:
        js = json.loads(export(db, table, "json", *_args(table)))
        rows = list(csv.DictReader(io.StringIO(export(db, table, "csv", *_args(table)))))
        tsv = export(db, table, "tsv", *_args(table)).splitlines()
        assert len(js) == len(rows) == len(tsv) - 1 > 0, table
        assert list(js[0].keys()) == list(rows[0].keys()) == tsv[0].split("\t"), table
    # values: reals rounded to 4 significant digits, ints exact, token strings byte-exact
    js = json.loads(export(db, "tokens", "json", "--run", "1"))
    want = con.execute("SELECT token, weight, count FROM tokens WHERE run_id = 1 ORDER BY "
                       "(SELECT rank FROM ods o WHERE o.run_id = 1 AND o.dim = tokens.dim), "
                       "kind <> 'promoted', rank").fetchall()
    assert [(r["token"], r["count"]) for r in js] == [(w[0], w[2]) for w in want]
    assert all(abs(r["weight"] - w[1]) <= 5e-4 * abs(w[1]) for r, w in zip(js, want))
    rows = list(csv.DictReader(io.StringIO(export(db, "tokens", "csv", "--run", "1"))))
    assert [r["token"] for r in rows] == [w[0] for w in want]
    js = json.loads(export(db, "dims", "json", "--run", "2", "--digits", "17"))
    want = con.execute("SELECT mean FROM dims WHERE run_id = 2 ORDER BY dim").fetchall()
    assert [r["mean"] for r in js] == [w[0] for w in want]
    # the cross-run table: one row per run, conditions averaged over the random sets
    cmp = json.loads(export(db, "compare", "json", "--by", "checkpoint"))
    assert [r["step"] for r in cmp] == [1000, 143000]
    rnd = con.execute("SELECT avg(mean_surprisal) FROM ablation_results WHERE ablation_id = 2 "
                      "AND condition GLOB 'ablate_random_*'").fetchone()[0]
    assert abs(cmp[1]["ablate_random.surprisal"] - rnd) < 1e-3 * rnd
    assert cmp[0]["n_ods"] == 2 and "full.kl" not in cmp[0] and "ablate_out.kl" not in cmp[0]
    con.close()


def _latex_doc(body):
    return ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
            "\\usepackage{booktabs}\n\\begin{document}\n" + body + "\\end{document}\n")


def _latex_structure(tex):
    """Balanced braces (escaped ones excluded), booktabs rules, one cell per column per row."""
    body = re.sub(r"\\[{}]", "", tex)
    depth = 0
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        assert depth >= 0, "unbalanced braces"
    assert depth == 0, "unbalanced braces"
    spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", tex).group(1)
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\caption{", "\\end{table}"):
        assert rule in tex, rule
    rows = tex.split("\\midrule\n", 1)[1].split("\\bottomrule")[0].strip().splitlines()
    for r in rows:
        assert r.endswith("\\\\"), r
        cells = re.sub(r"\\&", "", r).count("&") + 1
        assert cells == len(spec), (r, spec)
    # no raw special characters left in cells (outside commands)
    for r in rows:
        s = re.sub(r"\\[a-zA-Z]+\{[^{}]*\}|\\[a-zA-Z]+|\\[_%&#${}]|\$[^$]*\$", "", r)
        assert not re.search(r"[_%#^~]", s), r


def test_latex_compiles():
    d, db = golden_db()
    texs = {t: export(db, t, "latex", *_args(t)) for t in TABLES}
    for t, tex in texs.items():
        _latex_structure(tex)
    # captions name the models, corpus and rule, escaped
    assert "corpus \\texttt{wiki\\_100\\%.txt}" in texs["ods"] and "rule quantile" in texs["ods"]
    assert "\\texttt{\\textvisiblespace{}of}" in texs["tokens"]
    pdflatex = shutil.which("pdflatex")
    if not pdflatex:
        raise common.Skip("pdflatex not installed (texlive-latex-base): LaTeX checked structurally only")
    for t, tex in texs.items():
        with open(os.path.join(d, f"{t}.tex"), "w", encoding="utf-8") as f:
            f.write(_latex_doc(tex))
        p = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"{t}.tex"],
                           cwd=d, capture_output=True, text=True, errors="replace", timeout=120)
        assert p.returncode == 0 and os.path.getsize(os.path.join(d, f"{t}.pdf")) > 0, \
            f"pdflatex failed on table {t}:\n{p.stdout[-2000:]}"


def test_missing_tables_and_bad_options():
    d = common.tmpdir("export_missing")
    db = make_db(os.path.join(d, "old.sqlite"), tokens=False, ablation=False)
    common.run_fail("export", "--db", db, "--table", "tokens", contains=["no tokens table",
                                                                          "odscope scan"])
    for t in ("ablation", "top1"):
        common.run_fail("export", "--db", db, "--table", t, contains=["no ablations table"])
    # the compare table still works without ablations: the base columns only
    cmp = json.loads(export(db, "compare", "json"))
    assert set(cmp[0]) == {"model", "n_ods", "max_zscore", "kurtosis"}, cmp[0]
    common.run_fail("export", "--db", db, "--table", "ods", "--run", "3", contains="not complete")
    common.run_fail("export", "--db", db, "--table", "ods", "--run", "9", contains="no run 9")
    common.run_fail("export", "--db", db, "--table", "nope", rc=2, contains="unknown table")
    common.run_fail("export", "--db", db, "--table", "ods", "--format", "xml", rc=2)
    common.run_fail("export", "--db", db, rc=2, contains="--table")
    common.run_fail("export", "--db", db, "--table", "ods", "--run", "1,x", rc=2, contains="run list")
    common.run_fail("export", "--db", db, "--table", "runs", "--dim", "3", rc=2, contains="--dim")
    common.run_fail("export", "--db", db, "--table", "compare", "--by", "x", rc=2, contains="--by")
    common.run_fail("export", "--db", db, "--table", "ods", "--out", os.path.join(d, "no", "x.csv"),
                    contains="no/x.csv")


def test_views_and_example_queries():
    """Every view and every db/queries/*.sql file runs in the sqlite3 shell on the small database."""
    d, db = golden_db()
    con = sqlite3.connect(db)
    views = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'view'")]
    assert {"run_summary", "od_tokens", "od_promoted", "token_freq", "token_predictions",
            "token_conditions", "ablation_summary"} <= set(views), views
    for v in views:
        con.execute(f"SELECT * FROM {v}").fetchall()
    assert con.execute("SELECT od_dims, max_zscore FROM run_summary WHERE run_id = 1").fetchone() == \
        ("3,6", 10.75)
    assert con.execute("SELECT promoted FROM od_promoted WHERE run_id = 1 AND dim = 3").fetchone()[0] \
        .startswith(" of | _x% | &#$")
    row = con.execute("SELECT full, ablate_ods, ablate_random FROM token_conditions "
                      "WHERE run_id = 1 AND token_id = 2").fetchone()
    assert row == (100, 121, (123 + 124 + 125) / 3), row
    con.close()
    shell = shutil.which("sqlite3")
    if not shell:
        raise common.Skip("sqlite3 shell not installed")
    qdir = os.path.join(common.ROOT, "db", "queries")
    files = sorted(f for f in os.listdir(qdir) if f.endswith(".sql"))
    assert len(files) >= 5
    for f in files:
        with open(os.path.join(qdir, f)) as fh:
            p = subprocess.run([shell, "-header", "-column", db], stdin=fh, capture_output=True,
                               text=True)
        assert p.returncode == 0 and not p.stderr and len(p.stdout.splitlines()) >= 2, (f, p.stderr)


def test_export_scanned_model():
    """End to end: scan a small generated model with planted ODs, export its tables."""
    import gen_corpus
    import gen_model
    d = common.tmpdir("export_scan")
    corpus = os.path.join(d, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for ln in gen_corpus.zipf_lines(150, seed=1):
            f.write(ln + "\n")
    model = os.path.join(d, "model")
    gen_model.make_model(model, n_embd=256, n_layer=1, n_head=4, n_positions=64, corpus=corpus,
                         plant=[(5, 8.0), (20, -6.0)], tokenizer_lines=150)
    db = os.path.join(d, "s.sqlite")
    common.run("scan", "--model", model, "--corpus", corpus, "--db", db, "--quiet")
    ods = json.loads(export(db, "ods", "json", "--rule", "quantile"))
    assert [(o["dim"], o["sign"]) for o in ods] == [(5, 1), (20, -1)], ods
    for t in ("runs", "ods", "freq", "dims", "compare"):
        for fmt in FORMATS:
            assert export(db, t, fmt).strip(), (t, fmt)
    _latex_structure(export(db, "ods", "latex"))
    cmp = json.loads(export(db, "compare", "json"))
    assert cmp[0]["model"] == "model" and cmp[0]["n_ods"] == 2
