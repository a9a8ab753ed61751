"""Regenerates the notebooks: /usr/bin/python3 notebooks/make_notebooks.py (run in notebooks/)."""
import nbformat as nbf

SETUP = r'''import os, sqlite3
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

# The database and where figures go: set by `make notebooks` (and tests/py/test_notebooks.py).
DB = os.environ.get("ODSCOPE_DB", os.path.join("..", "db", "demo.sqlite"))
FIGDIR = os.environ.get("ODSCOPE_FIGDIR", os.path.join("out", "figures"))
os.makedirs(FIGDIR, exist_ok=True)
con = sqlite3.connect(f"file:{DB}?mode=ro", uri=True)

def has(table):
    return con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None

def q(sql, *args):
    return pd.read_sql_query(sql, con, params=args)

def save(fig, name):
    path = os.path.join(FIGDIR, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print("wrote", path)

RUN = int(os.environ.get("ODSCOPE_RUN") or q("SELECT max(id) AS id FROM runs WHERE status = 'complete'").id[0])
run = q("SELECT * FROM runs WHERE id = ?", RUN).iloc[0]
print(f"database {DB}, run {RUN}: {run.model_path} on {run.corpus_path}, rule {run.rule}, "
      f"{run.n_ods} ODs")'''

def nb(title, intro, cells):
    n = nbf.v4.new_notebook()
    n.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    n.cells = [nbf.v4.new_markdown_cell(f"# {title}\n\n{intro}"), nbf.v4.new_code_cell(SETUP)]
    for md, code in cells:
        n.cells.append(nbf.v4.new_markdown_cell(md))
        n.cells.append(nbf.v4.new_code_cell(code))
    return n

ods_nb = nb("Outlier dimensions of a run",
  "Reads an odscope database (`ODSCOPE_DB`, default `../db/demo.sqlite`) and draws the standard "
  "figures; run headless with `make notebooks`.",
  [("## Per-dimension median |h|, sorted, with the global threshold\n\nThe quantile rule's statistic "
    "per dimension against `quantile_{q_glob}(|X|)` over all entries: the standard OD figure.",
    r'''dims = q("SELECT d.dim, d.q_loc_abs, o.rank AS od_rank FROM dims d LEFT JOIN ods o "
         "ON o.run_id = d.run_id AND o.dim = d.dim AND o.quantile = 1 WHERE d.run_id = ? "
         "ORDER BY d.q_loc_abs DESC", RUN)
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(range(1, len(dims) + 1), dims.q_loc_abs, lw=1.5, label="median |h_d|")
ax.axhline(run.threshold, color="tab:red", ls="--", label=f"global threshold ({run.threshold:.3g})")
od = dims[dims.od_rank.notna()]
ax.scatter(od.index + 1, od.q_loc_abs, color="tab:red", zorder=3)
for i, r in od.head(10).iterrows():
    ax.annotate(f"dim {int(r.dim)}", (i + 1, r.q_loc_abs), xytext=(6, -4), textcoords="offset points")
ax.set_xscale("log")
ax.set_xlabel("dimensions sorted by median |h_d|")
ax.set_ylabel("median |h_d|")
ax.legend()
save(fig, "dims_sorted.png")'''),
   ("## Tokens each OD promotes\n\nTop tokens by logit contribution `σ_d·m_d·W_U[t,d]` (from the "
    "`tokens` table; skipped when the database has none).",
    r'''if not has("tokens"):
    print("no tokens table in this database (run 'odscope scan' with a newer odscope): figure skipped")
else:
    tok = q("SELECT t.dim, t.rank, t.token, t.contribution FROM tokens t JOIN ods o ON o.run_id = t.run_id "
            "AND o.dim = t.dim WHERE t.run_id = ? AND t.kind = 'promoted' AND t.rank <= 10 AND o.rank <= 4 "
            "ORDER BY o.rank, t.rank", RUN)
    dims_ = list(dict.fromkeys(tok.dim))
    if not dims_:
        print("no promoted tokens stored for this run")
    else:
        fig, axes = plt.subplots(1, len(dims_), figsize=(3.2 * len(dims_), 3.5), squeeze=False)
        for ax, d in zip(axes[0], dims_):
            t = tok[tok.dim == d]
            ax.barh([repr(s) for s in t.token][::-1], t.contribution.abs()[::-1], color="tab:blue")
            ax.set_title(f"dim {d}")
            ax.set_xlabel("logit contribution")
        fig.tight_layout()
        save(fig, "promoted_tokens.png")'''),
   ("## Cross-run table\n\nRuns side by side (`odscope export --table compare` gives the same as "
    "CSV/LaTeX).",
    r'''cmp = q("SELECT * FROM run_summary WHERE status = 'complete' ORDER BY run_id") if has("run_summary") else \
      q("SELECT id AS run_id, model_path AS model, n_ods, kurtosis FROM runs WHERE status = 'complete'")
cols = [c for c in ("run_id", "model", "corpus", "n_ods", "od_dims", "max_zscore", "kurtosis", "mmr") if c in cmp]
table = cmp[cols]
display(table) if "display" in globals() else print(table)
fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(table)), 3))
ax.bar([f"{r.run_id}: {r.model}" for r in table.itertuples()], table.n_ods, color="tab:blue")
ax.set_ylabel("|ODs|")
ax.set_title("ODs per run")
plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
save(fig, "runs_n_ods.png")'''),
  ])

