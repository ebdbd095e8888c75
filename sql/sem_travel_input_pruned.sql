-- A run from an older input checkpoint (time travel to before the first
-- step) first stores a fork copy of it; the input it runs is read from the
-- original's run. A reader that stopped right after the copy (sg_stream
-- LIMIT 1, mode 'values'), then sg_prune removing the original: the copy,
-- resumed, ran with no input at all. It keeps the input in its own row now,
-- as sg_fork's copy does.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA sem_travel_input_pruned;
SET search_path = sem_travel_input_pruned;
CREATE EXTENSION stategraph;
RESET client_min_messages;

CREATE FUNCTION a(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1, "log": ["a"]}'::jsonb $$;
SELECT sg_create_graph('tp', '{"n": "add", "log": "append"}');
SELECT sg_add_node('tp', 'a', 'a(jsonb)');
SELECT sg_add_edge('tp', '__start__', 'a');
SELECT sg_add_edge('tp', 'a', '__end__');
SELECT sg_compile('tp');

SELECT sg_invoke('tp', '{"n": 10, "log": ["input"]}', thread_id => 'tp-1');
SELECT checkpoint_id AS input FROM sg_get_state_history('tp-1') WHERE source = 'input' \gset
-- back to the input checkpoint, read up to the fork's values only
SELECT (sg_stream('tp', NULL, thread_id => 'tp-1', checkpoint_id => :'input', mode => 'values')).* LIMIT 1;
SELECT step, source, next FROM sg_get_state('tp-1');
-- the original goes: only the copy is left
SELECT sg_prune(keep_last => 1, thread_id => 'tp-1');
SELECT step, source, next, metadata FROM sg_get_state_history('tp-1');
-- resumed, the copy runs the input again
SELECT sg_invoke('tp', NULL, thread_id => 'tp-1');
-- and so does a travel back to the copy, after the run
SELECT sg_invoke('tp', NULL, thread_id => 'tp-1',
                 checkpoint_id => (SELECT checkpoint_id FROM sg_get_state_history('tp-1') WHERE source = 'fork'));

-- a copy made before it kept its input (its meta as those rows have it):
-- prune gives it the input before its source goes
SELECT sg_invoke('tp', '{"n": 20, "log": ["again"]}', thread_id => 'tp-2');
SELECT checkpoint_id AS input FROM sg_get_state_history('tp-2') WHERE source = 'input' \gset
SELECT (sg_stream('tp', NULL, thread_id => 'tp-2', checkpoint_id => :'input', mode => 'values')).* LIMIT 1;
UPDATE stategraph.checkpoints SET meta = NULL WHERE thread_id = 'tp-2' AND source = 'fork';
SELECT sg_prune(keep_last => 1, thread_id => 'tp-2');
SELECT sg_invoke('tp', NULL, thread_id => 'tp-2');

SET client_min_messages = warning;
DROP SCHEMA sem_travel_input_pruned CASCADE;
