-- stategraph: the whole history of the chat thread, counted on the server
SELECT count(*) FROM sg_get_state_history('chat-1');