abl_nb = nb("Ablation: what the outlier dimensions do",
  "Prediction frequency against corpus frequency and the per-condition observables of "
  "`odscope ablate` (skipped with a note when the database has no ablation).",
  [("## Prediction frequency against corpus frequency (log-log)\n\nFull model vs. ODs ablated vs. a "
    "random set of as many dimensions ablated.",
    r'''ABL = has("ablations") and has("ablation_results") and has("ablation_top1")
if not ABL:
    print("no ablation tables in this database (run 'odscope ablate' with a newer odscope): figures skipped")
else:
    aid = q("SELECT max(id) AS id FROM ablations WHERE run_id = ? AND status = 'complete'", RUN).id[0]
    if aid is None or pd.isna(aid):
        ABL = False
        print(f"run {RUN} has no complete ablation: figures skipped")
if ABL:
    aid = int(aid)
    pf = q("SELECT p.condition, CAST(p.n_top1 AS REAL) / a.n_inputs AS p_pred, "
           "CAST(f.count AS REAL) / r.n_tokens AS p_corp FROM ablation_top1 p "
           "JOIN ablations a ON a.id = p.ablation_id JOIN runs r ON r.id = a.run_id "
           "JOIN freq f ON f.run_id = a.run_id AND f.token_id = p.token_id "
           "WHERE a.id = ? AND p.n_top1 > 0", aid)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for cond, color in (("full", "tab:blue"), ("ablate_ods", "tab:red"), ("ablate_random_1", "tab:gray")):
        s = pf[pf.condition == cond]
        ax.scatter(s.p_corp, s.p_pred, s=10, alpha=0.6, color=color, label=cond)
    lo, hi = pf[["p_pred", "p_corp"]].min().min(), pf[["p_pred", "p_corp"]].max().max()
    ax.plot([lo, hi], [lo, hi], color="k", ls=":", lw=1, label="y = x")
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel("corpus frequency"); ax.set_ylabel("prediction frequency (top-1 share)")
    ax.legend()
    save(fig, "predfreq_loglog.png")'''),
   ("## Surprisal, entropy and KL per condition\n\nThe database stores per-condition aggregates, so "
    "boxes span the per-input values when `odscope ablate --per-input` stored them (table "
    "`ablation_inputs`); otherwise each box spans the conditions of one group (the R random sets, the "
    "cumulative and single-OD ablations) and `full`, `ablate_ods`, `only_ods` are single values.",
    r'''if ABL:
    res = q("SELECT * FROM ablation_results WHERE ablation_id = ?", aid)
    def group(c):
        for g in ("ablate_random", "only_random", "cumulative", "single"):
            if c.startswith(g + "_"):
                return g
        return c
    res["group"] = res.condition.map(group)
    order = [g for g in ("full", "ablate_ods", "only_ods", "ablate_out", "only_out", "ablate_random",
                         "only_random", "cumulative", "single") if g in set(res.group)]
    per_input = q("SELECT * FROM ablation_inputs WHERE ablation_id = ?", aid) \
        if has("ablation_inputs") else pd.DataFrame()
    if len(per_input):  # `odscope ablate --per-input`: boxes over inputs
        per_input["group"] = per_input.condition.map(group)
        src, cols = per_input, ("surprisal", "entropy", "kl")
        print(f"boxes over per-input values ({len(per_input)} rows)")
    else:
        src, cols = res, ("mean_surprisal", "mean_entropy", "mean_kl")
        print("boxes over the conditions of each group (no per-input values stored)")
    order = [g for g in order if g in set(src.group)]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, col, name in zip(axes, cols, ("surprisal (nats)", "entropy (nats)", "KL(P||Q) (nats)")):
        ax.boxplot([src[src.group == g][col].dropna() for g in order], labels=order)
        ax.set_title(name)
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    fig.tight_layout()
    save(fig, "conditions_box.png")
    summary = res[res.group.isin(["full", "ablate_ods", "only_ods", "ablate_random", "only_random"])] \
        .groupby("group")[["mean_surprisal", "mean_entropy", "mean_kl", "accuracy", "freq_slope"]].mean()
    display(summary) if "display" in globals() else print(summary)'''),
  ])

nbf.write(ods_nb, "od_figures.ipynb")
nbf.write(abl_nb, "ablation.ipynb")
