-- A lease or retry written into a graph's rows by its owner past
-- sg_add_external_node's and sg_add_node's checks: a lease row of
-- '25 days' in stategraph.nodes compiled to lease_ms -2134967296 (an int
-- cast wrapped it), so a claimed task had expired already, and one of
-- '49 days 17:02:47.296' to 1 hour; a compiled spec's lease_ms or backoff_ms
-- was taken as any number. Such a definition is refused as damaged.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA damaged_lease;
SET search_path = damaged_lease;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
SELECT sg_create_graph('dl', '{"n": "replace"}');
SELECT sg_add_external_node('dl', 'model', 'dlq', NULL, '1 hour');
SELECT sg_add_edge('dl', '__start__', 'model');
SELECT sg_add_edge('dl', 'model', '__end__');
-- the draft: a lease past 24 days, or none, is refused by sg_compile
UPDATE stategraph.nodes SET lease = '25 days' WHERE graph = 'dl';
SELECT sg_compile('dl');
UPDATE stategraph.nodes SET lease = '49 days 17:02:47.296' WHERE graph = 'dl';
SELECT sg_compile('dl');
UPDATE stategraph.nodes SET lease = '-1 hour' WHERE graph = 'dl';
SELECT sg_compile('dl');
UPDATE stategraph.nodes SET lease = '24 days' WHERE graph = 'dl';
SELECT sg_compile('dl');
SELECT spec->'nodes'->0->'lease_ms' AS lease_ms FROM stategraph.graphs WHERE graph = 'dl';
-- the compiled spec: refused as a run loads it
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{nodes,0,lease_ms}', '2160000000') WHERE graph = 'dl';
SELECT sg_invoke('dl', '{}', 'dl-1');
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{nodes,0,lease_ms}', '0.5') WHERE graph = 'dl';
SELECT sg_invoke('dl', '{}', 'dl-1');
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{nodes,0,lease_ms}', '60000') WHERE graph = 'dl';
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{nodes,0,retry}', '{"backoff_ms": -5}') WHERE graph = 'dl';
SELECT sg_invoke('dl', '{}', 'dl-1');
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{nodes,0,retry}', '{"max_attempts": 1e12}') WHERE graph = 'dl';
SELECT sg_invoke('dl', '{}', 'dl-1');
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{nodes,0,retry}', '{"max_attempts": 2, "backoff_ms": 10}') WHERE graph = 'dl';
SELECT sg_invoke('dl', '{}', 'dl-1') ? '__waiting__' AS waiting;
SELECT t.lease FROM sg_claim('dlq', 'w') c JOIN stategraph.tasks t USING (task_id);
SET client_min_messages = warning;
DROP SCHEMA damaged_lease CASCADE;
