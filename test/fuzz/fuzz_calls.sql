-- Our own fuzzer: call every sg_ function many times with odd arguments
-- (NULLs, empty and huge strings, random and real ids, odd jsonb) and count
-- the errors by SQLSTATE. Any error is fine; a crash ends the session.
-- the whole loop is one statement: the database's 2 s timeout is for sqlsmith's queries
SET statement_timeout = '15min';
CREATE TEMP TABLE fz_values (v jsonb);
INSERT INTO fz_values VALUES (NULL), ('{}'), ('[]'), ('null'), ('"x"'), ('0'), ('-1'), ('1e308'), ('true'),
    ('{"n": 1}'), ('{"n": "x"}'), ('{"log": 5}'), ('{"log": [1]}'), ('{"total": "a"}'), ('{"meta": []}'),
    ('{"nope": 1}'), ('{"n": null}'), ('{"best": [1, 2]}'), ('{"answer": {"a": [1, {"b": null}]}}'),
    ((repeat('[', 2000) || repeat(']', 2000))::jsonb), (jsonb_build_object('n', repeat('x', 100000))),
    ('{"node": "a", "arg": {}}'), ('[{"node": "b"}]'), ('{"source": "loop"}'), ('{"step": 1}');
CREATE TEMP TABLE fz_texts (t text);
INSERT INTO fz_texts VALUES (NULL), (''), ('loop'), ('hitl'), ('l1'), ('l2'), ('l5'), ('h1'), ('f1'), ('nope'),
    ('__start__'), ('__end__'), ('a'), ('b'), ('c'), ('ask'), ('*'), ('mermaid'), ('dot'), ('raise'), ('return'),
    ('updates'), ('values'), (repeat('z', 600)), ('new-' || md5(random()::text)), (E'quote\'"\\'),
    ('ext'), ('e1'), ('e2'), ('e3'), ('e4'), ('e5'), ('e6'), ('model'), ('fzq'), ('lg1'), ('keep_latest'), ('delete'),
    (E'new\nline'), (''),
    ('fz_owned'), ('a1'), ('a2'), ('b1'), ('b2'), ('fz_alice'), ('fz_bob'), ('fz_alice_step(jsonb)');
GRANT SELECT ON fz_values, fz_texts TO PUBLIC;

CREATE FUNCTION pg_temp.t() RETURNS text LANGUAGE sql AS $$ SELECT t FROM fz_texts ORDER BY random() LIMIT 1 $$;
CREATE FUNCTION pg_temp.j() RETURNS jsonb LANGUAGE sql AS $$ SELECT v FROM fz_values ORDER BY random() LIMIT 1 $$;
CREATE FUNCTION pg_temp.u() RETURNS uuid LANGUAGE sql AS $$
    SELECT CASE WHEN random() < 0.2 THEN NULL WHEN random() < 0.5 THEN gen_random_uuid()
                ELSE (SELECT checkpoint_id FROM stategraph.checkpoints ORDER BY random() LIMIT 1) END $$;
CREATE FUNCTION pg_temp.task() RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN random() < 0.2 THEN pg_temp.t()
                ELSE (SELECT task_id FROM stategraph.tasks ORDER BY random() LIMIT 1) END $$;
CREATE FUNCTION pg_temp.tok(task text) RETURNS uuid LANGUAGE sql AS $$
    SELECT CASE WHEN random() < 0.2 THEN NULL WHEN random() < 0.3 THEN gen_random_uuid()
                ELSE (SELECT token FROM stategraph.tasks WHERE task_id = task) END $$;
CREATE FUNCTION pg_temp.iv() RETURNS interval LANGUAGE sql AS $$
    SELECT (ARRAY[NULL, '-1 s', '0', '1 ms', '1 hour', '1 month -29 days', '2 months',
                  '178000000 years'])[1 + floor(random() * 8)::int]::interval $$;
CREATE FUNCTION pg_temp.i() RETURNS int LANGUAGE sql AS $$
    SELECT (ARRAY[NULL, -1, 0, 1, 2, 3, 25, 1000, 2147483647])[1 + floor(random() * 9)::int] $$;

CREATE TABLE IF NOT EXISTS fz_outcomes (call text, sqlstate text, n int, PRIMARY KEY (call, sqlstate));
DO $$
DECLARE
    k int;
    fn text;
    outcome text;
    a text;
    b text;
    c text;
    tid text;
