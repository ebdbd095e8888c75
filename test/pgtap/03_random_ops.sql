-- A seeded randomized consistency test of storage. Three graphs (every
-- reducer, parallel nodes, a join, a conditional loop, Send, a static and a
-- dynamic interrupt, a node that fails on demand) run a few hundred random
-- operations on a pool of threads: new input, resume, time travel (each
-- also as an sg_stream read only up to a few rows), update_state (same
-- thread, older checkpoint, another thread's checkpoint into a new
-- thread), fork, prune, delete, rolled-back operations, batches
-- of operations in one subtransaction, and the state cache switched on and
-- off. After each operation the invariants below are checked; every
-- violation is recorded and reported at the end.
--   a. sg_get_state with the state cache (filled by the run, and on a cache
--      hit) equals sg_get_state without it
--   b. the newest row of sg_get_state_history is sg_get_state
--   c. sg_get_state(t, id) equals the history row of id, for every checkpoint
--   d. prune, delete and rolled-back operations leave every remaining
--      checkpoint of every thread reading exactly as before
--   e. history is newest first; a loop/update checkpoint's parent exists in
--      its thread (one step earlier) unless prune or delete removed it
-- plus what each operation returns: sg_invoke's values are the new state,
-- sg_update_state's id is the new head and its replace/append values landed,
-- sg_fork's thread reads as the forked checkpoint, sg_prune's count is what
-- it removed. Errors are allowed only where an operation legitimately fails
-- (each operation lists the SQLSTATEs it may raise); any other is a failure.
BEGIN;
SET LOCAL client_min_messages = error;   -- IF NOT EXISTS notices; on_error => 'return' raises WARNINGs
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS stategraph;
SELECT plan(11);

SELECT setseed(0.20250917);

-- ---------------------------------------------------------------- graphs
CREATE TABLE rnd_flaky (broken boolean NOT NULL);
INSERT INTO rnd_flaky VALUES (false);

