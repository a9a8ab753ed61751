-- The 20 most frequent corpus tokens of the newest complete run.
-- sqlite3 -header -column db/demo.sqlite < db/queries/frequent_tokens.sql
SELECT freq_rank, token_id, quote(token) AS token, count, round(share, 5) AS share
FROM token_freq
WHERE run_id = (SELECT max(id) FROM runs WHERE status = 'complete')
ORDER BY freq_rank LIMIT 20;
