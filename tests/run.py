#!/usr/bin/python3
"""The one test gate: runs the C unit-test binaries and the Python tests in
tests/py, prints one line per test and ends with "N passed, N failed, N skipped".

  tests/run.py            everything
  tests/run.py PATTERN    only tests whose name contains PATTERN
Environment: ODSCOPE (binary, default ./odscope), BUILD (build dir, default build).
"""
import importlib.util
import os
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
os.chdir(ROOT)
import common  # noqa: E402

counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
failed = []


def report(status, name, detail=""):
    counts[status] += 1
    if status == "FAIL":
        failed.append(name)
    print(f"{status} {name}{(': ' + detail) if detail else ''}", flush=True)


def run_unit(path, pattern):
    name = os.path.basename(path)
    t0 = time.time()
    p = subprocess.run([path], capture_output=True, text=True, errors="replace")
    lines = p.stdout.splitlines()
    seen = 0
    pending = []
    for ln in lines:
        for st in ("PASS", "FAIL", "SKIP"):
            if ln.startswith(st + " "):
                seen += 1
                for x in pending if st != "PASS" else []:
                    print("   " + x)
                pending = []
                full = f"{name}.{ln[len(st) + 1:]}"
                if not pattern or pattern in full:
                    report(st, full)
                break
        else:
            pending.append(ln)
    if p.returncode != 0 and not any(ln.startswith("FAIL ") for ln in lines):
        report("FAIL", f"{name}", f"exit {p.returncode}: {p.stderr.strip()[-500:]}")
    elif seen == 0 and (not pattern or pattern in name):
        report("FAIL", f"{name}", "no test ran")
    if os.environ.get("VERBOSE"):
        print(f"   ({time.time() - t0:.1f}s)")


def run_py(path, pattern):
    modname = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception:
        report("FAIL", modname, "import failed\n" + traceback.format_exc())
        return
    for fname in sorted(n for n in dir(mod) if n.startswith("test_")):
        full = f"{modname}.{fname}"
        if pattern and pattern not in full:
            continue
        t0 = time.time()
        try:
            getattr(mod, fname)()
            report("PASS", full)
        except common.Skip as e:
            report("SKIP", full, str(e))
        except Exception:
            report("FAIL", full, "\n" + traceback.format_exc())
        if os.environ.get("VERBOSE"):
            print(f"   ({time.time() - t0:.1f}s)")


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    build = os.environ.get("BUILD", "build")
    tdir = os.path.join(build, "tests")
    if os.path.isdir(tdir):
        for f in sorted(os.listdir(tdir)):
            if f.startswith("test_"):
                run_unit(os.path.join(tdir, f), pattern)
    pydir = os.path.join(ROOT, "tests", "py")
    for f in sorted(os.listdir(pydir)):
        if f.startswith("test_") and f.endswith(".py"):
            run_py(os.path.join(pydir, f), pattern)
    if failed:
        print("failed: " + ", ".join(failed))
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] or counts["PASS"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
