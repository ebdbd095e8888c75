--
-- stategraph.graph_digest(graph), which a router's check_definitions and
-- move_partition compare across servers, covers a graph's external nodes
-- too: an external node has no function, and its entry was the NULL of
-- name || '=' || NULL, which string_agg passes over, so that two servers
-- whose graphs (not compiled yet) differed only in an external node, its
-- queue, lease or retry, had the same digest.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA router_graph_digest;
SET search_path = router_graph_digest;
CREATE EXTENSION stategraph;
RESET client_min_messages;

CREATE TABLE digests (label text, digest text);
CREATE FUNCTION define(queue text, lease interval, retry jsonb, with_ext boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sg_drop_graph('dg') FROM stategraph.graphs WHERE graph = 'dg';
    PERFORM sg_create_graph('dg', '{"x": "replace"}');
    IF with_ext THEN
        PERFORM sg_add_external_node('dg', 'e', queue, retry, lease);
    END IF;
END $$;
SELECT define('q', '1 min', NULL, false);
INSERT INTO digests SELECT 'no external node', stategraph.graph_digest('dg');
SELECT define('q', '1 min', NULL, true);
INSERT INTO digests SELECT 'external node', stategraph.graph_digest('dg');
SELECT define('other', '1 min', NULL, true);
INSERT INTO digests SELECT 'another queue', stategraph.graph_digest('dg');
SELECT define('q', '2 min', NULL, true);
INSERT INTO digests SELECT 'another lease', stategraph.graph_digest('dg');
SELECT define('q', '1 min', '{"max_attempts": 4}', true);
INSERT INTO digests SELECT 'a retry', stategraph.graph_digest('dg');
SELECT define('q', '1 min', NULL, true);
INSERT INTO digests SELECT 'external node again', stategraph.graph_digest('dg');
-- every definition its own digest; the same definition the same one
SELECT count(DISTINCT digest) AS distinct_digests, count(*) AS definitions FROM digests;
SELECT a.label, b.label AS same_as FROM digests a JOIN digests b ON a.digest = b.digest AND a.label < b.label;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA router_graph_digest CASCADE;
