-- stategraph: the whole history of the chat thread, every snapshot fetched by the client
SELECT * FROM sg_get_state_history('chat-1');
