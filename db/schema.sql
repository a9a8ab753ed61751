-- odscope database schema, version 1 (PRAGMA user_version = 1).
-- Every scan writes its results in one transaction; runs.status tells a
-- finished run ('complete') from one still running or killed ('running')
-- and one that stopped on an error ('failed').

-- One row per model (weights + config), keyed by a content hash.
CREATE TABLE IF NOT EXISTS models (
    hash         TEXT PRIMARY KEY,  -- FNV-1a 64 of config.json and all safetensors headers (hex)
    path         TEXT NOT NULL,     -- directory as given when first seen
    model_type   TEXT NOT NULL,     -- config.json model_type
    n_layer      INTEGER NOT NULL,
    d_model      INTEGER NOT NULL,  -- D: width of the final hidden state
    n_head       INTEGER NOT NULL,
    n_vocab      INTEGER NOT NULL,  -- V: rows of the unembedding
    n_ctx        INTEGER NOT NULL,  -- maximum positions
    tied         INTEGER NOT NULL,  -- 1: unembedding = input embedding
    weight_dtype TEXT NOT NULL,     -- dtype of the unembedding as stored
    tokenizer    TEXT               -- tokenizer kind, NULL if none
);

-- The vocabulary of each model's tokenizer.
CREATE TABLE IF NOT EXISTS vocab (
    model_hash TEXT NOT NULL REFERENCES models(hash),
    token_id   INTEGER NOT NULL,
    piece      TEXT NOT NULL,       -- as written in the vocabulary ("Ġthe")
    text       TEXT NOT NULL,       -- decoded, control characters escaped ("\n", "\x00")
    PRIMARY KEY (model_hash, token_id)
) WITHOUT ROWID;

-- One row per scan.
CREATE TABLE IF NOT EXISTS runs (
    id           INTEGER PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    model_hash   TEXT NOT NULL REFERENCES models(hash),
    model_path   TEXT NOT NULL,
    corpus_path  TEXT NOT NULL,
    corpus_hash  TEXT NOT NULL,     -- FNV-1a 64 of the corpus bytes (hex)
    options      TEXT NOT NULL,     -- JSON object of every scan option
    tool_version TEXT NOT NULL,
    started_at   TEXT NOT NULL,     -- UTC, ISO 8601
    finished_at  TEXT,
    n_docs       INTEGER,           -- documents read
    n_tokens     INTEGER,           -- corpus tokens run through the model
    n_inputs     INTEGER,           -- positions whose hidden states were collected (N)
    rule         TEXT,              -- primary detection rule of the run
    q_loc        REAL,
    q_glob       REAL,
    threshold    REAL,              -- quantile_{q_glob}(|X|) over all N*D entries
    exact        INTEGER,           -- 1: exact quantiles; 0: sketch
    rel_err      REAL,              -- relative error of sketch quantiles (0 when exact)
    kurtosis     REAL,              -- He et al. 2024 layer kurtosis of the final hidden state
    mmr          REAL,              -- mean max/median ratio
    n_ods        INTEGER,           -- dimensions flagged by the primary rule
    counts_id    INTEGER REFERENCES counts(id), -- frequencies the links use (NULL: own corpus, table freq)
    rho_norm_freq REAL,             -- Spearman rho(||W_U[t,:]||, count) over tokens with count > 0
    n_unemb_ods  INTEGER,           -- ODs of W_U itself (quantile rule, rows as inputs)
    n_overlap    INTEGER,           -- dimensions that are both hidden-state and unembedding ODs
    corr_sample  INTEGER,           -- inputs (a uniform sample) behind dim_corr.rho_act_predfreq
    error        TEXT               -- message when status = 'failed'
);

-- Per-dimension statistics of the final hidden states (all D dimensions).
CREATE TABLE IF NOT EXISTS dims (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    dim        INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    mean REAL, std REAL, min REAL, max REAL, mean_abs REAL, rms REAL,
    q01 REAL, q05 REAL, q25 REAL, q50 REAL, q75 REAL, q95 REAL, q99 REAL,          -- of x
    aq01 REAL, aq05 REAL, aq25 REAL, aq50 REAL, aq75 REAL, aq95 REAL, aq99 REAL,   -- of |x|
    q_loc_abs  REAL,                -- quantile_{q_loc}(|x|): the quantile rule's statistic
    frac_above REAL,                -- share of inputs with |x| > threshold
    zscore     REAL,                -- (median|x| - mean over dims) / std over dims
    sign       INTEGER,             -- sign of median(x)
    rules      TEXT,                -- rules flagging the dimension, comma-separated ('' if none)
    borderline INTEGER,             -- a decision could flip within the sketch error
    PRIMARY KEY (run_id, dim)
) WITHOUT ROWID;

