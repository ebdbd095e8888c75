-- stategraph: the newest page of 10 snapshots of the chat thread, fetched by the client
SELECT * FROM sg_get_state_history('chat-1', "limit" => 10);
