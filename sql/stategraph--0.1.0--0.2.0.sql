/* stategraph--0.1.0--0.2.0.sql: the durable agent runtime (0.2.0) */

\echo Use "ALTER EXTENSION stategraph UPDATE TO '0.2.0'" to load this file. \quit

/*
 * Like pg_cron, stategraph ships one full install script (0.1.0) and upgrade
 * scripts: CREATE EXTENSION stategraph runs stategraph--0.1.0.sql and then
 * this file, so a fresh install and an upgraded one are the same by
 * construction, and every test run exercises the upgrade path.
 *
 * Each part of this round has its own section below; keep them in this order.
 */

/*
 * An administrator who kept 0.1.0 to some roles revoked EXECUTE on its
 * functions from PUBLIC (and granted it, with USAGE on schema stategraph,
 * to those roles). This script grants its functions and schema to PUBLIC,
 * which would let every role in: noted here, before any grant, and kept at
 * the end of the script (pg_regress update_revoked_010). A fresh install
 * has nothing to note (0.1.0's functions have their default privileges).
 */
SELECT pg_catalog.set_config('stategraph_update.revoked',
    COALESCE((SELECT pg_catalog.string_agg(p.oid::pg_catalog.text, ',' ORDER BY p.oid)
              FROM pg_catalog.pg_proc p
              JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                   AND d.objid OPERATOR(pg_catalog.=) p.oid AND d.deptype OPERATOR(pg_catalog.=) 'e'
              JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
                   AND e.extname OPERATOR(pg_catalog.=) 'stategraph'
              WHERE p.pronamespace OPERATOR(pg_catalog.=) e.extnamespace AND p.proacl IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(p.proacl) a
                                WHERE a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                  AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE')
                -- revoked by hand, not by default privileges (ALTER DEFAULT
                -- PRIVILEGES ... REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC):
                -- a fresh install under those is open to PUBLIC as any is
                AND (COALESCE((SELECT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(g.defaclacl) a
                                              WHERE a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE')
                               FROM pg_catalog.pg_default_acl g
                               WHERE g.defaclrole OPERATOR(pg_catalog.=) p.proowner
                                 AND g.defaclnamespace OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                 AND g.defaclobjtype OPERATOR(pg_catalog.=) 'f'), true)
                     OR EXISTS (SELECT 1 FROM pg_catalog.pg_default_acl g, pg_catalog.aclexplode(g.defaclacl) a
                                WHERE g.defaclrole OPERATOR(pg_catalog.=) p.proowner
                                  AND g.defaclnamespace OPERATOR(pg_catalog.=) p.pronamespace
                                  AND g.defaclobjtype OPERATOR(pg_catalog.=) 'f'
                                  AND a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                  AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'))), ''),
    true),
    pg_catalog.set_config('stategraph_update.schema_public',
    CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'stategraph'
                        AND a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                        AND a.privilege_type OPERATOR(pg_catalog.=) 'USAGE')
         THEN 'on' ELSE 'off' END,
    true);

/*
 * Triggers users made on the tables of 0.1.0 (a role given TRIGGER or ALL
 * on them; the update revokes TRIGGER below): a trigger runs its code as
 * whoever writes the table, and sees every row written (NEW, OLD), which
 * row-level security does not restrain. Left on, such a trigger ran as
 * the superuser that runs this script (its first write is below), and
 * after the update as every role that calls stategraph and as the
 * background workers, reading every role's checkpoints. Each is disabled
 * before the script writes anything, with a WARNING naming it, unless its
 * function belongs to a superuser and it has no WHEN condition (a
 * superuser's own trigger, an audit one say, whose code a superuser
 * wrote): the tables' owner may ENABLE it again (pg_regress
 * update_user_triggers).
 */
DO $user_triggers$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT t.tgname, t.tgrelid::pg_catalog.regclass AS tab, t.tgfoid::pg_catalog.regprocedure AS fn,
               pg_catalog.pg_get_userbyid(p.proowner) AS fn_owner, t.tgqual IS NOT NULL AS has_when
        FROM pg_catalog.pg_trigger t
        JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) t.tgfoid
        JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
             AND d.objid OPERATOR(pg_catalog.=) t.tgrelid AND d.objsubid OPERATOR(pg_catalog.=) 0
             AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
             AND d.deptype OPERATOR(pg_catalog.=) 'e'
        JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
             AND e.extname OPERATOR(pg_catalog.=) 'stategraph'
        WHERE NOT t.tgisinternal
          AND t.tgenabled OPERATOR(pg_catalog.<>) 'D'
          -- not one of the extension's (its function is the extension's)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x
                          WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                            AND x.objid OPERATOR(pg_catalog.=) t.tgfoid AND x.deptype OPERATOR(pg_catalog.=) 'e'
                            AND x.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                            AND x.refobjid OPERATOR(pg_catalog.=) e.oid)
          AND (t.tgqual IS NOT NULL
               OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles o
                              WHERE o.oid OPERATOR(pg_catalog.=) p.proowner AND o.rolsuper))
        ORDER BY t.tgrelid::pg_catalog.regclass::pg_catalog.text, t.tgname
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER %I', r.tab, r.tgname);
        RAISE WARNING 'disabled trigger % on table %, which a role other than its owner may have made', r.tgname, r.tab
            USING DETAIL = pg_catalog.format('It runs %s%s, of role %s, as whoever writes the table: every role that uses stategraph, '
                                             'the background workers and superusers, and it sees every role''s rows.',
                                             CASE WHEN r.has_when THEN 'its WHEN condition and ' ELSE '' END, r.fn, r.fn_owner),
                  HINT = pg_catalog.format('Drop it, or, if it may run as every role and read every role''s rows: ALTER TABLE %s ENABLE TRIGGER %I;',
                                           r.tab, r.tgname);
    END LOOP;
END $user_triggers$;

-- ===========================================================================
-- Ownership and security
-- ===========================================================================

/*
 * Threads, runs and tasks belong to the role that created them, stored by
 * name (a role OID would point at another role after a restore into another
 * cluster, and reg* columns block pg_upgrade). A row is visible and writable
 * to its owner and the owner's members; superusers and BYPASSRLS roles see
 * all. Every row-level security policy of the extension uses this one test.
 * A dropped owner's rows are visible to superusers only.
 */
CREATE FUNCTION stategraph.owned(owner name) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN owner OPERATOR(pg_catalog.=) CURRENT_USER
        OR pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(owner::pg_catalog.text))::pg_catalog.oid,
                                  'MEMBER') IS TRUE;
/*
 * (No sub-select in the body: the planner inlines the function into every
 * policy, instead of calling it once per row; to_regrole is NULL for a
 * dropped role, and pg_has_role of NULL is NULL, so such rows are nobody's.
 * pg_has_role's two-argument form takes the current role by its OID: the
 * three-argument one, given CURRENT_USER, looked the current role up by
 * the name CURRENT_USER gave, which a backend that has not yet taken in a
 * rename of the role still gives as the old one, and the role catalogue no
 * longer has: a read of rows the rename's sg_reassign_owned had given to
 * the new name failed with 42704 "role ... does not exist", isolation
 * read_role_renamed.)
 */

/*
 * Who owns what. Graph definitions and threads get an owner column; rows
 * written by 0.1.0 belong to the extension's owner (0.1.0 recorded no
 * creator, and the extension's owner is the role that could already read
 * and change every row). New rows belong to CURRENT_USER.
 */
/*
 * The column comes with the extension owner's name as a constant default,
 * which PostgreSQL stores once for the rows already there (no UPDATE
 * writing a new version of every thread, and its index entries), then the
 * default becomes CURRENT_USER.
 */
DO $$
DECLARE
    ext_owner pg_catalog.name := (SELECT r.rolname FROM pg_catalog.pg_extension e
                       JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) e.extowner
                       WHERE e.extname OPERATOR(pg_catalog.=) 'stategraph');
BEGIN
    EXECUTE pg_catalog.format('ALTER TABLE stategraph.graphs ADD COLUMN owner name NOT NULL DEFAULT %L', ext_owner);
    EXECUTE pg_catalog.format('ALTER TABLE stategraph.threads ADD COLUMN owner name NOT NULL DEFAULT %L', ext_owner);
END $$;
ALTER TABLE stategraph.graphs ALTER COLUMN owner SET DEFAULT CURRENT_USER;
ALTER TABLE stategraph.threads ALTER COLUMN owner SET DEFAULT CURRENT_USER;

/*
 * Node and router functions are stored by their schema-qualified signature
 * ("public.f(pg_catalog.jsonb)", the form the compiled spec already uses),
 * resolved and checked by sg_compile and when a graph is loaded. 0.1.0
 * stored regprocedure: pg_upgrade refuses reg* columns in user tables, and
 * the bare OID left behind by DROP FUNCTION named whatever function had that
 * OID after a restore. An OID whose function is already gone becomes
 * "dropped function <oid>", which never resolves: sg_compile reports it
 * (42883) and sg_add_node / sg_add_conditional_edges replace it.
 */
CREATE FUNCTION stategraph.signature_of(fn pg_catalog.oid) RETURNS text
    LANGUAGE sql STABLE
    RETURN coalesce((SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'
                            OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p.proname)
                            OPERATOR(pg_catalog.||) '('
                            OPERATOR(pg_catalog.||) coalesce((SELECT pg_catalog.string_agg(
                                       pg_catalog.quote_ident(tn.nspname) OPERATOR(pg_catalog.||) '.'
                                       OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.typname), ',' ORDER BY a.i)
                                     FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) WITH ORDINALITY a(typ, i)
                                     JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.typ
                                     JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.typnamespace), '')
                            OPERATOR(pg_catalog.||) ')'
                     FROM pg_catalog.pg_proc p
                     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
                     WHERE p.oid OPERATOR(pg_catalog.=) fn),
                    'dropped function ' OPERATOR(pg_catalog.||) fn::pg_catalog.text);

/*
 * Routers of one source run in the order they were added (0.1.0 ordered them
 * by function OID, which a restore changes): "ordinal" counts up per graph.
 * Rows of 0.1.0 are numbered in the order 0.1.0 ran them.
 */
ALTER TABLE stategraph.branches ADD COLUMN ordinal integer;
UPDATE stategraph.branches b SET ordinal = o.n
FROM (SELECT graph, source, router,
             pg_catalog.row_number() OVER (PARTITION BY graph ORDER BY source COLLATE "C", router::pg_catalog.oid) AS n
      FROM stategraph.branches) o
WHERE b.graph OPERATOR(pg_catalog.=) o.graph AND b.source OPERATOR(pg_catalog.=) o.source
  AND b.router::pg_catalog.oid OPERATOR(pg_catalog.=) o.router::pg_catalog.oid;
ALTER TABLE stategraph.branches ALTER COLUMN ordinal SET NOT NULL;

ALTER TABLE stategraph.nodes ALTER COLUMN fn TYPE text USING stategraph.signature_of(fn::pg_catalog.oid);
ALTER TABLE stategraph.branches ALTER COLUMN router TYPE text USING stategraph.signature_of(router::pg_catalog.oid);
DROP FUNCTION stategraph.signature_of(pg_catalog.oid);

/*
 * Node, router and reducer functions are bound to the role that owned them
 * when they were added (sg_add_node, sg_add_conditional_edges,
 * sg_create_graph): a graph runs a function only while it belongs to that
 * role or to the graph's owner, not one dropped and created again under its
 * signature by another role, or given to another role (a 42501 error when
 * the graph is compiled or loaded). The draft keeps the role in
 * nodes.fn_owner and branches.router_owner; a custom reducer's channel, and
 * the compiled spec's nodes, conditional edges and channels, keep it as
 * "fn_owner" / "router_owner" (NULL or absent: the graph's owner). Rows of
 * 0.1.0 are bound to their function's owner now (the graph's owner if the
 * function is gone), so that they keep working; the channels and spec name
 * it only when it is not the graph's owner (a graph whose functions are all
 * its owner's reads the same after the update, byte for byte).
 */
ALTER TABLE stategraph.nodes ADD COLUMN fn_owner name;
ALTER TABLE stategraph.branches ADD COLUMN router_owner name;
COMMENT ON COLUMN stategraph.nodes.fn_owner IS
    'the role that owned the node''s function when it was added (NULL: the graph''s owner); the graph refuses a function of another role';
COMMENT ON COLUMN stategraph.branches.router_owner IS
    'the role that owned the router when it was added (NULL: the graph''s owner); the graph refuses a router of another role';
CREATE FUNCTION stategraph.owner_of(signature text) RETURNS name
    LANGUAGE sql STABLE
    RETURN (SELECT r.rolname FROM pg_catalog.pg_proc p
            JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) p.proowner
            WHERE p.oid OPERATOR(pg_catalog.=)
                  CASE WHEN pg_catalog.strpos(signature, '(') OPERATOR(pg_catalog.>) 0
                       THEN pg_catalog.to_regprocedure(signature)::pg_catalog.oid END);
UPDATE stategraph.nodes n SET fn_owner = coalesce(stategraph.owner_of(n.fn), g.owner)
FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) n.graph;
UPDATE stategraph.branches b SET router_owner = coalesce(stategraph.owner_of(b.router), g.owner)
FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) b.graph;
-- entries (an array of objects, or an object of objects) with their function's owner under owner_key,
-- always: the graph's owner is the extension's now, a placeholder its rows are given away from
-- (README), and a key left out was read as whoever owns the graph then (a reducer of the
-- extension's owner then refused the graph, sg_compile too: no key to bind it again)
CREATE FUNCTION stategraph.bind_owners(entries jsonb, fn_key text, owner_key text, owner name) RETURNS jsonb
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    k pg_catalog.text;
    e pg_catalog.jsonb;
    fn_owner pg_catalog.name;
    i integer := 0;
BEGIN
    IF pg_catalog.jsonb_typeof(entries) OPERATOR(pg_catalog.=) 'array' THEN
        FOR e IN SELECT x FROM pg_catalog.jsonb_array_elements(entries) x LOOP
            fn_owner := stategraph.owner_of(e OPERATOR(pg_catalog.->>) fn_key);
            IF fn_owner IS NOT NULL THEN
                entries := pg_catalog.jsonb_set(entries, ARRAY[i::pg_catalog.text, owner_key], pg_catalog.to_jsonb(fn_owner));
            END IF;
            i := i OPERATOR(pg_catalog.+) 1;
        END LOOP;
    ELSIF pg_catalog.jsonb_typeof(entries) OPERATOR(pg_catalog.=) 'object' THEN
        FOR k, e IN SELECT x.key, x.value FROM pg_catalog.jsonb_each(entries) x LOOP
            fn_owner := stategraph.owner_of(e OPERATOR(pg_catalog.->>) fn_key);
            IF fn_owner IS NOT NULL THEN
                entries := pg_catalog.jsonb_set(entries, ARRAY[k, owner_key], pg_catalog.to_jsonb(fn_owner));
            END IF;
        END LOOP;
    END IF;
    RETURN entries;
END $$;
UPDATE stategraph.graphs SET channels = stategraph.bind_owners(channels, 'fn', 'fn_owner', owner)
WHERE stategraph.bind_owners(channels, 'fn', 'fn_owner', owner) OPERATOR(pg_catalog.<>) channels;
UPDATE stategraph.graphs
SET spec = pg_catalog.jsonb_set(pg_catalog.jsonb_set(pg_catalog.jsonb_set(spec,
               '{channels}', stategraph.bind_owners(spec OPERATOR(pg_catalog.->) 'channels', 'fn', 'fn_owner', owner)),
               '{nodes}', stategraph.bind_owners(spec OPERATOR(pg_catalog.->) 'nodes', 'fn', 'fn_owner', owner)),
               '{branches}', stategraph.bind_owners(spec OPERATOR(pg_catalog.->) 'branches', 'router', 'router_owner', owner))
WHERE pg_catalog.jsonb_typeof(spec OPERATOR(pg_catalog.->) 'channels') OPERATOR(pg_catalog.=) 'object'
  AND pg_catalog.jsonb_typeof(spec OPERATOR(pg_catalog.->) 'nodes') OPERATOR(pg_catalog.=) 'array'
  AND pg_catalog.jsonb_typeof(spec OPERATOR(pg_catalog.->) 'branches') OPERATOR(pg_catalog.=) 'array';
DROP FUNCTION stategraph.bind_owners(jsonb, text, text, name);
DROP FUNCTION stategraph.owner_of(text);

/*
 * The definition tables restore in parallel. pg_dump cannot order the data
 * of extension tables after the foreign keys the extension script created,
 * so "pg_restore -j" loaded nodes before their graph and failed (23503).
 * The keys go; sg_add_* check that the graph exists (as they always did) and
 * deleting a graph deletes its nodes, edges and conditional edges with it.
 */
ALTER TABLE stategraph.nodes DROP CONSTRAINT nodes_graph_fkey;
ALTER TABLE stategraph.edges DROP CONSTRAINT edges_graph_fkey;
ALTER TABLE stategraph.branches DROP CONSTRAINT branches_graph_fkey;

CREATE FUNCTION stategraph.graph_deleted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stategraph.nodes WHERE graph OPERATOR(pg_catalog.=) OLD.graph;
    DELETE FROM stategraph.edges WHERE graph OPERATOR(pg_catalog.=) OLD.graph;
    DELETE FROM stategraph.branches WHERE graph OPERATOR(pg_catalog.=) OLD.graph;
    -- its retention setting too (stategraph.retention, created below): left
    -- behind, it would expire the threads of the next graph of that name,
    -- whoever creates it
    DELETE FROM stategraph.retention WHERE graph OPERATOR(pg_catalog.=) OLD.graph;
    RETURN OLD;
END $$;
CREATE TRIGGER graph_deleted BEFORE DELETE ON stategraph.graphs
    FOR EACH ROW EXECUTE FUNCTION stategraph.graph_deleted();
COMMENT ON FUNCTION stategraph.graph_deleted() IS
    'trigger: deletes the nodes, edges, conditional edges and retention setting of a deleted graph (the definition tables have no foreign keys, so that they restore in parallel)';

/*
 * No row is ever left without its graph or thread, where a new graph or
 * thread of the same name would take it over (rows of another role planted
 * in someone's future graph or history): deleting a thread's row deletes
 * its checkpoints, and graphs and threads cannot be renamed. Checkpoints
 * that 0.1.0 left behind without their thread (a node that deleted its own
 * thread) go now.
 */
CREATE FUNCTION stategraph.thread_deleted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stategraph.checkpoints WHERE thread_id OPERATOR(pg_catalog.=) OLD.thread_id;
    RETURN OLD;
END $$;
CREATE TRIGGER thread_deleted BEFORE DELETE ON stategraph.threads
    FOR EACH ROW EXECUTE FUNCTION stategraph.thread_deleted();
COMMENT ON FUNCTION stategraph.thread_deleted() IS
    'trigger: deletes the checkpoints of a deleted thread, so that a new thread of the same id never shows them';

CREATE FUNCTION stategraph.key_unchanged() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
        MESSAGE = pg_catalog.format('%s cannot be renamed', TG_TABLE_NAME),
        HINT = 'Fork a thread with sg_fork, or create a graph of the new name.';
END $$;
CREATE TRIGGER graph_renamed BEFORE UPDATE OF graph ON stategraph.graphs
    FOR EACH ROW WHEN (OLD.graph OPERATOR(pg_catalog.<>) NEW.graph)
    EXECUTE FUNCTION stategraph.key_unchanged();
CREATE TRIGGER thread_renamed BEFORE UPDATE OF thread_id ON stategraph.threads
    FOR EACH ROW WHEN (OLD.thread_id OPERATOR(pg_catalog.<>) NEW.thread_id)
    EXECUTE FUNCTION stategraph.key_unchanged();
COMMENT ON FUNCTION stategraph.key_unchanged() IS
    'trigger: refuses to rename a graph or a thread (their rows in other tables would be left behind)';

DELETE FROM stategraph.checkpoints c
WHERE NOT EXISTS (SELECT 1 FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) c.thread_id);

