--
-- LangGraph.js threads in stategraph's maintenance (src/lgmaint.c):
-- sg_export_thread / sg_import_thread, sg_prune, sg_delete_thread and the
-- retention sweep (sg_set_retention, CALL sg_work) cover them too.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lgmaint;
SET search_path = lgmaint;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- a LangGraph.js chat as StategraphSaver stores it: input, step 0, step 1 per
-- turn; messages grow (stored as appended parts), pending writes per step,
-- and a subgraph namespace
CREATE FUNCTION lg_turn(thread text, turn int, parent uuid) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    base int := turn * 10;
    i uuid := format('1ef00000-0000-6000-8000-%s', lpad((base + 1)::text, 12, '0'))::uuid;
    s0 uuid := format('1ef00000-0000-6000-8000-%s', lpad((base + 2)::text, 12, '0'))::uuid;
    s1 uuid := format('1ef00000-0000-6000-8000-%s', lpad((base + 3)::text, 12, '0'))::uuid;
    msgs jsonb := (SELECT coalesce(jsonb_agg(m ORDER BY k, o), '[]') FROM generate_series(1, turn - 1) k,
                   LATERAL (VALUES (1, jsonb_build_object('role', 'user', 'content', 'turn ' || k)),
                                   (2, jsonb_build_object('role', 'assistant', 'content', 'reply to turn ' || k || repeat(' and more', 8)))) v(o, m));
    usr jsonb := jsonb_build_object('role', 'user', 'content', 'turn ' || turn);
    rep jsonb := jsonb_build_object('role', 'assistant', 'content', 'reply to turn ' || turn || repeat(' and more', 8));
BEGIN
    PERFORM sg_lg_put(thread, '', parent,
        jsonb_build_object('v', 4, 'id', i, 'ts', 't', 'channel_values', jsonb_build_object('__start__', jsonb_build_object('messages', jsonb_build_array(usr))),
          'channel_versions', jsonb_build_object('__start__', base + 1, 'messages', base), 'versions_seen', '{}'::jsonb),
        jsonb_build_object('source', 'input', 'step', 3 * turn - 3), jsonb_build_object('__start__', base + 1));
    PERFORM sg_lg_put_writes(thread, '', i, 'start-' || turn, jsonb_build_array(jsonb_build_array('messages', jsonb_build_array(usr)),
        jsonb_build_array('branch:to:chat', NULL)));
    PERFORM sg_lg_put(thread, '', i,
        jsonb_build_object('v', 4, 'id', s0, 'ts', 't', 'channel_values', jsonb_build_object('messages', msgs || usr, 'branch:to:chat', NULL),
          'channel_versions', jsonb_build_object('__start__', base + 2, 'messages', base + 2, 'branch:to:chat', base + 2),
          'versions_seen', jsonb_build_object('__start__', jsonb_build_object('__start__', base + 1))),
        jsonb_build_object('source', 'loop', 'step', 3 * turn - 2), jsonb_build_object('messages', base + 2, 'branch:to:chat', base + 2));
    PERFORM sg_lg_put_writes(thread, '', s0, 'chat-' || turn, jsonb_build_array(jsonb_build_array('messages', jsonb_build_array(rep))));
    PERFORM sg_lg_put(thread, '', s0,
        jsonb_build_object('v', 4, 'id', s1, 'ts', 't', 'channel_values', jsonb_build_object('messages', msgs || usr || rep),
          'channel_versions', jsonb_build_object('__start__', base + 2, 'messages', base + 3, 'branch:to:chat', base + 3),
          'versions_seen', jsonb_build_object('__start__', jsonb_build_object('__start__', base + 1), 'chat', jsonb_build_object('branch:to:chat', base + 2))),
        jsonb_build_object('source', 'loop', 'step', 3 * turn - 1), jsonb_build_object('messages', base + 3));
    RETURN s1;
