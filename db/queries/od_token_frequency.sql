-- Are the tokens an OD promotes the frequent ones? Mean frequency rank of the
-- top-20 promoted vs. top-20 suppressed tokens per OD (newest complete run).
-- sqlite3 -header -column db/demo.sqlite < db/queries/od_token_frequency.sql
SELECT dim, kind, count(*) AS n, round(avg(freq_rank), 1) AS mean_freq_rank,
       sum(count) AS corpus_count
FROM od_tokens
WHERE run_id = (SELECT max(id) FROM runs WHERE status = 'complete') AND rank <= 20
GROUP BY dim, kind ORDER BY od_rank, kind;
