-- stategraph: chat.sql, but the turn returns only the new reply
-- (sg_invoke(...) -> 'messages' -> -1), as a chat application reads it, instead
-- of sending the whole ~200 kB state to the client. Runs on a thread of its own database.
\set n :n + 1
\if :n = 0
SELECT sg_invoke('chat', '{"messages": [{"role": "user", "content": "turn 0"}]}', thread_id => 'chat-warmup') -> 'messages' -> -1;
SELECT sg_delete_thread('chat-warmup');
\else
SELECT sg_invoke('chat', jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'turn ' || :n))), thread_id => 'chat-1') -> 'messages' -> -1;
\endif