END $$;
SELECT lg_turn('lgm-1', 1, NULL) AS head \gset
SELECT lg_turn('lgm-1', 2, :'head') AS head \gset
SELECT lg_turn('lgm-1', 3, :'head') AS head \gset
-- a subgraph namespace with a value as typed bytes, and an interrupt
SELECT sg_lg_put('lgm-1', 'sub:1', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000901", "ts": "x", "channel_values": {"n": 1},
      "channel_versions": {"n": 1, "blob": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"n": 1, "blob": 1}', ARRAY['blob'], ARRAY['bytes'], ARRAY['\x00ff'::bytea]);
SELECT sg_lg_put_writes('lgm-1', 'sub:1', '1ef00000-0000-6000-8000-000000000901', 'ask',
    '[["__interrupt__", [{"value": "ok?"}]], ["blob", null]]',
    bytes_index => ARRAY[1], bytes_types => ARRAY['bytes'], bytes_values => ARRAY['\x01'::bytea]);
SELECT thread_id, status, checkpoints FROM sg_threads() WHERE thread_id LIKE 'lgm-%';

-- export: every row of every namespace, as stored
SELECT sg_export_thread('lgm-1') AS export \gset
SELECT e->>'format' AS format, e->'version' AS version, e->>'thread_id' AS thread_id,
       jsonb_array_length(e->'checkpoints') AS checkpoints, jsonb_array_length(e->'blobs') AS blobs,
       jsonb_array_length(e->'writes') AS writes, e ? 'owner' OR e->'checkpoints'->0 ? 'owner' AS has_owner
  FROM (SELECT :'export'::jsonb AS e) x;

-- import under a new id: every checkpoint of every namespace reads as before
SELECT sg_import_thread(:'export', 'lgm-copy');
SELECT count(*) AS checkpoints, count(*) FILTER (WHERE
         (a.t::jsonb - 'thread_id') = (b.t::jsonb - 'thread_id')) AS identical
  FROM sg_lg_list('lgm-1') WITH ORDINALITY a(t, o) FULL JOIN sg_lg_list('lgm-copy') WITH ORDINALITY b(t, o) USING (o);
SELECT (sg_lg_get_tuple('lgm-copy', 'sub:1')::jsonb - 'thread_id') = (sg_lg_get_tuple('lgm-1', 'sub:1')::jsonb - 'thread_id') AS sub_identical,
       sg_lg_get_tuple('lgm-copy', 'sub:1')::jsonb->'channel_bytes' AS bytes;
SELECT jsonb_array_length(sg_lg_get_tuple('lgm-copy')::jsonb->'channel_values'->'messages') AS messages,
       (SELECT "values" FROM sg_get_state('lgm-copy')) = (SELECT "values" FROM sg_get_state('lgm-1')) AS state_identical;
-- the copy goes on like the original: a new turn extends the imported head
SELECT lg_turn('lgm-copy', 4, :'head') IS NOT NULL AS continued;
SELECT jsonb_array_length(sg_lg_get_tuple('lgm-copy')::jsonb->'channel_values'->'messages') AS messages;
-- and round-trips again, exported from the copy into a third thread
SELECT sg_import_thread(sg_export_thread('lgm-copy'), 'lgm-copy2');
SELECT (sg_lg_get_tuple('lgm-copy2')::jsonb - 'thread_id') = (sg_lg_get_tuple('lgm-copy')::jsonb - 'thread_id') AS copy2_identical;
-- a thread without pending writes (its export's "writes" is null) round-trips too
SELECT sg_lg_put('nowrites-lg', '', NULL,
                 '{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b875", "ts": "2024-01-01T00:00:00Z",
                   "channel_values": {"x": [1, 2]}, "channel_versions": {"x": 1}, "versions_seen": {}}',
                 '{"step": 0}', '{"x": 1}') AS put;
SELECT sg_export_thread('nowrites-lg')->'writes' AS writes;
SELECT sg_import_thread(sg_export_thread('nowrites-lg'), 'nowrites-lg-copy');
SELECT (sg_lg_get_tuple('nowrites-lg-copy')::jsonb - 'thread_id') = (sg_lg_get_tuple('nowrites-lg')::jsonb - 'thread_id') AS nowrites_identical;

-- refused imports store nothing
SELECT sg_import_thread(:'export', 'lgm-copy');
SELECT sg_import_thread(jsonb_set(:'export', '{checkpoints,0,metadata,step}', '99'), 'lgm-x');
SELECT sg_import_thread(e || jsonb_build_object('digest', md5((e->>'version') || coalesce(e->'thread_id', 'null')::text || coalesce(e->'checkpoints', 'null')::text
         || coalesce(e->'blobs', 'null')::text || coalesce(e->'writes', 'null')::text)), 'lgm-x')
  FROM (SELECT jsonb_set(:'export', '{blobs}', (:'export'::jsonb->'blobs') - 0) AS e) x;
SELECT sg_import_thread(jsonb_set(:'export', '{version}', '3'), 'lgm-x');
SELECT sg_import_thread(:'export', '');
-- ... and so is the id of a stategraph thread, which would hide the import
CREATE FUNCTION lgm_node(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT state $$;
SELECT sg_create_graph('lgm_graph', '{"n": "replace"}'), sg_add_node('lgm_graph', 'copy', 'lgm_node(jsonb)'),
       sg_add_edge('lgm_graph', '__start__', 'copy'), sg_add_edge('lgm_graph', 'copy', '__end__'), sg_compile('lgm_graph');
SELECT sg_invoke('lgm_graph', '{"n": 1}', 'lgm-sg') AS invoked;
SELECT sg_import_thread(:'export', 'lgm-sg');
-- resealed rows that do not fit: SGX01 (before: a checkpoint that is no
-- object was stored and every read of it failed with XX000, a value extending
-- itself too; a key twice, a member missing, a time or number that does not
-- convert failed with 23505/23502/22007/22P02/22003; version 1.4 imported as 1)
CREATE FUNCTION lg_tampered(e jsonb, path text[], v jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d jsonb := CASE WHEN v IS NULL THEN e #- path ELSE jsonb_set(e, path, v) END;
    detail text;
BEGIN
    d := d || jsonb_build_object('digest', md5(CASE WHEN d->>'version' = '1' THEN '' ELSE d->>'version' END
                                 || coalesce(d->'thread_id', 'null')::text || coalesce(d->'checkpoints', 'null')::text
                                 || coalesce(d->'blobs', 'null')::text || coalesce(d->'writes', 'null')::text));
    PERFORM sg_import_thread(d, 'lgm-x');
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || COALESCE(' (' || NULLIF(detail, '') || ')', '');
END $$;
SELECT t AS tampered, lg_tampered(:'export', path, v) AS result FROM (VALUES
    ('checkpoint string', '{checkpoints,1,checkpoint}'::text[], '"x"'::jsonb),
    ('metadata array', '{checkpoints,1,metadata}', '[]'),
    ('checkpoint twice', '{checkpoints,1}', (:'export'::jsonb)->'checkpoints'->0),
    ('namespace missing', '{checkpoints,1,checkpoint_ns}', NULL),
    ('bad time', '{checkpoints,1,created_at}', '"garbage"'),
    ('value extends itself', '{blobs,1,base}', (:'export'::jsonb)->'blobs'->1->'writer'),
    ('huge count', '{blobs,0,n}', '1e20'),
    ('fraction index', '{writes,0,idx}', '1.5'),
    ('version 1.4', '{version}', '1.4')) x(t, path, v);
SELECT count(*) AS stored FROM stategraph.lg_checkpoints WHERE thread_id = 'lgm-x';
-- a value is its JSON text in a string (version 2): text that is no JSON, or JSON
-- that jsonb cannot hold (SQL reads every value as jsonb), is SGX01 too
SELECT lg_tampered(:'export', ARRAY['blobs', i, 'value'], '["{"]') AS value_not_json,
       lg_tampered(:'export', ARRAY['blobs', i, 'value'], '["\"\\u0000\""]') AS value_not_jsonb
  FROM (SELECT (o - 1)::text AS i FROM jsonb_array_elements(:'export'::jsonb->'blobs') WITH ORDINALITY x(b, o)
         WHERE jsonb_typeof(b->'value') = 'array' LIMIT 1) x;
-- version 2's digest covers the version (version 1's did not): marked 1, an
-- export of version 2 imported, each value's text stored as a JSON string
SELECT sg_import_thread(jsonb_set(:'export', '{version}', '1'), 'lgm-x');
-- a thread's rows are one role's: a checkpoint of another owner imported
-- as such (a superuser's import keeps each row's owner), a value of another
-- failed with the policy's 42501
SELECT lg_tampered(:'export', ARRAY[m, '1', 'owner'], '"pg_monitor"') AS two_owners
  FROM unnest(ARRAY['checkpoints', 'blobs']) m;
-- a checkpoint keeps a channel as [value], [value, "its text"] or its
-- writer's id; anything else imported and then failed every read (XX001)
SELECT v AS kept_as, lg_tampered(:'export', ARRAY['checkpoints', i, 'blobs', k], v) AS result
  FROM (SELECT (o - 1)::text AS i, k FROM jsonb_array_elements(:'export'::jsonb->'checkpoints') WITH ORDINALITY x(c, o),
               jsonb_object_keys(c->'blobs') k ORDER BY o, k LIMIT 1) x,
       (VALUES ('[1, 2, 3]'::jsonb), ('[1, 5]'), ('[1, "{not json"]'), ('[1, "\"\\u0000\""]'), ('5')) v(v);
-- a chain of appended values is read element by element: a value of it (a
-- pending write's, here), or the whole value it starts from, that is no
-- JSON array lost elements silently on every read
SELECT v AS starts_with, lg_tampered(:'export', ARRAY['blobs', i, 'value'], v) AS result
  FROM (SELECT (o - 1)::text AS i FROM jsonb_array_elements(:'export'::jsonb->'blobs') WITH ORDINALITY x(b, o)
         WHERE b->>'base' IS NULL AND EXISTS (SELECT 1 FROM jsonb_array_elements(:'export'::jsonb->'blobs') y
                                              WHERE y->>'base' = b->>'writer' AND y->>'channel' = b->>'channel')
         ORDER BY o LIMIT 1) x,
       (VALUES ('[]'::jsonb), ('[null]'), ('["5"]'), ('["{\"a\": 1}"]')) v(v);
SELECT v AS extended_by, lg_tampered(:'export', ARRAY['writes', i, 'value'], v) AS result
  FROM (SELECT (o - 1)::text AS i FROM jsonb_array_elements(:'export'::jsonb->'writes') WITH ORDINALITY w(x, o)
         WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(:'export'::jsonb->'blobs') b
                       WHERE b->>'base' IS NOT NULL AND b->>'wcheckpoint' = x->>'checkpoint_id'
                         AND b->>'wtask' = x->>'task_id' AND b->'widx' = x->'idx')
         ORDER BY o LIMIT 1) x,
       (VALUES ('[null]'::jsonb), ('["5"]')) v(v);
-- a pending write's value of [] or [null] is no value (an export writes a JSON
-- null as ["null"]): it imported, and every read of the thread then failed
-- with XX001; ["null"] imports (and is deleted again)
SELECT v AS write_value, lg_tampered(:'export', ARRAY['writes', i, 'value'], v) AS result
  FROM (SELECT (o - 1)::text AS i FROM jsonb_array_elements(:'export'::jsonb->'writes') WITH ORDINALITY w(x, o)
         WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(:'export'::jsonb->'blobs') b
                           WHERE b->>'wcheckpoint' = x->>'checkpoint_id' AND b->>'wtask' = x->>'task_id' AND b->'widx' = x->'idx')
         ORDER BY o LIMIT 1) x,
       (VALUES ('[]'::jsonb), ('[null]'), ('["null"]')) v(v);
