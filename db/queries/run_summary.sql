-- Runs side by side: model, corpus, rule, |ODs|, max z-score, kurtosis, OD dimensions.
-- sqlite3 -header -column db/demo.sqlite < db/queries/run_summary.sql
SELECT run_id, model, corpus, rule, n_ods, od_dims, round(max_zscore, 2) AS max_z,
       round(kurtosis, 2) AS kurtosis
FROM run_summary WHERE status = 'complete' ORDER BY run_id;
