#!/usr/bin/python3
# test/fuzz/bad_args.py [function...]: Systematic bad-input driver: each sg_ function called with one argument
# replaced by a bad value (and all NULL), each call in its own transaction
# (rolled back), recording SQLSTATE, message and context. After each rejected
# call: the same session's view of every thread (state cache) must equal the
# baseline, and the stored tables' digest must be unchanged.
import sys, json, random, uuid, psycopg, collections, os

from fzconn import connect
conn, cur = connect()

def q1(sql, *a):
    cur.execute(sql, a)
    r = cur.fetchone()
    return r[0] if r else None

TABLES = ["graphs", "nodes", "edges", "threads", "checkpoints", "branches", "runs", "tasks",
          "retention", "lg_checkpoints", "lg_blobs", "lg_writes"]
DIGEST = "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (" + " UNION ALL ".join(
    "SELECT '%s:' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS x FROM stategraph.%s t" % (t, t)
    for t in TABLES) + ") s"


def states():
    """Each thread's state as this session reads it (its caches), or the error it gives."""
    cur.execute("SELECT thread_id FROM stategraph.threads ORDER BY thread_id")
    out = {}
    for (t,) in cur.fetchall():
        cur.execute("SAVEPOINT st")
        try:
            cur.execute("SELECT sg_get_state(%s)::text", (t,))
            out[t] = cur.fetchone()[0]
        except psycopg.Error as e:
            out[t] = e.diag.sqlstate
        cur.execute("ROLLBACK TO SAVEPOINT st")
    return out

ck = {r[0]: str(r[1]) for r in cur.execute(
    "SELECT DISTINCT ON (thread_id) thread_id, checkpoint_id FROM stategraph.checkpoints ORDER BY thread_id, checkpoint_id DESC")}
lgck = q1("SELECT checkpoint_id::text FROM stategraph.lg_checkpoints LIMIT 1")
conn.rollback()

TXT = [None, "", "nope", "x" * 5000, "q'\"\\", "lg1", "l1", "h1", "e4", "a1", "__start__", "__end__", " l1", "L1",
       "\u00e9\u00e8", "%s%n", "l1;DROP"]
JS = [None, "null", "[]", "{}", "1", "-1", "\"s\"", "true", "1e1000", "[1,2]", "[{}]", "{\"n\": \"x\"}",
      "{\"n\": 1e308}", "{\"n\": -1e308}", "{\"\": 1}", "{\"nope\": 1}", "{\"n\": null}", "{\"n\": [1]}",
      "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]", "{\"a\": {\"b\": {\"c\": []}}}",
      json.dumps({"n": "x" * 10000}), "{\"format\": \"stategraph-thread\", \"version\": 1}",
      "{\"format\": \"langgraph-js-thread\", \"version\": 1}", "{\"__proto__\": 1}",
      "{\"node\": \"a\"}", "[{\"node\": \"nope\", \"arg\": 1}]", "{\"message\": 5}", "{\"max_attempts\": -1}",
      "{\"max_attempts\": 1e10}", "{\"backoff_ms\": -5}", "{\"max_attempts\": \"x\"}", "{\"max_attempts\": 0}"]
UU = [None, "00000000-0000-0000-0000-000000000000", str(uuid.uuid4()), ck.get("l1"), ck.get("h1"), ck.get("e4"),
      lgck, "ffffffff-ffff-ffff-ffff-ffffffffffff"]
INT = [None, -1, 0, 1, 2147483647, -2147483648]
IV = [None, "-1 s", "0", "1 microsecond", "178000000 years", "-178000000 years", "1 month -30 days", "1 month",
      "100000000 hours"]
TARR = [None, "{}", "{NULL}", "{\"\"}", "{l1,lg1}", "{" + ",".join(["x"] * 2000) + "}"]
NAMES = [None, "", "nope", "postgres", "fz_alice", "fz_bob", "pg_signal_backend", "public", "x" * 100]
BARR = [None, "{}", "{NULL}", "{\"\\\\x00\"}"]
IARR = [None, "{}", "{NULL}", "{-1}", "{0}", "{1000}", "{2147483647}"]

def P(typ, good, bad):
    return (typ, good, bad)