-- a custom reducer that is neither commutative nor idempotent
CREATE FUNCTION rnd_mix(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT to_jsonb((COALESCE((cur #>> '{}')::numeric, 0) * 31 + (upd #>> '{}')::numeric) % 1000) $$;

-- graph rnd_a: start -> (left, right) -> join([left, right]) -> router: start | __end__
CREATE FUNCTION rnd_a_start(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'n', (COALESCE((state->>'n')::numeric, 0) * 7 + 3) % 101,
        'log', jsonb_build_array('s' || COALESCE(state->>'n', '-')),
        'total', COALESCE((state->>'n')::numeric, 0) % 10,
        'best', COALESCE((state->>'total')::numeric, 0) % 97) $$;
CREATE FUNCTION rnd_a_left(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'log', jsonb_build_array('L' || COALESCE(state->>'n', '-') || '@' || (config->>'step') || repeat('-', 40)),
        'total', 1,
        'meta', jsonb_build_object('left', state->'n',
                                   'k' || (COALESCE((state->>'total')::numeric, 0) % 5), state->'total'),
        'best', COALESCE((state->>'n')::numeric, 0)) $$;
CREATE FUNCTION rnd_a_right(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'log', jsonb_build_array('R' || COALESCE(state->>'total', '-')),
        'meta', jsonb_build_object('right', state->'total'),
        'best', COALESCE((state->>'total')::numeric, 0) % 100) $$;
CREATE FUNCTION rnd_a_join(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'log', jsonb_build_array('J' || jsonb_array_length(state->'log')),
        'rounds', 1,
        'n', COALESCE((state->>'n')::numeric, 0) + 1) $$;
CREATE FUNCTION rnd_a_route(state jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN COALESCE((state->>'rounds')::numeric, 0) % 3 = 0 THEN '__end__' ELSE 'start' END $$;
SELECT sg_create_graph('rnd_a', '{"log": "append", "n": "replace", "total": "add", "meta": "merge",
                                  "best": "rnd_mix", "rounds": "add", "user": "replace"}');
SELECT sg_add_node('rnd_a', 'start', 'rnd_a_start(jsonb)');
SELECT sg_add_node('rnd_a', 'left', 'rnd_a_left(jsonb,jsonb)');
SELECT sg_add_node('rnd_a', 'right', 'rnd_a_right(jsonb)');
SELECT sg_add_node('rnd_a', 'join', 'rnd_a_join(jsonb)');
SELECT sg_add_edge('rnd_a', '__start__', 'start');
SELECT sg_add_edge('rnd_a', 'start', 'left');
SELECT sg_add_edge('rnd_a', 'start', 'right');
SELECT sg_add_edge('rnd_a', ARRAY['left', 'right'], 'join');
SELECT sg_add_conditional_edges('rnd_a', 'join', 'rnd_a_route(jsonb)', '["start", "__end__"]');
SELECT sg_compile('rnd_a');

-- graph rnd_b: plan -> Send(work x 1..3) -> reduce (interrupt_before); work fails on demand
CREATE FUNCTION rnd_b_plan(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'last', 'plan' || COALESCE(jsonb_array_length(state->'items'), 0),
        'cnt', COALESCE((state->>'sum')::numeric, 0) % 50) $$;
CREATE FUNCTION rnd_b_fan(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_object('node', 'work', 'arg',
                     jsonb_build_object('i', i, 'base', COALESCE((state->>'sum')::numeric, 0))) ORDER BY i)
    FROM generate_series(1, 1 + (COALESCE((state->>'sum')::numeric, 0) % 3)::int) i $$;
CREATE FUNCTION rnd_b_work(arg jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT broken FROM rnd_flaky) AND (arg->>'i')::int = 2 THEN
        RAISE EXCEPTION 'flaky work %', arg;
    END IF;
    RETURN jsonb_build_object('items', jsonb_build_array((arg->>'base')::numeric * 10 + (arg->>'i')::int),
                              'sum', (arg->>'i')::int,
                              'tags', jsonb_build_object('w' || (arg->>'i'), arg->'base'));
END $$;
CREATE FUNCTION rnd_b_reduce(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('last', 'reduced' || jsonb_array_length(state->'items'), 'sum', 1,
                              'cnt', jsonb_array_length(state->'items')) $$;
SELECT sg_create_graph('rnd_b', '{"items": "append", "sum": "add", "last": "replace", "tags": "merge",
                                  "cnt": "rnd_mix"}');
SELECT sg_add_node('rnd_b', 'plan', 'rnd_b_plan(jsonb)');
SELECT sg_add_node('rnd_b', 'work', 'rnd_b_work(jsonb)');
SELECT sg_add_node('rnd_b', 'reduce', 'rnd_b_reduce(jsonb)');
SELECT sg_add_edge('rnd_b', '__start__', 'plan');
SELECT sg_add_conditional_edges('rnd_b', 'plan', 'rnd_b_fan(jsonb)');
SELECT sg_add_edge('rnd_b', 'work', 'reduce');
SELECT sg_add_edge('rnd_b', 'reduce', '__end__');
SELECT sg_compile('rnd_b', interrupt_before => ARRAY['reduce']);

-- graph rnd_c: one -> ask (sg_interrupt when score % 4 = 0) -> two
CREATE FUNCTION rnd_c_one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('step', COALESCE((state->>'step')::numeric, 0) + 1,
                              'msgs', jsonb_build_array('one@' || COALESCE(state->>'step', '-') || repeat('~', 30)),
                              'score', -1) $$;
CREATE FUNCTION rnd_c_ask(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    answer jsonb;
BEGIN
    IF (state->>'score')::numeric % 4 = 0 THEN
        answer := sg_interrupt(jsonb_build_object('q', state->'step'));
        RETURN jsonb_build_object('data', jsonb_build_object('answer', answer), 'msgs', '["asked"]'::jsonb);
    END IF;
    RETURN jsonb_build_object('data', jsonb_build_object('auto', state->'step'), 'msgs', '["skip"]'::jsonb);
END $$;
CREATE FUNCTION rnd_c_two(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('step', COALESCE((state->>'step')::numeric, 0) + 10,
                              'msgs', '["two"]'::jsonb,
                              'score', COALESCE((state->>'step')::numeric, 0) % 7) $$;
SELECT sg_create_graph('rnd_c', '{"msgs": "append", "step": "replace", "data": "replace",
                                  "score": {"reducer": "add", "default": 100}, "owner": "replace"}');
SELECT sg_add_node('rnd_c', 'one', 'rnd_c_one(jsonb)');
SELECT sg_add_node('rnd_c', 'ask', 'rnd_c_ask(jsonb)');
SELECT sg_add_node('rnd_c', 'two', 'rnd_c_two(jsonb)');
SELECT sg_add_edge('rnd_c', '__start__', 'one');
SELECT sg_add_edge('rnd_c', 'one', 'ask');
SELECT sg_add_edge('rnd_c', 'ask', 'two');
SELECT sg_add_edge('rnd_c', 'two', '__end__');
SELECT sg_compile('rnd_c');

-- what the operations are generated from
CREATE TEMP TABLE rnd_graphs (graph text PRIMARY KEY, nodes text[] NOT NULL);
INSERT INTO rnd_graphs VALUES ('rnd_a', '{start,left,right,join}'), ('rnd_b', '{plan,work,reduce}'),
                              ('rnd_c', '{one,ask,two}');
CREATE TEMP TABLE rnd_chan (graph text, channel text, reducer text, sample text);
INSERT INTO rnd_chan VALUES
    ('rnd_a', 'log', 'append', 'arr'), ('rnd_a', 'n', 'replace', 'num'), ('rnd_a', 'total', 'add', 'num'),
    ('rnd_a', 'meta', 'merge', 'obj'), ('rnd_a', 'best', 'custom', 'num'), ('rnd_a', 'rounds', 'add', 'small'),
    ('rnd_a', 'user', 'replace', 'str'), ('rnd_c', 'owner', 'replace', 'str'),
    ('rnd_b', 'items', 'append', 'arr'), ('rnd_b', 'sum', 'add', 'small'), ('rnd_b', 'last', 'replace', 'str'),
    ('rnd_b', 'tags', 'merge', 'obj'), ('rnd_b', 'cnt', 'custom', 'num'),
    ('rnd_c', 'msgs', 'append', 'arr'), ('rnd_c', 'step', 'replace', 'num'), ('rnd_c', 'data', 'replace', 'obj'),
    ('rnd_c', 'score', 'add', 'num');
CREATE TEMP TABLE rnd_pool (thread_id text PRIMARY KEY);
INSERT INTO rnd_pool SELECT 'rnd-' || i FROM generate_series(0, 7) i;

-- what the run records
CREATE TEMP TABLE rnd_failures (id serial, op int, invariant text, detail text);
CREATE TEMP TABLE rnd_errors (op int, kind text, sqlstate text, message text, expected boolean);
CREATE TEMP TABLE rnd_done (op int, kind text, rolled_back boolean);
CREATE TEMP TABLE rnd_log (op int, ops jsonb, rolled_back boolean);
CREATE TEMP TABLE rnd_removed (checkpoint_id uuid PRIMARY KEY);
CREATE TEMP TABLE rnd_cov (checkpoint_id uuid, what text, PRIMARY KEY (checkpoint_id, what));
CREATE TEMP TABLE rnd_snap (thread_id text, checkpoint_id uuid, snap jsonb, PRIMARY KEY (thread_id, checkpoint_id));
CREATE TEMP TABLE rnd_snap_threads (thread_id text PRIMARY KEY);

-- ---------------------------------------------------------------- helpers
CREATE FUNCTION pg_temp.fail(op int, invariant text, detail text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO rnd_failures (op, invariant, detail) VALUES (op, invariant, left(detail, 600)) $$;

-- the keys where two snapshots (as jsonb) differ, with both values
CREATE FUNCTION pg_temp.diff(a jsonb, b jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT COALESCE(string_agg(k || ': ' || COALESCE(a->k, 'null'::jsonb)::text || ' <> '
                               || COALESCE(b->k, 'null'::jsonb)::text, '; ' ORDER BY k),
                    CASE WHEN a IS NULL OR b IS NULL THEN 'one side is NULL' END)
    FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) s(k)
    WHERE a->k IS DISTINCT FROM b->k $$;

CREATE FUNCTION pg_temp.pick(arr text[]) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT arr[1 + floor(random() * cardinality(arr))::int] $$;

CREATE FUNCTION pg_temp.threads() RETURNS text[] LANGUAGE sql AS $$
    SELECT COALESCE(array_agg(thread_id ORDER BY thread_id), '{}') FROM sg_threads() WHERE thread_id LIKE 'rnd-%' $$;

CREATE FUNCTION pg_temp.graph_of(t text) RETURNS text LANGUAGE sql AS $$
    SELECT graph FROM sg_threads() WHERE thread_id = t $$;

-- a random checkpoint of a thread (by position, so the choice is seeded); not_head: never the newest
CREATE FUNCTION pg_temp.random_checkpoint(t text, not_head boolean) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    SELECT array_agg(checkpoint_id ORDER BY checkpoint_id) INTO ids FROM sg_get_state_history(t);
    IF not_head THEN
        ids := ids[1:cardinality(ids) - 1];
    END IF;
    IF COALESCE(cardinality(ids), 0) = 0 THEN
        RETURN NULL;
    END IF;
    RETURN ids[1 + floor(random() * cardinality(ids))::int];
END $$;

-- random channel values for a graph: each channel with probability 1/2
CREATE FUNCTION pg_temp.random_values(g text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v jsonb := '{}';
    k int;
BEGIN
    FOR r IN SELECT * FROM rnd_chan WHERE graph = g ORDER BY channel LOOP
        k := floor(random() * 50)::int;
        CONTINUE WHEN random() < 0.5;
        v := v || jsonb_build_object(r.channel, CASE r.sample
                 WHEN 'arr' THEN jsonb_build_array('v' || k || repeat('.', k))
                 WHEN 'num' THEN to_jsonb(k)
                 WHEN 'small' THEN to_jsonb(k % 3)
                 WHEN 'str' THEN to_jsonb('v' || k)
                 WHEN 'obj' THEN jsonb_build_object('k' || (k % 4), k) END);
    END LOOP;
    RETURN v;
END $$;

-- plan one operation of a kind: its arguments and the SQLSTATEs it may legitimately raise
CREATE FUNCTION pg_temp.plan_op(kind text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    existing text[] := pg_temp.threads();
    missing text[];
    t text;
    g text;
    src text;
    cp uuid;
    st text;
    allowed text[] := '{}';
    op jsonb := '{}';
    flaky boolean := (SELECT broken FROM rnd_flaky);
BEGIN
    SELECT COALESCE(array_agg(thread_id ORDER BY thread_id), '{}') INTO missing
    FROM rnd_pool WHERE thread_id <> ALL (existing);
    IF cardinality(existing) = 0 AND kind <> 'invoke' THEN
        kind := 'invoke';
    END IF;
    IF kind = 'invoke' THEN
        IF cardinality(existing) > 0 AND random() < 0.85 THEN
            t := pg_temp.pick(existing);
        ELSE
            t := pg_temp.pick(ARRAY(SELECT thread_id FROM rnd_pool ORDER BY 1));
        END IF;
        g := COALESCE(pg_temp.graph_of(t), pg_temp.pick(ARRAY['rnd_a', 'rnd_b', 'rnd_c']));
        op := jsonb_build_object('input', pg_temp.random_values(g));
    ELSIF kind = 'resume' THEN
        IF cardinality(missing) > 0 AND random() < 0.08 THEN
            t := pg_temp.pick(missing);
            g := pg_temp.pick(ARRAY['rnd_a', 'rnd_b', 'rnd_c']);
            allowed := allowed || '42704'::text;
            op := '{}';
        ELSE
            t := pg_temp.pick(existing);
            g := pg_temp.graph_of(t);
            SELECT status INTO st FROM sg_threads() WHERE thread_id = t;
            op := '{}';
            IF st = 'interrupted' AND random() < 0.6 THEN
                op := jsonb_build_object('resume', to_jsonb('yes ' || floor(random() * 10)));
                allowed := allowed || '55000'::text;
            ELSIF random() < 0.08 THEN
                op := jsonb_build_object('resume', '"stray"'::jsonb);
                allowed := allowed || '55000'::text;   -- nothing pending
            END IF;
        END IF;
    ELSIF kind = 'travel' THEN
        t := pg_temp.pick(existing);
        g := pg_temp.graph_of(t);
        cp := pg_temp.random_checkpoint(t, true);
        op := jsonb_build_object('checkpoint', cp);
        IF random() < 0.15 THEN
            op := op || jsonb_build_object('input', pg_temp.random_values(g));
        END IF;
    ELSIF kind = 'update' THEN
        t := pg_temp.pick(existing);
        g := pg_temp.graph_of(t);
        op := jsonb_build_object('values', pg_temp.random_values(g));
        IF random() < 0.5 THEN
            op := op || jsonb_build_object('as_node', pg_temp.pick((SELECT nodes FROM rnd_graphs WHERE graph = g)));
        ELSE
            allowed := allowed || 'SG003'::text;   -- ambiguous after parallel nodes
        END IF;
        IF random() < 0.3 THEN
            op := op || jsonb_build_object('checkpoint', pg_temp.random_checkpoint(t, false));
        END IF;
    ELSIF kind = 'update_cross' THEN
        src := pg_temp.pick(existing);
        g := pg_temp.graph_of(src);
        IF cardinality(missing) > 0 AND random() < 0.9 THEN
            t := pg_temp.pick(missing);
        ELSE
            t := pg_temp.pick(ARRAY(SELECT e FROM unnest(existing) e WHERE e <> src ORDER BY 1));
            IF t IS NULL THEN t := pg_temp.pick(missing); END IF;
            IF t IS NULL THEN t := src; END IF;
            IF pg_temp.graph_of(t) <> g THEN
                allowed := allowed || '22023'::text;   -- a thread of another graph
            END IF;
        END IF;
        op := jsonb_build_object('values', pg_temp.random_values(g), 'source', src,
                                 'checkpoint', pg_temp.random_checkpoint(src, false));
        IF random() < 0.4 THEN
            op := op || jsonb_build_object('as_node', pg_temp.pick((SELECT nodes FROM rnd_graphs WHERE graph = g)));
        ELSE
            allowed := allowed || 'SG003'::text;
        END IF;
    ELSIF kind = 'fork' THEN
        src := pg_temp.pick(existing);
        g := pg_temp.graph_of(src);
        IF cardinality(missing) > 0 AND random() < 0.9 THEN
            t := pg_temp.pick(missing);
        ELSE
            t := pg_temp.pick(existing);
            allowed := allowed || '42710'::text;
        END IF;
        op := jsonb_build_object('source', src, 'checkpoint', pg_temp.random_checkpoint(src, false));
    ELSIF kind = 'prune' THEN
        -- small keep_last cuts through recent steps; large ones leave long histories to read
        op := jsonb_build_object('keep_last', CASE WHEN random() < 0.6 THEN 1 + floor(random() * 6)::int
                                                   ELSE 10 + floor(random() * 40)::int END);
        IF random() < 0.5 THEN
            t := pg_temp.pick(existing);
        END IF;
        IF random() < 0.2 THEN
            op := op || '{"older_than": "0 seconds"}';
            IF random() < 0.5 THEN
                op := op - 'keep_last';
            END IF;
        END IF;
    ELSIF kind = 'delete' THEN
        t := pg_temp.pick(existing);
    ELSE
        RAISE EXCEPTION 'unknown kind %', kind;
    END IF;
    IF kind IN ('invoke', 'resume', 'travel') AND random() < 0.2 THEN
        -- sg_stream in the select list, read only up to a few rows: the run stops where the reader did
        op := op || jsonb_build_object('stream_limit', 1 + floor(random() * 5)::int,
                                       'mode', pg_temp.pick(ARRAY['updates', 'values']));
    END IF;
    IF g = 'rnd_b' AND kind IN ('invoke', 'resume', 'travel') THEN
        IF random() < 0.6 THEN
            op := op || '{"on_error": "return"}';
        ELSIF flaky THEN
            allowed := allowed || 'P0001'::text;   -- the flaky node, with on_error => 'raise'
        END IF;
    END IF;
    RETURN jsonb_strip_nulls(op || jsonb_build_object('kind', kind, 'graph', g, 'thread', t,
                                                     'allowed', to_jsonb(allowed)));
END $$;

-- run a planned operation (errors propagate) and check what it returns
CREATE FUNCTION pg_temp.exec_op(op jsonb, opno int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    kind text := op->>'kind';
    t text := op->>'thread';
    res jsonb;
    s sg_snapshot;
    forked sg_snapshot;
    id uuid;
    removed bigint;
    before_rows bigint;
    r record;
BEGIN
    IF kind IN ('invoke', 'resume', 'travel') AND op ? 'stream_limit' THEN
        PERFORM count(*) FROM (SELECT (sg_stream(op->>'graph', op->'input', thread_id => t,
                                                 checkpoint_id => (op->>'checkpoint')::uuid, resume => op->'resume',
                                                 on_error => COALESCE(op->>'on_error', 'raise'), mode => op->>'mode')).*
                               LIMIT (op->>'stream_limit')::int) x;
    ELSIF kind IN ('invoke', 'resume', 'travel') THEN
        res := sg_invoke(op->>'graph', op->'input', thread_id => t, checkpoint_id => (op->>'checkpoint')::uuid,
                         resume => op->'resume', on_error => COALESCE(op->>'on_error', 'raise'));
        s := sg_get_state(t);
        IF NOT res ? '__error__' AND (res - '__interrupt__') IS DISTINCT FROM s."values" THEN
            PERFORM pg_temp.fail(opno, 'invoke result = state', op::text || ': ' || pg_temp.diff(res - '__interrupt__', s."values"));
        END IF;
        IF res ? '__interrupt__' AND cardinality(s.next) = 0 THEN
            PERFORM pg_temp.fail(opno, 'interrupted run has next', op::text);
        END IF;
    ELSIF kind IN ('update', 'update_cross') THEN
        id := sg_update_state(t, op->'values', as_node => op->>'as_node', checkpoint_id => (op->>'checkpoint')::uuid);
        s := sg_get_state(t);
        IF s.checkpoint_id IS DISTINCT FROM id OR s.source <> 'update' THEN
            PERFORM pg_temp.fail(opno, 'update_state id is the head', op::text || ': head ' || s.checkpoint_id || ' ' || s.source);
        END IF;
        FOR r IN SELECT c.channel, c.reducer, v.value FROM rnd_chan c JOIN jsonb_each(op->'values') v ON v.key = c.channel
                 WHERE c.graph = op->>'graph' LOOP
            IF (r.reducer = 'replace' AND s."values"->r.channel IS DISTINCT FROM r.value)
               OR (r.reducer = 'append' AND s."values"->r.channel->-1 IS DISTINCT FROM r.value->0) THEN
                PERFORM pg_temp.fail(opno, 'update_state values applied',
                                     op::text || ': ' || r.channel || ' = ' || COALESCE(s."values"->r.channel, 'null'));
            END IF;
        END LOOP;
        IF kind = 'update_cross' THEN
            forked := sg_get_state(op->>'source', (op->>'checkpoint')::uuid);
            SELECT * INTO s FROM sg_get_state_history(t) WHERE checkpoint_id = s.parent_checkpoint_id;
            IF s.source IS DISTINCT FROM 'fork' OR s."values" IS DISTINCT FROM forked."values"
               OR s.next IS DISTINCT FROM forked.next THEN
                PERFORM pg_temp.fail(opno, 'update_state from another thread forks it', op::text || ': '
                                     || pg_temp.diff(to_jsonb(s), to_jsonb(forked)));
            END IF;
        END IF;
    ELSIF kind = 'fork' THEN
        id := sg_fork(op->>'source', (op->>'checkpoint')::uuid, t);
        s := sg_get_state(t);
        forked := sg_get_state(op->>'source', (op->>'checkpoint')::uuid);
        IF s.checkpoint_id IS DISTINCT FROM id OR s.source <> 'fork' OR s."values" IS DISTINCT FROM forked."values"
           OR s.next IS DISTINCT FROM forked.next OR s.step IS DISTINCT FROM forked.step THEN
            PERFORM pg_temp.fail(opno, 'fork reads as the forked checkpoint', op::text || ': '
                                 || pg_temp.diff(to_jsonb(s), to_jsonb(forked)));
        END IF;
    ELSIF kind = 'prune' THEN
        CREATE TEMP TABLE IF NOT EXISTS rnd_counts (thread_id text PRIMARY KEY, n bigint);
        DELETE FROM rnd_counts;
        INSERT INTO rnd_counts SELECT thread_id, checkpoints FROM sg_threads();
        SELECT count(*) INTO before_rows FROM stategraph.checkpoints;
        removed := sg_prune(older_than => (op->>'older_than')::interval, keep_last => (op->>'keep_last')::int,
                            thread_id => t);
        IF removed <> before_rows - (SELECT count(*) FROM stategraph.checkpoints) THEN
            PERFORM pg_temp.fail(opno, 'prune returns what it removed', op::text || ': returned ' || removed || ', rows '
                                 || before_rows || ' -> ' || (SELECT count(*) FROM stategraph.checkpoints));
        END IF;
        FOR r IN SELECT c.thread_id, c.n AS before, th.checkpoints AS after,
                        (SELECT count(*) FROM sg_get_state_history(c.thread_id)) AS history
                 FROM rnd_counts c JOIN sg_threads() th USING (thread_id) LOOP
            IF r.after <> r.history
               OR (t IS NOT NULL AND r.thread_id <> t AND r.after <> r.before)
               OR ((t IS NULL OR r.thread_id = t) AND op ? 'keep_last' AND NOT op ? 'older_than'
                   AND r.after <> least(r.before, (op->>'keep_last')::int))
               OR r.after < 1 THEN
                PERFORM pg_temp.fail(opno, 'prune keeps keep_last', op::text || ': ' || r.thread_id || ' '
                                     || r.before || ' -> ' || r.after || ' (history ' || r.history || ')');
            END IF;
        END LOOP;
    ELSIF kind = 'delete' THEN
        PERFORM sg_delete_thread(t);
        BEGIN
            PERFORM sg_get_state(t);
            PERFORM pg_temp.fail(opno, 'a deleted thread is gone', op::text);
        EXCEPTION WHEN undefined_object THEN
            NULL;
        END;
        IF t = ANY (pg_temp.threads()) THEN
            PERFORM pg_temp.fail(opno, 'a deleted thread is gone', op::text || ' still in sg_threads');
        END IF;
    END IF;
END $$;

-- (d) what every checkpoint of every thread reads as now
CREATE FUNCTION pg_temp.snapshot() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM rnd_snap;
    DELETE FROM rnd_snap_threads;
    INSERT INTO rnd_snap_threads SELECT unnest(pg_temp.threads());
    INSERT INTO rnd_snap
    SELECT h.thread_id, h.checkpoint_id, to_jsonb(h)
    FROM unnest(pg_temp.threads()) t, sg_get_state_history(t) h;
END $$;

-- (d) every checkpoint of the snapshot that still exists reads the same;
-- may_remove: the thread whose checkpoints may be gone ('*': any, NULL: none)
CREATE FUNCTION pg_temp.compare_snapshot(opno int, what text, may_remove text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
    now_state jsonb;
    now_hist jsonb;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS rnd_now (thread_id text, checkpoint_id uuid, snap jsonb,
                                             PRIMARY KEY (thread_id, checkpoint_id));
    DELETE FROM rnd_now;
    INSERT INTO rnd_now
    SELECT h.thread_id, h.checkpoint_id, to_jsonb(h)
    FROM (SELECT thread_id FROM rnd_snap_threads INTERSECT SELECT unnest(pg_temp.threads())) t,
         sg_get_state_history(t.thread_id) h;
    FOR r IN SELECT s.thread_id, s.checkpoint_id, s.snap, n.snap AS hist
             FROM rnd_snap s LEFT JOIN rnd_now n USING (thread_id, checkpoint_id)
             ORDER BY s.thread_id, s.checkpoint_id LOOP
        IF r.hist IS NULL THEN
            IF may_remove = '*' OR may_remove = r.thread_id THEN
                INSERT INTO rnd_removed VALUES (r.checkpoint_id) ON CONFLICT DO NOTHING;
            ELSE
                PERFORM pg_temp.fail(opno, 'd: ' || what || ' removed nothing else',
                                     r.thread_id || ' lost ' || r.checkpoint_id || ' step ' || (r.snap->>'step'));
            END IF;
            CONTINUE;
        END IF;
        BEGIN
            now_state := to_jsonb(sg_get_state(r.thread_id, r.checkpoint_id));
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_temp.fail(opno, 'reading raised', r.thread_id || ' ' || r.checkpoint_id || ': ' || SQLSTATE || ' ' || SQLERRM);
            CONTINUE;
        END;
        IF now_state IS DISTINCT FROM r.snap THEN
            PERFORM pg_temp.fail(opno, 'd: ' || what || ' left checkpoints reading the same',
                                 r.thread_id || ' ' || r.checkpoint_id || ' sg_get_state: ' || pg_temp.diff(r.snap, now_state));
        END IF;
        IF r.hist IS DISTINCT FROM r.snap THEN
            PERFORM pg_temp.fail(opno, 'd: ' || what || ' left checkpoints reading the same',
                                 r.thread_id || ' ' || r.checkpoint_id || ' history: ' || pg_temp.diff(r.snap, r.hist));
        END IF;
    END LOOP;
    -- threads: only a deleted one may be gone
    FOR r IN SELECT thread_id FROM rnd_snap_threads WHERE thread_id <> ALL (pg_temp.threads())
             AND thread_id IS DISTINCT FROM may_remove LOOP
        PERFORM pg_temp.fail(opno, 'd: ' || what || ' removed nothing else', 'thread ' || r.thread_id || ' is gone');
    END LOOP;
END $$;

-- (a), (b), (c), (e) on every thread of the pool
CREATE FUNCTION pg_temp.check_all(opno int, deep boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    saved text := current_setting('stategraph.state_cache');
    on_kb text := (SELECT boot_val FROM pg_settings WHERE name = 'stategraph.state_cache');
    t text;
    s_cached jsonb;
    s_hit jsonb;
    s_plain jsonb;
    first_row jsonb;
    h record;
    prev uuid;
    parent record;
    at_id jsonb;
BEGIN
    FOREACH t IN ARRAY pg_temp.threads() LOOP
      BEGIN   -- a read that raises is a failure too, not the end of the run
        -- (a) with the cache (as the last operation left it, then a cache hit) and without
        PERFORM set_config('stategraph.state_cache', on_kb, false);
        s_cached := to_jsonb(sg_get_state(t));
        s_hit := to_jsonb(sg_get_state(t));
        PERFORM set_config('stategraph.state_cache', '0', false);
        s_plain := to_jsonb(sg_get_state(t));
        IF s_cached IS DISTINCT FROM s_plain THEN
            PERFORM pg_temp.fail(opno, 'a: state with cache = without', t || ': ' || pg_temp.diff(s_cached, s_plain));
        END IF;
        IF s_hit IS DISTINCT FROM s_plain THEN
            PERFORM pg_temp.fail(opno, 'a: state from a cache hit = without', t || ': ' || pg_temp.diff(s_hit, s_plain));
        END IF;
        -- (b) history's newest row is the state
        SELECT to_jsonb(x) INTO first_row FROM sg_get_state_history(t) x LIMIT 1;
        IF first_row IS DISTINCT FROM s_plain THEN
            PERFORM pg_temp.fail(opno, 'b: newest history row = state', t || ': ' || pg_temp.diff(first_row, s_plain));
        END IF;
        -- (c) and (e), row by row
        prev := NULL;
        FOR h IN SELECT x.*, to_jsonb(x) AS j FROM sg_get_state_history(t) x LOOP
            IF prev IS NOT NULL AND h.checkpoint_id >= prev THEN
                PERFORM pg_temp.fail(opno, 'e: history newest first', t || ': ' || h.checkpoint_id || ' after ' || prev);
            END IF;
            prev := h.checkpoint_id;
            IF h.source IN ('loop', 'update') THEN
                SELECT x.checkpoint_id, x.step INTO parent FROM sg_get_state_history(t) x
                WHERE x.checkpoint_id = h.parent_checkpoint_id;
                IF parent.checkpoint_id IS NULL THEN
                    IF h.parent_checkpoint_id IS NULL
                       OR NOT EXISTS (SELECT FROM rnd_removed WHERE checkpoint_id = h.parent_checkpoint_id) THEN
                        PERFORM pg_temp.fail(opno, 'e: parent exists or was removed', t || ': ' || h.source || ' '
                                             || h.checkpoint_id || ' parent ' || COALESCE(h.parent_checkpoint_id::text, 'NULL'));
                    END IF;
                ELSIF parent.step <> h.step - 1 THEN
                    PERFORM pg_temp.fail(opno, 'e: parent is one step earlier', t || ': ' || h.checkpoint_id || ' step '
                                         || h.step || ', parent step ' || parent.step);
                END IF;
            END IF;
            IF deep THEN
                at_id := to_jsonb(sg_get_state(t, h.checkpoint_id));
                IF at_id IS DISTINCT FROM h.j THEN
                    PERFORM pg_temp.fail(opno, 'c: sg_get_state(id) = history row', t || ' ' || h.checkpoint_id || ': '
                                         || pg_temp.diff(at_id, h.j));
                END IF;
            END IF;
        END LOOP;
      EXCEPTION WHEN OTHERS THEN
        PERFORM pg_temp.fail(opno, 'reading raised', t || ': ' || SQLSTATE || ' ' || SQLERRM);
      END;
    END LOOP;
    PERFORM set_config('stategraph.state_cache', saved, false);
END $$;

-- which storage layouts the run produced (so that the checks above read them)
CREATE FUNCTION pg_temp.coverage() RETURNS void LANGUAGE sql AS $$
    INSERT INTO rnd_cov
    SELECT c.checkpoint_id, v.what
    FROM stategraph.checkpoints c JOIN stategraph.threads t USING (thread_id),
         LATERAL (SELECT 'append segment' WHERE NOT c.image_complete AND EXISTS (
                      SELECT FROM jsonb_each(c.refs) e JOIN rnd_chan ch ON ch.channel = e.key
                      WHERE ch.graph = t.graph AND ch.reducer = 'append' AND jsonb_typeof(e.value) = 'string')
                  UNION ALL
                  SELECT 'reference' WHERE NOT c.image_complete AND EXISTS (
                      SELECT FROM jsonb_each(c.refs) e JOIN rnd_chan ch ON ch.channel = e.key
                      WHERE ch.graph = t.graph AND ch.reducer <> 'append')
                  UNION ALL
                  SELECT 'complete image of a later row' WHERE c.image_complete AND c.parent_id IS NOT NULL
                  UNION ALL
                  SELECT 'pending writes' WHERE c.pending IS NOT NULL
                  UNION ALL
                  SELECT 'fork of another thread' WHERE c.parent_thread IS NOT NULL) v(what)
    WHERE c.thread_id LIKE 'rnd-%'
    ON CONFLICT DO NOTHING $$;

-- ---------------------------------------------------------------- the run
DO $$
DECLARE
    n_ops constant int := 400;
    i int;
    r float8;
    kind text;
    ops jsonb[];
    cur jsonb;
    op jsonb;
    rollback boolean;
    st text;
    msg text;
    on_kb text := (SELECT boot_val FROM pg_settings WHERE name = 'stategraph.state_cache');
BEGIN
    -- six threads to start with, two of each graph
    FOR i IN 0..5 LOOP
        PERFORM sg_invoke((ARRAY['rnd_a', 'rnd_b', 'rnd_c'])[1 + i % 3], pg_temp.random_values((ARRAY['rnd_a', 'rnd_b', 'rnd_c'])[1 + i % 3]),
                          thread_id => 'rnd-' || i);
    END LOOP;
    PERFORM pg_temp.check_all(0, true);

    FOR i IN 1..n_ops LOOP
        r := random();
        kind := CASE WHEN r < 0.20 THEN 'invoke' WHEN r < 0.30 THEN 'resume' WHEN r < 0.40 THEN 'travel'
                     WHEN r < 0.52 THEN 'update' WHEN r < 0.58 THEN 'update_cross' WHEN r < 0.64 THEN 'fork'
                     WHEN r < 0.70 THEN 'prune' WHEN r < 0.75 THEN 'delete' WHEN r < 0.79 THEN 'cache'
                     WHEN r < 0.82 THEN 'flaky' WHEN r < 0.90 THEN 'rollback' ELSE 'batch' END;
        IF kind = 'cache' THEN
            PERFORM set_config('stategraph.state_cache',
                               CASE WHEN current_setting('stategraph.state_cache') = '0' THEN on_kb ELSE '0' END, false);
            INSERT INTO rnd_done VALUES (i, kind, false);
            CONTINUE;
        ELSIF kind = 'flaky' THEN
            UPDATE rnd_flaky SET broken = NOT broken;
            INSERT INTO rnd_done VALUES (i, kind, false);
            CONTINUE;
        END IF;

        rollback := kind = 'rollback';
        IF kind = 'batch' THEN
            -- two or three operations in one subtransaction: their rows share an xmin
            ops := ARRAY[]::jsonb[];
            FOR k IN 1..2 + floor(random() * 2)::int LOOP
                ops := ops || pg_temp.plan_op(pg_temp.pick(ARRAY['invoke', 'resume', 'update', 'travel']));
            END LOOP;
        ELSIF rollback THEN
            ops := ARRAY[pg_temp.plan_op(pg_temp.pick(ARRAY['invoke', 'update', 'update_cross', 'fork', 'prune', 'delete', 'travel']))];
        ELSE
            ops := ARRAY[pg_temp.plan_op(kind)];
        END IF;
        IF rollback OR ops[1]->>'kind' IN ('prune', 'delete') THEN
            PERFORM pg_temp.snapshot();
        END IF;

        INSERT INTO rnd_log VALUES (i, to_jsonb(ops), rollback);
        BEGIN
            FOREACH op IN ARRAY ops LOOP
                cur := op;
                PERFORM pg_temp.exec_op(op, i);
            END LOOP;
            IF rollback THEN
                RAISE EXCEPTION 'roll back' USING ERRCODE = 'ZZ999';
            END IF;
            INSERT INTO rnd_done SELECT i, o->>'kind', false FROM unnest(ops) o;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            IF st = 'ZZ999' THEN
                INSERT INTO rnd_done VALUES (i, ops[1]->>'kind', true);
            ELSE
                INSERT INTO rnd_errors VALUES (i, cur->>'kind', st, msg,
                                               st IN (SELECT jsonb_array_elements_text(cur->'allowed')));
                IF st NOT IN (SELECT jsonb_array_elements_text(cur->'allowed')) THEN
                    PERFORM pg_temp.fail(i, 'no unexpected errors', st || ' ' || msg || ' in ' || cur::text);
                END IF;
            END IF;
        END;

        IF rollback THEN
            PERFORM pg_temp.compare_snapshot(i, 'a rolled-back ' || (ops[1]->>'kind'), NULL);
        ELSIF ops[1]->>'kind' = 'prune' THEN
            PERFORM pg_temp.compare_snapshot(i, 'prune', COALESCE(ops[1]->>'thread', '*'));
        ELSIF ops[1]->>'kind' = 'delete' THEN
            PERFORM pg_temp.compare_snapshot(i, 'delete', ops[1]->>'thread');
        END IF;
        PERFORM pg_temp.coverage();
        PERFORM pg_temp.check_all(i, i % 3 = 0 OR rollback OR ops[1]->>'kind' IN ('prune', 'delete'));
    END LOOP;
    PERFORM pg_temp.check_all(n_ops + 1, true);
END $$;

-- ---------------------------------------------------------------- results
SELECT diag(string_agg(format('op %s, %s: %s', op, invariant, detail), E'\n' ORDER BY id))
FROM (SELECT * FROM rnd_failures ORDER BY id LIMIT 8) f HAVING count(*) > 0;

SELECT diag('the operation before the first failure: ' || l.ops::text || CASE WHEN l.rolled_back THEN ' (rolled back)' ELSE '' END)
FROM rnd_log l WHERE l.op = (SELECT op FROM rnd_failures ORDER BY id LIMIT 1);

SELECT is((SELECT count(*) FROM rnd_failures WHERE invariant LIKE 'a:%'), 0::bigint,
          'a: sg_get_state with the state cache equals it without');
SELECT is((SELECT count(*) FROM rnd_failures WHERE invariant LIKE 'b:%'), 0::bigint,
          'b: the newest history row is sg_get_state');
SELECT is((SELECT count(*) FROM rnd_failures WHERE invariant LIKE 'c:%'), 0::bigint,
          'c: sg_get_state(thread, id) equals its history row, for every checkpoint');
SELECT is((SELECT count(*) FROM rnd_failures WHERE invariant LIKE 'd:%'), 0::bigint,
          'd: prune, delete and rolled-back operations leave remaining checkpoints reading the same');
SELECT is((SELECT count(*) FROM rnd_failures WHERE invariant LIKE 'e:%'), 0::bigint,
          'e: history newest first, parents present or removed');
SELECT is((SELECT count(*) FROM rnd_failures WHERE invariant !~ '^[a-e]:' AND invariant NOT IN ('no unexpected errors', 'reading raised')),
          0::bigint, 'what invoke, update_state, fork and prune return agrees with storage');
SELECT is((SELECT count(*) FROM rnd_failures), 0::bigint, 'no invariant failed');
SELECT ok(NOT EXISTS (SELECT FROM rnd_errors WHERE NOT expected)
          AND NOT EXISTS (SELECT FROM rnd_failures WHERE invariant = 'reading raised'), 'no unexpected errors');
SELECT diag('unexpected: ' || string_agg(DISTINCT sqlstate || ' ' || message, '; '))
FROM rnd_errors WHERE NOT expected HAVING count(*) > 0;
-- the run did what it is meant to
SELECT ok((SELECT count(DISTINCT kind) FROM rnd_done WHERE NOT rolled_back) = 10
          AND (SELECT count(*) FROM rnd_done WHERE rolled_back) > 5
          AND (SELECT count(*) FROM rnd_done) > 350,
          'every kind of operation ran, some rolled back');
SELECT ok((SELECT count(*) FROM sg_threads() WHERE thread_id LIKE 'rnd-%') > 0
          AND EXISTS (SELECT FROM rnd_removed)
          AND (SELECT count(DISTINCT what) FROM rnd_cov
               WHERE what IN ('append segment', 'complete image of a later row', 'fork of another thread',
                              'pending writes')) = 4,
          'the checks read segments, complete images left by prune/delete, forks and pending writes');
SELECT diag(format('%s operations (%s rolled back), %s expected errors: %s', count(*), count(*) FILTER (WHERE rolled_back),
                   (SELECT count(*) FROM rnd_errors WHERE expected),
                   (SELECT string_agg(kind || ' ' || sqlstate || ' x' || c, ', ')
                    FROM (SELECT kind, sqlstate, count(*) c FROM rnd_errors WHERE expected GROUP BY 1, 2 ORDER BY 1, 2) e)))
FROM rnd_done;

-- the storage layouts the checks above went through
SELECT diag('layouts read: ' || string_agg(what || ' x' || n, ', ' ORDER BY what))
FROM (SELECT what, count(*) n FROM rnd_cov GROUP BY what) c;

-- The premise of (a): with stategraph.state_cache = 0 a read comes from storage,
-- not from an entry cached while the cache was on. Storage is changed here behind
-- the cache's back (the thread row untouched), which only this probe does.
CREATE FUNCTION pg_temp.cache_off_reads_storage() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    got text[];
BEGIN
    PERFORM set_config('stategraph.state_cache', (SELECT boot_val FROM pg_settings WHERE name = 'stategraph.state_cache'), false);
    PERFORM sg_invoke('rnd_c', '{"score": 2}', thread_id => 'probe-cache');   -- runs to the end: next {}
    PERFORM sg_get_state('probe-cache');
    UPDATE stategraph.checkpoints c SET next = '{two}' FROM stategraph.threads t
    WHERE t.thread_id = 'probe-cache' AND c.thread_id = t.thread_id AND c.checkpoint_id = t.head;
    PERFORM set_config('stategraph.state_cache', '0', false);
    got := (sg_get_state('probe-cache')).next;
    RETURN got = '{two}' AND got = (SELECT next FROM sg_get_state_history('probe-cache', "limit" => 1));
END $$;
SELECT ok(pg_temp.cache_off_reads_storage(), 'stategraph.state_cache = 0: sg_get_state reads storage, not an entry cached before');

SELECT * FROM finish();
ROLLBACK;