/*
 * A checkpoint row may start a fork (parent_thread) only of a thread its
 * writer may own: row-level security checks only the row's own thread, and
 * a superuser's read of the row (the retention sweep's, an export's) walks
 * on into the thread it names (thread_ids.c).
 */
CREATE FUNCTION stategraph.fork_source_owned() RETURNS trigger
    AS 'MODULE_PATHNAME', 'sg_fork_source_owned' LANGUAGE C;
CREATE TRIGGER fork_source_owned BEFORE INSERT OR UPDATE OF parent_thread ON stategraph.checkpoints
    FOR EACH ROW WHEN (NEW.parent_thread IS NOT NULL)
    EXECUTE FUNCTION stategraph.fork_source_owned();
COMMENT ON FUNCTION stategraph.fork_source_owned() IS
    'trigger: refuses a checkpoint that starts a fork of a thread its writer may not own';

/*
 * Row-level security is the guard; the extension grants the rest to PUBLIC
 * (as pg_cron does), so users need no GRANT of their own.
 *
 * Graph definitions: everyone may read them (running and drawing a graph
 * reads its definition; running it also needs EXECUTE on its functions),
 * only the owner's roles may add to, change or delete them.
 *
 * Threads and checkpoints: only the owner's roles see or change them.
 * Superusers, BYPASSRLS roles and the tables' owner (the extension's owner)
 * see everything.
 */
ALTER TABLE stategraph.graphs ENABLE ROW LEVEL SECURITY;
ALTER TABLE stategraph.nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE stategraph.edges ENABLE ROW LEVEL SECURITY;
ALTER TABLE stategraph.branches ENABLE ROW LEVEL SECURITY;
ALTER TABLE stategraph.threads ENABLE ROW LEVEL SECURITY;
ALTER TABLE stategraph.checkpoints ENABLE ROW LEVEL SECURITY;

CREATE POLICY graphs_read ON stategraph.graphs FOR SELECT USING (true);
CREATE POLICY graphs_owner ON stategraph.graphs
    USING (stategraph.owned(owner)) WITH CHECK (stategraph.owned(owner));

CREATE POLICY nodes_read ON stategraph.nodes FOR SELECT USING (true);
CREATE POLICY nodes_owner ON stategraph.nodes
    USING (EXISTS (SELECT 1 FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) nodes.graph
                   AND stategraph.owned(g.owner)))
    WITH CHECK (EXISTS (SELECT 1 FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) nodes.graph
                        AND stategraph.owned(g.owner)));

CREATE POLICY edges_read ON stategraph.edges FOR SELECT USING (true);
CREATE POLICY edges_owner ON stategraph.edges
    USING (EXISTS (SELECT 1 FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) edges.graph
                   AND stategraph.owned(g.owner)))
    WITH CHECK (EXISTS (SELECT 1 FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) edges.graph
                        AND stategraph.owned(g.owner)));

CREATE POLICY branches_read ON stategraph.branches FOR SELECT USING (true);
CREATE POLICY branches_owner ON stategraph.branches
    USING (EXISTS (SELECT 1 FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) branches.graph
                   AND stategraph.owned(g.owner)))
    WITH CHECK (EXISTS (SELECT 1 FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) branches.graph
                        AND stategraph.owned(g.owner)));

CREATE POLICY threads_owner ON stategraph.threads
    USING (stategraph.owned(owner)) WITH CHECK (stategraph.owned(owner));

/*
 * A checkpoint is its thread's: one index probe of threads per row (a scalar
 * sub-select, which the planner cannot turn into a hash of every thread).
 */
CREATE POLICY checkpoints_owner ON stategraph.checkpoints
    USING ((SELECT stategraph.owned(t.owner) FROM stategraph.threads t
            WHERE t.thread_id OPERATOR(pg_catalog.=) checkpoints.thread_id) IS TRUE)
    WITH CHECK ((SELECT stategraph.owned(t.owner) FROM stategraph.threads t
                 WHERE t.thread_id OPERATOR(pg_catalog.=) checkpoints.thread_id) IS TRUE);

GRANT USAGE ON SCHEMA stategraph TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON stategraph.graphs, stategraph.nodes, stategraph.edges,
    stategraph.branches, stategraph.threads, stategraph.checkpoints TO PUBLIC;


-- ===========================================================================
-- Background runs and retention
-- ===========================================================================

/*
 * The value sets of the status-like columns are domains, not CHECK
 * constraints: PostgreSQL re-reads a table's CHECK constraints from their
 * stored text at every statement that writes the table (ExecRelCheck keeps
 * them only for that statement), which cost the run queue a quarter of its
 * CPU. A domain's check is read once into the type cache, and is checked
 * only when the column is written, with the same guarantee.
 */
-- (its CHECK is added under External nodes, once threads.status is of this type)
CREATE DOMAIN stategraph.thread_status AS text;
CREATE DOMAIN stategraph.run_status AS text
    CHECK (VALUE OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting', 'interrupted',
                                                   'success', 'error', 'cancelled']));
CREATE DOMAIN stategraph.run_multitask AS text
    CHECK (VALUE OPERATOR(pg_catalog.=) ANY (ARRAY['reject', 'enqueue', 'interrupt', 'rollback']));
CREATE DOMAIN stategraph.run_stop_request AS text
    CHECK (VALUE OPERATOR(pg_catalog.=) ANY (ARRAY['interrupt', 'rollback']));
CREATE DOMAIN stategraph.task_status AS text
    CHECK (VALUE OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'claimed', 'completed', 'failed', 'interrupted', 'cancelled']));
CREATE DOMAIN stategraph.nonempty_text AS text
    CHECK (VALUE OPERATOR(pg_catalog.<>) '');
COMMENT ON DOMAIN stategraph.thread_status IS 'the status of a thread (threads.status)';
COMMENT ON DOMAIN stategraph.run_status IS 'the status of a background run (runs.status)';
COMMENT ON DOMAIN stategraph.run_multitask IS 'what a run does to the active run of its thread (runs.multitask)';
COMMENT ON DOMAIN stategraph.run_stop_request IS 'a stop asked of a running run (runs.stop_request)';
COMMENT ON DOMAIN stategraph.task_status IS 'the status of an external task (tasks.status)';
COMMENT ON DOMAIN stategraph.nonempty_text IS 'text that is not empty (runs.thread_id)';

/*
 * A graph's generation: which graph of its name a row is, so that a run or
 * an external task made for a graph never goes on with another graph made
 * later under the same name (dropped and created again, maybe by another
 * role, whose nodes must not run with the submitter's privileges). A
 * number from a sequence, given when the row is inserted and kept by every
 * change of the definition (sg_add_*, sg_compile: runs take a recompiled
 * graph). Times could not decide it: a drop and create in a transaction
 * that began before a submit but committed after it gave the new graph a
 * created_at before the run's. The rows already there keep 0, stored once
 * as the constant default of the new column (no rewrite of graphs: TAP
 * 058), before the column becomes an identity (numbers from 1).
 * The trigger stategraph.graph_gen() keeps the number out of ordinary
 * roles' hands (src/graph.c).
 */
ALTER TABLE stategraph.graphs ADD COLUMN gen bigint NOT NULL DEFAULT 0;
ALTER TABLE stategraph.graphs ALTER COLUMN gen DROP DEFAULT;
ALTER TABLE stategraph.graphs ALTER COLUMN gen ADD GENERATED BY DEFAULT AS IDENTITY;
-- a restored database numbers new graphs after the restored ones
SELECT pg_catalog.pg_extension_config_dump('stategraph.graphs_gen_seq', '');
CREATE FUNCTION stategraph.graph_gen() RETURNS trigger
    AS 'MODULE_PATHNAME', 'sg_graph_gen' LANGUAGE C;
CREATE TRIGGER graph_gen BEFORE INSERT OR UPDATE OF gen ON stategraph.graphs
    FOR EACH ROW EXECUTE FUNCTION stategraph.graph_gen();
COMMENT ON FUNCTION stategraph.graph_gen() IS
    'trigger: gives a graph inserted by an ordinary role a new generation (graphs.gen), and refuses to change one';

/*
 * The run queue. A run is a request to run a graph on a thread, executed by
 * the background workers (src/worker.c) or by CALL sg_work() through the one
 * code path of src/runs.c. seq orders the runs of a thread (FIFO); run_id is
 * a UUID v7 from the checkpoint id generator. The columns after error are the
 * executor's bookkeeping: how far the run got (stepped), what the thread was
 * before it (for multitask rollback) and a stop request.
 */
