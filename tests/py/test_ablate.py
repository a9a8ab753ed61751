"""Issue 5: ablation. Every observable is recomputed in NumPy (float64) from
odscope's own final hidden states (odscope forward) and W_U, and the
frequent-token effect of planted ODs is checked against random controls."""
import json
import os

import numpy as np

import common
from common import q, spearman
import gen_corpus
import gen_model
import ref_gpt2

PLANT = [(9, 7.0), (200, -5.0)]
_s = {}


def setup():
    if _s:
        return _s
    d = common.tmpdir("ablate")
    corpus = os.path.join(d, "corpus.txt")
    lines = gen_corpus.zipf_lines(80, seed=11)
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    model = os.path.join(d, "model")
    gen_model.make_model(model, n_embd=256, n_layer=2, n_head=4, n_positions=64, corpus=corpus,
                         tokenizer_lines=80, plant=PLANT, plant_unembed=True, plant_rank="corpus",
                         plant_unembed_scale=0.5, seed=4)
    db = os.path.join(d, "a.sqlite")
    common.run("scan", "--model", model, "--corpus", corpus, "--db", db, "--quiet")
    with open(os.path.join(model, "tokenizer.json"), encoding="utf-8") as f:
        enc = gen_corpus.Encoder(json.load(f))
    docs = [enc.encode(ln) for ln in lines]
    # odscope's own hidden states of every input that has a gold next token
    H, gold = [], []
    for i, ids in enumerate(docs):
        if len(ids) < 3:
            continue
        out = os.path.join(d, "fw")
        common.run("forward", "--model", model, "--ids", ",".join(map(str, ids)), "--out", out)
        h = np.load(out + ".hidden.npy").astype(np.float64)
        H.append(h[1:-1])
        gold.extend(ids[2:])
    t = ref_gpt2.load_tensors(model)
    W = np.asarray(t["wte.weight"], dtype=np.float64)
    counts = np.zeros(W.shape[0], dtype=np.int64)
    for tid, n in q(db, "SELECT token_id, count FROM freq WHERE run_id = 1"):
        counts[tid] = n
    _s.update(d=d, corpus=corpus, model=model, db=db, H=np.concatenate(H), gold=np.array(gold),
              W=W, counts=counts, lines=lines, enc=enc)
    return _s


def log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def observables(H, W, dims, only, gold, base=None):
    b = np.zeros(H.shape[1]) if base is None else base
    Hc = H.copy()
    S = np.array(dims, dtype=int)
    if only:
        keep = Hc[:, S].copy() if len(S) else None
        Hc[:] = b
        if len(S):
            Hc[:, S] = keep
    elif len(S):
        Hc[:, S] = b[S]
    lq = log_softmax(Hc @ W.T)
    lp = log_softmax(H @ W.T)
    q_ = np.exp(lq)
    p_ = np.exp(lp)
    return dict(surprisal=-lq[np.arange(len(gold)), gold], entropy=-(q_ * lq).sum(1),
                kl=(p_ * (lp - lq)).sum(1), top1=lq.argmax(1))


def close(a, b, rel=1e-5, abs_=1e-6):
    return abs(a - b) <= rel * abs(b) + abs_


def check_ablation(s, aid, base=None):
    H, W, gold, counts = s["H"], s["W"], s["gold"], s["counts"]
    rows = q(s["db"], "SELECT condition, only, dims, mean_surprisal, median_surprisal, mean_entropy, "
             "median_entropy, mean_kl, median_kl, accuracy, n_distinct_top1, freq_slope, "
             "freq_spearman FROM ablation_results WHERE ablation_id = ?", aid)
    assert rows
    (n_in,) = q(s["db"], "SELECT n_inputs FROM ablations WHERE id = ?", aid)[0]
    assert n_in == len(gold), (n_in, len(gold))
    for (cond, only, dims, msu, mdsu, men, mden, mkl, mdkl, acc, nd, slope, rho) in rows:
        S = [int(x) for x in dims.split(",")] if dims else []
        o = observables(H, W, S, only, gold, base)
        for name, got, exp in (("mean_surprisal", msu, o["surprisal"].mean()),
                               ("median_surprisal", mdsu, np.median(o["surprisal"])),
                               ("mean_entropy", men, o["entropy"].mean()),
                               ("median_entropy", mden, np.median(o["entropy"])),
                               ("mean_kl", mkl, o["kl"].mean()),
                               ("median_kl", mdkl, np.median(o["kl"]))):
            assert close(got, exp), (cond, name, got, exp)
        assert close(acc, float((o["top1"] == gold).mean()), 0, 1e-12), (cond, acc)
        n_top1 = np.bincount(o["top1"], minlength=W.shape[0])
        assert nd == int((n_top1 > 0).sum()), (cond, nd)
        got_top = dict(q(s["db"], "SELECT token_id, n_top1 FROM ablation_top1 WHERE ablation_id = ? "
                         "AND condition = ?", aid, cond))
        assert got_top == {t: int(n) for t, n in enumerate(n_top1) if n}, cond
        both = (n_top1 > 0) & (counts > 0)
        if both.sum() >= 2:
            x = counts[both] / counts.sum()
            y = n_top1[both] / len(gold)
            es = np.polyfit(x, y, 1)[0]
            er = spearman(x, y)
            assert close(slope, es, 1e-9, 1e-9), (cond, slope, es)
            assert (rho is None and np.isnan(er)) or close(rho, er, 1e-9, 1e-9), (cond, rho, er)
    return {r[0]: r for r in rows}


