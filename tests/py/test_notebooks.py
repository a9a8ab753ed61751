"""The notebooks in notebooks/, executed headless with nbconvert on small databases: every
figure is written and non-empty, and figures whose tables are missing are skipped with a note."""
import os
import json
import shutil
import subprocess

import common
import test_export as golden

NOTEBOOKS = ["od_figures.ipynb", "ablation.ipynb"]


def _execute(db, out):
    jupyter = shutil.which("jupyter")
    if not jupyter or subprocess.run([jupyter, "nbconvert", "--version"],
                                     capture_output=True).returncode != 0:
        raise common.Skip("jupyter-nbconvert not installed")
    figs = os.path.join(out, "figures")
    env = dict(os.environ, ODSCOPE_DB=os.path.abspath(db), ODSCOPE_FIGDIR=figs,
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    nbs = [os.path.join(common.ROOT, "notebooks", n) for n in NOTEBOOKS]
    p = subprocess.run([jupyter, "nbconvert", "--to", "notebook", "--execute", *nbs, "--output-dir", out],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    printed = {}  # the text the executed cells printed
    for n in NOTEBOOKS:
        with open(os.path.join(out, n), encoding="utf-8") as f:
            cells = json.load(f)["cells"]
        printed[n] = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))
    pngs = sorted(os.listdir(figs))
    for f in pngs:
        with open(os.path.join(figs, f), "rb") as fh:
            head = fh.read(8)
        assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(os.path.join(figs, f)) > 2000, f
    return pngs, printed


def test_notebooks_full_database():
    d = common.tmpdir("nb_full")
    db = golden.make_db(os.path.join(d, "g.sqlite"))
    pngs, printed = _execute(db, os.path.join(d, "out"))
    assert pngs == ["conditions_box.png", "dims_sorted.png", "predfreq_loglog.png",
                    "promoted_tokens.png", "runs_n_ods.png"], pngs
    assert "skipped" not in "".join(printed.values())
    assert "per-input values" in printed["ablation.ipynb"]


def test_notebooks_skip_missing_tables():
    d = common.tmpdir("nb_old")
    db = golden.make_db(os.path.join(d, "old.sqlite"), tokens=False, ablation=False)
    pngs, printed = _execute(db, os.path.join(d, "out"))
    assert pngs == ["dims_sorted.png", "runs_n_ods.png"], pngs
    assert "no tokens table in this database" in printed["od_figures.ipynb"]
    assert "no ablation tables in this database" in printed["ablation.ipynb"]


def test_notebooks_demo_database():
    """`make notebooks` runs them on db/demo.sqlite (made by `make demo`)."""
    db = os.path.join(common.ROOT, "db", "demo.sqlite")
    if not os.path.exists(db):
        # make the demo database (what `make demo` does) rather than skip
        subprocess.run(["sh", "tests/demo.sh"], cwd=common.ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pngs, _ = _execute(db, common.tmpdir("nb_demo"))
    assert {"dims_sorted.png", "runs_n_ods.png"} <= set(pngs), pngs
