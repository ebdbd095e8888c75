-- stategraph: the latest snapshot of the chat thread built on the server, only its step fetched
-- (what sg_get_state costs without PostgreSQL's jsonb-to-text output of the values)
SELECT (sg_get_state('chat-1')).step;
