"""Shared helpers for the Python tests (run by tests/run.py from the project root)."""
import os
import shutil
import sqlite3
import subprocess

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ODSCOPE = os.path.join(ROOT, os.environ.get("ODSCOPE", "odscope"))
FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures")
TMP = os.path.join(ROOT, "tests", "tmp")


class Skip(Exception):
    """Raised by a test that cannot run here (reported as SKIP, never as PASS)."""


def need_odscope():
    """Skip when the binary has not been built."""
    if not os.path.exists(ODSCOPE):
        raise Skip(f"{os.path.relpath(ODSCOPE, ROOT)} not built")


def check_forward(name, detail, h, z, hr, zr, tol=1e-5):
    """odscope's final hidden states h and logits z (float32) against a float64 reference
    hr, zr: one printed line with the max-abs and relative error ||a - b|| / ||b|| of each,
    and relative errors < tol required."""
    assert h.dtype == np.float32 and z.dtype == np.float32, (name, h.dtype, z.dtype)
    assert h.shape == hr.shape, f"{name}: hidden shape {h.shape}, want {hr.shape}"
    assert z.shape == zr.shape, f"{name}: logits shape {z.shape}, want {zr.shape}"
    err = []
    for a, b in ((h, hr), (z, zr)):
        a = a.astype(np.float64)
        err.append((float(np.abs(a - b).max()), float(np.linalg.norm(a - b) / np.linalg.norm(b))))
    (eh, rh), (ez, rz) = err
    print(f"   {name:<24} {detail}  hidden max-abs {eh:.2e} rel {rh:.2e}   "
          f"logits max-abs {ez:.2e} rel {rz:.2e}")
    assert rh < tol, f"{name}: hidden relative error {rh:.3e} >= {tol}"
    assert rz < tol, f"{name}: logits relative error {rz:.3e} >= {tol}"


def fixture(*parts):
    """Path under ../shared/fixtures, or Skip when that folder is absent."""
    p = os.path.join(FIXTURES, *parts)
    if not os.path.exists(p):
        raise Skip(f"fixture {os.path.join(*parts)} not present (../shared/fixtures absent)")
    return p


def tmpdir(name):
    """A fresh scratch directory tests/tmp/<name>."""
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def run(*args, check=True, input=None, env=None):
    """Run odscope with args; returns CompletedProcess (text). check: require exit 0."""
    p = subprocess.run([ODSCOPE, *map(str, args)], capture_output=True, text=True,
                       input=input, env=env, errors="replace")
    if check and p.returncode != 0:
        raise AssertionError(f"odscope {' '.join(map(str, args))} exited {p.returncode}:\n"
                             f"{p.stderr}")
    return p


def run_fail(*args, rc=1, contains=None):
    """Run odscope expecting failure with exit code rc and a one-line stderr message."""
    p = run(*args, check=False)
    assert p.returncode == rc, f"expected exit {rc}, got {p.returncode}: {p.stderr}"
    msg = p.stderr.strip()
    assert msg, "no error message"
    assert len(msg.splitlines()) == 1, f"error message is not one line: {msg!r}"
    if contains:
        for c in ([contains] if isinstance(contains, str) else contains):
            assert c in msg, f"{c!r} not in error message {msg!r}"
    return msg


def q(db, sql, *args):
    """Rows of a query on the database file db."""
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def rankdata(x):
    """Average ranks (1-based), ties sharing their mean rank (scipy.stats.rankdata 'average')."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x))
    i = 0
    while i < len(x):
        j = i + 1
        while j < len(x) and xs[j] == xs[i]:
            j += 1
        ranks[order[i:j]] = 0.5 * (i + 1 + j)
        i = j
    return ranks


def spearman(a, b):
    """Spearman rho with average ranks (NaN when a side is constant)."""
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])