CREATE TABLE stategraph.runs (
    run_id          uuid PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    thread_id       stategraph.nonempty_text NOT NULL,
    graph           text NOT NULL,
    graph_gen       bigint,           -- graphs.gen when submitted; NULL: not sg_submit's row, not checked
    input           jsonb,
    checkpoint_id   uuid,
    resume          jsonb,
    recursion_limit integer NOT NULL,
    multitask       stategraph.run_multitask NOT NULL,
    status          stategraph.run_status NOT NULL DEFAULT 'pending',
    attempt         integer NOT NULL DEFAULT 0,
    error           jsonb,
    idempotency_key text,
    owner           name NOT NULL DEFAULT CURRENT_USER,
    not_before      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    stepped         boolean NOT NULL DEFAULT false,   -- a step of this run has committed
    stop_request    stategraph.run_stop_request,
    start_head      uuid,                             -- the thread's head before the run
    start_status    text,                             -- and its status; NULL: no thread yet
    failures        integer NOT NULL DEFAULT 0,       -- errors outside its graph's steps (worker.c)
    recoveries      integer NOT NULL DEFAULT 0,       -- claims that found it running (its executor had died)
                                                      -- since the thread's head last moved: deaths without progress
    recovery_head   uuid,                             -- the thread's head at the last of those claims
    left_head       uuid,                             -- a run going on with a step its task's completion left
    last_step       integer                           -- (src/tasks.c), that head: the last step the limit of the
                                                      -- call that left it allows (NULL: counted from the run's start)
);
CREATE INDEX runs_active ON stategraph.runs (thread_id, seq)
    WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting']);
-- the queue, in the order runs become due (claims read it from worker.c's claim_from)
CREATE INDEX runs_todo ON stategraph.runs (not_before, seq)
    WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']);
CREATE INDEX runs_finished ON stategraph.runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX runs_idempotency ON stategraph.runs (owner, graph, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE stategraph.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_owner ON stategraph.runs
    USING (stategraph.owned(owner)) WITH CHECK (stategraph.owned(owner));
SELECT pg_catalog.pg_extension_config_dump('stategraph.runs', '');
-- FIFO order survives a restore: without its value a restored database
-- numbered new runs from 1 again, before the restored pending runs
SELECT pg_catalog.pg_extension_config_dump('stategraph.runs_seq_seq', '');

/*
 * Rows of stategraph.runs written other than by sg_submit, by a superuser
 * (a restore's COPY), hold the database's background workers off until that
 * session ends, so that no restored run starts on a half-restored database
 * (src/restore.c).
 */
CREATE FUNCTION stategraph.runs_loaded() RETURNS trigger
    AS 'MODULE_PATHNAME', 'sg_runs_loaded' LANGUAGE C;
CREATE TRIGGER runs_loaded AFTER INSERT ON stategraph.runs
    FOR EACH STATEMENT EXECUTE FUNCTION stategraph.runs_loaded();
COMMENT ON FUNCTION stategraph.runs_loaded() IS
    'trigger: rows of stategraph.runs loaded by a superuser other than through sg_submit (a restore) hold the background workers off until that session ends';

/* Retention per graph; the row with graph NULL is the default of every graph. */
CREATE TABLE stategraph.retention (
    graph     text UNIQUE NULLS NOT DISTINCT,
    ttl       interval,
    strategy  text NOT NULL DEFAULT 'delete'
              CHECK (strategy OPERATOR(pg_catalog.=) ANY (ARRAY['delete', 'keep_latest'])),
    keep_last integer CHECK (keep_last OPERATOR(pg_catalog.>=) 1)
);
-- no key to identify a row by (graph is nullable): with a publication of
-- all tables, sg_set_retention, sg_create_graph and sg_drop_graph failed (55000)
ALTER TABLE stategraph.retention REPLICA IDENTITY FULL;
SELECT pg_catalog.pg_extension_config_dump('stategraph.retention', '');

/*
 * Submit locks: what serializes the submits that must decide together (the
 * multitask rule of one thread, the twins of one idempotency key), held
 * until the submitting transaction ends. A submit takes the row lock of
 * its key's row here (inserting the row when it is new: a concurrent first
 * submit of the same key waits for the inserter's transaction), so a
 * statement may submit to any number of threads: a row lock takes no entry
 * of the shared lock table, where an advisory lock per thread ran out of
 * it (53200) after a few thousand threads. Not the thread's row: a
 * worker holds that one during a step, and a submit must not wait behind
 * a step.
 *
 * kind 't': the submits to thread name of the roles that act on it, owner
 * being the thread's owner as the submitter sees it (itself for a thread
 * it cannot see, so a stranger's open submit under an id holds up nobody
 * else), graph ''; kind 'k': the submits of owner with idempotency key
 * name for graph. Unlogged (the rows matter only while a submit holds
 * them: nothing to write ahead, and a crash may empty the table), not
 * dumped, and emptied of the rows nobody holds by the sweep (runs.c).
 */
CREATE UNLOGGED TABLE stategraph.submit_locks (
    owner name NOT NULL,
    kind  "char" NOT NULL,     -- 't' or 'k' (written by sg_submit only; no CHECK, re-read at every insert)
    graph text NOT NULL,
    name  text NOT NULL,
    PRIMARY KEY (owner, kind, name, graph)
);
ALTER TABLE stategraph.submit_locks ENABLE ROW LEVEL SECURITY;
CREATE POLICY submit_locks_owner ON stategraph.submit_locks
    USING (stategraph.owned(owner)) WITH CHECK (stategraph.owned(owner));
COMMENT ON TABLE stategraph.submit_locks IS
    'row locks that serialize the submits to one thread or with one idempotency key until commit (sg_submit)';
-- sg_submit takes them as its caller (row-level security keeps each role to its own keys)
GRANT SELECT, INSERT, UPDATE, DELETE ON stategraph.submit_locks TO PUBLIC;

/* What sg_runs and sg_wait return. */
CREATE TYPE @extschema@.sg_run AS (
    run_id      uuid,
    thread_id   text,
    graph       text,
    status      text,       -- pending | running | waiting | interrupted | success | error | cancelled
    multitask   text,
    attempt     integer,
    error       jsonb,
    created_at  timestamptz,
    started_at  timestamptz,
    finished_at timestamptz
);

CREATE FUNCTION @extschema@.sg_submit(graph text, input jsonb, thread_id text DEFAULT NULL,
                                      checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                      recursion_limit integer DEFAULT 25, multitask text DEFAULT 'reject',
                                      after interval DEFAULT NULL, idempotency_key text DEFAULT NULL)
    RETURNS uuid
    AS 'MODULE_PATHNAME', 'sg_submit' LANGUAGE C;
/* sg_runs's status filter must be a status a run can have (22023 otherwise, as sg_tasks). */
CREATE FUNCTION stategraph.run_status_check(status text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'run_status_check' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION stategraph.run_status_check(text) IS
    'internal: sg_runs''s check of its status filter (true, or an error for a status no run can have)';
CREATE FUNCTION @extschema@.sg_runs(thread_id text DEFAULT NULL, status text DEFAULT NULL)
    RETURNS SETOF @extschema@.sg_run
    LANGUAGE sql STABLE
    BEGIN ATOMIC
        SELECT stategraph.run_status_check(sg_runs.status);   -- before any row: an unknown status is an error
        SELECT r.run_id, r.thread_id, r.graph, r.status, r.multitask, r.attempt, r.error,
               r.created_at, r.started_at, r.finished_at
          FROM stategraph.runs r
         WHERE (sg_runs.thread_id IS NULL OR r.thread_id OPERATOR(pg_catalog.=) sg_runs.thread_id)
           AND (sg_runs.status IS NULL OR r.status OPERATOR(pg_catalog.=) sg_runs.status)
         ORDER BY r.seq;
    END;
CREATE FUNCTION @extschema@.sg_wait(run_id uuid, timeout interval DEFAULT NULL)
    RETURNS @extschema@.sg_run
    AS 'MODULE_PATHNAME', 'sg_wait' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_cancel(run_id uuid, action text DEFAULT 'interrupt') RETURNS boolean
    AS 'MODULE_PATHNAME', 'sg_cancel' LANGUAGE C;
CREATE PROCEDURE @extschema@.sg_work(max_runs integer DEFAULT NULL, max_time interval DEFAULT NULL)
    AS 'MODULE_PATHNAME', 'sg_work' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_set_retention(graph text, ttl interval, strategy text DEFAULT 'delete',
                                             keep_last integer DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_set_retention' LANGUAGE C;

COMMENT ON TABLE stategraph.runs IS
    'background runs: the queue of sg_submit, executed by the background workers or CALL sg_work()';
COMMENT ON TABLE stategraph.retention IS
    'thread retention per graph (graph NULL: the default), set by sg_set_retention and swept by the workers';
COMMENT ON TYPE @extschema@.sg_run IS
    'a background run as sg_runs and sg_wait return it';
COMMENT ON FUNCTION @extschema@.sg_submit(text, jsonb, text, uuid, jsonb, integer, text, interval, text) IS
    'queue a background run of a graph on a thread; returns its run_id (multitask: reject | enqueue | interrupt | rollback)';
COMMENT ON FUNCTION @extschema@.sg_runs(text, text) IS
    'background runs visible to the caller, oldest first, optionally of one thread or status';
COMMENT ON FUNCTION @extschema@.sg_wait(uuid, interval) IS
    'sleep until a run is no longer pending, running or waiting (or the timeout passes); returns its row';
COMMENT ON FUNCTION @extschema@.sg_cancel(uuid, text) IS
    'stop a run at its next step boundary (interrupt: keep its checkpoints; rollback: remove them); false if it already finished';
COMMENT ON PROCEDURE @extschema@.sg_work(integer, interval) IS
    'do the background workers'' job in this session: execute due runs (a commit per step) and sweep retention';
COMMENT ON FUNCTION @extschema@.sg_set_retention(text, interval, text, integer) IS
    'expire threads of a graph (graph NULL: of every graph) not updated for ttl: delete them or keep their newest checkpoints';

/*
 * CREATE EXTENSION tells the background launcher at commit that this
 * database now has work to look after (nothing happens without the preload).
 */
CREATE FUNCTION stategraph.wake_launcher() RETURNS void
    AS 'MODULE_PATHNAME', 'sg_wake_launcher' LANGUAGE C;
COMMENT ON FUNCTION stategraph.wake_launcher() IS
    'ask the background launcher, at commit, for a worker in this database that reads the whole queue and looks up the next delayed run again (CREATE EXTENSION calls it; a superuser after a data-only restore with --disable-triggers)';
SELECT stategraph.wake_launcher();




-- ===========================================================================
-- External nodes
-- ===========================================================================

/*
 * External nodes: a node whose work is done by an application worker (a
 * model or tool call in Python or JS). The node row has a queue and a lease
 * instead of a function; src/tasks.c explains claim, lease and fencing.
 */
ALTER TABLE stategraph.nodes ALTER COLUMN fn DROP NOT NULL;
ALTER TABLE stategraph.nodes ADD COLUMN queue text;
ALTER TABLE stategraph.nodes ADD COLUMN lease interval;
ALTER TABLE stategraph.nodes ADD CONSTRAINT nodes_fn_or_queue
    CHECK ((fn IS NULL) OPERATOR(pg_catalog.=) (queue IS NOT NULL));

/*
 * A thread whose step waits for external tasks is 'waiting'. The column
 * becomes the domain (see stategraph.thread_status above) while the domain
 * has no constraint yet: PostgreSQL changes the type of a column to a
 * domain over the same type in place, but to a domain with constraints by
 * rewriting the table and rebuilding its indexes, under an ACCESS
 * EXCLUSIVE lock (ATColumnChangeRequiresRewrite). The domain's CHECK comes
 * after, by ALTER DOMAIN, which reads every row (a bad status stops the
 * update there, 23514) but rewrites nothing. PostgreSQL
 * refuses to change the type of a column that a user's view, rule,
 * SQL-standard function or trigger depends on (0A000), and the table is
 * one users read (README): then the update keeps the column text with its
 * CHECK (the same values, 'waiting' added), says so in a WARNING, and the
 * rest of the update goes on. Nothing in the extension depends on which of
 * the two the column is; the WARNING's hint makes it the domain later.
 */
DO $$
DECLARE
    why pg_catalog.text;
BEGIN
    ALTER TABLE stategraph.threads DROP CONSTRAINT threads_status_check,
        ALTER COLUMN status TYPE stategraph.thread_status;
EXCEPTION WHEN feature_not_supported THEN
    GET STACKED DIAGNOSTICS why = PG_EXCEPTION_DETAIL;
    ALTER TABLE stategraph.threads DROP CONSTRAINT threads_status_check,
        ADD CONSTRAINT threads_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['idle', 'running', 'waiting', 'interrupted', 'error', 'done']));
    RAISE WARNING 'stategraph.threads.status stays of type text, with its CHECK constraint'
        USING DETAIL = pg_catalog.format('Its type cannot change to stategraph.thread_status: %s. The update goes on; '
                                         'statements that write threads check the constraint instead of the domain, '
                                         'which costs some speed.', why),
              HINT = 'Drop the objects that depend on the column, run ALTER TABLE stategraph.threads DROP CONSTRAINT '
                     'threads_status_check, ALTER COLUMN status TYPE stategraph.thread_status; and create them again.';
END $$;
ALTER DOMAIN stategraph.thread_status ADD CONSTRAINT thread_status_check
    CHECK (VALUE OPERATOR(pg_catalog.=) ANY (ARRAY['idle', 'running', 'waiting', 'interrupted', 'error', 'done']));

/*
 * One row per external task. task_id is the task's id in its checkpoint
 * (stable across attempts); token changes with every claim and fences every
 * later call of the worker that holds it.
 */
CREATE TABLE stategraph.tasks (
    task_id          text PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY,  -- queue order among tasks visible at once
    queue            text NOT NULL,
    graph            text NOT NULL,
    graph_gen        bigint,               -- graphs.gen of the step's graph; NULL: not the executor's row
    thread_id        text NOT NULL,
    checkpoint_id    uuid NOT NULL,        -- the checkpoint whose next step the task belongs to
    node             text NOT NULL,
    step             integer NOT NULL,
    status           stategraph.task_status NOT NULL DEFAULT 'queued',
    attempt          integer NOT NULL DEFAULT 0,   -- claims so far
    max_attempts     integer NOT NULL,
    backoff_ms       integer NOT NULL,
    lease            interval NOT NULL,
    claim_lease      interval,             -- sg_claim's lease of the newest claim (NULL: the node's); heartbeats extend by it
    token            uuid,                 -- of the newest claim
    worker           text,
    visible_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    lease_expires_at timestamptz,
    input            jsonb,                -- the state, or the Send arg
    config           jsonb NOT NULL,
    resume           jsonb,                -- the answer to the worker's sg_interrupt_task
    resume_values    jsonb,                -- every answer so far, oldest first
    result           jsonb,                -- the accepted update
    error            jsonb,                -- the last failure
    interrupt        jsonb,                -- the value of its worker's sg_interrupt_task
    lost             boolean NOT NULL DEFAULT false,  -- failed because its last lease expired
    recursion_limit  integer,              -- of the run that last ran its step (NULL: not the executor's row)
    last_step        integer,              -- the last step that run's limit allows: a step its completion
                                           -- continues counts on from the run's start (continue_step)
    owner            name NOT NULL DEFAULT CURRENT_USER,  -- the thread's owner (queue_task, src/tasks.c)
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    finished_at      timestamptz
);
CREATE INDEX tasks_visible ON stategraph.tasks (queue, visible_at, seq) WHERE status OPERATOR(pg_catalog.=) 'queued';
CREATE INDEX tasks_leases ON stategraph.tasks (lease_expires_at) WHERE status OPERATOR(pg_catalog.=) 'claimed';
-- a thread's tasks still out (to cancel them, or to see that a step has none left);
-- partial, so that a completion does not add an index entry
CREATE INDEX tasks_thread ON stategraph.tasks (thread_id, checkpoint_id)
    WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'claimed', 'interrupted', 'failed']);
-- finished tasks, for their expiry after stategraph.run_retention (as runs_finished)
CREATE INDEX tasks_finished ON stategraph.tasks (finished_at) WHERE finished_at IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('stategraph.tasks', '');
SELECT pg_catalog.pg_extension_config_dump('stategraph.tasks_seq_seq', '');  -- queue order survives a restore

/*
 * Who may see, claim and finish a task: today its owner (the thread's
 * owner, src/tasks.c queue_task) and the owner's members, as for every other table. A worker
 * runs as that role or as a role granted it (GRANT app TO worker). This is
 * the one place that decides; the security work of this round may widen it.
 */
CREATE FUNCTION stategraph.may_work(owner name, queue text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN stategraph.owned(owner);

ALTER TABLE stategraph.tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tasks_owner ON stategraph.tasks
    USING (stategraph.may_work(owner, queue));

/*
 * Steps whose last task completed when nobody could go on with them at
 * once: no background run of the thread, and another transaction held the
 * thread's row (sg_fork, sg_prune, a sweep, sg_reassign_owned), or the
 * completing role may not execute the graph's functions. The server's
 * sweep (background workers, CALL sg_work) continues each step that still
 * waits with a background run of the thread's owner, and removes the row;
 * only a note whose owner is the thread's counts (any role may write one,
 * for itself: row-level security). Empty in the ordinary flow.
 */
CREATE TABLE stategraph.steps_left (
    thread_id     text NOT NULL,
    checkpoint_id uuid NOT NULL,            -- the thread's head when its step was left
    owner         name NOT NULL DEFAULT CURRENT_USER,
    left_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    recursion_limit integer,                -- of the call that left the thread waiting, and the last
    last_step     integer,                  -- step it allows (the tasks'): the run counts them on;
                                            -- NULL: a fresh limit of 25 from the head
    -- (the owner in the key: a note another role wrote first cannot keep
    -- out the owner's, as row-level security hides it from the owner)
    PRIMARY KEY (thread_id, checkpoint_id, owner)
);
ALTER TABLE stategraph.steps_left ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_rows ON stategraph.steps_left USING (stategraph.owned(owner));
COMMENT ON TABLE stategraph.steps_left IS
'steps whose last external task completed while nobody could go on with them; the server''s sweep continues them with a background run';
SELECT pg_catalog.pg_extension_config_dump('stategraph.steps_left', '');

/* What sg_claim returns to a worker. */
CREATE TYPE @extschema@.sg_task AS (
    task_id          text,
    token            uuid,
    queue            text,
    graph            text,
    thread_id        text,
    node             text,
    step             integer,
    attempt          integer,
    input            jsonb,
    config           jsonb,
    resume           jsonb,
    lease_expires_at timestamptz
);

/* What sg_tasks returns (no token: a token is the claiming worker's alone). */
CREATE TYPE @extschema@.sg_task_status AS (
    task_id          text,
    queue            text,
    graph            text,
    thread_id        text,
    node             text,
    step             integer,
    status           text,                 -- queued | claimed | completed | failed | interrupted | cancelled
    attempt          integer,
    max_attempts     integer,
    worker           text,
    visible_at       timestamptz,
    lease_expires_at timestamptz,
    result           jsonb,
    error            jsonb,
    created_at       timestamptz,
    updated_at       timestamptz,
    finished_at      timestamptz
);

CREATE FUNCTION @extschema@.sg_add_external_node(graph text, node text, queue text DEFAULT 'default',
                                                 retry jsonb DEFAULT NULL,
                                                 lease interval DEFAULT '60 seconds') RETURNS void
    AS 'MODULE_PATHNAME', 'sg_add_external_node' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_claim(queue text, worker text, n integer DEFAULT 1,
                                     lease interval DEFAULT NULL, wait interval DEFAULT '0')
    RETURNS SETOF @extschema@.sg_task
    AS 'MODULE_PATHNAME', 'sg_claim' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_heartbeat(task_id text, token uuid, extend interval DEFAULT NULL) RETURNS boolean
    AS 'MODULE_PATHNAME', 'sg_heartbeat' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_complete(task_id text, token uuid, update jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_complete' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_fail(task_id text, token uuid, error jsonb, retry boolean DEFAULT true) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_fail' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_interrupt_task(task_id text, token uuid, value jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_interrupt_task' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_tasks(queue text DEFAULT NULL, status text DEFAULT NULL)
    RETURNS SETOF @extschema@.sg_task_status
    AS 'MODULE_PATHNAME', 'sg_tasks' LANGUAGE C;
CREATE FUNCTION stategraph.sweep_leases("limit" integer DEFAULT 100) RETURNS integer
    AS 'MODULE_PATHNAME', 'sg_sweep_leases' LANGUAGE C;

COMMENT ON FUNCTION @extschema@.sg_add_external_node(text, text, text, jsonb, interval) IS
    'add a node whose work an application worker does: its tasks go to queue, each claim holds a lease';
COMMENT ON FUNCTION @extschema@.sg_claim(text, text, integer, interval, interval) IS
    'claim up to n visible tasks of a queue (SKIP LOCKED), each with a new token; wait long-polls for work';
COMMENT ON FUNCTION @extschema@.sg_heartbeat(text, uuid, interval) IS
    'extend a claimed task''s lease; false when the worker must stop (cancelled, or claimed by another)';
COMMENT ON FUNCTION @extschema@.sg_complete(text, uuid, jsonb) IS
    'hand back a task''s update (checked against the reducers); fenced by the claim''s token';
COMMENT ON FUNCTION @extschema@.sg_fail(text, uuid, jsonb, boolean) IS
    'report a failed attempt: retried after the node''s backoff while attempts remain, else a node failure';
COMMENT ON FUNCTION @extschema@.sg_interrupt_task(text, uuid, jsonb) IS
    'pause the task''s thread with value (sg_interrupt for workers); a resume queues the task again with the answer';
COMMENT ON FUNCTION @extschema@.sg_tasks(text, text) IS
    'external tasks, optionally of one queue and one status';
COMMENT ON FUNCTION stategraph.may_work(name, text) IS
    'whether the current role may see, claim and finish a task of owner on queue (the tasks policy)';
COMMENT ON TABLE stategraph.tasks IS
    'external tasks: one row per task of an external node, claimed by workers with a token and a lease';
COMMENT ON TYPE @extschema@.sg_task IS 'a claimed external task, as sg_claim hands it to a worker';
COMMENT ON TYPE @extschema@.sg_task_status IS 'an external task as sg_tasks lists it';
COMMENT ON FUNCTION stategraph.sweep_leases(integer) IS
    'find expired leases: retry their tasks after the backoff, or record a node failure when attempts are spent';




-- ===========================================================================
-- LangGraph.js checkpoint storage
-- ===========================================================================

/*
 * Storage for LangGraph's own checkpointer protocol (BaseCheckpointSaver), so
 * that a LangGraph.js application keeps its graphs in JS and stores its
 * threads here (clients/langgraph-js, src/lgsaver.c). Three tables, keyed as
 * LangGraph keys them: (thread_id, checkpoint_ns, ...).
 *
 * lg_checkpoints holds a v4 checkpoint without its channel values (as
 * compact json text: a third smaller than jsonb for LangGraph's maps of
 * small version numbers), its metadata, and `blobs`, where each channel's
 * value is: a map of channel name to the id of the checkpoint that wrote
 * that value, or to [value] for a small value kept in the row. Keying
 * values by their writer (not by LangGraph's channel version) keeps a replay
 * that reuses version numbers from overwriting or reusing an older value.
 *
 * lg_blobs holds one row per value written: JSON values as json, the text
 * the client sent (so object keys read back in the order they were written,
 * as LangGraph's own savers keep them), other values as bytes with
 * LangGraph's serializer type. A JSON array that extends
 * the value it replaces keeps only the appended elements and points to that
 * value (`base`): a conversation's storage grows with what it appends.
 * `n` (elements) and `digest` (a SHA-256 chain over the elements' text as
 * written: elements equal as jsonb but written otherwise are not the
 * stored ones) let the next write recognise an extension without reading
 * the old elements. A small value kept in the checkpoint row's map is [value], or
 * [value, "its text"] when jsonb does not print it as it was written.
 *
 * lg_writes holds pending writes (put_writes), in LangGraph's order
 * (task_path, task_id, idx), their values as json text too; special channels use LangGraph's negative
 * indexes (__error__ -1, __scheduled__ -2, __interrupt__ -3, __resume__ -4).
 * A value (or appended part) of 64 bytes or more that is exactly the value
 * of the parent checkpoint's one pending write to the channel (a node's new
 * messages, most often) is not stored twice: its lg_blobs row has no value
 * and names that write (wcheckpoint, wtask, widx). Writes never change once
 * stored; pruning copies such a value into its row before the write goes.
 * JSON values of 256 bytes or more are stored compressed (TOAST compresses
 * only rows over 2 kB).
 *
 * `owner` is text (9 bytes for "postgres"), not name (64 bytes): with ~1.4 kB
 * stored per chat turn in a dozen rows, a name column was 8% of the storage.
 * The checkpoint column does not repeat the row's checkpoint_id as "id", nor
 * LangGraph's "ts" when it is in LangGraph's own form ("2026-11-30T02:44:48.686Z"),
 * which created_at then holds (sg_lg_get_tuple and sg_lg_list put both back; a
 * checkpoint without "ts" stores [], an array ts x stores [x]).
 */
CREATE TABLE stategraph.lg_checkpoints (
    thread_id            text NOT NULL,
    checkpoint_ns        text NOT NULL DEFAULT '',
    checkpoint_id        uuid NOT NULL,
    parent_checkpoint_id uuid,
    checkpoint           json NOT NULL,    -- v, id, ts, channel_versions, versions_seen, updated_channels... (compact text)
    metadata             jsonb NOT NULL,   -- source, step, parents, run_id...
    blobs                jsonb NOT NULL,   -- {"channel": "writer checkpoint id"}
    owner                text NOT NULL DEFAULT CURRENT_USER,  -- text, not name: 9 bytes instead of 64 per row
    created_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),  -- LangGraph's ts, or the time of the put
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);

CREATE TABLE stategraph.lg_blobs (
    thread_id     text NOT NULL,
    checkpoint_ns text NOT NULL DEFAULT '',
    channel       text NOT NULL,
    writer        uuid NOT NULL,           -- the checkpoint that wrote this value
    version       jsonb NOT NULL,          -- LangGraph's channel version
    base          uuid,                    -- value extended by the appended elements in "value"
    n             integer,                 -- elements of the whole array value
    digest        bytea,                   -- SHA-256 chain over the whole array's elements
    value         json,                    -- the JSON value as written, or the appended elements
    type          text,                    -- serializer type of a non-JSON value
    bytes         bytea,                   -- a non-JSON value
    wcheckpoint   uuid,                    -- value (or appended elements) is this pending write's:
    wtask         text,                    --   lg_writes (checkpoint_id, task_id, idx) = (wcheckpoint, wtask, widx)
    widx          integer,
    owner         text NOT NULL DEFAULT CURRENT_USER,
    PRIMARY KEY (thread_id, checkpoint_ns, channel, writer)
);

CREATE TABLE stategraph.lg_writes (
    thread_id     text NOT NULL,
    checkpoint_ns text NOT NULL DEFAULT '',
    checkpoint_id uuid NOT NULL,
    task_id       text NOT NULL,
    idx           integer NOT NULL,
    task_path     text NOT NULL DEFAULT '',
    channel       text NOT NULL,
    value         json,                    -- the JSON value as written
    type          text,
    bytes         bytea,
    owner         text NOT NULL DEFAULT CURRENT_USER,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);

/*
 * The thread ids that may have stray writes: writes no checkpoint will
 * read, which a run sent after its thread's delete (lgmaint.c,
 * lg_drop_old_strays). sg_lg_put_writes notes (thread, owner of its writes)
 * here when the thread has no committed checkpoint that no transaction in
 * flight deletes (a row each time; deleteForRuns too, for the writes it
 * leaves), and a thread's first put removes its rows, so the table is
 * empty in the ordinary flow; the retention sweep and sg_prune of every
 * thread read it, not all of lg_writes, and remove a row once its thread
 * has checkpoints or no write of a time-based checkpoint id left. Nothing
 * is added to the rows of the three tables above.
 */
CREATE TABLE stategraph.lg_stray_threads (
    thread_id text NOT NULL,
    owner     text NOT NULL DEFAULT CURRENT_USER   -- the owner of the writes (lg_writes.owner)
);
-- not unique: a unique key made the first writes of a new thread sent at once wait for each other
CREATE INDEX lg_stray_threads_thread ON stategraph.lg_stray_threads (thread_id);
-- no key to identify a row by: with a publication of all tables, every delete failed (55000)
ALTER TABLE stategraph.lg_stray_threads REPLICA IDENTITY FULL;
ALTER TABLE stategraph.lg_stray_threads ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_rows ON stategraph.lg_stray_threads USING (stategraph.owned(owner::pg_catalog.name));
COMMENT ON TABLE stategraph.lg_stray_threads IS
'LangGraph.js thread ids written without a checkpoint (sg_lg_put_writes): where the sweep and sg_prune look for stray writes';
SELECT pg_catalog.pg_extension_config_dump('stategraph.lg_stray_threads', '');

ALTER TABLE stategraph.lg_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE stategraph.lg_blobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE stategraph.lg_writes ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_rows ON stategraph.lg_checkpoints USING (stategraph.owned(owner::pg_catalog.name));
CREATE POLICY owner_rows ON stategraph.lg_blobs USING (stategraph.owned(owner::pg_catalog.name));
CREATE POLICY owner_rows ON stategraph.lg_writes USING (stategraph.owned(owner::pg_catalog.name));

/*
 * Every row of a thread is its owner's (the owner of its first checkpoint):
 * sg_lg_put and sg_lg_put_writes write rows of the thread's owner, and this
 * restrictive policy keeps another role from adding rows under a thread id
 * not its own with plain INSERT or UPDATE (which the sg_lg_ functions need
 * granted). Its owner would never see them, but a superuser's sg_prune or
 * retention sweep would take a stranger's newer checkpoint for the thread's
 * newest and delete the owner's. lg_thread_owner_is probes the first
 * checkpoint's owner below row-level security (src/thread_ids.c).
 */
CREATE FUNCTION stategraph.lg_thread_owner_is(thread_id text, owner text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'lg_thread_owner_is' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION stategraph.lg_thread_owner_is(text, text) IS
'whether owner (a role the caller may own) owns LangGraph.js thread thread_id, or no checkpoint of it is stored (false for an owner too long for a role name): the restrictive policy one_owner of the lg_ tables';
CREATE POLICY one_owner ON stategraph.lg_checkpoints AS RESTRICTIVE FOR INSERT
    WITH CHECK (stategraph.lg_thread_owner_is(thread_id, owner));
CREATE POLICY one_owner_update ON stategraph.lg_checkpoints AS RESTRICTIVE FOR UPDATE
    USING (true) WITH CHECK (stategraph.lg_thread_owner_is(thread_id, owner));
CREATE POLICY one_owner ON stategraph.lg_blobs AS RESTRICTIVE FOR INSERT
    WITH CHECK (stategraph.lg_thread_owner_is(thread_id, owner));
CREATE POLICY one_owner_update ON stategraph.lg_blobs AS RESTRICTIVE FOR UPDATE
    USING (true) WITH CHECK (stategraph.lg_thread_owner_is(thread_id, owner));
CREATE POLICY one_owner ON stategraph.lg_writes AS RESTRICTIVE FOR INSERT
    WITH CHECK (stategraph.lg_thread_owner_is(thread_id, owner));
CREATE POLICY one_owner_update ON stategraph.lg_writes AS RESTRICTIVE FOR UPDATE
    USING (true) WITH CHECK (stategraph.lg_thread_owner_is(thread_id, owner));

COMMENT ON TABLE stategraph.lg_checkpoints IS
'LangGraph.js checkpoints (sg_lg_put): a v4 checkpoint without its values, its metadata, and where each channel value is stored';
COMMENT ON TABLE stategraph.lg_blobs IS
'channel values of LangGraph.js checkpoints, keyed by the checkpoint that wrote them: json as written (an extended array as its new elements) or typed bytes';
COMMENT ON TABLE stategraph.lg_writes IS
'pending writes of LangGraph.js tasks (sg_lg_put_writes), in LangGraph''s order (task_path, task_id, idx)';

SELECT pg_catalog.pg_extension_config_dump('stategraph.lg_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('stategraph.lg_blobs', '');
SELECT pg_catalog.pg_extension_config_dump('stategraph.lg_writes', '');

/*
 * Used by sg_threads for LangGraph.js threads. VOLATILE, as sg_lg_get_tuple
 * and sg_lg_list below: each read takes a snapshot of its own, the command
 * counter advanced first (lgread.c, LG_READ_ONE_SNAPSHOT), not the
 * statement's as a STABLE function would (pg_regress lg_volatile).
 */
CREATE FUNCTION stategraph.lg_next(thread_id text, checkpoint json, blobs jsonb) RETURNS text[]
    AS 'MODULE_PATHNAME', 'lg_next' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION stategraph.lg_next(text, json, jsonb) IS
'the nodes a LangGraph.js root checkpoint row (thread_id, checkpoint, blobs) runs next: those whose trigger channel (__start__, branch:to:<node>) holds a value with a version newer than the node has seen, and the nodes of its Send tasks (__pregel_tasks, read from lg_blobs)';

CREATE FUNCTION @extschema@.sg_lg_put(thread_id text, checkpoint_ns text, parent_checkpoint_id uuid,
                                      checkpoint jsonb, metadata jsonb, new_versions jsonb,
                                      bytes_channels text[] DEFAULT NULL, bytes_types text[] DEFAULT NULL,
                                      bytes_values bytea[] DEFAULT NULL,
                                      expect_new boolean DEFAULT false,
                                      appends jsonb DEFAULT NULL,
                                      parent_by_id boolean DEFAULT false,
                                      channel_values json DEFAULT NULL) RETURNS uuid
    AS 'MODULE_PATHNAME', 'sg_lg_put' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_lg_put(text, text, uuid, jsonb, jsonb, jsonb, text[], text[], bytea[], boolean, jsonb, boolean, json) IS
'LangGraph checkpointer put: stores a v4 checkpoint (JSON values in checkpoint.channel_values, or as text in channel_values, which then replaces it and keeps each value''s text as written; others as typed bytes) whose parent is parent_checkpoint_id, keeping the values of the channels in new_versions; expect_new: the writer saw no checkpoint, so a first checkpoint is refused (40001) if the namespace has one by now; appends {"channel": {"base": checkpoint id, "n": elements}}: that channel''s value holds only the elements appended to the n-element value checkpoint base wrote; returns the checkpoint id, or NULL, storing nothing, when such a base is not stored as said (the caller then sends the whole value); parent_by_id: the writer read the parent by its id (a run from an older checkpoint, time travel), so a loop or input checkpoint may extend a checkpoint that is not the newest';

CREATE FUNCTION @extschema@.sg_lg_put_writes(thread_id text, checkpoint_ns text, checkpoint_id uuid,
                                             task_id text, writes jsonb, task_path text DEFAULT '',
                                             bytes_index integer[] DEFAULT NULL, bytes_types text[] DEFAULT NULL,
                                             bytes_values bytea[] DEFAULT NULL,
                                             "values" json DEFAULT NULL) RETURNS integer
    AS 'MODULE_PATHNAME', 'sg_lg_put_writes' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_lg_put_writes(text, text, uuid, text, jsonb, text, integer[], text[], bytea[], json) IS
'LangGraph checkpointer putWrites: stores a task''s pending writes ([[channel, value], ...]; values, [value, ...] as text, gives their values (each write then [channel, null], else 22023) and keeps each one''s text as written; entries named in bytes_index hold typed bytes instead) on a checkpoint; a retry stores nothing twice; returns the writes stored';

CREATE FUNCTION @extschema@.sg_lg_get_tuple(thread_id text, checkpoint_ns text DEFAULT '',
                                            checkpoint_id uuid DEFAULT NULL) RETURNS json
    AS 'MODULE_PATHNAME', 'sg_lg_get_tuple' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sg_lg_get_tuple(text, text, uuid) IS
'LangGraph checkpointer getTuple: the checkpoint (the newest of the namespace when checkpoint_id is NULL) with its channel values, metadata, parent and pending writes, as one JSON document';

CREATE FUNCTION @extschema@.sg_lg_list(thread_id text DEFAULT NULL, checkpoint_ns text DEFAULT NULL,
                                       filter jsonb DEFAULT NULL, before uuid DEFAULT NULL,
                                       "limit" integer DEFAULT NULL, checkpoint_id uuid DEFAULT NULL)
    RETURNS SETOF json
    AS 'MODULE_PATHNAME', 'sg_lg_list' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sg_lg_list(text, text, jsonb, uuid, integer, uuid) IS
'LangGraph checkpointer list: checkpoints newest first, as sg_lg_get_tuple documents, optionally of one thread and namespace, whose metadata contains filter, older than before, at most limit';

CREATE FUNCTION @extschema@.sg_lg_delete_thread(thread_id text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'sg_lg_delete_thread' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_lg_delete_thread(text) IS
'LangGraph checkpointer deleteThread: removes every checkpoint, value and write of a thread (all namespaces); returns the checkpoints removed';

CREATE FUNCTION @extschema@.sg_lg_copy_thread(source_thread_id text, target_thread_id text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'sg_lg_copy_thread' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_lg_copy_thread(text, text) IS
'LangGraph checkpointer copyThread: copies every checkpoint, value and write of a thread into a new thread; returns the checkpoints copied';

CREATE FUNCTION @extschema@.sg_lg_prune(thread_ids text[], strategy text DEFAULT 'keep_latest') RETURNS bigint
    AS 'MODULE_PATHNAME', 'sg_lg_prune' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_lg_prune(text[], text) IS
'LangGraph checkpointer prune: keep_latest keeps only the newest checkpoint of each namespace of the threads (with its values and writes), delete removes the threads; returns the checkpoints removed';

CREATE FUNCTION @extschema@.sg_lg_delete_for_runs(run_ids text[]) RETURNS bigint
    AS 'MODULE_PATHNAME', 'sg_lg_delete_for_runs' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_lg_delete_for_runs(text[]) IS
'LangGraph checkpointer deleteForRuns: removes the checkpoints whose metadata run_id is one of run_ids, with their writes; values later checkpoints still use are kept; returns the checkpoints removed';



-- ===========================================================================
-- Portable threads
-- ===========================================================================

/*
 * A thread as one jsonb value (its row and every checkpoint row as stored),
 * and back: backups of one thread, copies under a new id (LangGraph's
 * copy_thread), moves between databases and shards (src/portable.c).
 */
CREATE FUNCTION @extschema@.sg_export_thread(thread_id text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'sg_export_thread' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_export_thread(text) IS
    'the thread and all its checkpoints as one jsonb value (format stategraph.thread, version 1, with a digest), for sg_import_thread';

CREATE FUNCTION @extschema@.sg_import_thread(data jsonb, thread_id text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'sg_import_thread' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_import_thread(jsonb, text) IS
    'store a thread exported by sg_export_thread, under its own id or thread_id; every checkpoint reads as before; returns the thread id';

/*
 * The threads that hold forks of a given thread (forked_from @> ARRAY[id]):
 * sg_delete_thread and sg_prune detach such forks before removing rows
 * (src/retention.c), which deleted or moved threads (sg_import_thread's
 * copies for the router, move_partition) go through too. Without this index each of them read every thread, so pruning or
 * deleting every thread took time quadratic in their number. Partial: only
 * threads that hold forks are in it, so other threads cost it nothing.
 */
CREATE INDEX threads_forked_from ON stategraph.threads USING gin (forked_from)
    WHERE forked_from IS NOT NULL;

/*
 * sg_import_thread for the copy import_then_update_state and
 * import_then_fork make for the length of a call (src/portable.c,
 * sg_import_visitor): a superuser's is not refused for an owner that is no
 * role here, as sg_fork of a dropped role's thread works on one server.
 */
CREATE FUNCTION stategraph.import_visitor(data jsonb, thread_id text) RETURNS text
    AS 'MODULE_PATHNAME', 'sg_import_visitor' LANGUAGE C;
COMMENT ON FUNCTION stategraph.import_visitor(jsonb, text) IS
    'sg_import_thread for the router''s copy of a thread of another server, deleted before its call returns';

/*
 * For the router (stategraph_router): sg_update_state and sg_fork from a
 * checkpoint of a thread that lives on another server. The thread's export
 * is imported under a name of its own for the length of the call, used,
 * and deleted, all in one transaction; the fork detaches from it as from
 * any deleted source (src/portable.c).
 */
CREATE FUNCTION stategraph.import_then_update_state(data jsonb, thread_id text, "values" jsonb,
                                                    as_node text, checkpoint_id uuid) RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    visitor pg_catalog.text;
    result pg_catalog.uuid;
BEGIN
    -- as import_then_fork: refused as on one server, not naming the visitor
    IF (data OPERATOR(pg_catalog.->>) 'format') OPERATOR(pg_catalog.=) 'stategraph.lg_thread' THEN
        RAISE EXCEPTION 'checkpoint % belongs to LangGraph.js thread "%"', checkpoint_id, data OPERATOR(pg_catalog.->>) 'thread_id'
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Its graph lives in LangGraph.js: SQL reads, exports, prunes and deletes it, but does not run or change it.',
                  HINT = 'Fork it with LangGraph.js (updateState with that checkpoint''s config) on StategraphSaver.';
    END IF;
    /*
     * The copy goes by its own thread's id, which no thread of this server
     * has (it routes to another): sg_update_state takes of one role's
     * holders the first by thread_id, and the router chose this one as the
     * first of all servers'; named '__sg_visitor_...', a holder here whose
     * id sorts before '_' (a digit, a capital) was taken instead, and the
     * update forked another copy than one server would have.
     */
    BEGIN
        visitor := stategraph.import_visitor(data, data OPERATOR(pg_catalog.->) 'thread' OPERATOR(pg_catalog.->>) 'thread_id');
    EXCEPTION WHEN duplicate_object OR unique_violation OR null_value_not_allowed THEN
        -- (a thread of that id here after all: one planted, or hidden by row-level security)
        visitor := stategraph.import_visitor(data, '__sg_visitor_' OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::pg_catalog.text);
    END;
    result := @extschema@.sg_update_state(thread_id, "values", as_node, checkpoint_id);
    PERFORM @extschema@.sg_delete_thread(visitor);
    RETURN result;
END $$;
COMMENT ON FUNCTION stategraph.import_then_update_state(jsonb, text, jsonb, text, uuid) IS
    'sg_update_state from a checkpoint of an exported thread (the router''s cross-shard update)';

/*
 * The fork of an input checkpoint, resumed, runs its source's input again:
 * sg_fork keeps that input in the fork's first row (meta "input_writes",
 * branch.c's fork_start_input), so that it resumes as a fork on one server
 * does once the visitor is deleted.
 */
CREATE FUNCTION stategraph.import_then_fork(data jsonb, checkpoint_id uuid, new_thread_id text) RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    visitor pg_catalog.text;
    result pg_catalog.uuid;
BEGIN
    -- sg_fork's own errors would name the visitor: a LangGraph.js thread is
    -- refused as sg_fork refuses it on one server
    IF (data OPERATOR(pg_catalog.->>) 'format') OPERATOR(pg_catalog.=) 'stategraph.lg_thread' THEN
        RAISE EXCEPTION 'thread "%" is a LangGraph.js thread', data OPERATOR(pg_catalog.->>) 'thread_id'
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Its graph lives in LangGraph.js: SQL reads, exports, prunes and deletes it, but does not run or change it.',
                  HINT = 'Run or update it with LangGraph.js (invoke, updateState) on StategraphSaver.';
    END IF;
    visitor := stategraph.import_visitor(data, '__sg_visitor_' OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::pg_catalog.text);
    IF checkpoint_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stategraph.checkpoints c
            WHERE c.thread_id OPERATOR(pg_catalog.=) visitor AND c.checkpoint_id OPERATOR(pg_catalog.=) import_then_fork.checkpoint_id) THEN
        RAISE EXCEPTION 'checkpoint % does not exist in thread "%"', checkpoint_id,
            data OPERATOR(pg_catalog.->) 'thread' OPERATOR(pg_catalog.->>) 'thread_id'
            USING ERRCODE = 'undefined_object';
    END IF;
    result := @extschema@.sg_fork(visitor, checkpoint_id, new_thread_id);
    PERFORM @extschema@.sg_delete_thread(visitor);
    RETURN result;
END $$;
COMMENT ON FUNCTION stategraph.import_then_fork(jsonb, uuid, text) IS
    'sg_fork from a checkpoint of an exported thread (the router''s cross-shard fork)';



-- ===========================================================================
-- Partition moves: the router's hold on the threads it is moving away
-- ===========================================================================

/*
 * The partition (of n) of a router that a thread id maps to, as the
 * router's PL/Proxy maps it: hashtext(thread_id) & (n - 1), or with
 * modular_mapping abs(hashtext(thread_id) % n). The one place the shard
 * side writes the mapping (the holds here, src/holds.c, and the router's
 * moves and listings call it on their servers).
 */
CREATE FUNCTION stategraph.thread_partition(thread_id text, n integer, modular boolean) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN modular THEN pg_catalog.abs(pg_catalog.hashtext(thread_id) OPERATOR(pg_catalog.%) n)
                ELSE pg_catalog.hashtext(thread_id) OPERATOR(pg_catalog.&) (n OPERATOR(pg_catalog.-) 1) END;
COMMENT ON FUNCTION stategraph.thread_partition(text, integer, boolean) IS
    'the partition (of n) of a stategraph_router that a thread id maps to (modular: modular_mapping)';

/*
 * The digest of one graph's definition on this server, as a router
 * compares its servers' (stategraph_router.definitions and, for a move's
 * new server, definitions_at): channels, compiled spec, nodes, edges,
 * branches, and the retention that applies to the graph (its own or the
 * default). A node's, router's or custom reducer's function counts with
 * its whole definition (pg_get_functiondef), not its name only: the same
 * graph calling a function whose code differs on one server runs
 * differently there. An external node counts with its queue, lease and
 * retry (it has no function: its entry was NULL, which string_agg passes
 * over, so that graphs not compiled yet that differed only in external
 * nodes had one digest; pg_regress router_graph_digest). One expression here, so that the router's two
 * callers cannot drift apart (they were two copies). NULL for no such graph.
 */
CREATE FUNCTION stategraph.graph_digest(graph text) RETURNS text
    LANGUAGE sql STABLE
    RETURN (SELECT pg_catalog.md5(g.channels::pg_catalog.text OPERATOR(pg_catalog.||) COALESCE(g.spec::pg_catalog.text, '')
             OPERATOR(pg_catalog.||) (SELECT COALESCE(pg_catalog.string_agg(n.node OPERATOR(pg_catalog.||) '=' OPERATOR(pg_catalog.||) COALESCE(n.fn::pg_catalog.text, '')
                                                       OPERATOR(pg_catalog.||) COALESCE('@' OPERATOR(pg_catalog.||) n.queue OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) n.lease::pg_catalog.text, '')
                                                       OPERATOR(pg_catalog.||) COALESCE(n.retry::pg_catalog.text, '')
                                                       OPERATOR(pg_catalog.||) COALESCE(pg_catalog.md5(pg_catalog.pg_get_functiondef(pg_catalog.to_regprocedure(n.fn))), ''),
                                                       ',' ORDER BY n.node), '')
                 FROM stategraph.nodes n WHERE n.graph OPERATOR(pg_catalog.=) g.graph)
             OPERATOR(pg_catalog.||) (SELECT COALESCE(pg_catalog.string_agg(e.sources::pg_catalog.text OPERATOR(pg_catalog.||) '>' OPERATOR(pg_catalog.||) e.target, ',' ORDER BY e.sources::pg_catalog.text, e.target), '')
                 FROM stategraph.edges e WHERE e.graph OPERATOR(pg_catalog.=) g.graph)
             OPERATOR(pg_catalog.||) (SELECT COALESCE(pg_catalog.string_agg(b.source OPERATOR(pg_catalog.||) '>' OPERATOR(pg_catalog.||) b.router::pg_catalog.text OPERATOR(pg_catalog.||) COALESCE(b.path_map::pg_catalog.text, '')
                                                       OPERATOR(pg_catalog.||) COALESCE(pg_catalog.md5(pg_catalog.pg_get_functiondef(pg_catalog.to_regprocedure(b.router::pg_catalog.text))), ''),
                                                       ',' ORDER BY b.source, b.router::pg_catalog.text), '')
                 FROM stategraph.branches b WHERE b.graph OPERATOR(pg_catalog.=) g.graph)
             OPERATOR(pg_catalog.||) (SELECT COALESCE(pg_catalog.string_agg(c.key OPERATOR(pg_catalog.||) '=' OPERATOR(pg_catalog.||) COALESCE(pg_catalog.md5(pg_catalog.pg_get_functiondef(pg_catalog.to_regprocedure(c.value OPERATOR(pg_catalog.->>) 'fn'))), ''),
                                                       ',' ORDER BY c.key), '')
                 FROM pg_catalog.jsonb_each(g.channels) c WHERE c.value OPERATOR(pg_catalog.?) 'fn')
             OPERATOR(pg_catalog.||) COALESCE((SELECT 'ttl=' OPERATOR(pg_catalog.||) COALESCE(r.ttl::pg_catalog.text, '') OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) r.strategy OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) COALESCE(r.keep_last::pg_catalog.text, '')
                          FROM stategraph.retention r WHERE r.graph OPERATOR(pg_catalog.=) g.graph OR r.graph IS NULL
                          ORDER BY r.graph NULLS LAST LIMIT 1), ''))
            FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) graph_digest.graph);
COMMENT ON FUNCTION stategraph.graph_digest(text) IS
    'the digest of a graph''s definition on this server (channels, spec, nodes, edges, branches, their functions'' code, retention) that a stategraph_router compares across servers';

/*
 * stategraph_router.move_partition copies the threads of a router
 * partition from this server to another, checks each copy against its
 * original once more, and switches the partition on the router. From that
 * check until the switch is committed, this server's retention sweep must
 * not delete or prune those threads (the copy would bring back what it
 * removed): the move holds the partition here (src/holds.c tells the
 * whole protocol). A hold is a session-level advisory lock, taken and let
 * go by the move's own connection, and a row saying how the router maps
 * threads to partitions; a row whose lock no session holds (the move's
 * connection ended) holds nothing. Not dumped: a hold does not outlive
 * its session.
 *
 * Rows are written by the move, whose role sees every thread (superuser
 * or BYPASSRLS, as its exports need): other roles read them only.
 */
CREATE TABLE stategraph.partition_holds (
    partition  integer PRIMARY KEY,     -- the router's partition (PL/Proxy: hashtext(thread_id) & (partitions - 1))
    partitions integer NOT NULL,        -- how many partitions the router has
    modular    boolean NOT NULL         -- modular_mapping: abs(hashtext(thread_id) % partitions)
);
ALTER TABLE stategraph.partition_holds ENABLE ROW LEVEL SECURITY;
CREATE POLICY holds_read ON stategraph.partition_holds FOR SELECT USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON stategraph.partition_holds TO PUBLIC;
COMMENT ON TABLE stategraph.partition_holds IS
    'partitions of a router that a move holds on this server: the retention sweeps leave their threads alone while the move''s session holds the lock';

/*
 * The lock of a hold: session-level, of stategraph's own kind (pg_locks
 * shows it as advisory, classid 'SGHO', objid the partition, objsubid 'HO'),
 * which no pg_advisory_* function can take: with one of their keys, any
 * role could hold a partition (src/holds.c).
 */
CREATE FUNCTION stategraph.lock_partition(part integer) RETURNS boolean
    AS 'MODULE_PATHNAME', 'sg_lock_partition' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION stategraph.lock_partition(integer) IS
    'a router''s move: take the session lock of the hold of partition part without waiting; whether this session holds it now';
CREATE FUNCTION stategraph.unlock_partition(part integer) RETURNS boolean
    AS 'MODULE_PATHNAME', 'sg_unlock_partition' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION stategraph.unlock_partition(integer) IS
    'a router''s move: let go of the session lock of the hold of partition part once; whether this session held it';

/* Does this session hold the lock of the hold of partition part? */
CREATE FUNCTION stategraph.partition_held_here(part integer) RETURNS boolean LANGUAGE sql VOLATILE
    RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                   WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
                     AND l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                     AND l.classid OPERATOR(pg_catalog.=) 1397180495::pg_catalog.oid   -- 'SGHO'
                     AND l.objid OPERATOR(pg_catalog.=) part::pg_catalog.oid
                     AND l.objsubid OPERATOR(pg_catalog.=) 18511);   -- 'HO'
COMMENT ON FUNCTION stategraph.partition_held_here(integer) IS
    'whether this session holds partition part of a router (stategraph.hold_partition)';

/*
 * Hold partition part (of n) of a router on this server, for this session:
 * the retention sweeps leave its threads alone until
 * stategraph.release_partition or the end of the session. Waits (at most
 * lock_timeout: the move sets it on its connections) for a sweep holding
 * one of its threads now to commit. Refused (55P03) when another session holds it. Returns how many
 * threads of the partition there are here.
 */
CREATE FUNCTION stategraph.hold_partition(part integer, n integer, modular boolean) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    holder integer;
    threads bigint;
BEGIN
    IF n IS NULL OR n OPERATOR(pg_catalog.<) 1 OR part IS NULL OR part OPERATOR(pg_catalog.<) 0
       OR part OPERATOR(pg_catalog.>=) n OR modular IS NULL THEN
        RAISE EXCEPTION 'partition % of % does not exist', part, n USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT stategraph.partition_held_here(part) AND NOT stategraph.lock_partition(part) THEN
        SELECT l.pid INTO holder FROM pg_catalog.pg_locks l
        WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
          AND l.classid OPERATOR(pg_catalog.=) 1397180495::pg_catalog.oid AND l.objid OPERATOR(pg_catalog.=) part::pg_catalog.oid
          AND l.objsubid OPERATOR(pg_catalog.=) 18511
          AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                 WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database());
        RAISE EXCEPTION 'partition % is held by another move (process %)', part, holder
            USING ERRCODE = 'lock_not_available',
                  DETAIL = 'A move holds the partition on its old server from its last check until its switch; one that stopped holds it until its session ends.',
                  HINT = 'End that session, or call stategraph_router.move_partition again in it.';
    END IF;
    INSERT INTO stategraph.partition_holds (partition, partitions, modular) VALUES (part, n, modular)
        ON CONFLICT (partition) DO UPDATE SET partitions = EXCLUDED.partitions, modular = EXCLUDED.modular;
    -- wait for a sweep that holds one of the threads: once this commits, a sweep that locks one finds the hold
    SELECT pg_catalog.count(*) INTO threads FROM (SELECT 1 FROM stategraph.threads t
        WHERE stategraph.thread_partition(t.thread_id, n, modular) OPERATOR(pg_catalog.=) part
        FOR KEY SHARE) s;
    -- in the order in which the sweep locks them (holds.c): a sweep waiting for rows this holds,
    -- while this waits for rows of a thread the sweep removed before, was a deadlock
    PERFORM pg_catalog.count(*) FROM (SELECT 1 FROM stategraph.lg_checkpoints c
        WHERE stategraph.thread_partition(c.thread_id, n, modular) OPERATOR(pg_catalog.=) part
        ORDER BY c.thread_id, c.checkpoint_ns, c.checkpoint_id FOR KEY SHARE) s;
    RETURN threads;
END $$;
COMMENT ON FUNCTION stategraph.hold_partition(integer, integer, boolean) IS
    'a router''s move: keep the retention sweeps off the threads of partition part (of n) until stategraph.release_partition or the end of this session';

/* Let go of partition part (stategraph.hold_partition); returns whether this session held it. */
CREATE FUNCTION stategraph.release_partition(part integer) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    held boolean := stategraph.partition_held_here(part);
BEGIN
    WHILE stategraph.partition_held_here(part) LOOP
        PERFORM stategraph.unlock_partition(part);
    END LOOP;
    IF held THEN
        DELETE FROM stategraph.partition_holds h WHERE h.partition OPERATOR(pg_catalog.=) part;
    END IF;
    RETURN held;
END $$;
COMMENT ON FUNCTION stategraph.release_partition(integer) IS
    'a router''s move: let go of partition part (stategraph.hold_partition); whether this session held it';
-- for the role a router's move connects as (it sees every thread): not for PUBLIC
REVOKE ALL ON FUNCTION stategraph.hold_partition(integer, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.release_partition(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.partition_held_here(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.lock_partition(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.unlock_partition(integer) FROM PUBLIC;

/*
 * A router's move of the last partition of a server that then leaves the
 * cluster: that server's finished runs (their ids, owners, idempotency
 * keys) are given to the server the partition goes to, which the router
 * goes on asking (src/portable.c, sg_adopt_runs).
 */
CREATE FUNCTION stategraph.adopt_runs(data jsonb) RETURNS bigint
    AS 'MODULE_PATHNAME', 'sg_adopt_runs' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION stategraph.adopt_runs(jsonb) IS
    'a router''s move: store the finished runs of a server leaving the cluster (rows of stategraph.runs as a jsonb array), so that their ids and idempotency keys are still found; returns how many were new';
REVOKE ALL ON FUNCTION stategraph.adopt_runs(jsonb) FROM PUBLIC;

/*
 * The same move: that server's finished external tasks (completed,
 * cancelled), so that a worker's retry of a call naming one of them
 * (sg_complete of a task it completed, its reply lost) is answered as
 * there (the same completion again: a no-op; SG010, SG011, SG012), not
 * with 42704 (TAP 289). Each row as it is (token, result, owner), but for
 * graph_gen, a graph generation of that server that means nothing here
 * (NULL: not checked). A task this server has (its id) is passed over, as
 * is one not finished (a move refuses a partition with one: this server
 * would hand it out again) and one of a role the caller may not write
 * tasks of (as adopt_runs). Returns how many were new here.
 */
CREATE FUNCTION stategraph.adopt_tasks(data jsonb) RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY INVOKER
BEGIN ATOMIC
    WITH adopted AS (
        INSERT INTO stategraph.tasks (task_id, queue, graph, graph_gen, thread_id, checkpoint_id, node, step, status,
                                      attempt, max_attempts, backoff_ms, lease, claim_lease, token, worker, visible_at,
                                      lease_expires_at, input, config, resume, resume_values, result, error, interrupt,
                                      lost, owner, created_at, updated_at, finished_at)
        SELECT x.task_id, x.queue, x.graph, NULL, x.thread_id, x.checkpoint_id, x.node, x.step, x.status,
               x.attempt, x.max_attempts, x.backoff_ms, x.lease, x.claim_lease, x.token, x.worker, x.visible_at,
               x.lease_expires_at, x.input, x.config, x.resume, x.resume_values, x.result, x.error, x.interrupt,
               x.lost, x.owner, x.created_at, x.updated_at, x.finished_at
        FROM pg_catalog.jsonb_populate_recordset(NULL::stategraph.tasks,
                 CASE WHEN pg_catalog.jsonb_typeof(data) OPERATOR(pg_catalog.=) 'array' THEN data ELSE '[]' END) x
        WHERE x.status::pg_catalog.text OPERATOR(pg_catalog.=) ANY (ARRAY['completed', 'cancelled'])
          AND (stategraph.owned(x.owner)
               OR EXISTS (SELECT FROM pg_catalog.pg_roles s
                          WHERE s.rolname OPERATOR(pg_catalog.=) CURRENT_USER AND s.rolsuper))
        ORDER BY x.seq, x.task_id
        ON CONFLICT DO NOTHING
        RETURNING 1)
    SELECT pg_catalog.count(*) FROM adopted;
END;
COMMENT ON FUNCTION stategraph.adopt_tasks(jsonb) IS
    'a router''s move: store the finished external tasks of a server leaving the cluster (rows of stategraph.tasks as a jsonb array), so that a worker''s retried call naming one is answered as there; returns how many were new';
REVOKE ALL ON FUNCTION stategraph.adopt_tasks(jsonb) FROM PUBLIC;
-- the router's listings (sg_threads, sg_tasks) call it on their servers as any role
GRANT EXECUTE ON FUNCTION stategraph.thread_partition(text, integer, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION stategraph.graph_digest(text) TO PUBLIC;


-- ===========================================================================
-- Drawing
-- ===========================================================================

/*
 * A thread's checkpoints as a tree (src/draw_history.c): one box per
 * checkpoint, an edge from each parent to its children, forks and updates
 * branching, the head marked. "limit" keeps the newest checkpoints, as
 * sg_get_state_history's does.
 */
CREATE FUNCTION @extschema@.sg_draw_history(thread_id text, format text DEFAULT 'mermaid',
                                            "limit" integer DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'sg_draw_history' LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.sg_draw_history(text, text, integer) IS
    'a thread''s checkpoints as a Mermaid flowchart or Graphviz dot digraph: step, source, nodes that ran, next, errors, interrupts and waiting tasks; edges parent -> child, forks and updates branching, the head marked; "limit" draws the newest checkpoints only';


-- ===========================================================================
-- Comments and privileges of every function
-- ===========================================================================


/*
 * Every function, procedure and type of the extension says what it is for
 * (psql's \df+ and \dT+ show it), as pgvector and pg_cron do. Descriptions
 * follow PostgreSQL's own: lower case, no period. test/pgtap/04_comments.sql
 * fails for any function of the extension left without one, so a function
 * added later needs its COMMENT here too (or next to its CREATE).
 */

-- types
COMMENT ON TYPE @extschema@.sg_snapshot IS
    'a checkpoint as the state functions return it (LangGraph''s StateSnapshot)';
COMMENT ON TYPE @extschema@.sg_thread IS
    'a thread as sg_threads returns it: its graph, status, next nodes and number of checkpoints';

-- storage
COMMENT ON TABLE stategraph.graphs IS
    'graph definitions: channels, and the frozen spec written by sg_compile';
COMMENT ON TABLE stategraph.nodes IS 'nodes of the graph definitions';
COMMENT ON TABLE stategraph.edges IS 'edges and join edges of the graph definitions';
COMMENT ON TABLE stategraph.branches IS 'conditional edges (routers) of the graph definitions';
COMMENT ON TABLE stategraph.threads IS 'one row per thread: its graph, newest checkpoint and status';
COMMENT ON TABLE stategraph.checkpoints IS
    'one row per checkpoint: the writes that produced it from its parent, and images of some channel values';
COMMENT ON FUNCTION stategraph.graphs_changed() IS
    'trigger: drops every backend''s cache of compiled graphs when a graph definition changes';

-- defining a graph
COMMENT ON FUNCTION @extschema@.sg_create_graph(text, jsonb) IS
    'create a graph definition with its channels and their reducers (StateGraph)';
COMMENT ON FUNCTION @extschema@.sg_add_node(text, text, regprocedure, jsonb) IS
    'add a node: a function (state jsonb[, config jsonb]) -> jsonb returning a partial update, with an optional retry policy';
COMMENT ON FUNCTION @extschema@.sg_add_edge(text, text, text) IS
    'add an edge: target runs in the step after source (__start__ and __end__ are START and END)';
COMMENT ON FUNCTION @extschema@.sg_add_edge(text, text[], text) IS
    'add a join edge: target runs once after every one of the sources has run';
COMMENT ON FUNCTION @extschema@.sg_add_conditional_edges(text, text, regprocedure, jsonb) IS
    'add a router after source: it returns the next node(s) or Send objects, optionally mapped through path_map';
COMMENT ON FUNCTION @extschema@.sg_compile(text, text[], text[]) IS
    'validate a graph definition and freeze it for runs, with optional static interrupts';
COMMENT ON FUNCTION @extschema@.sg_drop_graph(text) IS
    'remove a graph definition (its threads stay readable)';
COMMENT ON FUNCTION @extschema@.sg_draw(text, text) IS
    'draw a compiled graph as a Mermaid flowchart or a Graphviz digraph (format mermaid or dot)';

-- running
COMMENT ON FUNCTION @extschema@.sg_invoke(text, jsonb, text, uuid, jsonb, integer, text) IS
    'run a graph in the caller''s transaction and return the final state values (invoke); input NULL resumes the thread';
COMMENT ON FUNCTION @extschema@.sg_stream(text, jsonb, text, uuid, jsonb, integer, text, text) IS
    'run a graph like sg_invoke, returning one row per node write (mode updates) or per super-step (mode values)';
COMMENT ON PROCEDURE @extschema@.sg_run(text, jsonb, text, uuid, jsonb, integer, text) IS
    'durable run: like sg_invoke, committing after every super-step (call outside a transaction block)';
COMMENT ON FUNCTION @extschema@.sg_interrupt(jsonb) IS
    'inside a node: pause the thread with value as the interrupt payload; on resume, return the resume value';

-- threads, history, time travel, branching
COMMENT ON FUNCTION @extschema@.sg_get_state(text, uuid) IS
    'the state of a thread at its newest checkpoint, or at checkpoint_id';
COMMENT ON FUNCTION @extschema@.sg_get_state_history(text, integer, uuid, jsonb) IS
    'the checkpoints of a thread, newest first, by pages (limit, before) and metadata filter';
COMMENT ON FUNCTION @extschema@.sg_update_state(text, jsonb, text, uuid) IS
    'write values through the reducers as if as_node had returned them, and return the new checkpoint id';
COMMENT ON FUNCTION @extschema@.sg_fork(text, uuid, text) IS
    'start a new thread whose history begins at a checkpoint of another thread, and return its checkpoint id';
COMMENT ON FUNCTION @extschema@.sg_threads(text) IS
    'every thread (of one graph, or all) with its status, next nodes and number of checkpoints';
COMMENT ON FUNCTION @extschema@.sg_delete_thread(text) IS
    'remove a thread and its checkpoints (forks in other threads keep what they need)';
COMMENT ON FUNCTION @extschema@.sg_prune(interval, integer, text) IS
    'remove checkpoints older than older_than or beyond the newest keep_last of each thread (never its newest), and return how many';

-- ownership
COMMENT ON FUNCTION stategraph.owned(name) IS
    'whether the current role is owner, or a member of the owner, of a row (the test of every row-level security policy)';

/*
 * ---- Privileges of every function (security) ----
 *
 * Every function is SECURITY INVOKER. Functions users call are executable by
 * PUBLIC: what a role may do is decided by row-level security on the tables
 * and by EXECUTE on the graph's own node, router and reducer functions.
 * stategraph.owned is executable by PUBLIC because every policy calls it as
 * the querying role. Trigger functions are not for calling: no EXECUTE.
 * Functions added by later sections state their decision here too.
 */
REVOKE ALL ON FUNCTION stategraph.graphs_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.graph_deleted() FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.thread_deleted() FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.key_unchanged() FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.fork_source_owned() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stategraph.owned(name) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_create_graph(text, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_add_node(text, text, regprocedure, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_add_edge(text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_add_edge(text, text[], text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_add_conditional_edges(text, text, regprocedure, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_compile(text, text[], text[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_drop_graph(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_draw(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_invoke(text, jsonb, text, uuid, jsonb, integer, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_stream(text, jsonb, text, uuid, jsonb, integer, text, text) TO PUBLIC;
GRANT EXECUTE ON PROCEDURE @extschema@.sg_run(text, jsonb, text, uuid, jsonb, integer, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_interrupt(jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_get_state(text, uuid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_get_state_history(text, integer, uuid, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_update_state(text, jsonb, text, uuid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_fork(text, uuid, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_threads(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_delete_thread(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_prune(interval, integer, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_draw_history(text, text, integer) TO PUBLIC;
-- external nodes: a worker sees, claims and finishes only the tasks its role
-- may work on (stategraph.may_work, the tasks policy); a sweep by an ordinary
-- role reaches its own tasks only, background workers sweep them all
GRANT EXECUTE ON FUNCTION stategraph.may_work(name, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_add_external_node(text, text, text, jsonb, interval) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_claim(text, text, integer, interval, interval) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_heartbeat(text, uuid, interval) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_complete(text, uuid, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_fail(text, uuid, jsonb, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_interrupt_task(text, uuid, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_tasks(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION stategraph.sweep_leases(integer) TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON stategraph.tasks TO PUBLIC;
-- (not left_at: the order the notes are looked at in is the server's)
GRANT SELECT, DELETE, INSERT (thread_id, checkpoint_id, owner, recursion_limit, last_step), UPDATE (owner) ON stategraph.steps_left TO PUBLIC;
GRANT USAGE ON SEQUENCE stategraph.tasks_seq_seq TO PUBLIC;
-- LangGraph.js checkpoint storage: each role reads and writes its own rows
-- (the owner_rows policies); lg_next is called by sg_threads as the caller
GRANT EXECUTE ON FUNCTION stategraph.lg_next(text, json, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION stategraph.lg_thread_owner_is(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_lg_put(text, text, uuid, jsonb, jsonb, jsonb, text[], text[], bytea[], boolean, jsonb, boolean, json) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_lg_put_writes(text, text, uuid, text, jsonb, text, integer[], text[], bytea[], json) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_lg_get_tuple(text, text, uuid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_lg_list(text, text, jsonb, uuid, integer, uuid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_lg_delete_thread(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_lg_copy_thread(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_lg_prune(text[], text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_lg_delete_for_runs(text[]) TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON stategraph.lg_checkpoints, stategraph.lg_blobs, stategraph.lg_writes TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON stategraph.lg_stray_threads TO PUBLIC;
-- portable threads: an import belongs to the importing role, an export reads
-- only what its role may see; the router's import-then-change helpers run
-- as the role the router connects as
GRANT EXECUTE ON FUNCTION @extschema@.sg_export_thread(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_import_thread(jsonb, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION stategraph.import_then_update_state(jsonb, text, jsonb, text, uuid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION stategraph.import_then_fork(jsonb, uuid, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION stategraph.import_visitor(jsonb, text) TO PUBLIC;
-- background runs: each role submits, sees, waits for and cancels its own runs
-- (runs_owner); CALL sg_work by an ordinary role works its own runs only.
-- Retention: everyone reads the settings (sweeps read them); a graph's owner
-- sets its graph's, the default for every graph (graph NULL) is the
-- extension owner's or a superuser's (retention_owner below).
GRANT EXECUTE ON FUNCTION @extschema@.sg_submit(text, jsonb, text, uuid, jsonb, integer, text, interval, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_runs(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION stategraph.run_status_check(text) TO PUBLIC;   -- sg_runs calls it as the caller
GRANT EXECUTE ON FUNCTION @extschema@.sg_wait(uuid, interval) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_cancel(uuid, text) TO PUBLIC;
GRANT EXECUTE ON PROCEDURE @extschema@.sg_work(integer, interval) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sg_set_retention(text, interval, text, integer) TO PUBLIC;
REVOKE ALL ON FUNCTION stategraph.wake_launcher() FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.runs_loaded() FROM PUBLIC;
REVOKE ALL ON FUNCTION stategraph.graph_gen() FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON stategraph.runs, stategraph.retention TO PUBLIC;
GRANT USAGE ON SEQUENCE stategraph.runs_seq_seq TO PUBLIC;
ALTER TABLE stategraph.retention ENABLE ROW LEVEL SECURITY;
CREATE POLICY retention_read ON stategraph.retention FOR SELECT USING (true);
CREATE POLICY retention_owner ON stategraph.retention
    USING (graph IS NOT NULL AND EXISTS (SELECT 1 FROM stategraph.graphs g
                                         WHERE g.graph OPERATOR(pg_catalog.=) retention.graph
                                         AND stategraph.owned(g.owner)))
    WITH CHECK (graph IS NOT NULL AND EXISTS (SELECT 1 FROM stategraph.graphs g
                                              WHERE g.graph OPERATOR(pg_catalog.=) retention.graph
                                              AND stategraph.owned(g.owner)));

/*
 * sg_reassign_owned's holds on the role names, until its transaction ends,
 * taken before any row: old_role's exclusive, which waits for the submits
 * in flight under that name (which hold it in share mode) and keeps new
 * ones waiting until it commits; new_role's in share mode, which keeps a
 * reassign of new_role's rows from running at the same time (reassign.c).
 * Superusers and BYPASSRLS roles only (checked in C too: it stops the
 * role's submits).
 */
CREATE FUNCTION stategraph.reassign_hold(old_role name, new_role name) RETURNS void
    AS 'MODULE_PATHNAME', 'reassign_hold' LANGUAGE C;
COMMENT ON FUNCTION stategraph.reassign_hold(name, name) IS
    'sg_reassign_owned''s holds on role names until commit: waits for the submits under old_role in flight, and makes new ones wait; and for a reassign of either name';
GRANT EXECUTE ON FUNCTION stategraph.reassign_hold(name, name) TO PUBLIC;   -- sg_reassign_owned calls it as its caller

/*
 * sg_reassign_owned gave pending runs to new_role: a worker of this
 * database is woken when it commits, for the runs that waited for
 * old_role's share of the workers (reassign.c).
 */
CREATE FUNCTION stategraph.runs_reassigned() RETURNS void
    AS 'MODULE_PATHNAME', 'runs_reassigned' LANGUAGE C;
COMMENT ON FUNCTION stategraph.runs_reassigned() IS
    'sg_reassign_owned gave pending runs to another role: wake a worker of this database at commit, as a submit does';
GRANT EXECUTE ON FUNCTION stategraph.runs_reassigned() TO PUBLIC;   -- sg_reassign_owned calls it as its caller (it refuses roles that may not reassign)

/*
 * Owners are recorded by role name (see stategraph.owned), so a role's rows
 * follow the name, not the role: after ALTER ROLE ... RENAME the role no
 * longer sees its graphs, threads, runs and tasks (and its pending runs fail
 * for want of their submitter), and a role later created under a dropped
 * role's name would see the dropped role's. sg_reassign_owned gives every
 * row of old_role in this database to new_role, as REASSIGN OWNED does for
 * objects: run it in each database after a rename, and before DROP ROLE.
 * It changes other roles' rows, which row-level security rightly keeps from
 * ordinary roles: a superuser or a BYPASSRLS role only (checked here, so the
 * error says why rather than updating nothing).
 *
 * First it holds old_role's name (stategraph.reassign_hold, reassign.c),
 * which waits for the transactions that submitted runs under it (or to
 * its threads), or wrote its LangGraph.js threads, to commit, so that the
 * statements below see their rows, and makes those that come meanwhile
 * wait for its commit: a run submitted during the reassign no longer stays
 * with the old name, nor does a transaction that submitted and holds run
 * rows (multitask 'interrupt') deadlock with it. A claim of one of its
 * runs holds the name too, without waiting, until it commits: the reassign
 * waits for the claims in flight (their first step may create a thread,
 * updated next), and new claims pass its runs over until its commit. It
 * holds new_role's name too, in share mode, which new_role's submits share:
 * a reassign of new_role's rows (or to old_role) in flight commits before
 * its statements, or after them, never between two of them.
 *
 * Its row locks come in an order that waits for the role's background
 * steps, never deadlocks with them (runs.c). A step locks its thread's row
 * and, at the end of a run, its run's row (an UPDATE: NO KEY UPDATE); the claim
 * that starts a run locks the run's row (FOR NO KEY UPDATE) before the thread's;
 * sg_complete and the thread writers (sg_invoke, CALL sg_run, ...) lock
 * the task or the thread, then a waiting run's row (an UPDATE); sg_fail,
 * sg_interrupt_task and a late sg_complete that takes back a recorded
 * failure lock the thread, then the task (tasks.c). So: the
 * graphs first (steps only read them; a compile locks its graph before the
 * tasks and runs it changes); then the role's runs FOR KEY
 * SHARE, in seq order, which waits for a delete of one (the retention
 * sweep's), yet lets a claim, a step or a completion update its run
 * (NO KEY UPDATE does not conflict with KEY SHARE; the name's hold above
 * keeps the claims off); then the threads, in
 * thread_id order, each waiting for the step that holds it; then the
 * tasks; then the runs again, FOR NO KEY UPDATE in seq order (sg_submit's
 * interrupt takes a thread's runs in that order too), and their updates.
 * (The LangGraph.js tables last. Their writers (sg_lg_put, put_writes,
 * prune, delete_thread, copy_thread, delete_for_runs, sg_prune and
 * sg_delete_thread of such a thread, import) hold their thread owner's
 * name as the submits do (lgsaver.c), and the sweep passes over a thread
 * whose owner's name is held: none of the role's is in flight while this
 * updates their rows, so none deletes them in another order, which
 * deadlocked, or leaves rows of the old name.)
 */
/*
 * entries (the compiled spec's nodes or branches, an array; a graph's or a
 * spec's channels, an object) with owner_key old_role made new_role: the
 * role a function was bound to when it was added (graph.c, owner_ok), by
 * name, follows a rename (sg_reassign_owned).
 */
CREATE FUNCTION stategraph.rebind_owner(entries jsonb, owner_key text, old_role name, new_role name) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    RETURN CASE pg_catalog.jsonb_typeof(entries)
        WHEN 'array' THEN coalesce((SELECT pg_catalog.jsonb_agg(
                CASE WHEN e.v OPERATOR(pg_catalog.->>) owner_key OPERATOR(pg_catalog.=) old_role::pg_catalog.text
                     THEN pg_catalog.jsonb_set(e.v, ARRAY[owner_key], pg_catalog.to_jsonb(new_role::pg_catalog.text))
                     ELSE e.v END ORDER BY e.i)
            FROM pg_catalog.jsonb_array_elements(entries) WITH ORDINALITY e(v, i)), entries)
        WHEN 'object' THEN coalesce((SELECT pg_catalog.jsonb_object_agg(e.key,
                CASE WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'object'
                      AND e.value OPERATOR(pg_catalog.->>) owner_key OPERATOR(pg_catalog.=) old_role::pg_catalog.text
                     THEN pg_catalog.jsonb_set(e.value, ARRAY[owner_key], pg_catalog.to_jsonb(new_role::pg_catalog.text))
                     ELSE e.value END)
            FROM pg_catalog.jsonb_each(entries) e), entries)
        ELSE entries END;
COMMENT ON FUNCTION stategraph.rebind_owner(jsonb, text, name, name) IS
    'entries (a spec''s nodes or branches, or channels) with the role owner_key names changed from old_role to new_role (sg_reassign_owned of a renamed role)';

CREATE FUNCTION @extschema@.sg_reassign_owned(old_role name, new_role name) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    n bigint := 0;
    k bigint;
    pending bigint;
BEGIN
    IF old_role IS NULL OR new_role IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'old_role and new_role must not be null';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER
                   AND (r.rolsuper OR r.rolbypassrls)) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.format('permission denied to reassign the stategraph rows of role "%s"', old_role),
            DETAIL = 'Reassigning changes rows of another role, which row-level security keeps from ordinary roles.',
            HINT = 'Run it as a superuser or as a role with BYPASSRLS.';
    END IF;
    IF pg_catalog.to_regrole(pg_catalog.quote_ident(new_role)) IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = pg_catalog.format('role "%s" does not exist', new_role);
    END IF;
    -- as REASSIGN OWNED: a role that is not a superuser must be a member of
    -- both roles (runs, graphs and threads decide what executes as their
    -- owner: stategraph.owner_writes() holds a BYPASSRLS role's writes to it)
    -- (rows of a name that is no role now, after a rename or a drop: no
    -- member of it can be asked for, so a superuser's)
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER AND r.rolsuper)
       AND NOT (stategraph.owned(old_role) AND stategraph.owned(new_role)) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.format('permission denied to reassign the stategraph rows of role "%s" to role "%s"', old_role, new_role),
            DETAIL = CASE WHEN pg_catalog.to_regrole(pg_catalog.quote_ident(old_role)) IS NULL
                          THEN pg_catalog.format('Role "%s" does not exist (renamed or dropped): only a superuser may give its rows away.', old_role)
                          ELSE 'A role that is not a superuser must be a member of both roles, as for REASSIGN OWNED.' END,
            HINT = 'Run it as a superuser, or as a role with BYPASSRLS that is a member of both roles.';
    END IF;
    IF old_role OPERATOR(pg_catalog.=) new_role THEN
        RETURN 0;
    END IF;
    -- the lock order above: old_role's name first (its submits in flight
    -- commit), with new_role's (a reassign of new_role's rows in flight
    -- commits first, or waits for this one: one that committed between two
    -- statements below split a role's rows, a thread under one name and its
    -- runs under another; isolation reassign_chain)
    PERFORM stategraph.reassign_hold(old_role, new_role);
    -- a rename of new_role may have committed meanwhile (with its reassign,
    -- which this waited for): rows given to its old name would belong to no
    -- role (a statement of its own: it reads what has committed now)
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) new_role) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = pg_catalog.format('role "%s" does not exist', new_role),
            DETAIL = 'It was renamed or dropped after sg_reassign_owned began (while it waited for another reassign of its rows).';
    END IF;
    -- runs execute as their owner: given to a role above row-level security,
    -- the nodes of runs old_role queued (and run rows it wrote itself, naming
    -- any thread) would execute with every privilege
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) new_role
               AND (r.rolsuper OR r.rolbypassrls))
       AND EXISTS (SELECT 1 FROM stategraph.runs WHERE owner OPERATOR(pg_catalog.=) old_role
                   AND status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting'])) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.format('cannot give the active runs of role "%s" to role "%s"', old_role, new_role),
            DETAIL = pg_catalog.format('Role "%s" is a superuser or bypasses row-level security: the runs would execute as it.', new_role),
            HINT = 'Give them to an ordinary role, or end them first with sg_cancel.';
    END IF;
    -- and so would the steps that go on as their thread's owner without a
    -- run: a step left to the sweep (steps_left: it becomes a run of the
    -- note's owner), and a thread waiting for external tasks, whose last
    -- completion, by any worker, takes the step on as the thread's owner
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) new_role
               AND (r.rolsuper OR r.rolbypassrls))
       AND (EXISTS (SELECT 1 FROM stategraph.steps_left WHERE owner OPERATOR(pg_catalog.=) old_role)
            OR EXISTS (SELECT 1 FROM stategraph.threads WHERE owner OPERATOR(pg_catalog.=) old_role
                       AND status OPERATOR(pg_catalog.=) 'waiting')) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = pg_catalog.format('cannot give the waiting steps of role "%s" to role "%s"', old_role, new_role),
            DETAIL = pg_catalog.format('Role "%s" is a superuser or bypasses row-level security: the steps would go on as it when their external tasks are completed or the sweep takes them up.', new_role),
            HINT = 'Give them to an ordinary role, or end them first (complete or cancel their tasks, or delete the waiting threads).';
    END IF;
    UPDATE stategraph.graphs SET owner = new_role WHERE owner OPERATOR(pg_catalog.=) old_role;
    GET DIAGNOSTICS k = ROW_COUNT; n := n OPERATOR(pg_catalog.+) k;
    -- old_role's functions that any role's graph was bound to when it added
    -- them (by name: nodes.fn_owner, branches.router_owner, "fn_owner" and
    -- "router_owner" of channels and spec): once old_role is no role (ALTER
    -- ROLE ... RENAME, or DROP ROLE after REASSIGN OWNED gave its functions
    -- to new_role), they are new_role's; still bound to the old name, every
    -- graph of another role that calls one failed with 42501 ("belongs to
    -- role new, not to role old"). While old_role exists its functions are
    -- still its own: the bindings stay. (A name that is no role: superusers
    -- only, checked above; graphs before the rest, the lock order above.)
    IF pg_catalog.to_regrole(pg_catalog.quote_ident(old_role)) IS NULL THEN
        UPDATE stategraph.nodes SET fn_owner = new_role WHERE fn_owner OPERATOR(pg_catalog.=) old_role;
        UPDATE stategraph.branches SET router_owner = new_role WHERE router_owner OPERATOR(pg_catalog.=) old_role;
        UPDATE stategraph.graphs
        SET channels = stategraph.rebind_owner(channels, 'fn_owner', old_role, new_role),
            spec = coalesce((SELECT pg_catalog.jsonb_object_agg(e.key, CASE   -- (CASE e.key WHEN: = by search_path)
                        WHEN e.key OPERATOR(pg_catalog.=) ANY (ARRAY['channels', 'nodes'])
                            THEN stategraph.rebind_owner(e.value, 'fn_owner', old_role, new_role)
                        WHEN e.key OPERATOR(pg_catalog.=) 'branches'
                            THEN stategraph.rebind_owner(e.value, 'router_owner', old_role, new_role)
                        ELSE e.value END)
                    FROM pg_catalog.jsonb_each(spec) e), spec)
        WHERE pg_catalog.strpos(channels::pg_catalog.text, pg_catalog.to_jsonb(old_role::pg_catalog.text)::pg_catalog.text) OPERATOR(pg_catalog.>) 0
           OR pg_catalog.strpos(spec::pg_catalog.text, pg_catalog.to_jsonb(old_role::pg_catalog.text)::pg_catalog.text) OPERATOR(pg_catalog.>) 0;
    END IF;
    -- the lock order above: runs (KEY SHARE), threads, tasks, runs
    PERFORM FROM stategraph.runs WHERE owner OPERATOR(pg_catalog.=) old_role ORDER BY seq FOR KEY SHARE;
    PERFORM FROM stategraph.threads WHERE owner OPERATOR(pg_catalog.=) old_role ORDER BY thread_id
        FOR NO KEY UPDATE;
    UPDATE stategraph.threads SET owner = new_role WHERE owner OPERATOR(pg_catalog.=) old_role;
    GET DIAGNOSTICS k = ROW_COUNT; n := n OPERATOR(pg_catalog.+) k;
    UPDATE stategraph.tasks SET owner = new_role WHERE owner OPERATOR(pg_catalog.=) old_role;
    GET DIAGNOSTICS k = ROW_COUNT; n := n OPERATOR(pg_catalog.+) k;
    DELETE FROM stategraph.steps_left o WHERE o.owner OPERATOR(pg_catalog.=) old_role
        AND EXISTS (SELECT FROM stategraph.steps_left n WHERE n.owner OPERATOR(pg_catalog.=) new_role
                    AND n.thread_id OPERATOR(pg_catalog.=) o.thread_id
                    AND n.checkpoint_id OPERATOR(pg_catalog.=) o.checkpoint_id);
    UPDATE stategraph.steps_left SET owner = new_role WHERE owner OPERATOR(pg_catalog.=) old_role;
    PERFORM FROM stategraph.runs WHERE owner OPERATOR(pg_catalog.=) old_role ORDER BY seq FOR NO KEY UPDATE;
    -- idempotency keys are per role (runs_idempotency): a key both roles
    -- used for a graph stays with new_role's run, the one new_role's
    -- retries already find; old_role's run keeps its place without it
    UPDATE stategraph.runs o SET idempotency_key = NULL
    WHERE o.owner OPERATOR(pg_catalog.=) old_role AND o.idempotency_key IS NOT NULL
      AND EXISTS (SELECT 1 FROM stategraph.runs x WHERE x.owner OPERATOR(pg_catalog.=) new_role
                  AND x.graph OPERATOR(pg_catalog.=) o.graph
                  AND x.idempotency_key OPERATOR(pg_catalog.=) o.idempotency_key);
    GET DIAGNOSTICS k = ROW_COUNT;
    IF k OPERATOR(pg_catalog.>) 0 THEN
        RAISE NOTICE USING
            MESSAGE = pg_catalog.format('the idempotency key of %s run(s) of role "%s" was dropped', k, old_role),
            DETAIL = pg_catalog.format('Role "%s" has runs of the same graphs with the same keys, which keep them.', new_role);
    END IF;
    -- pending runs that waited for old_role's share of the workers may go
    -- under new_role's: a worker looks at once (stategraph.runs_reassigned)
    WITH moved AS (UPDATE stategraph.runs SET owner = new_role WHERE owner OPERATOR(pg_catalog.=) old_role
                   RETURNING status)
    SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE status OPERATOR(pg_catalog.=) 'pending')
        INTO k, pending FROM moved;
    n := n OPERATOR(pg_catalog.+) k;
    IF pending OPERATOR(pg_catalog.>) 0 THEN
        PERFORM stategraph.runs_reassigned();
    END IF;
    -- LangGraph.js threads: counted once each, by their checkpoints' rows
    SELECT pg_catalog.count(DISTINCT thread_id) INTO k FROM stategraph.lg_checkpoints
        WHERE owner OPERATOR(pg_catalog.=) old_role::pg_catalog.text;
    n := n OPERATOR(pg_catalog.+) k;
    UPDATE stategraph.lg_checkpoints SET owner = new_role::pg_catalog.text
        WHERE owner OPERATOR(pg_catalog.=) old_role::pg_catalog.text;
    UPDATE stategraph.lg_blobs SET owner = new_role::pg_catalog.text
        WHERE owner OPERATOR(pg_catalog.=) old_role::pg_catalog.text;
    UPDATE stategraph.lg_writes SET owner = new_role::pg_catalog.text
        WHERE owner OPERATOR(pg_catalog.=) old_role::pg_catalog.text;
    UPDATE stategraph.lg_stray_threads SET owner = new_role::pg_catalog.text
        WHERE owner OPERATOR(pg_catalog.=) old_role::pg_catalog.text;
    RETURN n;
END $$;
COMMENT ON FUNCTION @extschema@.sg_reassign_owned(name, name) IS
'gives every graph, thread (of both kinds), run and task of old_role in this database to new_role, as REASSIGN OWNED does for objects (after ALTER ROLE RENAME, before DROP ROLE); superusers, and BYPASSRLS roles that are members of both roles; returns how many it reassigned';
GRANT EXECUTE ON FUNCTION @extschema@.sg_reassign_owned(name, name) TO PUBLIC;

/*
 * Writes that decide what executes as whom (a run's owner and what it
 * runs, a graph's definition, a thread's owner and graph, a note of a step
 * left, a task's step and owner) are kept to the
 * policies' rule for every writer but a superuser, row-level security or
 * not (src/thread_ids.c, sg_owner_writes): without, a BYPASSRLS role queued
 * a run of its own graph naming a superuser as its owner, which a
 * background worker executed as that superuser.
 */
CREATE FUNCTION stategraph.owner_writes() RETURNS trigger
    AS 'MODULE_PATHNAME', 'sg_owner_writes' LANGUAGE C;
COMMENT ON FUNCTION stategraph.owner_writes() IS
    'trigger: only a member of a row''s owner (or a superuser) may write a row that decides what executes as that role, row-level security or not';
REVOKE ALL ON FUNCTION stategraph.owner_writes() FROM PUBLIC;
CREATE TRIGGER owner_writes BEFORE INSERT OR UPDATE OF owner, thread_id, graph, graph_gen, input, checkpoint_id, resume, status
    ON stategraph.runs FOR EACH ROW
    EXECUTE FUNCTION stategraph.owner_writes('run', 'owner', 'thread_id', 'graph', 'graph_gen', 'input', 'checkpoint_id', 'resume');
CREATE TRIGGER owner_writes BEFORE INSERT OR UPDATE OR DELETE ON stategraph.graphs
    FOR EACH ROW EXECUTE FUNCTION stategraph.owner_writes('owner');
CREATE TRIGGER owner_writes BEFORE INSERT OR UPDATE OR DELETE ON stategraph.nodes
    FOR EACH ROW EXECUTE FUNCTION stategraph.owner_writes('graph');
CREATE TRIGGER owner_writes BEFORE INSERT OR UPDATE OR DELETE ON stategraph.edges
    FOR EACH ROW EXECUTE FUNCTION stategraph.owner_writes('graph');
CREATE TRIGGER owner_writes BEFORE INSERT OR UPDATE OR DELETE ON stategraph.branches
    FOR EACH ROW EXECUTE FUNCTION stategraph.owner_writes('graph');
CREATE TRIGGER owner_writes BEFORE INSERT OR UPDATE OF owner, graph ON stategraph.threads
    FOR EACH ROW EXECUTE FUNCTION stategraph.owner_writes('owner', 'owner', 'graph');
-- a note of a step left: the sweep continues the step as its owner (but leave_step's, for the tasks' owner)
CREATE TRIGGER owner_writes BEFORE INSERT OR UPDATE ON stategraph.steps_left
    FOR EACH ROW EXECUTE FUNCTION stategraph.owner_writes('note');
-- a task's step and owner (completing it, any worker that may: its status and result)
CREATE TRIGGER owner_writes BEFORE INSERT OR UPDATE OF owner, thread_id, checkpoint_id, graph, graph_gen, node
    ON stategraph.tasks FOR EACH ROW
    EXECUTE FUNCTION stategraph.owner_writes('owner', 'owner', 'thread_id', 'checkpoint_id', 'graph', 'graph_gen', 'node');

/*
 * A thread given to another role (UPDATE ... SET owner: README's way to
 * give the threads of 0.1.0 to their roles) detaches the forks that would
 * cross owners: those of its checkpoints in threads of other owners, and
 * its own of threads of other owners. Row-level security hides each
 * owner's rows from the other, so such a fork read its source's values as
 * missing (src/retention.c, sg_owner_detaches).
 */
CREATE FUNCTION stategraph.owner_detaches() RETURNS trigger
    AS 'MODULE_PATHNAME', 'sg_owner_detaches' LANGUAGE C;
COMMENT ON FUNCTION stategraph.owner_detaches() IS
    'trigger: a thread given to another role stops sharing checkpoints with threads of other owners (its forks, and the forks of it, get images of their own)';
REVOKE ALL ON FUNCTION stategraph.owner_detaches() FROM PUBLIC;
CREATE TRIGGER owner_detaches AFTER UPDATE OF owner ON stategraph.threads
    FOR EACH ROW WHEN (OLD.owner IS DISTINCT FROM NEW.owner) EXECUTE FUNCTION stategraph.owner_detaches();

/*
 * Grants users made on the tables of 0.1.0 stay theirs, but row-level
 * security (new in 0.2.0) restrains only SELECT, INSERT, UPDATE and DELETE.
 * TRIGGER is revoked from every role but the tables' owner: a trigger runs
 * its code as whoever writes the table (a superuser's calls, and the
 * background workers). TRUNCATE (every role's rows) and REFERENCES stay,
 * with a WARNING naming the role: a maintenance role may have been given
 * them on purpose (TAP 161_update_init_privs).
 */
DO $update_grants$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS who,
               pg_catalog.array_agg(DISTINCT a.privilege_type::pg_catalog.text ORDER BY a.privilege_type::pg_catalog.text) AS privs,
               pg_catalog.string_agg(DISTINCT c.oid::pg_catalog.regclass::pg_catalog.text, ', ') AS tabs,
               pg_catalog.array_agg(DISTINCT c.oid::pg_catalog.regclass::pg_catalog.text)
                   FILTER (WHERE a.privilege_type OPERATOR(pg_catalog.=) 'TRIGGER') AS trigger_tabs
        FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid,
             pg_catalog.aclexplode(c.relacl) a
        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
          AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
          AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
                                                 WHERE e.extname OPERATOR(pg_catalog.=) 'stategraph')
          AND d.deptype OPERATOR(pg_catalog.=) 'e'
          AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
          AND a.privilege_type OPERATOR(pg_catalog.=) ANY (ARRAY['TRIGGER', 'TRUNCATE', 'REFERENCES'])
        GROUP BY 1 ORDER BY 1
    LOOP
        IF r.trigger_tabs IS NOT NULL THEN
            EXECUTE pg_catalog.format('REVOKE TRIGGER ON TABLE %s FROM %s CASCADE',
                                      pg_catalog.array_to_string(r.trigger_tabs, ', '), r.who);
            RAISE WARNING 'revoked TRIGGER on the tables of stategraph from %', r.who
                USING DETAIL = 'A trigger runs its code as whoever writes the table: superusers'' calls and the background workers too.';
        END IF;
        IF r.privs OPERATOR(pg_catalog.&&) ARRAY['TRUNCATE', 'REFERENCES'] THEN
            RAISE WARNING 'role % has % on tables of stategraph, which row-level security does not restrain', r.who,
                pg_catalog.array_to_string(ARRAY(SELECT x FROM pg_catalog.unnest(r.privs) x
                                                 WHERE x OPERATOR(pg_catalog.<>) 'TRIGGER'), ' and ')
                USING DETAIL = pg_catalog.format('Tables: %s. TRUNCATE empties a table of every role''s rows.', r.tabs),
                      HINT = pg_catalog.format('Unless %s is trusted with every role''s threads: REVOKE TRUNCATE, REFERENCES ON ALL TABLES IN SCHEMA stategraph FROM %s;', r.who, r.who);
        END IF;
    END LOOP;
END $update_grants$;

/*
 * The extension's initial privileges (pg_init_privs, which pg_dump compares
 * an object's ACL with) hold only what the extension grants. A GRANT in
 * this script on a table of 0.1.0 recorded the object's whole ACL as the
 * extension's, with what its users had granted on it before the update
 * (GRANT SELECT ON stategraph.threads TO maint): pg_dump then left those
 * grants out. The extension grants to PUBLIC only (its owner holds the
 * rest), so every entry of another grantee is a user's, and goes. (A
 * user's grant to PUBLIC on such a table cannot be told from the
 * extension's, and stays in.) Superusers only run this script (the
 * extension is not trusted), and superusers may update pg_init_privs.
 */
UPDATE pg_catalog.pg_init_privs ip
SET initprivs = ARRAY(SELECT a FROM pg_catalog.unnest(ip.initprivs) a
                      WHERE (SELECT x.grantee FROM pg_catalog.aclexplode(ARRAY[a]) x LIMIT 1)
                            OPERATOR(pg_catalog.=) ANY (ARRAY[0::pg_catalog.oid, o.owner]))
FROM (SELECT d.classid, d.objid,
             CASE
                 WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                     THEN (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) d.objid)
                 WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                     THEN (SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) d.objid)
                 WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
                     THEN (SELECT t.typowner FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) d.objid)
                 WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                     THEN (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) d.objid)
             END AS owner
      FROM pg_catalog.pg_depend d
      WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
        AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
                                               WHERE e.extname OPERATOR(pg_catalog.=) 'stategraph')
        AND d.deptype OPERATOR(pg_catalog.=) 'e') o
WHERE ip.classoid OPERATOR(pg_catalog.=) o.classid AND ip.objoid OPERATOR(pg_catalog.=) o.objid
  AND ip.privtype OPERATOR(pg_catalog.=) 'e' AND o.owner IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_catalog.aclexplode(ip.initprivs) x
              WHERE x.grantee OPERATOR(pg_catalog.<>) ALL (ARRAY[0::pg_catalog.oid, o.owner]));

/*
 * The extension's objects belong to the extension's owner, as the 0.1.0
 * ones do (README: the tables' owner is the extension's owner, who sees
 * every row, row-level security or not). PostgreSQL runs this script as
 * the role that runs ALTER EXTENSION UPDATE, so a superuser other than the
 * extension's owner was left owning what it created here (runs, tasks,
 * their policies' bypass as the tables' owner, security definer
 * functions): they go to the extension's owner. Tables first (their
 * sequences and indexes follow them); PostgreSQL 15 does not carry an
 * owner change into pg_init_privs, so the initial privileges of what
 * changed owner are its ACL after the change (the extension's grants, to
 * PUBLIC and the owner; nobody else could grant on it yet).
 */
DO $$
DECLARE
    ext_oid pg_catalog.oid;
    ext_owner pg_catalog.oid;
    me pg_catalog.oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER);
    o record;
BEGIN
    SELECT e.oid, e.extowner INTO ext_oid, ext_owner FROM pg_catalog.pg_extension e
    WHERE e.extname OPERATOR(pg_catalog.=) 'stategraph';
    IF ext_owner OPERATOR(pg_catalog.=) me THEN
        RETURN;
    END IF;
    FOR o IN SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
             WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
               AND d.refobjid OPERATOR(pg_catalog.=) ext_oid AND d.deptype OPERATOR(pg_catalog.=) 'e'
             ORDER BY d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_class'::pg_catalog.regclass,
                      (SELECT c.relkind OPERATOR(pg_catalog.<>) 'r' FROM pg_catalog.pg_class c
                       WHERE c.oid OPERATOR(pg_catalog.=) d.objid), d.objid
    LOOP
        IF o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass THEN
            -- (owner read now: a sequence of a column went with its table)
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) o.objid
                       AND c.relowner OPERATOR(pg_catalog.=) me AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v', 'm', 'f', 'S']::pg_catalog."char"[])) THEN
                EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %s', o.objid::pg_catalog.regclass, ext_owner::pg_catalog.regrole);
            END IF;
        ELSIF o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) o.objid
                       AND p.proowner OPERATOR(pg_catalog.=) me) THEN
                EXECUTE pg_catalog.format('ALTER ROUTINE %s OWNER TO %s', o.objid::pg_catalog.regprocedure, ext_owner::pg_catalog.regrole);
            END IF;
        ELSIF o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass THEN
            -- (not a table's row type: it goes with its table)
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) o.objid
                       AND t.typowner OPERATOR(pg_catalog.=) me
                       AND (t.typrelid OPERATOR(pg_catalog.=) 0
                            OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) t.typrelid)
                               OPERATOR(pg_catalog.=) 'c')) THEN
                EXECUTE pg_catalog.format('ALTER TYPE %s OWNER TO %s', o.objid::pg_catalog.regtype, ext_owner::pg_catalog.regrole);
            END IF;
        ELSIF o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass THEN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) o.objid
                       AND n.nspowner OPERATOR(pg_catalog.=) me) THEN
                EXECUTE pg_catalog.format('ALTER SCHEMA %I OWNER TO %s',
                                          (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) o.objid),
                                          ext_owner::pg_catalog.regrole);
            END IF;
        END IF;
    END LOOP;
    -- initial privileges that still name the updating role: those of the objects that changed owner
    UPDATE pg_catalog.pg_init_privs ip
    SET initprivs = CASE
            WHEN ip.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND ip.objsubid OPERATOR(pg_catalog.=) 0
                THEN (SELECT c.relacl FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) ip.objoid)
            WHEN ip.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                THEN (SELECT a.attacl FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) ip.objoid
                      AND a.attnum OPERATOR(pg_catalog.=) ip.objsubid)
            WHEN ip.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                THEN (SELECT p.proacl FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) ip.objoid)
            WHEN ip.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
                THEN (SELECT t.typacl FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) ip.objoid)
            WHEN ip.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                THEN (SELECT n.nspacl FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) ip.objoid)
        END
    WHERE ip.privtype OPERATOR(pg_catalog.=) 'e'
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                    AND d.refobjid OPERATOR(pg_catalog.=) ext_oid AND d.deptype OPERATOR(pg_catalog.=) 'e'
                    AND d.classid OPERATOR(pg_catalog.=) ip.classoid AND d.objid OPERATOR(pg_catalog.=) ip.objoid)
      AND EXISTS (SELECT 1 FROM pg_catalog.aclexplode(ip.initprivs) x
                  WHERE me OPERATOR(pg_catalog.=) ANY (ARRAY[x.grantee, x.grantor]));
END $$;

/*
 * The administrator's choice noted at the top: where PUBLIC had no EXECUTE
 * on functions of 0.1.0, it gets none now either, nor USAGE on schema
 * stategraph (unless it had that before), so that roles kept out of
 * stategraph stay out; the roles let in keep what they were given, and the
 * functions new in 0.2.0 are theirs too. The extension's initial privileges
 * stay those of a fresh install (every REVOKE here records its ACL there),
 * so pg_dump dumps these REVOKEs.
 */
DO $kept_revoked$
DECLARE
    revoked pg_catalog.oid[] := pg_catalog.string_to_array(
        pg_catalog.current_setting('stategraph_update.revoked', true), ',')::pg_catalog.oid[];
    schema_public boolean := pg_catalog.current_setting('stategraph_update.schema_public', true) OPERATOR(pg_catalog.=) 'on';
    schema_oid pg_catalog.oid := (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'stategraph');
    names pg_catalog.text;
    t record;
    saved pg_catalog.aclitem[];
BEGIN
    IF revoked IS NULL OR pg_catalog.cardinality(revoked) OPERATOR(pg_catalog.=) 0 THEN
        RETURN;
    END IF;
    -- each REVOKE records the object's whole ACL as its initial privileges:
    -- those of before it (a fresh install's, or none) are put back
    FOR t IN SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass AS cls, r.f AS obj,
                    pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', r.f::pg_catalog.regprocedure) AS stmt
             FROM pg_catalog.unnest(revoked) r(f)
             UNION ALL
             SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, schema_oid,
                    'REVOKE USAGE ON SCHEMA stategraph FROM PUBLIC'
             WHERE NOT schema_public
    LOOP
        saved := (SELECT ip.initprivs FROM pg_catalog.pg_init_privs ip
                  WHERE ip.classoid OPERATOR(pg_catalog.=) t.cls
                    AND ip.objoid OPERATOR(pg_catalog.=) t.obj AND ip.objsubid OPERATOR(pg_catalog.=) 0);
        EXECUTE t.stmt;
        IF saved IS NULL THEN
            DELETE FROM pg_catalog.pg_init_privs ip
            WHERE ip.classoid OPERATOR(pg_catalog.=) t.cls
              AND ip.objoid OPERATOR(pg_catalog.=) t.obj AND ip.objsubid OPERATOR(pg_catalog.=) 0;
        ELSE
            UPDATE pg_catalog.pg_init_privs ip SET initprivs = saved
            WHERE ip.classoid OPERATOR(pg_catalog.=) t.cls
              AND ip.objoid OPERATOR(pg_catalog.=) t.obj AND ip.objsubid OPERATOR(pg_catalog.=) 0;
        END IF;
    END LOOP;
    names := (SELECT pg_catalog.string_agg(DISTINCT p.proname::pg_catalog.text, ', ')
              FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) ANY (revoked));
    RAISE WARNING 'stategraph stays closed to PUBLIC, as it was before the update'
        USING DETAIL = pg_catalog.format('PUBLIC had no EXECUTE on %s before the update, and has none now%s. '
                                         'The roles that use stategraph need USAGE on schema stategraph and EXECUTE on its functions '
                                         '(the functions new in 0.2.0 are granted to PUBLIC).',
                                         names, CASE WHEN schema_public THEN ''
                                                     ELSE ', nor USAGE on schema stategraph' END),
              HINT = 'To let every role use stategraph for threads of its own, as a fresh install does (row-level security '
                     'keeps roles apart): GRANT USAGE ON SCHEMA stategraph TO PUBLIC, and GRANT EXECUTE on those functions TO PUBLIC.';
END $kept_revoked$;
