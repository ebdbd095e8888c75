--
-- Portable threads: sg_export_thread and sg_import_thread. Every kind of
-- thread is exported and imported (under a new id, or under its own id
-- after the original is gone, as in another database); every checkpoint of
-- sg_get_state_history must read exactly as before, and the copy resumes
-- as the original does.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA portable;
SET search_path = portable;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE switches (name text PRIMARY KEY, fail boolean NOT NULL);
INSERT INTO switches VALUES ('talk', false);
-- a node that appends long messages (so that append channels get images and
-- segments), sums, merges, asks a human at step 2 when told to, and fails
-- at step 3 when its switch says so
CREATE FUNCTION talk(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    s int := COALESCE((state->>'step')::int, 0);
    answer jsonb := 'null';
BEGIN
    IF (state->>'ask')::boolean AND s = 2 THEN
        answer := sg_interrupt(jsonb_build_object('question', 'go on at step ' || s || '?'));
    END IF;
    IF s = 3 AND (SELECT fail FROM switches WHERE name = 'talk') THEN
        RAISE EXCEPTION 'talk failed at step %', s USING ERRCODE = 'division_by_zero';
    END IF;
    RETURN jsonb_build_object('messages', jsonb_build_array(repeat('m', 300) || s, answer),
                              'step', s + 1, 'total', s, 'profile', jsonb_build_object('k' || (s % 5), s));
END $$;
CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN (state->>'step')::int < (state->>'limit')::int THEN 'talk' ELSE '__end__' END
$$;
SELECT sg_create_graph('pt', '{"messages": "append", "step": "replace", "total": "add",
                               "profile": "merge", "limit": "replace", "ask": "replace"}');
SELECT sg_add_node('pt', 'talk', 'talk(jsonb,jsonb)');
SELECT sg_add_edge('pt', '__start__', 'talk');
SELECT sg_add_conditional_edges('pt', 'talk', 'more(jsonb)');
SELECT sg_compile('pt');

-- every checkpoint of a thread as history shows it, but for the thread id
CREATE FUNCTION hist(t text) RETURNS TABLE (n bigint, snap jsonb) LANGUAGE sql AS $$
    SELECT row_number() OVER (), to_jsonb(h) - 'thread_id' FROM sg_get_state_history(t) h
$$;
-- the same without ids and times: how two threads that resumed alike compare
CREATE FUNCTION shape(t text) RETURNS TABLE (n bigint, snap jsonb) LANGUAGE sql AS $$
    SELECT n, snap - ARRAY['checkpoint_id', 'parent_checkpoint_id', 'created_at', 'tasks', 'interrupts']
           || jsonb_build_object('tasks', (SELECT jsonb_agg(x - 'id') FROM jsonb_array_elements(snap->'tasks') x),
                                 'interrupts', (SELECT jsonb_agg(x - 'id') FROM jsonb_array_elements(snap->'interrupts') x))
    FROM hist(t)
$$;
-- "N checkpoints, all equal" or what differs
CREATE FUNCTION same(a text, b text, exact boolean DEFAULT true) RETURNS text LANGUAGE sql AS $$
    WITH x AS (SELECT * FROM hist(a) WHERE exact UNION ALL SELECT * FROM shape(a) WHERE NOT exact),
         y AS (SELECT * FROM hist(b) WHERE exact UNION ALL SELECT * FROM shape(b) WHERE NOT exact)
    SELECT format('%s checkpoints, %s', (SELECT count(*) FROM x),
                  COALESCE('differ at ' || string_agg(COALESCE(x.n, y.n)::text, ', '), 'all equal'))
    FROM x FULL JOIN y USING (n) WHERE x.snap IS DISTINCT FROM y.snap
$$;
-- a thread's listing row, but for its id
CREATE FUNCTION listing(t text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT to_jsonb(s) - 'thread_id' FROM sg_threads() s WHERE s.thread_id = t
$$;
-- what an error is: its SQLSTATE and message
CREATE FUNCTION error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM || COALESCE(' (' || NULLIF(detail, '') || ')', ''),
                          '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END $$;

-- a long thread: many append images and segments, references to old rows
SELECT sg_invoke('pt', '{"limit": 40}', thread_id => 'long', recursion_limit => 100) ->> 'step' AS step;
SELECT count(*) FILTER (WHERE image IS NOT NULL) > 2 AS has_images,
       count(*) FILTER (WHERE refs IS NOT NULL) > 2 AS has_refs
FROM stategraph.checkpoints WHERE thread_id = 'long';
SELECT e ->> 'format' AS format, e -> 'version' AS version, jsonb_array_length(e -> 'checkpoints') AS checkpoints,
       length(e ->> 'digest') AS digest_length
FROM sg_export_thread('long') e;
SELECT sg_import_thread(sg_export_thread('long'), 'long-copy');
SELECT same('long', 'long-copy');
SELECT listing('long') = listing('long-copy') AS same_listing;
-- it resumes as the original does
SELECT sg_invoke('pt', '{"limit": 45}', thread_id => 'long', recursion_limit => 100) = sg_invoke('pt', '{"limit": 45}', thread_id => 'long-copy', recursion_limit => 100)
       AS same_result;
SELECT same('long', 'long-copy', exact => false);

-- interrupted by sg_interrupt: the pending interrupt is kept, resume works on the copy
SELECT sg_invoke('pt', '{"limit": 5, "ask": true}', thread_id => 'asked', recursion_limit => 100) ? '__interrupt__' AS paused;
SELECT sg_import_thread(sg_export_thread('asked'), 'asked-copy');
SELECT same('asked', 'asked-copy');
SELECT interrupts->0->'value' AS interrupt, next FROM sg_get_state('asked-copy');
SELECT thread_id, status, next FROM sg_threads('pt') WHERE thread_id LIKE 'asked%' ORDER BY 1;
SELECT sg_invoke('pt', NULL, thread_id => 'asked', resume => '"yes"')
     = sg_invoke('pt', NULL, thread_id => 'asked-copy', resume => '"yes"') AS same_result;
SELECT "values"->'messages'->5 AS answer FROM sg_get_state('asked-copy');
SELECT same('asked', 'asked-copy', exact => false);

-- failed with on_error 'return': the error and the pending writes are kept
UPDATE switches SET fail = true;
SELECT sg_invoke('pt', '{"limit": 6}', thread_id => 'failed', recursion_limit => 100, on_error => 'return') ? '__error__' AS failed;
SELECT sg_import_thread(sg_export_thread('failed'), 'failed-copy');
SELECT same('failed', 'failed-copy');
SELECT t->'error'->>'message' AS error FROM sg_get_state('failed-copy'), jsonb_array_elements(tasks) t;
SELECT status FROM sg_threads('pt') WHERE thread_id = 'failed-copy';
UPDATE switches SET fail = false;
SELECT sg_invoke('pt', NULL, thread_id => 'failed') = sg_invoke('pt', NULL, thread_id => 'failed-copy') AS same_result;
SELECT same('failed', 'failed-copy', exact => false);

-- updated: sg_update_state on the head and on an old checkpoint (a branch)
SELECT sg_invoke('pt', '{"limit": 6}', thread_id => 'upd', recursion_limit => 100) ->> 'step' AS step;
SELECT sg_update_state('upd', '{"messages": ["a note"], "total": 100}') IS NOT NULL AS updated;
SELECT checkpoint_id AS upd_old FROM sg_get_state_history('upd', filter => '{"step": 2}') \gset
SELECT sg_update_state('upd', '{"step": 0}', checkpoint_id => :'upd_old', as_node => 'talk') IS NOT NULL AS branched;
SELECT sg_import_thread(sg_export_thread('upd'), 'upd-copy');
SELECT same('upd', 'upd-copy');
SELECT sg_invoke('pt', NULL, thread_id => 'upd', recursion_limit => 100) = sg_invoke('pt', NULL, thread_id => 'upd-copy', recursion_limit => 100) AS same_result;
SELECT same('upd', 'upd-copy', exact => false);
-- update_state without as_node picks the same last writer on both
SELECT sg_update_state('upd', '{"total": 1}') IS NOT NULL AND sg_update_state('upd-copy', '{"total": 1}') IS NOT NULL AS updated;
SELECT same('upd', 'upd-copy', exact => false);

-- pruned: rows whose parents are gone read from their own images
SELECT sg_invoke('pt', '{"limit": 30}', thread_id => 'pruned', recursion_limit => 100) ->> 'step' AS step;
SELECT sg_prune(keep_last => 4, thread_id => 'pruned') AS removed;
SELECT sg_import_thread(sg_export_thread('pruned'), 'pruned-copy');
SELECT same('pruned', 'pruned-copy');
SELECT sg_invoke('pt', '{"limit": 33}', thread_id => 'pruned', recursion_limit => 100) = sg_invoke('pt', '{"limit": 33}', thread_id => 'pruned-copy', recursion_limit => 100)
       AS same_result;
SELECT same('pruned', 'pruned-copy', exact => false);

-- forked from another thread: the fork's first row reads through its source,
-- the export gives it an image of its own
SELECT sg_invoke('pt', '{"limit": 25}', thread_id => 'source', recursion_limit => 100) ->> 'step' AS step;
SELECT checkpoint_id AS at10 FROM sg_get_state_history('source', filter => '{"step": 10}') \gset
SELECT sg_fork('source', :'at10', 'forked') IS NOT NULL AS forked;
SELECT image IS NULL AS fork_row_has_no_image FROM stategraph.checkpoints
WHERE thread_id = 'forked' AND parent_thread = 'source';
SELECT sg_invoke('pt', '{"limit": 14}', thread_id => 'forked', recursion_limit => 100) ->> 'step' AS step;
SELECT e->'checkpoints'->0->'image_complete' AS self_contained FROM sg_export_thread('forked') e;
-- a copy in the same database keeps the link to the source
SELECT sg_import_thread(sg_export_thread('forked'), 'forked-copy');
SELECT same('forked', 'forked-copy');
SELECT parent_thread FROM stategraph.checkpoints WHERE thread_id = 'forked-copy' AND parent_thread IS NOT NULL;
SELECT forked_from FROM stategraph.threads WHERE thread_id = 'forked-copy';
-- in a database without the source (here: both deleted, the fork imported
-- under its own id) the fork reads the same and updates pick the same node
CREATE TABLE saved AS SELECT * FROM hist('forked');
SELECT sg_export_thread('forked') AS forked_export \gset
SELECT sg_delete_thread('forked');
SELECT sg_import_thread(sg_export_thread('source'), 'source-moved');
SELECT same('source', 'source-moved');
-- deleting the source also detaches the copy, which still links to it, without changing how it reads
CREATE TABLE saved_copy AS SELECT * FROM hist('forked-copy');
SELECT count(*) AS copy_rows_linked FROM stategraph.checkpoints WHERE thread_id = 'forked-copy' AND parent_thread = 'source';
SELECT sg_delete_thread('source');
SELECT count(*) AS copy_rows_linked FROM stategraph.checkpoints WHERE thread_id = 'forked-copy' AND parent_thread IS NOT NULL;
SELECT (SELECT count(*) FROM saved_copy) AS checkpoints,
       (SELECT count(*) FROM saved_copy s FULL JOIN hist('forked-copy') h USING (n) WHERE s.snap IS DISTINCT FROM h.snap) AS differ;
SELECT sg_import_thread(:'forked_export');
SELECT (SELECT count(*) FROM saved) AS checkpoints,
       (SELECT count(*) FROM saved s FULL JOIN hist('forked') h USING (n) WHERE s.snap IS DISTINCT FROM h.snap) AS differ;
SELECT parent_thread, writes FROM stategraph.checkpoints WHERE thread_id = 'forked' ORDER BY checkpoint_id LIMIT 1;
SELECT sg_invoke('pt', '{"limit": 16}', thread_id => 'forked', recursion_limit => 100) = sg_invoke('pt', '{"limit": 16}', thread_id => 'forked-copy', recursion_limit => 100)
       AS same_result;
SELECT same('forked', 'forked-copy', exact => false);

-- moved under its own id (as into another database): threads and history as before
CREATE TABLE saved_long AS SELECT * FROM hist('long');
SELECT listing('long') AS listed \gset
SELECT sg_export_thread('long') AS long_export \gset
SELECT sg_delete_thread('long');
SELECT sg_import_thread(:'long_export');
SELECT count(*) AS differ FROM saved_long s FULL JOIN hist('long') h USING (n) WHERE s.snap IS DISTINCT FROM h.snap;
SELECT listing('long') = :'listed' AS same_listing;
SELECT sg_invoke('pt', '{"limit": 50}', thread_id => 'long', recursion_limit => 100) = sg_invoke('pt', '{"limit": 50}', thread_id => 'long-copy', recursion_limit => 100)
       AS same_result;

-- a fork of an input checkpoint: resuming it runs the source's input again,
-- and so does a copy in the same database (the fork stays linked to its source)
SELECT sg_invoke('pt', '{"limit": 3}', thread_id => 'in-src', recursion_limit => 100) ->> 'step' AS step;
SELECT checkpoint_id AS cin FROM sg_get_state_history('in-src') WHERE source = 'input' \gset
SELECT sg_fork('in-src', :'cin', 'in-fork') IS NOT NULL AS forked;
SELECT sg_import_thread(sg_export_thread('in-fork'), 'in-fork-copy');
SELECT same('in-fork', 'in-fork-copy');
SELECT sg_invoke('pt', NULL, thread_id => 'in-fork', recursion_limit => 100)
     = sg_invoke('pt', NULL, thread_id => 'in-fork-copy', recursion_limit => 100) AS same_result;
SELECT same('in-fork', 'in-fork-copy', exact => false);

-- waiting on an external task: a task's id is that of its checkpoint
SELECT sg_create_graph('ext', '{"x": "replace"}');
SELECT sg_add_external_node('ext', 'call', 'q');
SELECT sg_add_edge('ext', '__start__', 'call');
SELECT sg_add_edge('ext', 'call', '__end__');
SELECT sg_compile('ext');
SELECT sg_invoke('ext', '{"x": 1}', thread_id => 'waits') ? '__waiting__' AS waiting;
SELECT sg_import_thread(sg_export_thread('waits'), 'waits-copy');
SELECT same('waits', 'waits-copy');
SELECT sg_export_thread('waits') AS waits_export \gset
-- its source deleted, a copy in the same database cannot queue the source's
-- task again: a clear error (before: "__waiting__" for ever, no task out)
SELECT sg_delete_thread('waits');
SELECT error_of($$SELECT sg_invoke('ext', NULL, thread_id => 'waits-copy')$$);
-- the way out the hint gives: a checkpoint of its own, whose task is its own
SELECT sg_update_state('waits-copy', '{}', as_node => '__start__') IS NOT NULL AS updated;
SELECT sg_invoke('ext', NULL, thread_id => 'waits-copy') ? '__waiting__' AS waiting;
SELECT thread_id, status FROM sg_tasks('q') ORDER BY thread_id;
-- moved under its own id (as into another database): its task is queued again
SELECT sg_import_thread(:'waits_export');
SELECT sg_invoke('ext', NULL, thread_id => 'waits') ? '__waiting__' AS waiting;
SELECT thread_id, status FROM sg_tasks('q') ORDER BY thread_id;
SELECT task_id, token FROM sg_claim('q', 'w', 2) WHERE thread_id = 'waits' \gset
SELECT sg_complete(:'task_id', :'token', '{"x": 2}');
SELECT "values", next FROM sg_get_state('waits');

-- bad input: a clear error with its own SQLSTATE, and nothing stored
SELECT count(*) AS threads_before FROM stategraph.threads \gset
SELECT count(*) AS rows_before FROM stategraph.checkpoints \gset
SELECT sg_export_thread('asked') AS good \gset
CREATE TABLE saved_asked AS SELECT * FROM hist('asked');
SELECT error_of($$SELECT sg_export_thread('nobody')$$);
SELECT error_of($$SELECT sg_export_thread(NULL)$$);
SELECT error_of($$SELECT sg_import_thread(NULL)$$);
SELECT error_of($$SELECT sg_import_thread('[1, 2]')$$);
SELECT error_of($$SELECT sg_import_thread('{"format": "something else"}')$$);
SELECT error_of(format('SELECT sg_import_thread(%L::jsonb - %L, %L)', :'good', 'digest', 'x'));
SELECT error_of(format('SELECT sg_import_thread(jsonb_set(%L, %L, %L), %L)', :'good', '{version}', '2', 'x'));
-- tampered: one value changed, one checkpoint dropped
SELECT error_of(format('SELECT sg_import_thread(jsonb_set(%L, %L, %L), %L)', :'good', '{checkpoints,1,step}', '7', 'x'));
SELECT error_of(format('SELECT sg_import_thread(%L::jsonb #- %L, %L)', :'good', '{checkpoints,1}', 'x'));
-- well-formed digest over broken rows: each is refused for what is wrong
CREATE FUNCTION resealed(e jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT e || jsonb_build_object('digest', md5(COALESCE(e->'thread', 'null')::text || COALESCE(e->'checkpoints', 'null')::text
                                                 || COALESCE(e->'fork_writes', 'null')::text))
$$;
SELECT error_of(format('SELECT sg_import_thread(resealed(%L), %L)', :'good', 'resealed-ok'));
SELECT sg_delete_thread('resealed-ok');
SELECT error_of(format('SELECT sg_import_thread(resealed(%L::jsonb #- %L), %L)', :'good', '{checkpoints,1}', 'x'));
SELECT error_of(format('SELECT sg_import_thread(resealed(jsonb_set(%L, %L, %L)), %L)', :'good', '{checkpoints,0,checkpoint_id}', '"nope"', 'x'));
SELECT error_of(format('SELECT sg_import_thread(resealed(jsonb_set(%L, %L, %L)), %L)', :'good', '{thread,head}', '"00000000-0000-7000-8000-000000000000"', 'x'));
SELECT error_of(format('SELECT sg_import_thread(resealed(jsonb_set(%L::jsonb, %L, (%L::jsonb)->%L->0)), %L)',
                       :'good', '{checkpoints,1}', :'good', 'checkpoints', 'x'));
SELECT error_of(format('SELECT sg_import_thread(resealed(jsonb_set(%L, %L, %L)), %L)', :'good', '{thread,graph}', '5', 'x'));
SELECT error_of(format('SELECT sg_import_thread(resealed(jsonb_set(%L, %L, %L)), %L)', :'good', '{checkpoints}', '[]', 'x'));
-- resealed rows a reader cannot take: each refused with SGX01 before anything
-- is stored (before, a channel's store kind that is no string crashed the
-- server on the first read, a reference to its own row or a parent that is
-- not older made reads loop for ever or read wrong, and bad values were
-- stored or refused with the conversion's own SQLSTATE)
CREATE FUNCTION tampered(e jsonb, path text[], v jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT error_of(format('SELECT sg_import_thread(%L, %L)', resealed(CASE WHEN v IS NULL THEN e #- path ELSE jsonb_set(e, path, v) END), 'x'))
$$;
SELECT tampered(:'good', '{thread,channels,messages}', '5') AS channel_kind_number;
SELECT tampered(:'good', '{thread,channels,messages}', '"nonsense"') AS channel_kind_unknown;
SELECT tampered(:'good', '{thread,channels}', '{}') AS no_channels;
SELECT tampered(:'good', '{thread,status}', '"bogus"') AS status;
SELECT tampered(:'good', '{thread,created_at}', '"garbage"') AS thread_time;
SELECT tampered(:'good', '{thread,owner}', NULL) AS owner_missing;
SELECT tampered(:'good', '{checkpoints,1,step}', '1.5') AS step_fraction;
SELECT tampered(:'good', '{checkpoints,1,step}', '1e20') AS step_huge;
SELECT tampered(:'good', '{checkpoints,1,created_at}', '"2026-13-30T04:49:29+00:00"') AS month_13;
SELECT tampered(:'good', '{checkpoints,1,next}', NULL) AS next_missing;
SELECT tampered(:'good', '{checkpoints,1,next}', '[1]') AS next_number;
SELECT tampered(:'good', '{checkpoints,1,writes}', '"abc"') AS writes_string;
SELECT tampered(:'good', '{checkpoints,1,writes}', '[["talk"]]') AS writes_short;
SELECT tampered(:'good', '{checkpoints,1,pending}', '[1]') AS pending_array;
SELECT tampered(:'good', '{checkpoints,1,sends}', '[1]') AS sends_number;
SELECT tampered(:'good', '{checkpoints,1,meta}', '"x"') AS meta_string;
SELECT tampered(:'good', '{checkpoints,1,parent_id}', (:'good'::jsonb)->'checkpoints'->2->'checkpoint_id') AS parent_newer;
SELECT tampered(:'good', '{checkpoints,1,parent_id}', (:'good'::jsonb)->'checkpoints'->1->'checkpoint_id') AS own_parent;
SELECT tampered(:'good', '{checkpoints,1,parent_thread}', '"long"') AS fork_row_without_image;
-- a fork row of a thread that is not here is detached on import, and its
-- parent then looked up in its own thread: its own id made reads loop
SELECT tampered(jsonb_set(jsonb_set(jsonb_set(:'good', '{checkpoints,1,parent_thread}', '"ghost"'),
                                    '{checkpoints,1,image_complete}', 'true'), '{checkpoints,1,image}', '{}'),
                '{checkpoints,1,parent_id}', (:'good'::jsonb)->'checkpoints'->1->'checkpoint_id') AS own_parent_of_absent_source;
SELECT tampered(e, ARRAY['checkpoints', (o - 1)::text, 'refs', 'messages'], x->'checkpoint_id') AS ref_to_itself
FROM sg_export_thread('long') e, jsonb_array_elements(e->'checkpoints') WITH ORDINALITY a(x, o)
WHERE x->'refs' ? 'messages' LIMIT 1;
-- values that the channel's reducer does not take (an append channel's
-- from the thread's channels, add and merge from this database's graph pt):
-- 42804 before anything is stored (before, they imported, and then every run
-- failed blaming a node, or a read dropped the append channel's history)
SELECT tampered(e, ARRAY['checkpoints', (o - 1)::text, 'writes', '0', '1', 'messages'], '"hello"') AS append_gets_string
FROM sg_export_thread('asked') e, jsonb_array_elements(e->'checkpoints') WITH ORDINALITY a(x, o)
WHERE x->'writes'->0->1 ? 'messages' ORDER BY o LIMIT 1;
SELECT tampered(e, ARRAY['checkpoints', (o - 1)::text, 'image', 'messages'], '{"m": 1}') AS append_image_object
FROM sg_export_thread('asked') e, jsonb_array_elements(e->'checkpoints') WITH ORDINALITY a(x, o)
WHERE x->'image' ? 'messages' ORDER BY o DESC LIMIT 1;
SELECT tampered(e, ARRAY['checkpoints', (o - 1)::text, 'image', 'total'], '"ten"') AS add_image_string
FROM sg_export_thread('asked') e, jsonb_array_elements(e->'checkpoints') WITH ORDINALITY a(x, o)
WHERE x->'image' ? 'total' ORDER BY o DESC LIMIT 1;
SELECT tampered(e, ARRAY['checkpoints', (o - 1)::text, 'writes', '0', '1', 'profile'], '[1, 2]') AS merge_write_array
FROM sg_export_thread('asked') e, jsonb_array_elements(e->'checkpoints') WITH ORDINALITY a(x, o)
WHERE x->'writes'->0->1 ? 'profile' ORDER BY o LIMIT 1;
SELECT tampered(:'good', '{checkpoints,1,pending}', '{"t": {"node": "talk", "writes": {"total": null}}}') AS add_pending_null;
-- fork_writes (a detached fork row's writes) of another shape
SELECT tampered(:'good', '{fork_writes}', '5') AS fork_writes_number;
SELECT tampered(:'good', '{fork_writes}', '{"01a22be0-664f-7a3f-9387-1a40a8d75b18": [5]}') AS fork_writes_not_writes;
-- a fork_writes value that the channel's reducer does not take (append gets a string)
SELECT tampered(:'good', '{fork_writes}', '{"01a22be0-664f-7a3f-9387-1a40a8d75b18": [["talk", {"messages": "hello"}]]}') AS fork_writes_append_string;
-- onto an existing thread, or an empty id
SELECT error_of(format('SELECT sg_import_thread(%L)', :'good'));
SELECT error_of(format('SELECT sg_import_thread(%L, %L)', :'good', 'long'));
SELECT error_of(format('SELECT sg_import_thread(%L, %L)', :'good', ''));
SELECT (SELECT count(*) FROM stategraph.threads) = :threads_before AS no_thread_added,
       (SELECT count(*) FROM stategraph.checkpoints) = :rows_before AS no_row_added;
-- and the thread exported reads as before
SELECT (SELECT count(*) FROM saved_asked) AS checkpoints,
       (SELECT count(*) FROM saved_asked s FULL JOIN hist('asked') h USING (n) WHERE s.snap IS DISTINCT FROM h.snap) AS differ;

DROP SCHEMA portable CASCADE;
