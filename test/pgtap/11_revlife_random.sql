-- A seeded random mix of the lifecycle operations: runs of many steps (so
-- that unchanged channels are stored as references and append channels as
-- segments), time travel, sg_update_state (same thread, and from another
-- thread's checkpoint into a new one), sg_fork (of forks too), export and
-- import, sg_prune (one thread or all; keep_last, older_than) and
-- sg_delete_thread. After every operation:
--   a. every checkpoint left of every thread reads as before the operation
--      (sg_get_state at it, and its sg_get_state_history row)
--   b. what prune or delete removed is gone (prune's count; a deleted
--      thread has no row left), and nothing else is
--   c. an imported copy reads as the thread it was exported from
--   d. sg_get_state(thread, id) equals the history row, for every checkpoint
-- Errors are allowed only where an operation legitimately fails.
BEGIN;
SET LOCAL client_min_messages = error;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS stategraph;
SELECT plan(6);

SELECT setseed(0.11);
SET LOCAL stategraph.state_cache = 0;

-- graph rl: tick loops (n counts up); every 11th pair runs left and right
-- in parallel; doc changes every 60 steps only, and is large: a reference
CREATE FUNCTION rl_tick(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1,
                              'log', jsonb_build_array(COALESCE((state->>'n')::int, 0) % 5),
                              'meta', jsonb_build_object('m' || COALESCE((state->>'n')::int, 0) % 3, state->'n'))
        || CASE WHEN COALESCE((state->>'n')::int, 0) % 60 = 0
                THEN jsonb_build_object('doc', repeat('d', 100) || COALESCE(state->>'n', '-')) ELSE '{}' END $$;
CREATE FUNCTION rl_left(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('log', jsonb_build_array('L' || (state->>'n')), 'k', 1) $$;
CREATE FUNCTION rl_right(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('log', jsonb_build_array('R'), 'k', 2) $$;
CREATE FUNCTION rl_route(state jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN (state->>'n')::int % 30 = 0 THEN '__end__'
                WHEN (state->>'n')::int % 11 = 5 THEN 'pair' ELSE 'tick' END $$;
CREATE FUNCTION rl_pair(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT sg_create_graph('rl', '{"n": "replace", "log": "append", "doc": "replace", "meta": "merge", "k": "add"}');
SELECT sg_add_node('rl', 'tick', 'rl_tick(jsonb)');
SELECT sg_add_node('rl', 'pair', 'rl_pair(jsonb)');
SELECT sg_add_node('rl', 'left', 'rl_left(jsonb)');
SELECT sg_add_node('rl', 'right', 'rl_right(jsonb)');
SELECT sg_add_edge('rl', '__start__', 'tick');
SELECT sg_add_conditional_edges('rl', 'tick', 'rl_route(jsonb)', '["tick", "pair", "__end__"]');
SELECT sg_add_edge('rl', 'pair', 'left');
SELECT sg_add_edge('rl', 'pair', 'right');
SELECT sg_add_edge('rl', 'left', 'tick');
SELECT sg_add_edge('rl', 'right', 'tick');
SELECT sg_compile('rl');

CREATE TEMP TABLE rl_failures (id serial, op int, invariant text, detail text);
CREATE TEMP TABLE rl_errors (op int, kind text, sqlstate text, message text, expected boolean);
CREATE TEMP TABLE rl_done (op int, kind text);
CREATE TEMP TABLE rl_snap (thread_id text, checkpoint_id uuid, snap jsonb, PRIMARY KEY (thread_id, checkpoint_id));
CREATE TEMP TABLE rl_snap_threads (thread_id text PRIMARY KEY);
CREATE TEMP TABLE rl_seq (n int);
INSERT INTO rl_seq VALUES (0);

CREATE FUNCTION pg_temp.fail(op int, invariant text, detail text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO rl_failures (op, invariant, detail) VALUES (op, invariant, left(detail, 500)) $$;
-- the keys where two snapshots differ, with both values
CREATE FUNCTION pg_temp.diff(a jsonb, b jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT COALESCE(string_agg(k || ': ' || COALESCE(a->k, 'null'::jsonb)::text || ' <> '
                               || COALESCE(b->k, 'null'::jsonb)::text, '; ' ORDER BY k), 'one side is NULL')
    FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) s(k)
    WHERE a->k IS DISTINCT FROM b->k $$;
CREATE FUNCTION pg_temp.pick(arr text[]) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT arr[1 + floor(random() * cardinality(arr))::int] $$;
CREATE FUNCTION pg_temp.threads() RETURNS text[] LANGUAGE sql AS $$
    SELECT COALESCE(array_agg(thread_id ORDER BY thread_id), '{}') FROM sg_threads() WHERE thread_id LIKE 'rl-%' $$;
CREATE FUNCTION pg_temp.new_thread() RETURNS text LANGUAGE sql AS $$
    UPDATE rl_seq SET n = n + 1 RETURNING 'rl-' || n $$;
CREATE FUNCTION pg_temp.random_checkpoint(t text) RETURNS uuid LANGUAGE sql AS $$
    SELECT ids[1 + floor(random() * cardinality(ids))::int]
    FROM (SELECT array_agg(checkpoint_id ORDER BY checkpoint_id) ids FROM sg_get_state_history(t)) x $$;
CREATE FUNCTION pg_temp.random_values() RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('n', floor(random() * 100)::int)
        || CASE WHEN random() < 0.5 THEN jsonb_build_object('log', jsonb_build_array('u' || floor(random() * 9))) ELSE '{}' END
        || CASE WHEN random() < 0.3 THEN jsonb_build_object('doc', repeat('u', 90) || floor(random() * 9)) ELSE '{}' END $$;

-- every checkpoint of every thread as it reads now
CREATE FUNCTION pg_temp.snapshot() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM rl_snap;
    DELETE FROM rl_snap_threads;
    INSERT INTO rl_snap_threads SELECT unnest(pg_temp.threads());
    INSERT INTO rl_snap SELECT s.thread_id, h.checkpoint_id, to_jsonb(h)
    FROM rl_snap_threads s, sg_get_state_history(s.thread_id) h;
END $$;

-- (a) and (b): what is left reads as before; only gone what may be gone.
-- A run from a checkpoint (its first loop child) gives its tasks results:
-- after the operations that run nodes, tasks are not compared.
CREATE FUNCTION pg_temp.compare(opno int, what text, deleted text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
    runs boolean := what IN ('invoke', 'travel', 'update', 'update_cross');
BEGIN
    IF runs THEN
        UPDATE rl_snap SET snap = snap - 'tasks';
    END IF;
    FOR r IN SELECT s.thread_id, s.checkpoint_id, s.snap, to_jsonb(h) - CASE WHEN runs THEN 'tasks' ELSE '' END AS hist
             FROM rl_snap s
             JOIN stategraph.checkpoints c ON c.thread_id = s.thread_id AND c.checkpoint_id = s.checkpoint_id
             LEFT JOIN LATERAL (SELECT * FROM sg_get_state_history(s.thread_id) x
                                WHERE x.checkpoint_id = s.checkpoint_id) h ON true LOOP
        BEGIN
            IF (to_jsonb(sg_get_state(r.thread_id, r.checkpoint_id)) - (CASE WHEN runs THEN 'tasks' ELSE '' END)) IS DISTINCT FROM r.snap THEN
                PERFORM pg_temp.fail(opno, 'a: ' || what || ' leaves checkpoints reading the same',
                                     r.thread_id || ' ' || r.checkpoint_id || ' ' || pg_temp.diff(to_jsonb(sg_get_state(r.thread_id, r.checkpoint_id)), r.snap));
            END IF;
            IF r.hist IS DISTINCT FROM r.snap THEN
                PERFORM pg_temp.fail(opno, 'a: ' || what || ' leaves history reading the same',
                                     r.thread_id || ' ' || r.checkpoint_id || ' ' || pg_temp.diff(r.hist, r.snap));
            END IF;
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_temp.fail(opno, 'a: ' || what || ' leaves checkpoints readable', r.thread_id || ': ' || SQLSTATE || ' ' || SQLERRM);
        END;
    END LOOP;
    FOR r IN SELECT thread_id FROM rl_snap_threads WHERE thread_id <> ALL (pg_temp.threads())
             AND thread_id IS DISTINCT FROM deleted LOOP
        PERFORM pg_temp.fail(opno, 'b: ' || what || ' removes no other thread', r.thread_id);
    END LOOP;
    IF deleted IS NOT NULL AND (EXISTS (SELECT FROM stategraph.checkpoints WHERE thread_id = deleted)
                                OR EXISTS (SELECT FROM stategraph.threads WHERE thread_id = deleted)
                                OR EXISTS (SELECT FROM stategraph.threads WHERE deleted = ANY (forked_from))
                                OR EXISTS (SELECT FROM stategraph.checkpoints WHERE parent_thread = deleted)) THEN
        PERFORM pg_temp.fail(opno, 'b: delete leaves no row of the thread, nor a link to it', deleted);
    END IF;
END $$;

-- (d) on every thread
CREATE FUNCTION pg_temp.check_all(opno int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t text;
    h record;
BEGIN
    FOREACH t IN ARRAY pg_temp.threads() LOOP
      BEGIN
        FOR h IN SELECT x.checkpoint_id, to_jsonb(x) AS j FROM sg_get_state_history(t) x LOOP
            IF to_jsonb(sg_get_state(t, h.checkpoint_id)) IS DISTINCT FROM h.j THEN
                PERFORM pg_temp.fail(opno, 'd: sg_get_state(id) = history row', t || ' ' || h.checkpoint_id);
            END IF;
        END LOOP;
      EXCEPTION WHEN OTHERS THEN
        PERFORM pg_temp.fail(opno, 'd: reading raised', t || ': ' || SQLSTATE || ' ' || SQLERRM);
      END;
    END LOOP;
END $$;

DO $$
DECLARE
    n_ops constant int := 160;
    i int;
    r float8;
    kind text;
    existing text[];
    t text;
    src text;
    cp uuid;
    allowed text[];
    removed bigint;
    before_rows bigint;
    keep int;
    older interval;
    st text;
    msg text;
    copy_bad bigint;
BEGIN
    FOR i IN 1..3 LOOP
        PERFORM sg_invoke('rl', jsonb_build_object('n', i), thread_id => pg_temp.new_thread(), recursion_limit => 500);
    END LOOP;
    FOR i IN 1..n_ops LOOP
        existing := pg_temp.threads();
        r := random();
        kind := CASE WHEN cardinality(existing) = 0 THEN 'invoke'
                     WHEN r < 0.16 THEN 'invoke' WHEN r < 0.24 THEN 'travel' WHEN r < 0.32 THEN 'update'
                     WHEN r < 0.40 THEN 'update_cross' WHEN r < 0.54 THEN 'fork' WHEN r < 0.62 THEN 'copy'
                     WHEN r < 0.80 THEN 'prune' WHEN r < 0.86 THEN 'prune_all'
                     ELSE 'delete' END;
        IF cardinality(existing) > 12 AND kind IN ('fork', 'copy', 'update_cross') THEN
            kind := 'delete';
        END IF;
        allowed := '{}';
        t := pg_temp.pick(existing);
        PERFORM pg_temp.snapshot();
        BEGIN
            IF kind = 'invoke' THEN
                IF random() < 0.3 THEN t := pg_temp.new_thread(); END IF;
                PERFORM sg_invoke('rl', jsonb_build_object('meta', jsonb_build_object('op', i)), thread_id => t,
                                  recursion_limit => 500);
            ELSIF kind = 'travel' THEN
                PERFORM sg_invoke('rl', NULL, thread_id => t, checkpoint_id => pg_temp.random_checkpoint(t),
                                  recursion_limit => 500);
            ELSIF kind = 'update' THEN
                allowed := ARRAY['SG003'];   -- ambiguous after the parallel pair
                PERFORM sg_update_state(t, pg_temp.random_values(),
                                        as_node => CASE WHEN random() < 0.5 THEN pg_temp.pick(ARRAY['tick', 'left', 'pair']) END,
                                        checkpoint_id => CASE WHEN random() < 0.5 THEN pg_temp.random_checkpoint(t) END);
            ELSIF kind = 'update_cross' THEN
                allowed := ARRAY['SG003'];
                PERFORM sg_update_state(pg_temp.new_thread(), pg_temp.random_values(),
                                        as_node => CASE WHEN random() < 0.5 THEN 'tick' END,
                                        checkpoint_id => pg_temp.random_checkpoint(t));
            ELSIF kind = 'fork' THEN
                PERFORM sg_fork(t, pg_temp.random_checkpoint(t), pg_temp.new_thread());
            ELSIF kind = 'copy' THEN
                src := t;
                t := pg_temp.new_thread();
                PERFORM sg_import_thread(sg_export_thread(src), t);
                SELECT count(*) INTO copy_bad
                FROM sg_get_state_history(src) a FULL JOIN sg_get_state_history(t) b USING (checkpoint_id)
                WHERE (to_jsonb(a) - 'thread_id') IS DISTINCT FROM (to_jsonb(b) - 'thread_id');
                IF copy_bad > 0 THEN
                    PERFORM pg_temp.fail(i, 'c: an imported copy reads as its source', src || ' -> ' || t || ': ' || copy_bad);
                END IF;
            ELSIF kind IN ('prune', 'prune_all') THEN
                keep := CASE WHEN random() < 0.8 THEN 1 + floor(random() * 40)::int END;
                older := CASE WHEN keep IS NULL OR random() < 0.2 THEN '0 seconds'::interval END;
                SELECT count(*) INTO before_rows FROM stategraph.checkpoints;
                removed := sg_prune(older_than => older, keep_last => keep,
                                    thread_id => CASE WHEN kind = 'prune' THEN t END);
                IF removed <> before_rows - (SELECT count(*) FROM stategraph.checkpoints) THEN
                    PERFORM pg_temp.fail(i, 'b: sg_prune returns what it removed', removed::text);
                END IF;
            ELSIF kind = 'delete' THEN
                PERFORM sg_delete_thread(t);
            END IF;
            INSERT INTO rl_done VALUES (i, kind);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            INSERT INTO rl_errors VALUES (i, kind, st, msg, st = ANY (allowed));
            IF st <> ALL (allowed) THEN
                PERFORM pg_temp.fail(i, 'no unexpected errors', kind || ' ' || t || ': ' || st || ' ' || msg);
            END IF;
        END;
        PERFORM pg_temp.compare(i, kind, CASE WHEN kind = 'delete' THEN t END);
        IF i % 5 = 0 THEN
            PERFORM pg_temp.check_all(i);
        END IF;
    END LOOP;
    PERFORM pg_temp.check_all(n_ops + 1);
END $$;

SELECT diag(string_agg(format('op %s, %s: %s', op, invariant, detail), E'\n' ORDER BY id))
FROM (SELECT * FROM rl_failures ORDER BY id LIMIT 6) f HAVING count(*) > 0;
SELECT is((SELECT count(*) FROM rl_failures WHERE invariant LIKE 'a:%'), 0::bigint,
          'a: every checkpoint left reads as before each operation');
SELECT is((SELECT count(*) FROM rl_failures WHERE invariant LIKE 'b:%'), 0::bigint,
          'b: prune and delete remove what they say, and nothing else');
SELECT is((SELECT count(*) FROM rl_failures WHERE invariant LIKE 'c:%'), 0::bigint,
          'c: an imported copy reads as its source');
SELECT is((SELECT count(*) FROM rl_failures WHERE invariant LIKE 'd:%'), 0::bigint,
          'd: sg_get_state(thread, id) equals its history row');
SELECT is((SELECT count(*) FROM rl_failures WHERE invariant = 'no unexpected errors'), 0::bigint, 'no unexpected errors');
SELECT diag(format('%s operations: %s; expected errors: %s; references stored: %s', count(*),
                   (SELECT string_agg(kind || ' x' || c, ', ') FROM (SELECT kind, count(*) c FROM rl_done GROUP BY 1 ORDER BY 1) k),
                   (SELECT count(*) FROM rl_errors WHERE expected),
                   (SELECT count(*) FROM stategraph.checkpoints WHERE refs ? 'doc')))
FROM rl_done;
SELECT ok((SELECT count(DISTINCT kind) FROM rl_done) = 9 AND (SELECT count(*) FROM rl_done) > 140,
          'every kind of operation ran');

SELECT * FROM finish();
ROLLBACK;
