--
-- stategraph side of the background-runs benchmark (test/bench/background/run.sh).
-- Loaded into database "bench" of the throwaway cluster: the benchmark's graphs
-- (test/bench/setup.sql: the seed graph "workflow", START -> step1 -> step2 ->
-- step3 -> END), and a table for the commit-to-start latency.
--
\set ON_ERROR_STOP on
\ir ../setup.sql

-- Commit-to-start latency: the submitting transaction also inserts a row here,
-- so pg_xact_commit_timestamp(xmin) (track_commit_timestamp = on) is the
-- server's time of that commit.
CREATE TABLE bench_mark (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id uuid
);
