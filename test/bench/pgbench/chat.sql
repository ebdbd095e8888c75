-- stategraph: the chat on thread chat-1; run.sh passes -D n=-1, -D series=<file> and
-- -t 2*turns+1. Transaction 0 warms the session up on a thread that is deleted again
-- (LangGraph's side does the same). Then transactions alternate: an odd one is chat
-- turn (n+1)/2, the even one after it appends "turn storage_bytes" of that turn to
-- the series file (its time is logged apart, so turn times do not include it).
\set n :n + 1
\set turn (:n + 1) / 2
\if :n = 0
SELECT sg_invoke('chat', '{"messages": [{"role": "user", "content": "turn 0"}]}', thread_id => 'chat-warmup');
SELECT sg_delete_thread('chat-warmup');
\elif :n % 2 = 1
SELECT sg_invoke('chat', jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'turn ' || :turn))), thread_id => 'chat-1');
\else
SELECT pg_total_relation_size('stategraph.checkpoints') + pg_total_relation_size('stategraph.threads') AS bytes \gset
\shell echo :turn :bytes >> :series
\endif
