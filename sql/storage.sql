--
-- Storage grows linearly: a checkpoint row holds the writes that made it,
-- unchanged channels are not copied, and an append channel stores what each
-- step appends, plus now and then a segment (what was appended since the
-- segment before) so that reads stay short.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA storage;
SET search_path = storage;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION reply(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('messages', jsonb_build_array(jsonb_build_object(
        'role', 'assistant', 'content', repeat(md5(jsonb_array_length(state->'messages')::text), 32))))
$$;
SELECT sg_create_graph('chat', '{"messages": "append", "profile": "replace", "turn": "replace"}');
SELECT sg_add_node('chat', 'chat', 'reply(jsonb)');
SELECT sg_add_edge('chat', '__start__', 'chat');
SELECT sg_add_edge('chat', 'chat', '__end__');
SELECT sg_compile('chat');

SELECT sg_invoke('chat', '{"profile": {"name": "ada"}, "messages": []}', thread_id => 'long') IS NOT NULL AS started;
SELECT count(sg_invoke('chat', jsonb_build_object('messages', jsonb_build_array(jsonb_build_object(
                 'role', 'user', 'content', 'turn ' || i)), 'turn', i), thread_id => 'long'))
FROM generate_series(1, 150) i;

-- one row per checkpoint, three checkpoints per turn
SELECT count(*) AS rows, count(*) FILTER (WHERE source = 'input') AS inputs FROM stategraph.checkpoints;
-- the profile was written once: no row copies it, except now and then a
-- reference (or, for a small value, an image) so that readers stop early
SELECT count(*) FILTER (WHERE image ? 'profile') AS profile_images,
       count(*) FILTER (WHERE refs ? 'profile') AS profile_refs,
       count(*) FILTER (WHERE image ? 'messages') AS message_images
FROM stategraph.checkpoints;
-- every state reads back right, whatever row it stops at: the message count
-- grows by one user message at each __start__ step and one reply at each chat step
SELECT count(*) AS snapshots,
       max(n) AS max_messages,
       bool_and(n = expected) AS counts_right,
       bool_and(profile = 'ada') AS profile_everywhere
FROM (SELECT jsonb_array_length("values"->'messages') AS n, "values"->'profile'->>'name' AS profile,
             GREATEST(count(*) FILTER (WHERE source = 'loop') OVER (ORDER BY checkpoint_id) - 1, 0) AS expected
      FROM sg_get_state_history('long')) h;
-- history and get_state agree on every checkpoint
SELECT count(*) AS mismatches
FROM sg_get_state_history('long') h
WHERE h."values" <> (sg_get_state('long', h.checkpoint_id))."values";
-- storage is linear in the conversation: all the writes together are about the
-- final state, and so are all the segments together (no element is in two)
SELECT sum(octet_length(c.writes::text)) < 1.2 * octet_length(s.messages::text) AS writes_linear,
       sum(octet_length(c.image::text)) < 1.05 * octet_length(s.messages::text) AS images_linear
FROM stategraph.checkpoints c,
     (SELECT "values"->'messages' AS messages FROM sg_get_state('long')) s
GROUP BY s.messages;

SET client_min_messages = warning;
DROP SCHEMA storage CASCADE;
