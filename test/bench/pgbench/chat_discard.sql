-- stategraph: chat.sql, but the final state that sg_invoke returns is dropped on the
-- server (IS NULL), so the time is the engine's without converting ~200 kB of
-- jsonb to text and sending it. Runs on a thread of its own database.
\set n :n + 1
\if :n = 0
SELECT sg_invoke('chat', '{"messages": [{"role": "user", "content": "turn 0"}]}', thread_id => 'chat-warmup') IS NULL;
SELECT sg_delete_thread('chat-warmup');
\else
SELECT sg_invoke('chat', jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'turn ' || :n))), thread_id => 'chat-1') IS NULL;
\endif