SELECT count(*) = jsonb_array_length(:'export'::jsonb->'checkpoints') AS every_checkpoint_read
  FROM sg_lg_list('lgm-x', NULL, NULL, NULL, NULL, NULL);
SELECT 1 AS deleted FROM sg_delete_thread('lgm-x');
SELECT count(*) AS stored FROM stategraph.lg_checkpoints WHERE thread_id = 'lgm-x';
-- a value's element count and digest chain are made from its elements on
-- import (an append put goes by them): a count or digest changed in the
-- export imported as such, and an append to that value then stored one
-- that read wrong
SELECT lg_tampered(jsonb_set(:'export', ARRAY['blobs', i, 'n'], '7'), ARRAY['blobs', i, 'digest'], '"\\x00"') AS count_and_digest_changed
  FROM (SELECT (o - 1)::text AS i FROM jsonb_array_elements(:'export'::jsonb->'blobs') WITH ORDINALITY x(b, o)
         WHERE b->>'n' IS NOT NULL ORDER BY o LIMIT 1) x;
SELECT count(*) AS values, count(*) FILTER (WHERE a.n = b.n AND a.digest = b.digest) AS made_again_alike
  FROM stategraph.lg_blobs a JOIN stategraph.lg_blobs b USING (checkpoint_ns, channel, writer)
 WHERE a.thread_id = 'lgm-1' AND b.thread_id = 'lgm-x' AND a.n IS NOT NULL;
