-- stategraph: a page of 10 snapshots deep in the history (run.sh passes -D before=<checkpoint id>)
SELECT * FROM sg_get_state_history('chat-1', "limit" => 10, before => :before);
