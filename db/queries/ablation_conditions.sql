-- Surprisal, entropy, KL, accuracy and frequency slope per ablation condition
-- (newest complete ablation of every run; needs `odscope ablate`).
-- sqlite3 -header -column db/demo.sqlite < db/queries/ablation_conditions.sql
SELECT run_id, condition, round(mean_surprisal, 3) AS surprisal, round(mean_entropy, 3) AS entropy,
       round(mean_kl, 4) AS kl, round(accuracy, 4) AS acc, n_distinct_top1,
       round(freq_slope, 3) AS slope
FROM ablation_summary
WHERE condition NOT GLOB 'single_*' AND condition NOT GLOB 'cumulative_*'
ORDER BY run_id, condition;
