-- stategraph: one chat turn on thread chat-1; run.sh passes -D n=-1 and -t turns+1.
-- Transaction 0 warms the session up on a thread that is deleted again (LangGraph's side does the same).
\set n :n + 1
\if :n = 0
SELECT sg_invoke('chat', '{"messages": [{"role": "user", "content": "turn 0"}]}', thread_id => 'chat-warmup');
SELECT sg_delete_thread('chat-warmup');
\else
SELECT sg_invoke('chat', jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'turn ' || :n))), thread_id => 'chat-1');
\endif
