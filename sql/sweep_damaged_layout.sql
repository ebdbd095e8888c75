--
-- A role may write its own thread rows, a damaged channel layout among them.
-- Reading such a thread fails with 55000, which the retention sweep took
-- for an error that was not the thread's (class 55: a lock not available)
-- and so failed as a whole, at every pass: no thread of any role after it
-- was pruned, and the runs it had expired came back (a review found it).
-- The thread is passed over with a WARNING, as one whose rows refer to
-- what is not there (isolation revsec_sweep_poison); the others are swept.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_sdl_alice;
DROP ROLE IF EXISTS regress_sdl_bob;
CREATE SCHEMA sweep_damaged_layout;
GRANT USAGE ON SCHEMA sweep_damaged_layout TO PUBLIC;
SET search_path = sweep_damaged_layout;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_sdl_alice;
CREATE ROLE regress_sdl_bob;
CREATE FUNCTION note(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["x"]}'::jsonb $$;
SELECT sg_create_graph('g', '{"log": "append"}');
SELECT sg_add_node('g', 'a', 'note(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
-- bob's thread sorts first (the sweep goes in thread id order)
SET ROLE regress_sdl_bob;
SELECT sg_invoke('g', '{}', thread_id => 'a-bob') IS NOT NULL AS bob_ran;
UPDATE stategraph.threads SET channels = '{"log": "bogus"}' WHERE thread_id = 'a-bob';
RESET ROLE;
SET ROLE regress_sdl_alice;
SELECT sg_invoke('g', '{}', thread_id => 'b-alice') IS NOT NULL AS alice_ran;
SELECT sg_invoke('g', '{}', thread_id => 'b-alice') IS NOT NULL AS alice_ran_again;
RESET ROLE;
SELECT thread_id, count(*) FROM stategraph.checkpoints GROUP BY 1 ORDER BY 1;

SELECT sg_set_retention(NULL, '1 microsecond', 'keep_latest');
SELECT pg_sleep(0.01);
CALL sg_work();
-- alice's thread is pruned to its newest checkpoint; bob's is left as it is
SELECT thread_id, count(*) FROM stategraph.checkpoints GROUP BY 1 ORDER BY 1;
SELECT "values" FROM sg_get_state('b-alice');

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA sweep_damaged_layout CASCADE;
DROP ROLE regress_sdl_alice;
DROP ROLE regress_sdl_bob;
