"""odscope report: a self-contained HTML page with SVG figures, opened in headless Chromium
and checked through a screenshot that is not blank."""
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import common
import test_export as golden


def _report(db, out, *extra):
    p = common.run("report", "--db", db, "--out", out, *extra)
    assert re.match(r".*index\.html: run \d+, \d+ figures", p.stdout), p.stdout
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        return f.read(), int(re.search(r"(\d+) figures", p.stdout).group(1))


def test_report_full_database():
    d = common.tmpdir("report_full")
    db = golden.make_db(os.path.join(d, "g.sqlite"))
    html, n_figs = _report(db, os.path.join(d, "r1"), "--run", "1")
    svgs = sorted(f for f in os.listdir(os.path.join(d, "r1")) if f.endswith(".svg"))
    # sorted dims, dims by index, token bars for both ODs, prediction frequency, surprisal, KL
    assert svgs == ["fig_dims_index.svg", "fig_dims_sorted.svg", "fig_kl.svg", "fig_predfreq.svg",
                    "fig_surprisal.svg", "fig_tokens_3.svg", "fig_tokens_6.svg"], svgs
    assert n_figs == len(svgs)
    for f in svgs:
        root = ET.parse(os.path.join(d, "r1", f)).getroot()
        assert root.tag.endswith("svg") and len(list(root.iter())) > 10, f
    # self-contained: inline SVG, no external resources
    assert html.count("<svg") == n_figs and "<script" not in html and "src=" not in html
    assert "odscope report: run 1" in html and "wiki_100%.txt" in html
    assert "<code>&lt;b&gt;</code>" in html  # token strings escaped
    assert "step1000" in html and "ablate_random_10" in html
    assert 'class="note"' not in html.split("<h2>Figures</h2>")[1].split("<h2>")[0]


def test_report_old_database_skips_figures():
    d = common.tmpdir("report_old")
    db = golden.make_db(os.path.join(d, "old.sqlite"), tokens=False, ablation=False)
    html, n_figs = _report(db, os.path.join(d, "r"))  # newest complete run: 2
    assert n_figs == 2 and "run 2" in html
    assert "No token tables" in html and "No ablation tables" in html
    common.run_fail("report", "--db", db, "--out", os.path.join(d, "r"), "--run", "3",
                    contains="not complete")
    common.run_fail("report", "--db", db, rc=2, contains="--out")


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    raise common.Skip("chromium not installed: report screenshot not taken")


def test_report_renders_in_chromium():
    chromium = _chromium()
    try:
        from PIL import Image
    except ImportError:
        raise common.Skip("python3-pil not installed: screenshot not inspected")
    d = common.tmpdir("report_shot")
    db = golden.make_db(os.path.join(d, "g.sqlite"))
    out = os.path.join(d, "r")
    _report(db, out, "--run", "2")
    shot = os.path.join(d, "shot.png")
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={os.path.join(d, 'profile')}", "--window-size=1100,1800",
                        f"--screenshot={shot}", "file://" + os.path.abspath(os.path.join(out, "index.html"))],
                       capture_output=True, text=True, timeout=120)
    assert os.path.exists(shot) and os.path.getsize(shot) > 0, p.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (1100, 1800), img.size
    px = img.getdata()
    nonwhite = sum(1 for r, g, b in px if r + g + b < 600)
    colors = len(img.getcolors(maxcolors=1 << 20) or [])
    assert nonwhite > 0.01 * len(px), nonwhite  # text, tables and plots were drawn
    assert colors > 20, colors
    # the figure's blue line and the red threshold line show up
    assert any(b > 150 and r < 100 for r, g, b in px), "no blue plot pixels"
    assert any(r > 180 and g < 80 and b < 80 for r, g, b in px), "no red threshold pixels"