SELECT sg_lg_delete_thread('lgm-x') AS deleted;
-- a value that is no JSON array has no count nor digest chain (a put gives it
-- none): those an export claimed for one were kept, and a put from it then
-- stored only what seemed appended, which read wrong
SELECT lg_tampered(:'export', '{blobs}', (:'export'::jsonb->'blobs') || jsonb_build_array(
           (:'export'::jsonb->'blobs'->0) || '{"channel": "extra", "base": null, "value": ["{\"a\": 1}"], "n": 1, "digest": "\\x00",
                                              "wcheckpoint": null, "wtask": null, "widx": null}')) AS counted_object;
SELECT count(*) AS non_arrays, count(*) FILTER (WHERE n IS NOT NULL OR digest IS NOT NULL) AS counted
  FROM stategraph.lg_blobs WHERE thread_id = 'lgm-x' AND json_typeof(value) <> 'array';
SELECT sg_lg_delete_thread('lgm-x') AS deleted;
-- an export of this round's first format (version 1: each value as [value]) still imports, and reads as the same
SELECT sg_import_thread(d || jsonb_build_object('digest', md5(coalesce(d->'thread_id', 'null')::text || coalesce(d->'checkpoints', 'null')::text
         || coalesce(d->'blobs', 'null')::text || coalesce(d->'writes', 'null')::text)), 'lgm-v1') AS v1_imported
  FROM (SELECT e || jsonb_build_object('version', 1,
          'blobs', (SELECT jsonb_agg(CASE WHEN jsonb_typeof(b->'value') = 'array' THEN jsonb_set(b, '{value}', jsonb_build_array((b->'value'->>0)::jsonb)) ELSE b END ORDER BY o)
                      FROM jsonb_array_elements(e->'blobs') WITH ORDINALITY x(b, o)),
          'writes', (SELECT jsonb_agg(CASE WHEN jsonb_typeof(w->'value') = 'array' THEN jsonb_set(w, '{value}', jsonb_build_array((w->'value'->>0)::jsonb)) ELSE w END ORDER BY o)
                      FROM jsonb_array_elements(e->'writes') WITH ORDINALITY x(w, o))) AS d
          FROM (SELECT :'export'::jsonb AS e) e) x;
SELECT sg_import_thread(:'export', 'lgm-v2') AS v2_imported;
SELECT count(*) AS checkpoints, bool_and(a.t::jsonb - 'thread_id' = b.t::jsonb - 'thread_id') AS v1_reads_same
  FROM sg_lg_list('lgm-v1') WITH ORDINALITY a(t, o) FULL JOIN sg_lg_list('lgm-v2') WITH ORDINALITY b(t, o) USING (o);
SELECT sg_lg_delete_thread('lgm-v1') AS v1_deleted, sg_lg_delete_thread('lgm-v2') AS v2_deleted;

-- sg_prune: keep_last per namespace (never a namespace's newest); what stays reads the same
SELECT sg_lg_get_tuple('lgm-copy2')::jsonb - 'parent_checkpoint_id' AS before_prune \gset
SELECT sg_prune(keep_last => 4, thread_id => 'lgm-copy2') AS removed;
SELECT checkpoint_ns, count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'lgm-copy2' GROUP BY 1 ORDER BY 1;
SELECT sg_prune(keep_last => 1, thread_id => 'lgm-copy2') AS removed;
SELECT (sg_lg_get_tuple('lgm-copy2')::jsonb - 'parent_checkpoint_id') = :'before_prune'::jsonb AS head_reads_the_same,
       (SELECT count(*) FROM stategraph.lg_blobs WHERE thread_id = 'lgm-copy2' AND base IS NOT NULL) AS extending_values_left;
-- older_than: only checkpoints older than that go, in every thread (sg_prune without thread_id)
UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days'
 WHERE thread_id = 'lgm-copy' AND checkpoint_id < '1ef00000-0000-6000-8000-000000000021';
SELECT sg_prune(older_than => '1 day') AS removed;
SELECT thread_id, count(*) FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'lgm-%' GROUP BY 1 ORDER BY 1;
SELECT jsonb_array_length(sg_lg_get_tuple('lgm-copy')::jsonb->'channel_values'->'messages') AS messages;
SELECT sg_prune(keep_last => 1, thread_id => 'lgm-none');

-- sg_delete_thread removes every namespace, value and write
SELECT sg_delete_thread('lgm-copy2');
SELECT (SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'lgm-copy2')
     + (SELECT count(*) FROM stategraph.lg_blobs WHERE thread_id = 'lgm-copy2')
     + (SELECT count(*) FROM stategraph.lg_writes WHERE thread_id = 'lgm-copy2') AS rows_left;

-- retention: LangGraph.js threads follow the default (graph NULL); an expired
-- thread goes whole, unless its newest root checkpoint waits on an interrupt
SELECT lg_turn('lgm-old', 1, NULL) IS NOT NULL AS old;
SELECT lg_turn('lgm-asking', 1, NULL) AS asking_head \gset
SELECT sg_lg_put_writes('lgm-asking', '', :'asking_head', 'ask', '[["__interrupt__", [{"value": "ok?"}]]]');
UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id IN ('lgm-old', 'lgm-asking', 'lgm-copy');
SELECT sg_set_retention(NULL, '1 day');
CALL sg_work();
SELECT thread_id, count(*) FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'lgm-%' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS values_left FROM stategraph.lg_blobs WHERE thread_id IN ('lgm-old', 'lgm-copy');
-- keep_latest: the newest keep_last checkpoints of each namespace stay
SELECT sg_set_retention(NULL, '1 day', 'keep_latest', 2);
UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id = 'lgm-1';
CALL sg_work();
SELECT checkpoint_ns, count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'lgm-1' GROUP BY 1 ORDER BY 1;
SELECT jsonb_array_length(sg_lg_get_tuple('lgm-1')::jsonb->'channel_values'->'messages') AS messages;
-- the sweep reads LangGraph.js threads window by window (1,000 threads) in
-- thread_id order, from where its last batch stopped: with sweep_limit 20
-- (a batch tries 30 threads at most), one batch removes the first 20 expired
-- ids (lgm-1, which the block above left expired, then lgw-0001 to lgw-0019
-- of 1,200), and a whole round
-- (batches until none is left) removes the rest, across two windows
SELECT sg_set_retention(NULL, '1 day');
SELECT count(sg_lg_put('lgw-' || lpad(i::text, 4, '0'), '', NULL,
    jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-' || lpad(i::text, 12, '0'), 'ts', 'x',
      'channel_values', '{}'::jsonb, 'channel_versions', '{}'::jsonb, 'versions_seen', '{}'::jsonb),
    '{"source": "input", "step": -1}', '{}')) AS put FROM generate_series(1, 1200) i;
UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id LIKE 'lgw-%';
SET stategraph.sweep_limit = 20;
CALL sg_work(0, interval '0 s');
SELECT count(*) AS left_after_one_batch, min(thread_id) AS first_left,
       NOT EXISTS (SELECT 1 FROM stategraph.lg_checkpoints WHERE thread_id = 'lgm-1') AS lgm_1_gone
  FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'lgw-%';
CALL sg_work();
SELECT count(*) AS left_after_a_round FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'lgw-%';
RESET stategraph.sweep_limit;
SELECT sg_set_retention(NULL, NULL);

-- a prune or delete of a thread takes one writers' lock (its root's), however
-- many namespaces (subgraph runs) it has: one per namespace, held until
-- commit, ran a thread of some thousand subgraph runs out of the shared lock
-- table ("out of shared memory"); and it lets go of it once it has removed
-- the thread's rows (TAP 084), so none is left
SELECT count(sg_lg_put('lgm-subs', 'sub:' || i, NULL,
    jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-' || lpad(i::text, 12, '0'), 'ts', 'x',
      'channel_values', '{}'::jsonb, 'channel_versions', '{}'::jsonb, 'versions_seen', '{}'::jsonb),
    '{"source": "input", "step": -1}', '{}')) AS put FROM generate_series(1, 50) i;
