-- issue 9 reference: CALL sg_run, the client-side run that commits after every super-step, as background runs do
\set n :n + 1
CALL sg_run('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}', 'c' || :run || '-' || :client_id || '-' || :n);
