-- README's Reference: "Every function and type carries its description in
-- the database" (\df+ sg_*). On a router database, 23 of the routed sg_*
-- functions had none (sg_invoke, sg_claim, sg_complete, ...), and no
-- sg_* type had one (\dT+ sg_*).
SET client_min_messages = warning;
CREATE SCHEMA doc_router;
CREATE EXTENSION plproxy SCHEMA doc_router;
CREATE EXTENSION stategraph_router SCHEMA doc_router;
RESET client_min_messages;
SELECT p.oid::regprocedure AS undescribed
  FROM pg_proc p
 WHERE p.pronamespace IN ('doc_router'::regnamespace, 'stategraph_router'::regnamespace)
   AND (p.proname LIKE 'sg\_%' OR p.proname IN ('partitions', 'partition_of', 'shard_of', 'frozen',
                                                 'unfrozen', 'check_definitions', 'move_partition'))
   AND obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY p.oid::regprocedure::text;
SELECT t.typname AS undescribed_type FROM pg_type t
 WHERE t.typnamespace = 'doc_router'::regnamespace AND t.typname LIKE 'sg\_%'
   AND obj_description(t.oid, 'pg_type') IS NULL ORDER BY 1;
SELECT count(*) AS routed_sg_functions FROM pg_proc p
 WHERE p.pronamespace = 'doc_router'::regnamespace AND p.proname LIKE 'sg\_%';
SET client_min_messages = warning;
DROP EXTENSION stategraph_router;
DROP EXTENSION plproxy;
DROP SCHEMA doc_router;