ENUM = lambda *good: TXT + list(good) + [g.upper() for g in good if g]
F = {
 "sg_invoke": dict(graph=P("text", "loop", TXT), input=P("jsonb", '{"n": 0}', JS), thread_id=P("text", "new-t", TXT),
                   checkpoint_id=P("uuid", None, UU), resume=P("jsonb", None, JS), recursion_limit=P("int", 50, INT),
                   on_error=P("text", "raise", ENUM("raise", "return"))),
 "sg_stream": dict(graph=P("text", "loop", TXT), input=P("jsonb", '{"n": 0}', JS), thread_id=P("text", "new-t", TXT),
                   checkpoint_id=P("uuid", None, UU), resume=P("jsonb", None, JS), recursion_limit=P("int", 50, INT),
                   on_error=P("text", "raise", ENUM("raise", "return")),
                   mode=P("text", "updates", ENUM("updates", "values", "debug", "messages", "custom"))),
 "sg_get_state": dict(thread_id=P("text", "l1", TXT), checkpoint_id=P("uuid", None, UU)),
 "sg_get_state_history": dict(thread_id=P("text", "l1", TXT), limit=P("int", 3, INT), before=P("uuid", None, UU),
                              filter=P("jsonb", None, JS)),
 "sg_update_state": dict(thread_id=P("text", "l1", TXT), values=P("jsonb", '{"n": 1}', JS), as_node=P("text", "a", TXT),
                         checkpoint_id=P("uuid", None, UU)),
 "sg_fork": dict(thread_id=P("text", "l1", TXT), checkpoint_id=P("uuid", ck.get("l1"), UU), new_thread_id=P("text", "nf", TXT)),
 "sg_threads": dict(graph=P("text", "loop", TXT)),
 "sg_delete_thread": dict(thread_id=P("text", "l5", TXT)),
 "sg_prune": dict(older_than=P("interval", None, IV), keep_last=P("int", 2, INT), thread_id=P("text", "l1", TXT)),
 "sg_draw": dict(graph=P("text", "loop", TXT), format=P("text", "mermaid", ENUM("mermaid", "dot", "ascii"))),
 "sg_draw_history": dict(thread_id=P("text", "l1", TXT), format=P("text", "mermaid", ENUM("mermaid", "dot")),
                         limit=P("int", 5, INT)),
 "sg_compile": dict(graph=P("text", "loop", TXT), interrupt_before=P("text[]", None, TARR + ["{a,a}", "{__end__}", "{*}"]),
                    interrupt_after=P("text[]", None, TARR + ["{__start__}", "{*}"])),
 "sg_create_graph": dict(graph=P("text", "ng", TXT), channels=P("jsonb", '{"n": "add"}', JS + ['{"n": "nope"}', '{"n": 5}', '{"n": "fz_step"}', '{"n": "nonexistent_fn"}'])),
 "sg_add_node": dict(graph=P("text", "loop", TXT), node=P("text", "z", TXT), fn=P("regprocedure", "fz_step(jsonb,jsonb)", [None, "fz_longest(jsonb,jsonb)", "fz_route(jsonb)", "sg_invoke(text,jsonb,text,uuid,jsonb,integer,text)", "now()", "fz_fail(jsonb)"]),
                     retry=P("jsonb", None, JS)),
 "sg_add_edge": dict(graph=P("text", "loop", TXT), source=P("text", "a", TXT), target=P("text", "c", TXT)),
 "sg_add_conditional_edges": dict(graph=P("text", "loop", TXT), source=P("text", "c", TXT),
                                  router=P("regprocedure", "fz_route(jsonb)", [None, "fz_step(jsonb,jsonb)", "now()", "fz_longest(jsonb,jsonb)"]),
                                  path_map=P("jsonb", None, JS)),
 "sg_drop_graph": dict(graph=P("text", "hitl", TXT)),
 "sg_add_external_node": dict(graph=P("text", "ext", TXT), node=P("text", "m2", TXT), queue=P("text", "q2", TXT),
                              retry=P("jsonb", None, JS), lease=P("interval", "1 hour", IV)),
 "sg_claim": dict(queue=P("text", "fzq", TXT), worker=P("text", "w", TXT), n=P("int", 1, INT), lease=P("interval", "1 hour", IV),
                  wait=P("interval", "0", [None, "-1 s", "0", "1 microsecond", "-178000000 years"])),
 "sg_tasks": dict(queue=P("text", "fzq", TXT), status=P("text", None, ENUM("queued", "claimed", "completed", "failed", "interrupted"))),
 "sg_submit": dict(graph=P("text", "loop", TXT), input=P("jsonb", '{"n": 0}', JS), thread_id=P("text", "st", TXT),
                   checkpoint_id=P("uuid", None, UU), resume=P("jsonb", None, JS), recursion_limit=P("int", 50, INT),
                   multitask=P("text", "reject", ENUM("reject", "enqueue", "interrupt", "rollback")),
                   after=P("interval", None, IV), idempotency_key=P("text", None, TXT)),
 "sg_runs": dict(thread_id=P("text", None, TXT), status=P("text", None, ENUM("queued", "running", "done", "failed", "cancelled"))),
 "sg_wait": dict(run_id=P("uuid", None, UU), timeout=P("interval", "0", [None, "-1 s", "0", "-178000000 years"])),
 "sg_cancel": dict(run_id=P("uuid", None, UU), action=P("text", "interrupt", ENUM("interrupt", "rollback"))),
 "sg_set_retention": dict(graph=P("text", "loop", TXT), ttl=P("interval", "1 day", IV),
                          strategy=P("text", "delete", ENUM("delete", "keep_latest")), keep_last=P("int", None, INT)),
 "sg_export_thread": dict(thread_id=P("text", "l1", TXT)),
 "sg_import_thread": dict(data=P("jsonb", None, JS), thread_id=P("text", "imp", TXT)),
 "sg_reassign_owned": dict(old_role=P("name", "fz_bob", NAMES), new_role=P("name", "fz_alice", NAMES)),
 "sg_interrupt": dict(value=P("jsonb", '"x"', JS)),
 "sg_lg_put": dict(thread_id=P("text", "lgn", TXT), checkpoint_ns=P("text", "", TXT), parent_checkpoint_id=P("uuid", None, UU),
                   checkpoint=P("jsonb", '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000f1", "ts": "2026-01-01T00:00:00.000Z", "channel_values": {"a": 1}, "channel_versions": {"a": 1}, "versions_seen": {}}',
                                JS + ['{"v": 4, "id": "zz", "channel_values": {}, "channel_versions": {}}',
                                      '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000f1", "ts": 5, "channel_values": {"a": 1}, "channel_versions": {"a": 1}, "versions_seen": {}}',
                                      '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000f1", "ts": [], "channel_values": {"a": 1}, "channel_versions": {"a": 1}, "versions_seen": {}}',
                                      '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000f1", "ts": ["a","b"], "channel_values": {"a": 1}, "channel_versions": {"a": 1}, "versions_seen": {}}',
                                      '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000f1", "channel_values": {"a": 1}, "channel_versions": {"a": [1]}, "versions_seen": []}',
                                      '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000f1", "channel_values": {"a": 1}, "channel_versions": {"b": 1}, "versions_seen": 5}',
                                      '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000f1", "channel_values": {"a": 1}, "channel_versions": {"a": null}}',
                                      '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000f1", "channel_values": {"a": 1}, "channel_versions": {"a": 1}, "pending_sends": 5}',
                                      '{"id": null}', '{"id": 5}']),
                   metadata=P("jsonb", '{"source": "input", "step": -1}', JS + ['{"parents": 5}', '{"step": "x"}', '{"source": []}']),
                   new_versions=P("jsonb", '{"a": 1}', JS + ['{"a": null}', '{"b": 1}', '{"a": []}']),
                   bytes_channels=P("text[]", None, TARR + ["{a}"]), bytes_types=P("text[]", None, TARR + ["{json}"]),
                   bytes_values=P("bytea[]", None, BARR),
                   expect_new=P("bool", None, [None, True, False]),
                   appends=P("jsonb", None, JS + ['{"a": []}', '{"a": [1]}', '{"a": {"from": 1}}', '{"nope": [1]}'])),
 "sg_lg_put_writes": dict(thread_id=P("text", "lg1", TXT), checkpoint_ns=P("text", "", TXT), checkpoint_id=P("uuid", lgck, UU),
                          task_id=P("text", "tk", TXT), writes=P("jsonb", '[["a", 1]]', JS + ['[["a"]]', '[[1, 2]]', '[["a", 1, 2]]', '[null]', '[["__error__", 1]]', '[["__interrupt__", {}]]']),
                          task_path=P("text", "", TXT), bytes_index=P("int[]", None, IARR), bytes_types=P("text[]", None, TARR),
                          bytes_values=P("bytea[]", None, BARR)),
 "sg_lg_get_tuple": dict(thread_id=P("text", "lg1", TXT), checkpoint_ns=P("text", "", TXT), checkpoint_id=P("uuid", None, UU)),
 "sg_lg_list": dict(thread_id=P("text", "lg1", TXT), checkpoint_ns=P("text", None, TXT), filter=P("jsonb", None, JS),
                    before=P("uuid", None, UU), limit=P("int", None, INT), checkpoint_id=P("uuid", None, UU)),
 "sg_lg_delete_thread": dict(thread_id=P("text", "lg1", TXT)),
 "sg_lg_copy_thread": dict(source_thread_id=P("text", "lg1", TXT), target_thread_id=P("text", "lgc", TXT)),
 "sg_lg_prune": dict(thread_ids=P("text[]", "{lg1}", TARR), strategy=P("text", "keep_latest", ENUM("keep_latest", "delete"))),
 "sg_lg_delete_for_runs": dict(run_ids=P("text[]", "{r1}", TARR)),
 "stategraph.sweep_leases": dict(limit=P("int", None, INT)),
 "stategraph.lg_next": dict(thread_id=P("text", "lg1", TXT), checkpoint=P("json", '{}', JS), blobs=P("jsonb", '{}', JS)),
 "stategraph.import_then_fork": dict(data=P("jsonb", None, JS), checkpoint_id=P("uuid", None, UU), new_thread_id=P("text", "x", TXT)),
 "stategraph.import_then_update_state": dict(data=P("jsonb", None, JS), thread_id=P("text", "x", TXT), values=P("jsonb", None, JS),
                                            as_node=P("text", None, TXT), checkpoint_id=P("uuid", None, UU)),
 "stategraph.may_work": dict(owner=P("name", "postgres", NAMES), queue=P("text", "fzq", TXT)),
 "stategraph.owned": dict(owner=P("name", "postgres", NAMES)),
 "stategraph.lg_thread_owner_is": dict(thread_id=P("text", "lg1", TXT), owner=P("text", "postgres", TXT)),
 "stategraph.run_status_check": dict(status=P("text", "queued", TXT)),
}
SRF = {"sg_stream", "sg_get_state_history", "sg_threads", "sg_claim", "sg_tasks", "sg_runs", "sg_lg_list"}

