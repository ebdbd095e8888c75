-- open loop: submit the seed graph on a new thread (o<run>-<client>-<n>) and go on at once;
-- run.sh waits for the last run to finish
\set n :n + 1
SELECT sg_submit('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}', thread_id => 'o' || :run || '-' || :client_id || '-' || :n);
