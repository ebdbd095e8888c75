#!/usr/bin/python3
# test/fuzz/router.py: the router (stategraph_router) fuzzed against one server.
#
# Every routed sg_ function is called with each argument in turn replaced by
# an odd value (NULL, '', quotes, 600 bytes, unknown names and ids, bad jsonb,
# negative numbers, ids of a thread on the other shard, a checkpoint of
# another thread), through the router and, the same call, on one server
# (FUZZ_SINGLE) set up the same way; each call also as a role without
# privileges. A call is bad when the router gives XX000, a lost connection,
# a PL/Proxy error, or another outcome (ok or SQLSTATE) than the one server.
# At the end: check_definitions clean, every thread listed once, every
# thread exported from its shard imports (rolled back).
#
# Environment: libpq's (PGHOST, PGPORT, PGUSER, a superuser), FUZZ_ROUTER
# (the router database), FUZZ_SINGLE (a database with stategraph only) and
# FUZZ_SHARDS (the shards' database names, space-separated, on the same
# server: the router's partitions). Prints the outcome table and
# "bad outcomes: N".
import os, sys, json, uuid, collections, psycopg

ROUTER = os.environ.get("FUZZ_ROUTER", "router")
SINGLE = os.environ.get("FUZZ_SINGLE", "single")
SHARDS = os.environ.get("FUZZ_SHARDS", "sg0 sg1").split()
ROLE = "fz_router_plain"


def conn(db):
    c = psycopg.connect("dbname=" + db, autocommit=True)
    return c


FUNCS = """
CREATE OR REPLACE FUNCTION fz_step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', 1, 'log', jsonb_build_array(config->>'node')) $$;
CREATE OR REPLACE FUNCTION fz_route(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'n')::int < 3 THEN 'again' ELSE 'done' END $$;
CREATE OR REPLACE FUNCTION fz_ask(state jsonb) RETURNS jsonb LANGUAGE plpgsql
    AS $$ BEGIN RETURN jsonb_build_object('answer', sg_interrupt('"ok?"')); END $$;
"""
DEFS = """
SELECT sg_create_graph('loop', '{"n": "add", "log": "append", "answer": "replace"}');
SELECT sg_add_node('loop', 'a', 'fz_step(jsonb,jsonb)');
SELECT sg_add_node('loop', 'b', 'fz_step(jsonb,jsonb)');
SELECT sg_add_edge('loop', '__start__', 'a');
SELECT sg_add_edge('loop', 'a', 'b');
SELECT sg_add_conditional_edges('loop', 'b', 'fz_route(jsonb)', '{"again": "a", "done": "__end__"}');
SELECT sg_compile('loop');
SELECT sg_create_graph('hitl', '{"answer": "replace", "n": "add"}');
SELECT sg_add_node('hitl', 'ask', 'fz_ask(jsonb)');
SELECT sg_add_edge('hitl', '__start__', 'ask');
SELECT sg_add_edge('hitl', 'ask', '__end__');
SELECT sg_compile('hitl');
SELECT sg_create_graph('ext', '{"n": "add", "log": "append"}');
SELECT sg_add_node('ext', 'a', 'fz_step(jsonb,jsonb)');
SELECT sg_add_external_node('ext', 'model', 'fzrq', NULL, '1 hour');
SELECT sg_add_edge('ext', '__start__', 'a');
SELECT sg_add_edge('ext', 'a', 'model');
SELECT sg_add_edge('ext', 'model', '__end__');
SELECT sg_compile('ext');
"""


def setup():
    adm = conn("postgres")
    adm.execute("DROP ROLE IF EXISTS " + ROLE) if False else None
    if not adm.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
        adm.execute("CREATE ROLE %s LOGIN" % ROLE)
    for db in SHARDS + [SINGLE]:
        c = conn(db)
        c.execute(FUNCS)
        c.execute("SELECT sg_delete_thread(thread_id) FROM sg_threads()")
        c.execute("SELECT sg_drop_graph(graph) FROM stategraph.graphs")
        c.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
        c.close()
    for db in (ROUTER, SINGLE):
        c = conn(db)
        c.execute(DEFS)
        c.close()


r = None
s = None


def outcome(c, sql, args):
    """'ok' or the SQLSTATE (with PL/Proxy's messages marked); committed on both sides (PL/Proxy commits on the shards)."""
    try:
        c.execute(sql, args).fetchall()
        return "ok", ""
    except psycopg.Error as e:
        if e.diag.sqlstate is None or c.closed:
            return "lost", str(e)[:200]
        msg = e.diag.message_primary or ""
        st = e.diag.sqlstate
        if msg.startswith("PL/Proxy") or "plproxy" in msg.lower() or "Public connect failed" in msg:
            st = (st or "?") + "/plproxy"
        return st, msg[:160]


