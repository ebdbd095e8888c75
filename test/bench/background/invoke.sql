-- issue 9 baseline: one seed invoke on a new thread (i<run>-<client>-<n>), in the client's session
\set n :n + 1
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}', thread_id => 'i' || :run || '-' || :client_id || '-' || :n);
