-- Which tokens were the ODs producing? Tokens whose top-1 count drops most
-- when the ODs are ablated, with their corpus count (needs `odscope ablate`).
-- sqlite3 -header -column db/demo.sqlite < db/queries/token_conditions.sql
SELECT run_id, token_id, quote(token) AS token, corpus_count, full, ablate_ods, only_ods,
       round(ablate_random, 1) AS ablate_random, full - ablate_ods AS lost
FROM token_conditions
ORDER BY run_id, lost DESC LIMIT 20;