-- Outlier dimensions: every dimension flagged by at least one rule.
CREATE TABLE IF NOT EXISTS ods (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    dim        INTEGER NOT NULL,
    rank       INTEGER NOT NULL,    -- 1 = largest q_loc_abs among flagged dimensions
    sign       INTEGER NOT NULL,
    median_abs REAL NOT NULL,       -- m_d
    q_loc_abs  REAL NOT NULL,
    zscore     REAL NOT NULL,
    frac_above REAL NOT NULL,
    quantile   INTEGER NOT NULL,    -- 1 if flagged by the quantile rule
    fraction   INTEGER NOT NULL,
    zscore_rule INTEGER NOT NULL,
    int8       INTEGER NOT NULL,
    borderline INTEGER NOT NULL,
    PRIMARY KEY (run_id, dim)
) WITHOUT ROWID;

-- Promoted and suppressed tokens of every OD: tokens ranked by the logit
-- contribution sigma_d * m_d * W_U[t, d] at a typical input.
CREATE TABLE IF NOT EXISTS tokens (
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    dim          INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('promoted', 'suppressed')),
    rank         INTEGER NOT NULL,  -- 1 = strongest
    token_id     INTEGER NOT NULL,
    token        TEXT NOT NULL,     -- decoded, control characters escaped
    weight       REAL NOT NULL,     -- W_U[t, d]
    contribution REAL NOT NULL,     -- sigma_d * m_d * W_U[t, d]
    count        INTEGER NOT NULL,  -- corpus count (of the run's linked frequencies)
    freq_rank    INTEGER NOT NULL,  -- 1 + tokens with a larger count
    PRIMARY KEY (run_id, dim, kind, rank)
) WITHOUT ROWID;

