-- The contract, mechanically: every function, procedure and type of API.md and
-- RUNTIME.md, transcribed as written there into a scratch schema "contract"
-- (PostgreSQL's own parser then spells types and defaults the way the catalog
-- does), must exist in the extension with exactly that name, those argument
-- names, types and defaults, that result and that kind (function or
-- procedure); and the same in the router extension (stategraph_router),
-- installed here into a schema of its own. A name added, renamed or
-- re-typed on either side fails here, naming the signature.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
CREATE EXTENSION plproxy;
CREATE SCHEMA routed;
CREATE EXTENSION stategraph_router SCHEMA routed;
CREATE SCHEMA contract;
SET LOCAL search_path = contract, public;

-- ---- API.md, "Types" --------------------------------------------------------
CREATE TYPE contract.sg_snapshot AS (thread_id text, checkpoint_ns text, checkpoint_id uuid, parent_checkpoint_id uuid,
    step int, source text, "values" jsonb, next text[], tasks jsonb, interrupts jsonb, metadata jsonb, created_at timestamptz);
-- sg_threads' rows (API.md: SETOF (thread_id text, graph text, status text, next text[], checkpoints bigint, ...))
CREATE TYPE contract.sg_thread AS (thread_id text, graph text, status text, next text[], checkpoints bigint,
    created_at timestamptz, updated_at timestamptz);
-- ---- RUNTIME.md ---------------------------------------------------------------
CREATE TYPE contract.sg_run AS (run_id uuid, thread_id text, graph text, status text, multitask text,
    attempt int, error jsonb, created_at timestamptz, started_at timestamptz, finished_at timestamptz);
CREATE TYPE contract.sg_task AS (task_id text, token uuid, queue text, graph text, thread_id text,
    node text, step int, attempt int, input jsonb, config jsonb, resume jsonb, lease_expires_at timestamptz);
-- RUNTIME.md names sg_task_status without its columns: the extension's own stands in
CREATE TYPE contract.sg_task_status AS (unspecified int);

