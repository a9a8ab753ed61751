-- The standard OD figure as data: dimensions by the quantile rule's statistic,
-- largest first, with the global threshold (newest complete run).
-- sqlite3 -header -column db/demo.sqlite < db/queries/od_figure_data.sql
SELECT dim, round(q_loc_abs, 4) AS q_loc_abs, round(threshold, 4) AS threshold,
       q_loc_abs > threshold AS is_od
FROM dim_profile
WHERE run_id = (SELECT max(id) FROM runs WHERE status = 'complete')
ORDER BY q_loc_abs DESC LIMIT 20;