def call_sql(fn, args):
    parts, vals = [], []
    for k, (typ, v) in args.items():
        parts.append('"%s" => %%s::%s' % (k, typ))
        vals.append(v)
    body = "%s(%s)" % (fn, ", ".join(parts))
    sql = ("SELECT count(*) FROM %s" if fn in SRF else "SELECT %s IS NULL") % body
    return sql, vals

base_digest = q1(DIGEST)
base_states = states()
conn.rollback()

outcomes = collections.Counter()
LOG = open(os.environ.get("FUZZ_ERRORS", "/dev/null"), "w")
findings = []
roles = [None, "fz_alice"]
only = sys.argv[1:] or list(F)

def run(fn, args, label, role):
    sql, vals = call_sql(fn, args)
    try:
        cur.execute("SET LOCAL statement_timeout = '8s'")
        if role:
            cur.execute("SET LOCAL ROLE %s" % role)
        cur.execute(sql, vals)
        cur.fetchall()
        state, msg, ctx = "ok", "", ""
    except psycopg.Error as e:
        d = e.diag
        state, msg, ctx = d.sqlstate or "??", d.message_primary or str(e), d.context or ""
    conn.rollback()
    if conn.closed or conn.broken:
        raise SystemExit("connection lost at %s %s" % (fn, label))
    outcomes[(fn, state)] += 1
    if state != "ok":
        LOG.write("%s\t%s\t%s\t%s\t%s\t%s\n" % (fn, state, label[:150], role, msg.replace("\n"," ")[:250], ctx.replace("\n"," // ")[:400]))
    bad = state.startswith("XX") or state in ("P0001", "42883", "42601", "42P01", "42846", "0A000", "22000", "2F005", "39P01") \
        or any(w in msg for w in ("cache lookup", "unexpected", "unrecognized", "SPI_", "could not")) \
        or ("SQL statement" in ctx and not state.startswith(("22", "42", "SG", "55", "23", "40", "57")))
    if state != "ok":
        if states() != base_states:
            findings.append(("STATE-CHANGED", fn, label, role, state, msg))
        conn.rollback()
    if bad or state == "57014":
        findings.append(("SUSPECT", fn, label, role, state, msg[:200], ctx[:300]))
    return state, msg, ctx