-- ---- API.md, "Defining a graph" ----------------------------------------------------
CREATE FUNCTION sg_create_graph(graph text, channels jsonb) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_add_node(graph text, node text, fn regprocedure, retry jsonb DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_add_edge(graph text, source text, target text) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_add_edge(graph text, sources text[], target text) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_add_conditional_edges(graph text, source text, router regprocedure,
                         path_map jsonb DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_compile(graph text, interrupt_before text[] DEFAULT NULL,
           interrupt_after text[] DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_drop_graph(graph text) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_draw(graph text, format text DEFAULT 'mermaid') RETURNS text LANGUAGE plpgsql AS 'BEGIN END';
-- ---- API.md, "Running" ------------------------------------------------------------
CREATE FUNCTION sg_invoke(graph text, input jsonb, thread_id text DEFAULT NULL,
          checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
          recursion_limit int DEFAULT 25, on_error text DEFAULT 'raise') RETURNS jsonb LANGUAGE plpgsql AS 'BEGIN END';
-- "...same options..." are sg_invoke's after thread_id; "SETOF (step int, node text, payload jsonb)"
-- written with OUT arguments (RETURNS TABLE is the same to callers, but the catalog spells it otherwise)
CREATE FUNCTION sg_stream(graph text, input jsonb, thread_id text DEFAULT NULL,
          checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
          recursion_limit int DEFAULT 25, on_error text DEFAULT 'raise',
          mode text DEFAULT 'updates', OUT step int, OUT node text, OUT payload jsonb) RETURNS SETOF record
    LANGUAGE plpgsql AS 'BEGIN END';
CREATE PROCEDURE sg_run(graph text, input jsonb, thread_id text,
          checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
          recursion_limit int DEFAULT 25, on_error text DEFAULT 'raise') LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_interrupt(value jsonb) RETURNS jsonb LANGUAGE plpgsql AS 'BEGIN END';
-- ---- API.md, "Threads, history, time travel, branching" -------------------------------
CREATE FUNCTION sg_get_state(thread_id text, checkpoint_id uuid DEFAULT NULL) RETURNS sg_snapshot LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_get_state_history(thread_id text, "limit" int DEFAULT NULL, before uuid DEFAULT NULL,
                     filter jsonb DEFAULT NULL) RETURNS SETOF sg_snapshot LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_update_state(thread_id text, "values" jsonb, as_node text DEFAULT NULL,
                checkpoint_id uuid DEFAULT NULL) RETURNS uuid LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_fork(thread_id text, checkpoint_id uuid, new_thread_id text) RETURNS uuid LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_threads(graph text DEFAULT NULL) RETURNS SETOF sg_thread LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_delete_thread(thread_id text) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_prune(older_than interval DEFAULT NULL, keep_last int DEFAULT NULL,
         thread_id text DEFAULT NULL) RETURNS bigint LANGUAGE plpgsql AS 'BEGIN END';
-- ---- RUNTIME.md, "Background runs" ------------------------------------------------------
CREATE FUNCTION sg_submit(graph text, input jsonb, thread_id text DEFAULT NULL,
          checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
          recursion_limit int DEFAULT 25,
          multitask text DEFAULT 'reject',
          after interval DEFAULT NULL,
          idempotency_key text DEFAULT NULL) RETURNS uuid LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_runs(thread_id text DEFAULT NULL, status text DEFAULT NULL) RETURNS SETOF sg_run LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_wait(run_id uuid, timeout interval DEFAULT NULL) RETURNS sg_run LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_cancel(run_id uuid, action text DEFAULT 'interrupt') RETURNS boolean LANGUAGE plpgsql AS 'BEGIN END';
CREATE PROCEDURE sg_work(max_runs int DEFAULT NULL, max_time interval DEFAULT NULL) LANGUAGE plpgsql AS 'BEGIN END';
-- ---- RUNTIME.md, "External nodes" ---------------------------------------------------------
CREATE FUNCTION sg_add_external_node(graph text, node text, queue text DEFAULT 'default',
                     retry jsonb DEFAULT NULL,
                     lease interval DEFAULT '60 seconds') RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_claim(queue text, worker text, n int DEFAULT 1,
         lease interval DEFAULT NULL,
         wait interval DEFAULT '0') RETURNS SETOF sg_task LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_heartbeat(task_id text, token uuid, extend interval DEFAULT NULL) RETURNS boolean LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_complete(task_id text, token uuid, update jsonb) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_fail(task_id text, token uuid, error jsonb, retry boolean DEFAULT true) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_interrupt_task(task_id text, token uuid, value jsonb) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_tasks(queue text DEFAULT NULL, status text DEFAULT NULL) RETURNS SETOF sg_task_status LANGUAGE plpgsql AS 'BEGIN END';
-- ---- RUNTIME.md, "Retention" ----------------------------------------------------------------
CREATE FUNCTION sg_set_retention(graph text, ttl interval, strategy text DEFAULT 'delete',
                 keep_last int DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS 'BEGIN END';
-- ---- issue 12: portable threads --------------------------------------------------------------
CREATE FUNCTION sg_export_thread(thread_id text) RETURNS jsonb LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION sg_import_thread(data jsonb, thread_id text DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS 'BEGIN END';

RESET search_path;

-- Each function's signature as one line, schema names left out: what the tests compare.
CREATE FUNCTION pg_temp.sig(f oid) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT p.proname || '(' || regexp_replace(pg_get_function_arguments(p.oid), '\m(contract|routed|public)\.', '', 'g')
           || ') -> ' || CASE p.prokind WHEN 'p' THEN 'procedure'
                         ELSE regexp_replace(pg_get_function_result(p.oid), '\m(contract|routed|public)\.', '', 'g') END
    FROM pg_proc p WHERE p.oid = f $$;
CREATE FUNCTION pg_temp.ident(f oid) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT p.proname || '(' || regexp_replace(pg_get_function_identity_arguments(p.oid), '\m(contract|routed|public)\.', '', 'g') || ')'
    FROM pg_proc p WHERE p.oid = f $$;
CREATE VIEW pg_temp.contract_functions AS
    SELECT p.oid, pg_temp.ident(p.oid) AS ident, pg_temp.sig(p.oid) AS sig FROM pg_proc p
    WHERE p.pronamespace = 'contract'::regnamespace;
-- The same signature in a schema, or the signatures of that name there (so that a failure shows them).
CREATE FUNCTION pg_temp.found(nsp text, c pg_temp.contract_functions) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT pg_temp.sig(p.oid) FROM pg_proc p
                     WHERE p.pronamespace = nsp::regnamespace AND pg_temp.ident(p.oid) = c.ident),
                    'missing; of that name: ' || COALESCE((SELECT string_agg(pg_temp.sig(p.oid), '; ') FROM pg_proc p
                                                          WHERE p.pronamespace = nsp::regnamespace
                                                            AND p.proname = split_part(c.ident, '(', 1)), 'none')) $$;
CREATE FUNCTION pg_temp.columns(t regtype) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
    FROM pg_attribute a JOIN pg_type y ON y.typrelid = a.attrelid WHERE y.oid = t AND a.attnum > 0 AND NOT a.attisdropped $$;

SELECT plan(2 * (SELECT count(*)::int FROM pg_temp.contract_functions) + 10);

SELECT is((SELECT count(*)::int FROM pg_temp.contract_functions), 34, 'the contract lists 34 functions and procedures');

-- the extension: every signature of the contract, exactly
SELECT is(pg_temp.found('public', c), c.sig, 'stategraph: ' || c.sig) FROM pg_temp.contract_functions c ORDER BY c.ident;
-- the router: the same (RUNTIME.md and issue 12: "the functions of API.md and RUNTIME.md with the same names and signatures")
SELECT is(pg_temp.found('routed', c), c.sig, 'stategraph_router: ' || c.sig) FROM pg_temp.contract_functions c ORDER BY c.ident;

-- the composite types, column by column
SELECT is(pg_temp.columns('public.sg_snapshot'), pg_temp.columns('contract.sg_snapshot'), 'stategraph: sg_snapshot');
SELECT is(pg_temp.columns('public.sg_thread'), pg_temp.columns('contract.sg_thread'), 'stategraph: sg_thread');
SELECT is(pg_temp.columns('public.sg_run'), pg_temp.columns('contract.sg_run'), 'stategraph: sg_run');
SELECT is(pg_temp.columns('public.sg_task'), pg_temp.columns('contract.sg_task'), 'stategraph: sg_task');
SELECT is(pg_temp.columns('routed.sg_snapshot'), pg_temp.columns('contract.sg_snapshot'), 'stategraph_router: sg_snapshot');
SELECT is(pg_temp.columns('routed.sg_thread'), pg_temp.columns('contract.sg_thread'), 'stategraph_router: sg_thread');
SELECT is(pg_temp.columns('routed.sg_run'), pg_temp.columns('contract.sg_run'), 'stategraph_router: sg_run');
SELECT is(pg_temp.columns('routed.sg_task'), pg_temp.columns('contract.sg_task'), 'stategraph_router: sg_task');
SELECT is(pg_temp.columns('routed.sg_task_status'), pg_temp.columns('public.sg_task_status'),
          'stategraph_router: sg_task_status as the extension''s');

SELECT * FROM finish();
ROLLBACK;