BEGIN;
SELECT sg_lg_prune(ARRAY['lgm-subs'], 'keep_latest') AS pruned, sg_lg_delete_thread('lgm-subs') AS deleted;
SELECT count(*) AS lg_locks_held FROM pg_catalog.pg_locks
  WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 19527;
COMMIT;

-- a prune or delete of ids that have no checkpoint (threads deleted long
-- ago, say) keeps no lock of them once it has waited for their writers in
-- flight (nor, once it has removed them, of an id whose stray writes it
-- removes): kept until commit, one per id, they ran a prune of 30,000 such
-- ids out of the shared lock table ("out of shared memory"), for every
-- session of the server
SELECT sg_lg_put_writes('lgm-gone-stray', '', '1ef00000-0000-6000-8000-000000000001', 't', '[["m", 1]]', '') AS stray;
BEGIN;
SELECT sg_lg_prune(array(SELECT 'lgm-gone-' || i FROM generate_series(1, 30000) i), 'delete') AS pruned,
       sg_lg_prune(array(SELECT 'lgm-gone-' || i FROM generate_series(1, 30000) i), 'keep_latest') AS kept,
       sg_lg_delete_thread('lgm-gone-0') AS deleted, sg_lg_delete_thread('lgm-gone-stray') AS stray_deleted;