for fn in only:
    spec = F[fn]
    good = {k: (t, g) for k, (t, g, b) in spec.items()}
    for role in roles:
        run(fn, good, "good", role)
        run(fn, {k: (t, None) for k, (t, g) in good.items()}, "all-null", role)
        for k, (t, g, bads) in spec.items():
            for b in bads:
                a = dict(good); a[k] = (t, b)
                run(fn, a, "%s=%r" % (k, b if not isinstance(b, str) or len(b) < 60 else b[:20] + "...(%d)" % len(b)), role)
    for _ in range(int(os.environ.get("RANDOM", "40"))):
        a = {k: (t, random.choice(b + [g])) for k, (t, g, b) in spec.items()}
        run(fn, a, "random " + json.dumps({k: (v if not isinstance(v, str) or len(v) < 40 else v[:10]) for k, (t, v) in a.items()}, default=str), random.choice(roles))

if q1(DIGEST) != base_digest:
    findings.append(("DIGEST-CHANGED", "after all", "", "", "", ""))
conn.rollback()
for f in findings:
    print(" | ".join(str(x) for x in f))
print("---")
byfn = collections.defaultdict(list)
for (fn, st), n in sorted(outcomes.items()):
    byfn[fn].append("%s %d" % (st, n))
for fn, l in byfn.items():
    print(fn, ":", ", ".join(l))
