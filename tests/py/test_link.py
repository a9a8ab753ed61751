"""Issue 4: ODs linked to the unembedding and to token frequencies. Every
number odscope stores is recomputed here independently (NumPy, float64) from
the model file, a Python BPE encoder and the float64 PyTorch reference."""
import json
import os

import numpy as np

import common
from common import q, spearman
import gen_corpus
import gen_model
import ref_gpt2

PLANT = [(9, 7.0), (200, -5.0)]


_state = {}


def setup():
    if _state:
        return _state
    d = common.tmpdir("link")
    corpus = os.path.join(d, "corpus.txt")
    lines = gen_corpus.zipf_lines(120, seed=5)
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    model = os.path.join(d, "model")
    gen_model.make_model(model, n_embd=256, n_layer=2, n_head=4, n_positions=64, corpus=corpus,
                         tokenizer_lines=120, plant=PLANT, plant_unembed=True, plant_rank="corpus",
                         seed=3)
    db = os.path.join(d, "link.sqlite")
    common.run("scan", "--model", model, "--corpus", corpus, "--db", db, "--quiet",
               "--top-tokens", "30")
    with open(os.path.join(model, "tokenizer.json"), encoding="utf-8") as f:
        enc = gen_corpus.Encoder(json.load(f))
    docs = [enc.encode(ln) for ln in lines]
    ref = ref_gpt2.Model(model) if hasattr(ref_gpt2, "Model") else None
    _state.update(d=d, corpus=corpus, model=model, db=db, docs=docs, lines=lines, ref=ref)
    return _state


def wu(model):
    t = ref_gpt2.load_tensors(model)
    return np.asarray(t.get("wte.weight", t.get("transformer.wte.weight")), dtype=np.float64)


def counts_of(docs, V):
    c = np.zeros(V, dtype=np.int64)
    for ids in docs:
        for i in ids:
            c[i] += 1
    return c


def hidden_states(s):
    """Final hidden states and top-1 predictions of every input (float64 reference)."""
    hs, top = [], []
    for ids in s["docs"]:
        if len(ids) < 2:
            continue
        h, z = ref_gpt2.forward(s["model"], ids)
        hs.append(np.asarray(h)[1:])
        top.append(np.argmax(np.asarray(z)[1:], axis=1))
    return np.concatenate(hs), np.concatenate(top)


def test_freq_counts_are_independent_counts():
    s = setup()
    W = wu(s["model"])
    c = counts_of(s["docs"], W.shape[0])
    got = dict(q(s["db"], "SELECT token_id, count FROM freq WHERE run_id = 1"))
    assert got == {i: int(n) for i, n in enumerate(c) if n}
    # freq --corpus gives the same counts without a forward pass
    out = common.run("freq", "--model", s["model"], "--corpus", s["corpus"], "--db", s["db"]).stdout
    cid = int(out.split()[1].rstrip(":"))
    got2 = dict(q(s["db"], "SELECT token_id, count FROM count_values WHERE counts_id = ?", cid))
    assert got2 == got


def test_promoted_tokens_and_rho_against_numpy():
    s = setup()
    W = wu(s["model"])
    V = W.shape[0]
    c = counts_of(s["docs"], V)
    X, top1 = hidden_states(s)
    for d, v in PLANT:
        sign = int(np.sign(np.median(X[:, d])))
        m = float(np.median(np.abs(X[:, d])))
        assert sign == int(np.sign(v))
        contrib = sign * m * W[:, d]
        order = np.lexsort((np.arange(V), -contrib))
        rows = q(s["db"], "SELECT token_id, weight, contribution, count FROM tokens WHERE run_id = 1 "
                 "AND dim = ? AND kind = 'promoted' ORDER BY rank", d)
        assert [r[0] for r in rows] == list(order[:30]), (d, [r[0] for r in rows][:8], order[:8])
        for (t, w, ct, n) in rows:
            assert abs(w - W[t, d]) < 1e-6 and abs(ct - contrib[t]) < 1e-4 * abs(contrib[t]) + 1e-6
            assert n == c[t]
        sup = [r[0] for r in q(s["db"], "SELECT token_id FROM tokens WHERE run_id = 1 AND dim = ? "
                               "AND kind = 'suppressed' ORDER BY rank", d)]
        order_s = np.lexsort((np.arange(V), contrib))
        assert sup == list(order_s[:30])
        # the planted column promotes the frequent tokens
        (rho,) = q(s["db"], "SELECT rho_unemb_freq FROM dim_corr WHERE run_id = 1 AND dim = ?", d)[0]
        assert rho > 0.9, rho
    # rho(sigma_d W_U[:,d], count) for every dimension, tokens with count > 0
    signs = np.sign(np.median(X, axis=0))
    signs[signs == 0] = 1
    keep = c > 0
    got = dict(q(s["db"], "SELECT dim, rho_unemb_freq FROM dim_corr WHERE run_id = 1"))
    for d in range(W.shape[1]):
        exp = spearman(signs[d] * W[keep, d], c[keep])
        assert abs(got[d] - exp) < 1e-9, (d, got[d], exp)
    # rho(||W_U[t,:]||, count)
    (rn,) = q(s["db"], "SELECT rho_norm_freq FROM runs WHERE id = 1")[0]
    assert abs(rn - spearman(np.linalg.norm(W[keep], axis=1), c[keep])) < 1e-9
    # rho(h_d, count of the top-1 prediction): every input is in the sample here
    (ns,) = q(s["db"], "SELECT corr_sample FROM runs WHERE id = 1")[0]
    assert ns == len(X)
    got = dict(q(s["db"], "SELECT dim, rho_act_predfreq FROM dim_corr WHERE run_id = 1"))
    pf = c[top1]
    for d in [0, 1, 50, 100, 255]:
        exp = spearman(X[:, d], pf)
        assert abs(got[d] - exp) < 2e-3, (d, got[d], exp)