def test_ablation_matches_numpy_and_shows_the_effect():
    s = setup()
    out = common.run("ablate", "--db", s["db"], "--random", "4", "--per-input").stdout
    assert "ablate_ods" in out and "ablate_random (mean" in out
    res = check_ablation(s, 1)
    names = set(res)
    assert {"full", "ablate_ods", "only_ods", "cumulative_1", "cumulative_2", "single_9",
            "single_200"} <= names
    assert sum(n.startswith("ablate_random_") for n in names) == 4
    # per-input values against NumPy
    o = observables(s["H"], s["W"], [9, 200], 0, s["gold"])
    got = np.array(q(s["db"], "SELECT surprisal, entropy, kl, top1, gold FROM ablation_inputs "
                     "WHERE ablation_id = 1 AND condition = 'ablate_ods' ORDER BY input"))
    assert np.allclose(got[:, 0], o["surprisal"], rtol=1e-5, atol=1e-5)
    assert np.allclose(got[:, 1], o["entropy"], rtol=1e-5, atol=1e-5)
    assert np.allclose(got[:, 2], o["kl"], rtol=1e-4, atol=1e-5)
    assert (got[:, 4] == s["gold"]).all()
    # the frequent-token heuristic: ablating the planted ODs flattens the prediction-frequency
    # slope and removes the planted frequent tokens from the top-1; random sets do not
    full, abl = res["full"], res["ablate_ods"]
    assert abl[11] < 0.5 * full[11], (abl[11], full[11])
    for r in (v for k, v in res.items() if k.startswith("ablate_random_")):
        assert abs(r[11] - full[11]) < 0.2 * abs(full[11]), (r[0], r[11], full[11])
    frequent = np.argsort(-s["counts"])[:5]
    n_full = sum(n for t, n in q(s["db"], "SELECT token_id, n_top1 FROM ablation_top1 WHERE "
                                "ablation_id = 1 AND condition = 'full'") if t in frequent)
    n_abl = sum(n for t, n in q(s["db"], "SELECT token_id, n_top1 FROM ablation_top1 WHERE "
                               "ablation_id = 1 AND condition = 'ablate_ods'") if t in frequent)
    assert n_abl < 0.5 * n_full, (n_abl, n_full)
    seeds = q(s["db"], "SELECT seed FROM ablation_results WHERE ablation_id = 1 AND kind = 'random' "
              "AND only = 0 ORDER BY condition")
    assert [x[0] for x in seeds] == [1, 2, 3, 4]


def test_mean_ablation_and_dims():
    s = setup()
    common.run("ablate", "--db", s["db"], "--random", "1", "--mean", "--dims", "3,77")
    aid = q(s["db"], "SELECT max(id) FROM ablations")[0][0]
    means = np.array([m for (m,) in q(s["db"], "SELECT mean FROM dims WHERE run_id = 1 ORDER BY dim")])
    res = check_ablation(s, aid, base=means)
    assert "ablate_dims" in res and "only_dims" in res
    assert q(s["db"], "SELECT mean, faithful, status FROM ablations WHERE id = ?", aid)[0] == \
        (1, 0, "complete")


def test_ablate_errors():
    s = setup()
    common.run_fail("ablate", "--db", s["db"], "--dims", "3,99999", contains=["--dims", "99999"])
    common.run_fail("ablate", "--db", s["db"], "--dims", "3,x", contains="--dims")
    common.run_fail("ablate", "--db", s["db"], "--run", "42", contains="no run 42")
    # a model with no outlier dimension: nothing to ablate
    d = s["d"]
    m = os.path.join(d, "plain")
    gen_model.make_model(m, n_embd=64, n_layer=1, n_head=2, n_positions=32, corpus=s["corpus"],
                         tokenizer_lines=80, seed=9)
    db = os.path.join(d, "plain.sqlite")
    common.run("scan", "--model", m, "--corpus", s["corpus"], "--db", db, "--quiet")
    if q(db, "SELECT count(*) FROM ods WHERE quantile = 1")[0][0]:
        raise common.Skip("the random model happens to have an OD")
    common.run_fail("ablate", "--db", db, contains=["no outlier dimensions", "--dims"])


def test_word_positions():
    s = setup()
    common.run("ablate", "--db", s["db"], "--random", "1", "--positions", "word:3", "--per-input")
    aid = q(s["db"], "SELECT max(id) FROM ablations")[0][0]
    lines = [ln for ln in s["lines"] if len(ln.split()) >= 4]
    (n,) = q(s["db"], "SELECT n_inputs FROM ablations WHERE id = ?", aid)[0]
    assert n == len(lines), (n, len(lines))
    # input k: the last token of word 3, gold = first token of word 4
    ln = lines[0]
    w = ln.split()
    pre = s["enc"].encode(" ".join(w[:3]) if ln.startswith(w[0]) else ln[:ln.index(w[2]) + len(w[2])])
    full = s["enc"].encode(ln[:ln.index(w[3], len(" ".join(w[:3]))) + len(w[3])])
    gold0 = q(s["db"], "SELECT gold FROM ablation_inputs WHERE ablation_id = ? AND condition = 'full' "
              "AND input = 0", aid)[0][0]
    assert gold0 == full[len(pre)], (gold0, full[len(pre)])