SELECT count(*) AS lg_locks_held FROM pg_catalog.pg_locks
  WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 19527;
COMMIT;
SELECT count(*) AS stray_left FROM stategraph.lg_writes WHERE thread_id = 'lgm-gone-stray';


-- a checkpoint put again with a new value (a new version, or the same) left
-- its children, which inherited the old one (the same version in their
-- channel_versions), reading the new one: they keep reading what was put
-- (each gets a copy, kept by the oldest of them), as PostgresSaver's
-- values per version do. (Arrays and values over 40 bytes are rows of
-- their own; smaller ones are kept in each checkpoint's map.)
SELECT '"old ' || repeat('x', 70) || '"' AS old_value \gset
SELECT sg_lg_put('lgm-again', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "t",
    "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}',
    channel_values => ('{"a": ' || :'old_value' || '}')::json) IS NOT NULL AS put;
SELECT sg_lg_put('lgm-again', '', '1ef00000-0000-6000-8000-000000000001', '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002",
    "ts": "t", "channel_versions": {"a": 1, "b": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"b": 2}',
    channel_values => '{"b": 5}') IS NOT NULL AS child;
SELECT sg_lg_put('lgm-again', '', '1ef00000-0000-6000-8000-000000000002', '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000003",
    "ts": "t", "channel_versions": {"a": 1, "b": 3}, "versions_seen": {}}', '{"source": "loop", "step": 1}', '{"b": 3}',
    channel_values => '{"b": 6}') IS NOT NULL AS grandchild;
