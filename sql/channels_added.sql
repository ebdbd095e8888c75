--
-- A graph created again with more channels: the threads written with the
-- old channels go on with the new ones at their defaults (README,
-- "Differences from LangGraph"). The first checkpoint after the change
-- stored an added append channel as a segment of nothing after the
-- thread's first row, where the channel has no value: sg_get_state then
-- failed with XX001 ("lacks the image of channel"), and history left the
-- channel out. A default of more than 64 bytes was stored as a reference
-- to that row, and read back as empty.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA channels_added;
SET search_path = channels_added;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION nothing(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION keep_max(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT greatest(cur, upd) $$;
CREATE FUNCTION define(channels jsonb) RETURNS void LANGUAGE sql AS $$
    SELECT sg_create_graph('grow', channels);
    SELECT sg_add_node('grow', n, 'nothing(jsonb)') FROM unnest(ARRAY['a', 'b']) n;
    SELECT sg_add_edge('grow', '__start__', 'a');
    SELECT sg_add_edge('grow', 'a', 'b');
    SELECT sg_add_edge('grow', 'b', '__end__');
    SELECT sg_compile('grow', interrupt_before => ARRAY['b']);
$$;
SELECT define('{"x": "replace"}');
SELECT sg_invoke('grow', '{"x": 1}', 't-grow');
SELECT sg_invoke('grow', '{"x": 1}', 't-grow-old');
SELECT sg_drop_graph('grow');
SELECT define(jsonb_build_object(
    'x', 'replace',
    'log', 'append',
    'seven', jsonb_build_object('reducer', 'append', 'default', '[7]'::jsonb),
    'top', jsonb_build_object('reducer', 'keep_max(jsonb,jsonb)', 'default', 3),
    'note', jsonb_build_object('reducer', 'replace', 'default', repeat('n', 100)),
    'bag', jsonb_build_object('reducer', 'merge', 'default', jsonb_build_object('k', repeat('m', 100))),
    'unset', 'replace'));
-- the resume runs b with the defaults, and every later read sees them
SELECT sg_invoke('grow', NULL, 't-grow') - 'note' - 'bag' AS values;
SELECT step, "values" - 'note' - 'bag' AS values, length("values"->>'note') AS note,
       length("values"->'bag'->>'k') AS bag
  FROM sg_get_state_history('t-grow');
SELECT "values"->'log' AS log, "values"->'seven' AS seven, "values"->'top' AS top,
       length("values"->>'note') AS note, length("values"->'bag'->>'k') AS bag
  FROM sg_get_state('t-grow');
SELECT sg_update_state('t-grow', '{"log": ["u"], "seven": [8], "top": 10}') IS NOT NULL AS updated;
SELECT "values" - 'note' - 'bag' AS values, length("values"->>'note') AS note FROM sg_get_state('t-grow');
SELECT sg_invoke('grow', '{"x": 2}', 't-grow') - 'note' - 'bag' AS values;

-- once the thread's layout has the added channels (its runs since stored
-- them), a run from a checkpoint older than the change starts them at their
-- defaults too: they were empty (left out of the values)
SELECT sg_invoke('grow', NULL, 't-grow',
                 checkpoint_id => (SELECT checkpoint_id FROM sg_get_state_history('t-grow') WHERE step = 0))
       - 'note' - 'bag' AS values;
SELECT "values" - 'note' - 'bag' AS values, length("values"->>'note') AS note,
       length("values"->'bag'->>'k') AS bag FROM sg_get_state('t-grow');
SELECT sg_update_state('t-grow', '{"log": ["w"]}',
                       checkpoint_id => (SELECT checkpoint_id FROM sg_get_state_history('t-grow')
                                          WHERE step = 1 AND source = 'loop')) IS NOT NULL AS updated;
SELECT "values" - 'note' - 'bag' AS values, length("values"->>'note') AS note FROM sg_get_state('t-grow');

-- a checkpoint as the versions before wrote it (a segment of nothing against
-- the thread's first row) reads as the channel's default
SELECT sg_invoke('grow', NULL, 't-grow-old') - 'note' - 'bag' AS values;
UPDATE stategraph.checkpoints c
   SET image = '{"log": []}', refs = jsonb_build_object('log', f.checkpoint_id::text)
  FROM (SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = 't-grow-old'
         ORDER BY checkpoint_id LIMIT 1) f
 WHERE c.thread_id = 't-grow-old' AND c.step = 2;
-- (a new session: its state cache does not know the thread)
\c
SET search_path = channels_added;
SELECT "values"->'log' AS log, "values"->'x' AS x FROM sg_get_state('t-grow-old');

SELECT sg_delete_thread(t) FROM unnest(ARRAY['t-grow', 't-grow-old']) t;
SELECT sg_drop_graph('grow');