def shard_of(t):
    return r.execute("SELECT stategraph_router.shard_of(%s)", (t,)).fetchone()[0]


def main():
    global r, s
    setup()
    r, s = conn(ROUTER), conn(SINGLE)
    # threads on both shards, the same on the single server
    names = ["t%d" % i for i in range(12)]
    by = collections.defaultdict(list)
    for t in names:
        by[shard_of(t)].append(t)
    shards = sorted(by)
    ta, tb = by[shards[0]][0], by[shards[1]][0]
    for c in (r, s):
        for t in names:
            c.execute("SELECT sg_invoke('loop', '{\"n\": 0}', thread_id => %s)", (t,))
        c.execute("SELECT sg_invoke('hitl', '{}', thread_id => 'h_' || %s)", (ta,))
        c.execute("SELECT sg_invoke('ext', '{\"n\": 0}', thread_id => 'e_' || %s)", (ta,))
    cka = r.execute("SELECT checkpoint_id FROM sg_get_state_history(%s) ORDER BY checkpoint_id LIMIT 1", (ta,)).fetchone()[0]
    ckb = r.execute("SELECT checkpoint_id FROM sg_get_state_history(%s) ORDER BY checkpoint_id LIMIT 1", (tb,)).fetchone()[0]
    ckas = s.execute("SELECT checkpoint_id FROM sg_get_state_history(%s) ORDER BY checkpoint_id LIMIT 1", (ta,)).fetchone()[0]
    ckbs = s.execute("SELECT checkpoint_id FROM sg_get_state_history(%s) ORDER BY checkpoint_id LIMIT 1", (tb,)).fetchone()[0]
    # values per type: ('label', router value, single value)
    long = "x" * 600
    TXT = [("null", None, None), ("empty", "", ""), ("quoted", "q'\"\\ x", "q'\"\\ x"), ("600B", long, long),
           ("unknown", "nope", "nope"), ("thread_a", ta, ta), ("thread_b", tb, tb)]
    JS = [("null", None, None), ("jnull", "null", "null"), ("array", "[]", "[]"), ("string", '"s"', '"s"'),
          ("badtype", '{"n": "x"}', '{"n": "x"}'), ("unknownkey", '{"zz": 1}', '{"zz": 1}'),
          ("export-ish", '{"format": "stategraph-thread", "version": 1}', '{"format": "stategraph-thread", "version": 1}')]
    UU = [("null", None, None), ("random", str(uuid.uuid4()), None), ("ck_a", cka, ckas), ("ck_b", ckb, ckbs)]
    UU[1] = ("random", UU[1][1], UU[1][1])
    INT = [("null", None, None), ("-1", -1, -1), ("0", 0, 0), ("max", 2147483647, 2147483647)]
    IV = [("null", None, None), ("neg", "-1 s", "-1 s"), ("0", "0", "0"), ("huge", "100 years", "100 years")]
    BOOL = [("null", None, None), ("false", False, False)]
    TARR = [("null", None, None), ("empty", "{}", "{}"), ("nullelem", "{NULL}", "{NULL}"), ("unknown", "{zz}", "{zz}")]
    NAME = [("null", None, None), ("empty", "", ""), ("unknown", "nope", "nope")]
    T = {"text": TXT, "jsonb": JS, "uuid": UU, "integer": INT, "interval": IV, "boolean": BOOL, "text[]": TARR,
         "name": NAME}
    # function, [(arg, type, valid value)]; writes are rolled back on the single
    # server, not on the shards (PL/Proxy commits there): a valid base uses names
    # made for the call where a write would change later calls
    F = [
        ("sg_invoke", [("graph", "text", "loop"), ("input", "jsonb", '{"n": 0}'), ("thread_id", "text", "fresh"),
                       ("checkpoint_id", "uuid", None), ("resume", "jsonb", None), ("recursion_limit", "integer", 25),
                       ("on_error", "text", "raise")]),
        ("sg_stream", [("graph", "text", "loop"), ("input", "jsonb", '{"n": 0}'), ("thread_id", "text", "fresh"),
                       ("checkpoint_id", "uuid", None), ("recursion_limit", "integer", 25), ("mode", "text", "updates")]),
        ("sg_get_state", [("thread_id", "text", ta), ("checkpoint_id", "uuid", None)]),
        ("sg_get_state_history", [("thread_id", "text", ta), ("limit", "integer", None), ("before", "uuid", None),
                                  ("filter", "jsonb", None)]),
        ("sg_draw_history", [("thread_id", "text", ta), ("format", "text", "mermaid"), ("limit", "integer", None)]),
        ("sg_draw", [("graph", "text", "loop"), ("format", "text", "mermaid")]),
        ("sg_export_thread", [("thread_id", "text", ta)]),
        ("sg_import_thread", [("data", "jsonb", "EXPORT"), ("thread_id", "text", "fresh")]),
        ("sg_delete_thread", [("thread_id", "text", "fresh")]),
        ("sg_update_state", [("thread_id", "text", "COPY_A"), ("values", "jsonb", '{"n": 1}'), ("as_node", "text", None),
                             ("checkpoint_id", "uuid", None)]),
        ("sg_fork", [("thread_id", "text", ta), ("checkpoint_id", "uuid", "CKA"), ("new_thread_id", "text", "fresh")]),
        ("sg_threads", [("graph", "text", None)]),
        ("sg_prune", [("older_than", "interval", None), ("keep_last", "integer", 100), ("thread_id", "text", ta)]),
        ("sg_submit", [("graph", "text", "loop"), ("input", "jsonb", '{"n": 0}'), ("thread_id", "text", "fresh"),
                       ("recursion_limit", "integer", 25), ("multitask", "text", "reject"), ("after", "interval", None),
                       ("idempotency_key", "text", None)]),
        ("sg_runs", [("thread_id", "text", None), ("status", "text", None)]),
        ("sg_wait", [("run_id", "uuid", str(uuid.uuid4())), ("timeout", "interval", "0")]),
        ("sg_cancel", [("run_id", "uuid", str(uuid.uuid4())), ("action", "text", "interrupt")]),
        ("sg_set_retention", [("graph", "text", "nope"), ("ttl", "interval", "1 day"), ("strategy", "text", "delete"),
                              ("keep_last", "integer", None)]),
        ("sg_tasks", [("queue", "text", None), ("status", "text", None)]),
        ("sg_claim", [("queue", "text", "nothere"), ("worker", "text", "w"), ("n", "integer", 1), ("lease", "interval", None),
                      ("wait", "interval", "0")]),
        ("sg_heartbeat", [("task_id", "text", "nope"), ("token", "uuid", str(uuid.uuid4())), ("extend", "interval", None)]),
        ("sg_complete", [("task_id", "text", "nope"), ("token", "uuid", str(uuid.uuid4())), ("update", "jsonb", "{}")]),
        ("sg_fail", [("task_id", "text", "nope"), ("token", "uuid", str(uuid.uuid4())), ("error", "jsonb", "{}"),
                     ("retry", "boolean", True)]),
        ("sg_interrupt_task", [("task_id", "text", "nope"), ("token", "uuid", str(uuid.uuid4())), ("value", "jsonb", "{}")]),
        ("sg_reassign_owned", [("old_role", "name", "nope"), ("new_role", "name", "nope2")]),
        ("sg_create_graph", [("graph", "text", "nope"), ("channels", "jsonb", '{"n": "bogus"}')]),
        ("sg_add_node", [("graph", "text", "nope"), ("node", "text", "a"), ("fn", "text", "fz_step(jsonb,jsonb)")]),
        ("sg_add_edge", [("graph", "text", "nope"), ("source", "text", "a"), ("target", "text", "b")]),
        ("sg_compile", [("graph", "text", "nope")]),
        ("sg_drop_graph", [("graph", "text", "nope")]),
        ("sg_interrupt", [("value", "jsonb", "1")]),
    ]
    export = r.execute("SELECT sg_export_thread(%s)::text", (ta,)).fetchone()[0]
    exports = s.execute("SELECT sg_export_thread(%s)::text", (ta,)).fetchone()[0]
    counts = collections.Counter()
    bad = []
    n = 0
    seq = [0]

    def fresh():
        seq[0] += 1
        return "fz_fresh_%d_%s" % (seq[0], uuid.uuid4().hex[:6])

    def base(v, single):
        if v == "fresh":
            return fresh()
        if v == "EXPORT":
            return exports if single else export
        if v == "CKA":
            return ckas if single else cka
        if v == "COPY_A":
            return ta
        return v

    for role in (None, ROLE):
        for c in (r, s):
            c.execute("RESET ROLE" if role is None else "SET ROLE " + role)
        for fn, params in F:
            for i, (pname, ptype, _) in enumerate(params):
                for label, rv, sv in T[ptype] + [("valid", "VALID", "VALID")]:
                    if label == "valid" and i > 0:
                        continue
                    # the threads every call uses stay: deleting one of each shard is tried below
                    if fn == "sg_delete_thread" and label in ("thread_a", "thread_b"):
                        continue
                    ra, sa = [], []
                    for j, (qn, qt, qv) in enumerate(params):
                        if j == i and label != "valid":
                            ra.append(rv), sa.append(sv)
                        else:
                            b = base(qv, False)
                            ra.append(b)
                            sa.append(b if qv != "EXPORT" and qv != "CKA" else base(qv, True))
                    cast = "".join("%s => %%s::%s, " % ('"%s"' % qn if qn in ("limit", "values") else qn, qt)
                                   for qn, qt, _ in params).rstrip(", ")
                    if fn in ("sg_add_node",):
                        cast = cast.replace("fn => %s::text", "fn => %s::text")
                    sql = "SELECT * FROM %s(%s)" % (fn, cast)
                    ro, rm = outcome(r, sql, ra)
                    # the regprocedure of one server, sent as text by the router
                    so, sm = outcome(s, sql.replace("fn => %s::text", "fn => %s::regprocedure"), sa)
                    if fn == "sg_add_node" and pname == "fn" and ro != "ok" and so != "ok":
                        so = ro     # a name the server cannot resolve: a cast error on one server
                    n += 1
                    key = "%s(%s=%s)%s" % (fn, pname if label != "valid" else "*", label, " as plain" if role else "")
                    counts[(fn, ro, so)] += 1
                    if ro in ("XX000", "lost") or ro.endswith("/plproxy") or ro != so:
                        bad.append((key, ro, rm, so, sm))
                    if ro == "lost":
                        r = conn(ROUTER)
        for c in (r, s):
            c.execute("RESET ROLE")
    # a thread of each shard deleted, as its owner and as another role
    for t in (by[shards[0]][1], by[shards[1]][1]):
        for role in (ROLE, None):
            for c in (r, s):
                c.execute("RESET ROLE" if role is None else "SET ROLE " + role)
            ro, rm = outcome(r, "SELECT sg_delete_thread(%s)", [t])
            so, sm = outcome(s, "SELECT sg_delete_thread(%s)", [t])
            n += 1
            counts[("sg_delete_thread", ro, so)] += 1
            if ro in ("XX000", "lost") or ro.endswith("/plproxy") or ro != so:
                bad.append(("sg_delete_thread(%s)%s" % (t, " as plain" if role else ""), ro, rm, so, sm))
    for c in (r, s):
        c.execute("RESET ROLE")
    gone = r.execute("SELECT count(*) FROM sg_threads() WHERE thread_id = ANY (%s)",
                     ([by[shards[0]][1], by[shards[1]][1]],)).fetchone()[0]
    if gone:
        bad.append(("sg_delete_thread: still listed", str(gone), "", "0", ""))
    print("%-22s %-16s %-16s %s" % ("function", "router", "one server", "calls"))
    for (fn, ro, so), k in sorted(counts.items()):
        print("%-22s %-16s %-16s %d" % (fn, ro, so, k))
    print("calls: %d (each through the router and on one server)" % n)
    for key, ro, rm, so, sm in bad:
        print("BAD %s: router %s (%s), one server %s (%s)" % (key, ro, rm, so, sm))
    # consistency
    problems = r.execute("SELECT count(*) FROM stategraph_router.check_definitions()").fetchone()[0]
    print("check_definitions rows: %d" % problems)
    listed = [t for (t,) in r.execute("SELECT thread_id FROM sg_threads()")]
    dup = [t for t, k in collections.Counter(listed).items() if k > 1]
    print("threads listed: %d, listed twice: %d" % (len(listed), len(dup)))
    reimport = 0
    for db in SHARDS:
        c = conn(db)
        for (t,) in c.execute("SELECT thread_id FROM stategraph.threads").fetchall():
            try:
                with c.transaction(force_rollback=True):
                    e = c.execute("SELECT sg_export_thread(%s)", (t,)).fetchone()[0]
                    c.execute("SELECT sg_delete_thread(%s)", (t,))
                    c.execute("SELECT sg_import_thread(%s)", (json.dumps(e),))
            except psycopg.Error as ex:
                reimport += 1
                print("REIMPORT %s %s: %s %s" % (db, t, ex.diag.sqlstate, ex.diag.message_primary))
        c.close()
    nbad = len(bad) + (1 if problems else 0) + len(dup) + reimport
    print("bad outcomes: %d" % nbad)
    return 1 if nbad else 0


if __name__ == "__main__":
    sys.exit(main())