-- Per-dimension correlations with frequency (all D dimensions).
CREATE TABLE IF NOT EXISTS dim_corr (
    run_id           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    dim              INTEGER NOT NULL,
    rho_unemb_freq   REAL,          -- Spearman rho(sigma_d W_U[:,d], count), tokens with count > 0
    rho_act_predfreq REAL,          -- Spearman rho(h_d, count of the model's top-1 prediction)
    PRIMARY KEY (run_id, dim)
) WITHOUT ROWID;

-- Outlier dimensions of the unembedding itself (quantile rule on W_U, rows as inputs).
CREATE TABLE IF NOT EXISTS unemb_ods (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    dim        INTEGER NOT NULL,
    rank       INTEGER NOT NULL,
    sign       INTEGER NOT NULL,
    median_abs REAL NOT NULL,
    q_loc_abs  REAL NOT NULL,
    zscore     REAL NOT NULL,
    hidden_od  INTEGER NOT NULL,    -- 1 if also a hidden-state OD (any rule) of the run
    PRIMARY KEY (run_id, dim)
) WITHOUT ROWID;

-- Token-count tables not tied to a scan: `odscope freq` over a corpus, or
-- imported from a token_id<TAB>count file.
CREATE TABLE IF NOT EXISTS counts (
    id          INTEGER PRIMARY KEY,
    model_hash  TEXT NOT NULL REFERENCES models(hash),
    kind        TEXT NOT NULL CHECK (kind IN ('corpus', 'import')),
    source      TEXT NOT NULL,      -- corpus or counts file path
    source_hash TEXT NOT NULL,      -- FNV-1a 64 of its bytes (hex)
    n_tokens    INTEGER NOT NULL,   -- sum of the counts
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS count_values (
    counts_id INTEGER NOT NULL REFERENCES counts(id) ON DELETE CASCADE,
    token_id  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (counts_id, token_id)
) WITHOUT ROWID;

-- Ablation experiments (odscope ablate): one row per invocation.
CREATE TABLE IF NOT EXISTS ablations (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    options     TEXT NOT NULL,      -- JSON: rule, random, seed, mean, dims, positions, per_input
    rule        TEXT NOT NULL,      -- which OD set was ablated
    faithful    INTEGER NOT NULL,   -- 1: the model's own logit bias / soft-cap applied; 0: raw W_U h
    mean        INTEGER NOT NULL,   -- 1: ablated dims replaced by their corpus mean; 0: by zero
    positions   TEXT NOT NULL,      -- all | word:N
    n_inputs    INTEGER,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    error       TEXT
);

-- Observables per condition (DESIGN §4).
CREATE TABLE IF NOT EXISTS ablation_results (
    ablation_id      INTEGER NOT NULL REFERENCES ablations(id) ON DELETE CASCADE,
    condition        TEXT NOT NULL,  -- full, ablate_ods, only_ods, ablate_out, only_out,
                                     -- ablate_random_R, only_random_R, cumulative_N, single_D,
                                     -- ablate_dims, only_dims
    kind             TEXT NOT NULL,  -- full, ods, out, random, cumulative, single, dims
    only             INTEGER NOT NULL, -- 1: S kept alone; 0: S ablated
    dims             TEXT NOT NULL,  -- the set S, comma-separated
    n_dims           INTEGER NOT NULL,
    seed             INTEGER,        -- random sets: the seed they were drawn with
    mean_surprisal REAL, median_surprisal REAL,
    mean_entropy REAL, median_entropy REAL,
    mean_kl REAL, median_kl REAL,    -- KL(full || condition), nats
    accuracy         REAL,           -- top-1 = gold
    n_distinct_top1  INTEGER,
    freq_slope       REAL,           -- least-squares slope of p_pred on p_corp (shared tokens)
    freq_spearman    REAL,
    PRIMARY KEY (ablation_id, condition)
) WITHOUT ROWID;

-- How many inputs predict each token (top-1) under each condition.
CREATE TABLE IF NOT EXISTS ablation_top1 (
    ablation_id INTEGER NOT NULL REFERENCES ablations(id) ON DELETE CASCADE,
    condition   TEXT NOT NULL,
    token_id    INTEGER NOT NULL,
    n_top1      INTEGER NOT NULL,
    PRIMARY KEY (ablation_id, condition, token_id)
) WITHOUT ROWID;

-- Per-input values (only with ablate --per-input).
CREATE TABLE IF NOT EXISTS ablation_inputs (
    ablation_id INTEGER NOT NULL REFERENCES ablations(id) ON DELETE CASCADE,
    condition   TEXT NOT NULL,
    input       INTEGER NOT NULL,    -- 0-based, in corpus order
    gold        INTEGER NOT NULL,
    top1        INTEGER NOT NULL,
    surprisal   REAL NOT NULL,
    entropy     REAL NOT NULL,
    kl          REAL NOT NULL,
    PRIMARY KEY (ablation_id, condition, input)
) WITHOUT ROWID;

-- Token frequencies of the run's corpus (ids with count > 0).
CREATE TABLE IF NOT EXISTS freq (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    token_id INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (run_id, token_id)
) WITHOUT ROWID;

-- Views
-- Common questions as views (documented in README "Views"; example queries in
-- db/queries/). Views over tables a database lacks (an older scan, no
-- ablation yet) are created anyway and fail only when used.

-- One row per run: model and corpus names, rule, |ODs|, max z-score,
-- kurtosis and the OD dimensions in rank order.
CREATE VIEW IF NOT EXISTS run_summary AS
SELECT r.id AS run_id, r.status,
       replace(rtrim(r.model_path, '/'), rtrim(rtrim(r.model_path, '/'),
               replace(rtrim(r.model_path, '/'), '/', '')), '') AS model,
       m.model_type, m.d_model, m.n_vocab,
       replace(rtrim(r.corpus_path, '/'), rtrim(rtrim(r.corpus_path, '/'),
               replace(rtrim(r.corpus_path, '/'), '/', '')), '') AS corpus,
       r.n_tokens, r.n_inputs, r.rule, r.q_loc, r.q_glob, r.threshold, r.n_ods,
       (SELECT max(d.zscore) FROM dims d WHERE d.run_id = r.id) AS max_zscore,
       r.kurtosis, r.mmr, r.exact,
       (SELECT group_concat(dim, ',') FROM (SELECT o.dim FROM ods o WHERE o.run_id = r.id
               AND CASE r.rule WHEN 'fraction' THEN o.fraction WHEN 'zscore' THEN o.zscore_rule
                   WHEN 'int8' THEN o.int8 ELSE o.quantile END = 1 ORDER BY o.rank)) AS od_dims,
       r.started_at, r.finished_at
FROM runs r JOIN models m ON m.hash = r.model_hash;

-- Per dimension: the quantile rule's statistic against the global threshold
-- (the data of the standard OD figure).
CREATE VIEW IF NOT EXISTS dim_profile AS
SELECT d.run_id, d.dim, d.q_loc_abs, d.aq50 AS median_abs, r.threshold, d.zscore, d.sign,
       d.rules, o.rank AS od_rank
FROM dims d JOIN runs r ON r.id = d.run_id
LEFT JOIN ods o ON o.run_id = d.run_id AND o.dim = d.dim;

-- ODs with their promoted and suppressed tokens.
CREATE VIEW IF NOT EXISTS od_tokens AS
SELECT o.run_id, o.dim, o.rank AS od_rank, o.sign, o.median_abs, o.zscore,
       t.kind, t.rank, t.token_id, t.token, t.weight, t.contribution, t.count, t.freq_rank
FROM ods o JOIN tokens t ON t.run_id = o.run_id AND t.dim = o.dim;

-- One row per OD: its ten most promoted tokens in rank order, ' | '-separated.
CREATE VIEW IF NOT EXISTS od_promoted AS
SELECT run_id, dim, od_rank, sign, median_abs, zscore,
       group_concat(token, ' | ') AS promoted
FROM (SELECT * FROM od_tokens WHERE kind = 'promoted' AND rank <= 10
      ORDER BY run_id, od_rank, rank)
GROUP BY run_id, dim;

-- Per token: corpus count, share and frequency rank, with its text.
CREATE VIEW IF NOT EXISTS token_freq AS
SELECT f.run_id, f.token_id, v.text AS token, f.count,
       CAST(f.count AS REAL) / r.n_tokens AS share,
       rank() OVER (PARTITION BY f.run_id ORDER BY f.count DESC) AS freq_rank
FROM freq f JOIN runs r ON r.id = f.run_id
LEFT JOIN vocab v ON v.model_hash = r.model_hash AND v.token_id = f.token_id;

-- The newest complete ablation of each run.
CREATE VIEW IF NOT EXISTS latest_ablation AS
SELECT a.* FROM ablations a
WHERE a.status = 'complete'
  AND a.id = (SELECT max(b.id) FROM ablations b WHERE b.run_id = a.run_id AND b.status = 'complete');

-- Aggregates per run and ablation condition (newest complete ablation).
CREATE VIEW IF NOT EXISTS ablation_summary AS
SELECT a.run_id, a.id AS ablation_id, a.faithful, x.*
FROM latest_ablation a JOIN ablation_results x ON x.ablation_id = a.id;

-- Per token and condition: how often it is the top-1 prediction, against
-- its corpus frequency (all complete ablations).
CREATE VIEW IF NOT EXISTS token_predictions AS
SELECT a.run_id, a.id AS ablation_id, p.condition, p.token_id, v.text AS token,
       p.n_top1, CAST(p.n_top1 AS REAL) / a.n_inputs AS p_pred,
       coalesce(f.count, 0) AS corpus_count, CAST(coalesce(f.count, 0) AS REAL) / r.n_tokens AS p_corpus
FROM ablation_top1 p JOIN ablations a ON a.id = p.ablation_id AND a.status = 'complete'
JOIN runs r ON r.id = a.run_id
LEFT JOIN freq f ON f.run_id = a.run_id AND f.token_id = p.token_id
LEFT JOIN vocab v ON v.model_hash = r.model_hash AND v.token_id = p.token_id;

-- Per token: corpus count and how often the full model, the model without
-- its ODs, the ODs alone and the random ablations (mean over sets) predict it.
CREATE VIEW IF NOT EXISTS token_conditions AS
SELECT a.run_id, p.token_id, v.text AS token, coalesce(f.count, 0) AS corpus_count,
       sum(CASE WHEN p.condition = 'full' THEN p.n_top1 ELSE 0 END) AS full,
       sum(CASE WHEN p.condition = 'ablate_ods' THEN p.n_top1 ELSE 0 END) AS ablate_ods,
       sum(CASE WHEN p.condition = 'only_ods' THEN p.n_top1 ELSE 0 END) AS only_ods,
       CAST(sum(CASE WHEN p.condition GLOB 'ablate_random_*' THEN p.n_top1 ELSE 0 END) AS REAL)
           / max(1, (SELECT count(*) FROM ablation_results x WHERE x.ablation_id = a.id
                     AND x.condition GLOB 'ablate_random_*')) AS ablate_random
FROM latest_ablation a JOIN ablation_top1 p ON p.ablation_id = a.id
JOIN runs r ON r.id = a.run_id
LEFT JOIN freq f ON f.run_id = a.run_id AND f.token_id = p.token_id
LEFT JOIN vocab v ON v.model_hash = r.model_hash AND v.token_id = p.token_id
GROUP BY a.run_id, p.token_id;