def test_unembedding_ods():
    s = setup()
    W = wu(s["model"])
    A = np.abs(W)
    thr = np.quantile(A, 0.99)
    exp = sorted(int(d) for d in np.nonzero(np.quantile(A, 0.5, axis=0) > thr)[0])
    got = sorted(r[0] for r in q(s["db"], "SELECT dim FROM unemb_ods WHERE run_id = 1"))
    assert got == exp, (got, exp)
    n_unemb, n_overlap = q(s["db"], "SELECT n_unemb_ods, n_overlap FROM runs WHERE id = 1")[0]
    assert n_unemb == len(exp)


def test_tokens_command():
    s = setup()
    out = common.run("tokens", "--db", s["db"], "--run", "1", "--dim", "9", "--top", "5").stdout.splitlines()
    assert out[0].startswith("dim 9 (run 1): sign +1") and "OD under: quantile" in out[0], out[0]
    assert out[1].split()[:3] == ["dim", "kind", "rank"] and len(out) == 2 + 10
    js = json.loads(common.run("tokens", "--db", s["db"], "--run", "1", "--dim", "9", "--top", "3",
                               "--format", "json").stdout)
    stored = q(s["db"], "SELECT token_id FROM tokens WHERE run_id = 1 AND dim = 9 AND "
               "kind = 'promoted' ORDER BY rank LIMIT 3")
    assert [o["token_id"] for o in js if o["kind"] == "promoted"] == [r[0] for r in stored]
    # a non-OD is computed on demand from the model, the same way
    W = wu(s["model"])
    X, _ = hidden_states(s)
    d = 33
    m = float(np.median(np.abs(X[:, d])))
    sign = int(np.sign(np.median(X[:, d]))) or 1
    js = json.loads(common.run("tokens", "--db", s["db"], "--run", "1", "--dim", d, "--top", "4",
                               "--format", "json").stdout)
    exp = np.lexsort((np.arange(W.shape[0]), -sign * m * W[:, d]))[:4]
    assert [o["token_id"] for o in js if o["kind"] == "promoted"] == list(exp)
    head = common.run("tokens", "--db", s["db"], "--run", "1", "--dim", d).stdout.splitlines()[0]
    assert "not an OD" in head
    common.run_fail("tokens", "--db", s["db"], "--dim", "999", contains="999")
    # ods gains the rho columns and the top promoted tokens
    ods = json.loads(common.run("ods", "--db", s["db"], "--run", "1", "--format", "json").stdout)
    assert ods[0]["rho_unemb_freq"] > 0.9 and ods[0]["top_promoted"]


def test_counts_import_and_link():
    s = setup()
    d = s["d"]
    V = wu(s["model"]).shape[0]
    bad = os.path.join(d, "bad_counts.tsv")
    for content, words in (("0\t5\n1\tabc\n", ["bad_counts.tsv:2", "abc"]),
                           ("# header\n0\t5\nx\t1\n", ["bad_counts.tsv:3"]),
                           (f"0\t5\n{V + 7}\t3\n", ["bad_counts.tsv:2", str(V + 7)]),
                           ("0\t-4\n", ["bad_counts.tsv:1", "negative"])):
        with open(bad, "w") as f:
            f.write(content)
        common.run_fail("freq", "--model", s["model"], "--counts", bad, "--db", s["db"],
                        contains=words)
    # external counts reversed against id: the planted dims' promoted tokens now carry them
    good = os.path.join(d, "counts.tsv")
    with open(good, "w") as f:
        for t in range(V):
            f.write(f"{t}\t{V - t}\n")
    out = common.run("freq", "--model", s["model"], "--counts", good, "--db", s["db"]).stdout
    cid = out.split()[1].rstrip(":")
    common.run("scan", "--model", s["model"], "--corpus", s["corpus"], "--db", s["db"],
               "--quiet", "--freq", cid)
    run = q(s["db"], "SELECT max(id) FROM runs")[0][0]
    assert q(s["db"], "SELECT counts_id FROM runs WHERE id = ?", run)[0][0] == int(cid)
    rows = q(s["db"], "SELECT token_id, count, freq_rank FROM tokens WHERE run_id = ? AND dim = 9 "
             "AND kind = 'promoted'", run)
    assert all(n == V - t and r == t + 1 for t, n, r in rows)
    common.run_fail("scan", "--model", s["model"], "--corpus", s["corpus"], "--db", s["db"],
                    "--freq", "777", contains="no counts table 777")
