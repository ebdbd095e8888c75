--
-- stategraph side of the benchmark (test/bench/run.sh): the two graphs it runs.
-- Loaded into a fresh database by run.sh; the LangGraph.js twins are in
-- langgraph/bench.mjs and must stay equivalent to these.
--
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS stategraph;

-- 1. The seed's graph: START -> step1 -> step2 -> step3 -> END
CREATE FUNCTION bench_step_one(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 1, "messages": ["Step 1 complete"]}'::jsonb $$;
CREATE FUNCTION bench_step_two(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 2, "messages": ["Step 2 complete"]}'::jsonb $$;
CREATE FUNCTION bench_step_three(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 3, "messages": ["Step 3 complete"]}'::jsonb $$;

SELECT sg_create_graph('workflow', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('workflow', 'step1', 'bench_step_one(jsonb)');
SELECT sg_add_node('workflow', 'step2', 'bench_step_two(jsonb)');
SELECT sg_add_node('workflow', 'step3', 'bench_step_three(jsonb)');
SELECT sg_add_edge('workflow', '__start__', 'step1');
SELECT sg_add_edge('workflow', 'step1', 'step2');
SELECT sg_add_edge('workflow', 'step2', 'step3');
SELECT sg_add_edge('workflow', 'step3', '__end__');
SELECT sg_compile('workflow');

-- 2. The chat: START -> chat -> END, one append channel.
-- The reply to the user message "turn N" is ~1 KB of English words: 190 words
-- of a 196-word vocabulary, word i picked by the first two bytes of md5('N-i').
-- Like real text it compresses (about 2.4x with TOAST's pglz, on both sides).
-- bench.mjs builds the very same string with node:crypto.
CREATE FUNCTION bench_reply_text(turn int) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(w[1 + (get_byte(d, 0) * 256 + get_byte(d, 1)) % array_length(w, 1)], ' ' ORDER BY i)
    FROM (SELECT i, decode(md5(turn || '-' || i), 'hex') AS d FROM generate_series(1, 190) AS i) x,
         (SELECT string_to_array('the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part over new sound take only little work know place year live me back give most very after thing our just name good sentence man think say great where help through much before line right too mean old any same tell boy follow came want show also around form three small set put end does another well large must big even such because turn here why ask went men read need land different home us move try kind hand picture again change off play spell air away animal house point page letter mother answer found study still learn should', ' ') AS w) v
$$;
CREATE FUNCTION bench_chat(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object(
              'role', 'assistant',
              'content', bench_reply_text(substring(state->'messages'->-1->>'content' FROM '[0-9]+')::int)))) $$;

SELECT sg_create_graph('chat', '{"messages": "append"}');
SELECT sg_add_node('chat', 'chat', 'bench_chat(jsonb)');
SELECT sg_add_edge('chat', '__start__', 'chat');
SELECT sg_add_edge('chat', 'chat', '__end__');
SELECT sg_compile('chat');
