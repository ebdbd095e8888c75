-- issue 9 commit-to-start: the submitting transaction also inserts a bench_mark row (its commit
-- timestamp is the commit's time); the run is awaited, so the workers are idle at the next submit
INSERT INTO bench_mark(run_id) SELECT sg_submit('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}') RETURNING pg_catalog.quote_literal(run_id) AS rid \gset
SELECT status FROM sg_wait(:rid);
\sleep 3 ms
