-- stategraph: the latest snapshot of the chat thread, every column fetched by the client
SELECT * FROM sg_get_state('chat-1');
