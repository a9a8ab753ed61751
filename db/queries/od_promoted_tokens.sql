-- Each OD of the newest complete run with the ten tokens it promotes most.
-- sqlite3 -header -column db/demo.sqlite < db/queries/od_promoted_tokens.sql
SELECT dim, od_rank, sign, round(median_abs, 3) AS m_d, round(zscore, 2) AS z, promoted
FROM od_promoted
WHERE run_id = (SELECT max(id) FROM runs WHERE status = 'complete')
ORDER BY od_rank;
