--
-- Time travel: replaying from an old checkpoint runs the nodes again, and
-- stores and returns what they compute now.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA time_travel;
SET search_path = time_travel;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE prices (item text PRIMARY KEY, price int NOT NULL);
INSERT INTO prices VALUES ('tea', 3);
CREATE FUNCTION pick(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"item": "tea"}'::jsonb $$;
CREATE FUNCTION quote(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('price', price) FROM prices WHERE item = state->>'item' $$;
CREATE FUNCTION bill(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('total', (state->>'price')::int * 2) $$;
SELECT sg_create_graph('shop', '{"item": "replace", "price": "replace", "total": "replace"}');
SELECT sg_add_node('shop', 'pick', 'pick(jsonb)');
SELECT sg_add_node('shop', 'quote', 'quote(jsonb)');
SELECT sg_add_node('shop', 'bill', 'bill(jsonb)');
SELECT sg_add_edge('shop', '__start__', 'pick');
SELECT sg_add_edge('shop', 'pick', 'quote');
SELECT sg_add_edge('shop', 'quote', 'bill');
SELECT sg_add_edge('shop', 'bill', '__end__');
SELECT sg_compile('shop');

SELECT sg_invoke('shop', '{}', thread_id => 'order-1');
SELECT checkpoint_id AS picked FROM sg_get_state_history('order-1', filter => '{"step": 1}') \gset

-- the price changes; replaying from the checkpoint after "pick" computes it again
UPDATE prices SET price = 5;
SELECT sg_invoke('shop', NULL, thread_id => 'order-1', checkpoint_id => :'picked');
SELECT "values" FROM sg_get_state('order-1');
-- both branches are in the history; the old one keeps its old values; as in
-- LangGraph, the fork is numbered one step after the checkpoint it copies
-- (replaying from step 1 stores 2/fork, then 3/loop, 4/loop)
SELECT step, source, "values", parent_checkpoint_id = :'picked' AS child_of_picked
FROM sg_get_state_history('order-1');
-- replaying again from the same checkpoint makes a third branch
UPDATE prices SET price = 7;
SELECT sg_invoke('shop', NULL, thread_id => 'order-1', checkpoint_id => :'picked') ->> 'total' AS total;
SELECT count(*) FILTER (WHERE source = 'fork') AS forks, count(*) AS checkpoints
FROM sg_get_state_history('order-1');
-- each branch reads back what it computed
SELECT "values"->>'total' AS total FROM sg_get_state_history('order-1') WHERE next = '{}';

-- invoking the newest checkpoint by id is a plain resume: no fork
SELECT checkpoint_id AS newest FROM sg_get_state('order-1') \gset
SELECT sg_invoke('shop', NULL, thread_id => 'order-1', checkpoint_id => :'newest') ->> 'total' AS total;
SELECT count(*) AS checkpoints FROM sg_get_state_history('order-1');

-- new input on top of an old checkpoint starts a new run there
SELECT sg_invoke('shop', '{"item": "tea"}', thread_id => 'order-1', checkpoint_id => :'picked') ->> 'total' AS total;
SELECT step, source, next FROM sg_get_state_history('order-1', "limit" => 5);

-- replaying from the input checkpoint applies the same input again
CREATE FUNCTION hello(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('greeting', 'hello ' || (state->>'name')) $$;
SELECT sg_create_graph('greet', '{"name": "replace", "greeting": "replace"}');
SELECT sg_add_node('greet', 'hello', 'hello(jsonb)');
SELECT sg_add_edge('greet', '__start__', 'hello');
SELECT sg_add_edge('greet', 'hello', '__end__');
SELECT sg_compile('greet');
SELECT sg_invoke('greet', '{"name": "Ada"}', thread_id => 'greet-1');
SELECT checkpoint_id AS input_cp FROM sg_get_state_history('greet-1', filter => '{"source": "input"}') \gset
SELECT sg_invoke('greet', NULL, thread_id => 'greet-1', checkpoint_id => :'input_cp');
-- and so does a thread forked from it
SELECT sg_fork('greet-1', :'input_cp', 'greet-2') IS NOT NULL AS forked;
SELECT sg_invoke('greet', NULL, thread_id => 'greet-2');

-- a checkpoint that is not in the thread
SELECT sg_invoke('shop', NULL, thread_id => 'order-1', checkpoint_id => '00000000-0000-7000-8000-000000000000');

SET client_min_messages = warning;
DROP SCHEMA time_travel CASCADE;
