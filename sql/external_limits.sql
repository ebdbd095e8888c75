--
-- External nodes at the edges of their arguments (review): a lease the
-- compiled spec cannot hold is refused when the node is added, not at
-- sg_compile; a long poll with the longest wait waits instead of
-- overflowing into no wait at all, and a longer one is refused (22023).
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA external_limits;
SET search_path = external_limits;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate

SELECT sg_create_graph('xl', '{"answer": "replace"}');
SELECT sg_add_external_node('xl', 'slow', 'xl', NULL, '2 months');
SELECT sg_add_external_node('xl', 'slow', 'xl', NULL, '178000000 years');
SELECT sg_add_external_node('xl', 'slow', 'xl', NULL, '24 days');
SELECT sg_add_edge('xl', '__start__', 'slow');
SELECT sg_add_edge('xl', 'slow', '__end__');
SELECT sg_compile('xl');
SELECT spec->'nodes' FROM stategraph.graphs WHERE graph = 'xl';

-- the longest wait, 24 days, is a long wait (here cut by the statement
-- timeout); a longer one, as a lease, is refused
SET statement_timeout = '300ms';
SELECT count(*) FROM sg_claim('xl-empty', 'w', wait => '2073600 seconds');
RESET statement_timeout;
SELECT count(*) FROM sg_claim('xl-empty', 'w', wait => '2073600.001 seconds');
SELECT count(*) FROM sg_claim('xl-empty', 'w', wait => '300000 years');

-- a dropped graph's tasks are cancelled: no worker claims work whose result
-- could not be taken (sg_complete checks the update against the graph)
SELECT sg_invoke('xl', '{}', 'xl-1') ? '__waiting__' AS waiting;
SELECT sg_invoke('xl', '{}', 'xl-2') ? '__waiting__' AS waiting;
SELECT count(*) FROM sg_claim('xl', 'w', 1);
SELECT sg_drop_graph('xl');
SELECT count(*) FROM sg_claim('xl', 'w', 10);
SELECT thread_id, status FROM sg_tasks('xl') ORDER BY thread_id;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA external_limits CASCADE;
