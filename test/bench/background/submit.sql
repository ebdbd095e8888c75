-- issue 9: submit the seed graph on a new thread (s<run>-<client>-<n>), commit, and wait until a background worker finished it
\set n :n + 1
SELECT pg_catalog.quote_literal(sg_submit('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}', thread_id => 's' || :run || '-' || :client_id || '-' || :n)) AS rid \gset
SELECT status FROM sg_wait(:rid);