SELECT count(*) AS value_rows FROM stategraph.lg_blobs WHERE thread_id = 'lgm-again' AND channel = 'a';
SELECT v AS put_again_with, sg_lg_put('lgm-again', '', NULL, ('{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "t",
    "channel_versions": {"a": ' || v || '}, "versions_seen": {}}')::jsonb, '{"source": "input", "step": -1}', ('{"a": ' || v || '}')::jsonb,
    channel_values => ('{"a": "new ' || v || ' ' || repeat('y', 70) || '"}')::json) IS NOT NULL AS put
  FROM (VALUES (7), (1)) x(v);
SELECT t->>'checkpoint_id' AS id, left(t->'channel_values'->>'a', 6) AS a, length(t->'channel_values'->>'a') AS a_length,
       t->'channel_values'->'b' AS b FROM sg_lg_list('lgm-again') t ORDER BY 1;
SELECT s.checkpoint_id, left(s."values"->>'a', 6) AS a FROM sg_get_state_history('lgm-again') s ORDER BY 1;
-- the copy travels with the thread and reads the same after an import
SELECT sg_import_thread(sg_export_thread('lgm-again'), 'lgm-again-2') AS imported;
SELECT count(*) AS read_alike FROM sg_lg_list('lgm-again') a JOIN sg_lg_list('lgm-again-2') b
    ON a->>'checkpoint_id' = b->>'checkpoint_id' AND (a->'channel_values')::jsonb = (b->'channel_values')::jsonb;