BEGIN
    FOR k IN 1 .. current_setting('fz.calls')::int LOOP
        fn := (ARRAY['invoke', 'stream', 'get_state', 'history', 'update_state', 'fork', 'threads', 'delete',
                       'prune', 'draw', 'compile', 'interrupt', 'invoke_resume',
                       'add_external', 'claim', 'heartbeat', 'complete', 'fail', 'interrupt_task', 'tasks',
                       'sweep', 'lg_put', 'lg_put_writes', 'lg_get_tuple', 'lg_list', 'lg_delete_thread',
                       'lg_copy_thread', 'lg_prune', 'lg_delete_for_runs', 'draw_history',
                       'add_node', 'add_edge', 'drop_graph', 'set_owner', 'write_tables',
                       'submit', 'runs', 'wait', 'cancel', 'set_retention'])[1 + floor(random() * 40)::int];
        outcome := '00000';
        BEGIN
            -- a third of the calls as fz_alice, a third as fz_bob (undone with the call)
            PERFORM set_config('role', (ARRAY['none', 'fz_alice', 'fz_bob'])[1 + floor(random() * 3)::int], true);
            CASE fn
            WHEN 'invoke' THEN PERFORM sg_invoke(pg_temp.t(), pg_temp.j(), thread_id => pg_temp.t(),
                                                 recursion_limit => pg_temp.i(), on_error => pg_temp.t());
            WHEN 'invoke_resume' THEN PERFORM sg_invoke(pg_temp.t(), NULL, thread_id => pg_temp.t(),
                                                        checkpoint_id => pg_temp.u(), resume => pg_temp.j());
            WHEN 'stream' THEN PERFORM count(*) FROM sg_stream(pg_temp.t(), pg_temp.j(), thread_id => pg_temp.t(),
                                                               mode => pg_temp.t());
            WHEN 'get_state' THEN PERFORM sg_get_state(pg_temp.t(), pg_temp.u());
            WHEN 'history' THEN PERFORM count(*) FROM sg_get_state_history(pg_temp.t(), pg_temp.i(), pg_temp.u(), pg_temp.j());
            WHEN 'update_state' THEN PERFORM sg_update_state(pg_temp.t(), pg_temp.j(), pg_temp.t(), pg_temp.u());
            WHEN 'fork' THEN PERFORM sg_fork(pg_temp.t(), pg_temp.u(), pg_temp.t());
            WHEN 'threads' THEN PERFORM count(*) FROM sg_threads(pg_temp.t());
            WHEN 'delete' THEN IF random() < 0.1 THEN PERFORM sg_delete_thread(pg_temp.t()); END IF;
            WHEN 'prune' THEN PERFORM sg_prune(CASE WHEN random() < 0.5 THEN NULL ELSE '1 hour'::interval END,
                                               pg_temp.i(), pg_temp.t());
            WHEN 'draw' THEN PERFORM sg_draw(pg_temp.t(), pg_temp.t());
            WHEN 'compile' THEN PERFORM sg_compile(pg_temp.t(), ARRAY[pg_temp.t()], ARRAY[pg_temp.t()]);
            WHEN 'interrupt' THEN PERFORM sg_interrupt(pg_temp.j());
            WHEN 'add_external' THEN PERFORM sg_add_external_node(pg_temp.t(), pg_temp.t(), pg_temp.t(), pg_temp.j(), pg_temp.iv());
            WHEN 'claim' THEN PERFORM count(*) FROM sg_claim(pg_temp.t(), pg_temp.t(), pg_temp.i(), pg_temp.iv(),
                                                             CASE WHEN random() < 0.9 THEN '0'::interval ELSE '10 ms' END);
            WHEN 'heartbeat' THEN tid := pg_temp.task(); PERFORM sg_heartbeat(tid, pg_temp.tok(tid), pg_temp.iv());
            WHEN 'complete' THEN tid := pg_temp.task(); PERFORM sg_complete(tid, pg_temp.tok(tid), pg_temp.j());
            WHEN 'fail' THEN tid := pg_temp.task(); PERFORM sg_fail(tid, pg_temp.tok(tid), pg_temp.j(), random() < 0.5);
            WHEN 'interrupt_task' THEN tid := pg_temp.task(); PERFORM sg_interrupt_task(tid, pg_temp.tok(tid), pg_temp.j());
            WHEN 'tasks' THEN PERFORM count(*) FROM sg_tasks(pg_temp.t(), pg_temp.t());
            WHEN 'sweep' THEN PERFORM stategraph.sweep_leases(pg_temp.i());
            -- background runs (sg_work commits, so it cannot run inside this loop)
            WHEN 'submit' THEN PERFORM sg_submit(pg_temp.t(), pg_temp.j(), thread_id => pg_temp.t(),
                                                 checkpoint_id => pg_temp.u(), resume => pg_temp.j(),
                                                 recursion_limit => pg_temp.i(),
                                                 multitask => (ARRAY['reject', 'enqueue', 'interrupt', 'rollback',
                                                               pg_temp.t()])[1 + floor(random() * 5)::int],
                                                 after => CASE WHEN random() < 0.5 THEN NULL ELSE pg_temp.iv() END,
                                                 idempotency_key => pg_temp.t());
            WHEN 'runs' THEN PERFORM count(*) FROM sg_runs(pg_temp.t(), pg_temp.t());
            WHEN 'wait' THEN PERFORM sg_wait((SELECT run_id FROM stategraph.runs ORDER BY random() LIMIT 1),
                                             '10 ms');
            WHEN 'cancel' THEN PERFORM sg_cancel(coalesce((SELECT run_id FROM stategraph.runs ORDER BY random() LIMIT 1),
                                                          gen_random_uuid()), pg_temp.t());
            WHEN 'set_retention' THEN PERFORM sg_set_retention(pg_temp.t(), pg_temp.iv(), pg_temp.t(), pg_temp.i());
            WHEN 'lg_put' THEN PERFORM sg_lg_put(pg_temp.t(), pg_temp.t(), pg_temp.u(),
                                                 jsonb_build_object('v', 4, 'id', coalesce(pg_temp.u()::text, 'x'),
                                                                    'ts', 'now', 'channel_values', pg_temp.j(),
                                                                    'channel_versions', pg_temp.j(), 'versions_seen', pg_temp.j())
                                                     || coalesce(CASE WHEN random() < 0.3 THEN pg_temp.j() END, '{}'),
                                                 pg_temp.j(), pg_temp.j(),
                                                 ARRAY[pg_temp.t()], ARRAY[pg_temp.t()], ARRAY['\x00'::bytea],
                                                 appends => CASE WHEN random() < 0.3 THEN pg_temp.j() END);
            WHEN 'lg_put_writes' THEN PERFORM sg_lg_put_writes(pg_temp.t(), pg_temp.t(), pg_temp.u(), pg_temp.t(), pg_temp.j(),
                                                               pg_temp.t(), ARRAY[pg_temp.i()], ARRAY[pg_temp.t()], ARRAY['\x01'::bytea]);
            WHEN 'lg_get_tuple' THEN PERFORM sg_lg_get_tuple(pg_temp.t(), pg_temp.t(), pg_temp.u());
            WHEN 'lg_list' THEN PERFORM count(*) FROM sg_lg_list(pg_temp.t(), pg_temp.t(), pg_temp.j(), pg_temp.u(), pg_temp.i(), pg_temp.u());
            WHEN 'lg_delete_thread' THEN IF random() < 0.1 THEN PERFORM sg_lg_delete_thread(pg_temp.t()); END IF;
            WHEN 'lg_copy_thread' THEN PERFORM sg_lg_copy_thread(pg_temp.t(), pg_temp.t());
            WHEN 'lg_prune' THEN IF random() < 0.2 THEN PERFORM sg_lg_prune(ARRAY[pg_temp.t()], pg_temp.t()); END IF;
            WHEN 'lg_delete_for_runs' THEN PERFORM sg_lg_delete_for_runs(ARRAY[pg_temp.t()]);
            WHEN 'draw_history' THEN PERFORM sg_draw_history(pg_temp.t(), pg_temp.t(), pg_temp.i());
            WHEN 'add_node' THEN PERFORM sg_add_node(pg_temp.t(), pg_temp.t(), 'fz_alice_step(jsonb)');
            WHEN 'add_edge' THEN PERFORM sg_add_edge(pg_temp.t(), pg_temp.t(), pg_temp.t());
            WHEN 'drop_graph' THEN IF random() < 0.05 THEN PERFORM sg_drop_graph(pg_temp.t()); END IF;
            WHEN 'set_owner' THEN
                a := pg_temp.t(); b := pg_temp.t();     -- once, not once per row
                UPDATE stategraph.threads SET owner = a WHERE thread_id = b;
            WHEN 'write_tables' THEN
                a := pg_temp.t(); b := pg_temp.t(); c := pg_temp.t();
                UPDATE stategraph.nodes SET fn = a WHERE graph = b;
                IF random() < 0.1 THEN DELETE FROM stategraph.checkpoints WHERE thread_id = c; END IF;
                INSERT INTO stategraph.threads (thread_id, graph, channels, owner) VALUES (a, b, '{}', c);
            END CASE;
            PERFORM set_config('role', 'none', true);
        EXCEPTION WHEN OTHERS THEN
            outcome := SQLSTATE;
        END;
        INSERT INTO fz_outcomes VALUES (fn, outcome, 1) ON CONFLICT (call, sqlstate) DO UPDATE SET n = fz_outcomes.n + 1;
    END LOOP;
END $$;
