-- stategraph: one seed invoke on a new thread (b<run>-<client>-<n>); run.sh passes -D run=.. -D n=0
\set n :n + 1
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}', thread_id => 'b' || :run || '-' || :client_id || '-' || :n);