-- pruned to the newest, it keeps the copy it reads
SELECT sg_lg_prune(ARRAY['lgm-again'], 'keep_latest') AS pruned;
SELECT t->>'checkpoint_id' AS id, left(t->'channel_values'->>'a', 6) AS a FROM sg_lg_list('lgm-again') t;
-- a value stored as its parent's pending write is copied whole: the copy
-- depends on no write (a prune in flight may be removing it)
SELECT sg_lg_put('lgm-again-w', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "t",
    "channel_versions": {}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{}') IS NOT NULL AS root;
SELECT sg_lg_put_writes('lgm-again-w', '', '1ef00000-0000-6000-8000-000000000001', 'task-1',
    ('[["a", ' || :'old_value' || ']]')::jsonb) AS written;
SELECT sg_lg_put('lgm-again-w', '', '1ef00000-0000-6000-8000-000000000001', '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002",
    "ts": "t", "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"a": 1}',
    channel_values => ('{"a": ' || :'old_value' || '}')::json) IS NOT NULL AS put;
SELECT sg_lg_put('lgm-again-w', '', '1ef00000-0000-6000-8000-000000000002', '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000003",
    "ts": "t", "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "loop", "step": 1}', '{}') IS NOT NULL AS child;
SELECT writer, wcheckpoint IS NOT NULL AS a_write FROM stategraph.lg_blobs WHERE thread_id = 'lgm-again-w' ORDER BY 1;
SELECT sg_lg_put('lgm-again-w', '', '1ef00000-0000-6000-8000-000000000001', '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002",
    "ts": "t", "channel_versions": {"a": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"a": 2}',
    channel_values => ('{"a": "new ' || repeat('z', 70) || '"}')::json) IS NOT NULL AS put_again;
SELECT writer, wcheckpoint IS NOT NULL AS a_write, base IS NOT NULL AS appended FROM stategraph.lg_blobs
  WHERE thread_id = 'lgm-again-w' ORDER BY 1;
SELECT t->>'checkpoint_id' AS id, left(t->'channel_values'->>'a', 6) AS a FROM sg_lg_list('lgm-again-w') t ORDER BY 1;

SET client_min_messages = warning;
DROP SCHEMA lgmaint CASCADE;
