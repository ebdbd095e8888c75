#!/usr/bin/python3
# test/fuzz/surfaces.py: the surfaces changed since the last fuzz rounds, attacked
# directly (each call in its own transaction, rolled back unless noted):
#   - sg_lg_put with appends whose base is tampered (wrong n, another thread's,
#     another channel's, another namespace's, a pruned checkpoint's, newer than
#     the checkpoint, huge or negative counts, non-array values); every put that
#     stores must read back as the base's value plus the elements sent;
#   - sg_lg_put_writes with LangGraph's special channels, odd task ids, paths
#     and bytes indexes; sg_lg_list filters, before, limit;
#   - imports of LangGraph.js exports with tampered blobs (base, n, digest);
#   - sg_submit (multitask, after, idempotency_key, several in one
#     transaction), sg_cancel actions, sg_wait timeouts, sg_set_retention;
# then the end check: every thread's sg_get_state / sg_lg_get_tuple reads,
# and every thread's export imports again (rolled back).
# Outcomes by SQLSTATE; a bad one is XX000, an internal message, a lost
# connection (a crash), or a put whose stored value reads other than sent.
import sys, os, json, random, uuid, copy, collections, decimal, psycopg

random.seed(int(os.environ.get("SEED", "3")))
N = int(os.environ.get("N", "400"))
from fzconn import connect


warnings = []


def connect_client():
    """A connection whose cursor binds on the client (several statements in one call);
    the server's warnings are kept (a lock released that the call did not take warned)."""
    c, _ = connect()
    c.add_notice_handler(lambda d: warnings.append(d.message_primary) if d.severity_nonlocalized == "WARNING" else None)
    return c, psycopg.ClientCursor(c)


conn, cur = connect_client()
out = collections.defaultdict(collections.Counter)
bad = []


def same_json(a, b):
    """Equal as JSON: numbers compared as decimals (jsonb prints 1e308 as 1 and
    308 zeros, which Python reads as an int unequal to the float 1e308)."""
    exact = lambda v: json.loads(json.dumps(v), parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    return exact(a) == exact(b)


def q1(sql, *a):
    cur.execute(sql, a)
    r = cur.fetchone()
    return r[0] if r else None


def attempt(kind, sql, args=(), check=None, commit=False):
    """Runs sql in its own transaction (rolled back, or committed); counts the outcome."""
    global conn, cur
    del warnings[:]
    try:
        cur.execute(sql, args)
        while cur.nextset():    # several statements: the last one's rows
            pass
        r = cur.fetchall() if cur.description else None
        if check:
            msg = check(r)
            if msg:
                bad.append((kind, msg, sql[:200], repr(args)[:400]))
                out[kind]["CORRUPT"] += 1
                conn.rollback()
                return r
        out[kind]["ok"] += 1
        if commit:
            conn.commit()
        else:
            conn.rollback()
        if warnings:
            bad.append((kind, "WARNING " + "; ".join(warnings[:3]), sql[:200], repr(args)[:400]))
        return r
    except psycopg.OperationalError as e:
        if not conn.closed:
            return failed(kind, e)
        out[kind]["CRASH"] += 1
        bad.append((kind, "connection lost: %s" % e, sql[:200], repr(args)[:400]))
        conn, cur = connect_client()
    except psycopg.Error as e:
        return failed(kind, e, sql, args)
    return None


sample = {}


def failed(kind, e, sql="", args=()):
    if warnings:
        bad.append((kind, "WARNING " + "; ".join(warnings[:3]), sql[:200], repr(args)[:400]))
    st = e.diag.sqlstate or "?"
    m = e.diag.message_primary or ""
    if st.startswith("XX") and st != "XX001" or "cache lookup" in m or "unrecognized" in m or "unexpected" in m:
        bad.append((kind, "%s %s" % (st, m), sql[:200], repr(args)[:400]))
    out[kind][st] += 1
    sample.setdefault((kind, st, m[:60]), m)
    conn.rollback()
    return None


def cpdoc(cid, values, versions, seen=None):
    return json.dumps({"v": 4, "id": cid, "ts": "2026-01-02T00:00:00.000Z", "channel_values": values,
                       "channel_versions": versions, "versions_seen": seen or {}})


PUT = ("SELECT sg_lg_put(%s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s::text[], %s::text[], %s::bytea[], "
       "%s, %s::jsonb)")


def ids(prefix, k):
    return "1ef00000-0000-6000-8000-%s%08x" % (prefix, k)


# ---------------------------------------------------------------------------
# seed (committed): zlg, a chain of appends in '' and in namespace 'sub:1';
# zlg2, another thread; zlgp, pruned (its first checkpoints' ids kept);
# zlga, fz_alice's
seeded = {}


def seed(thread, pfx, steps, role=None, ns=""):
    if role:
        cur.execute("SET ROLE " + role)
    prev = None
    msgs = []
    made = []
    for s in range(steps):
        cid = ids(pfx, s + 1)
        msgs = msgs + ["m%d" % s]
        vals = {"messages": msgs, "step": s, "obj": {"k": s}, "__start__": {"x": 1} if s == 0 else None}
        vals = {k: v for k, v in vals.items() if v is not None}
        vers = {"messages": s + 1, "step": s + 1, "obj": s + 1}
        newv = {"messages": s + 1, "step": s + 1, "obj": s + 1}
        if s == 0:
            vers["__start__"] = 1
            newv["__start__"] = 1
        app = None
        if s > 1:
            app = json.dumps({"messages": {"base": made[-1], "n": len(msgs) - 1}})
            vals["messages"] = msgs[-1:]
        cur.execute(PUT, (thread, ns, prev, cpdoc(cid, vals, vers), json.dumps({"source": "loop", "step": s}),
                          json.dumps(newv), None, None, None, False, app))
        got = cur.fetchone()[0]
        assert got is not None, (thread, s, "seed append refused")
        cur.execute("SELECT sg_lg_put_writes(%s, %s, %s, %s, %s::jsonb)",
                    (thread, ns, cid, "task-%d" % s, json.dumps([["messages", ["w%d" % s]], ["step", s]])))
        made.append(cid)
        prev = cid
    if role:
        cur.execute("RESET ROLE")
    seeded[(thread, ns)] = made
    return made


for t in ("zlg", "zlg2", "zlgp", "zlga"):
    cur.execute("SELECT sg_lg_delete_thread(%s)", (t,))
conn.commit()
zlg = seed("zlg", "0001", 6)
zsub = seed("zlg", "0002", 3, ns="sub:1")
zlg2 = seed("zlg2", "0003", 4)
zlgp = seed("zlgp", "0004", 5)
zlga = seed("zlga", "0005", 3, role="fz_alice")
conn.commit()
cur.execute("SELECT sg_lg_prune(ARRAY['zlgp'], 'keep_latest')")
conn.commit()


def value_at(thread, ns, cid, channel):
    cur.execute("SELECT sg_lg_get_tuple(%s, %s, %s)::jsonb #> %s", (thread, ns, cid, ["channel_values", channel]))
    r = cur.fetchone()
    return r[0] if r else None


# ---------------------------------------------------------------------------
# 1. sg_lg_put with appends
bases = {"own": ("zlg", "", zlg[-1]), "own_old": ("zlg", "", zlg[2]), "own_first": ("zlg", "", zlg[0]),
         "other_thread": ("zlg2", "", zlg2[-1]), "sub_ns": ("zlg", "sub:1", zsub[-1]),
         "pruned": ("zlgp", "", zlgp[1]), "alice": ("zlga", "", zlga[-1]), "random": (None, "", str(uuid.uuid4())),
         "zero": (None, "", "00000000-0000-0000-0000-000000000000"),
         "max": (None, "", "ffffffff-ffff-ffff-ffff-ffffffffffff")}
# the true element count of each (thread, ns, base) as read
truth = {}
for name, (t, ns, b) in bases.items():
    if t:
        try:
            v = value_at(t, ns, b, "messages")
            truth[name] = v
        except psycopg.Error:
            truth[name] = None
        conn.rollback()
N_VALUES = [None, -1, 0, 1, 2, 3, 4, 5, 6, 7, 2147483647, -2147483648, 2147483648, 1e10, 1.5, "3", [], {}, True]
EL = [["new"], [], [None], [[1], {"a": 2}], "x", 5, None, {"a": 1}, ["y"] * 3000, [1e308]]
k = 0


def put_case():
    global k
    k += 1
    thread, ns = random.choice([("zlg", ""), ("zlg", ""), ("zlg", "sub:1"), ("zlg2", ""), ("zlgp", ""), ("zlga", "")])
    chain = seeded[(thread, ns)]
    head = q1("SELECT (sg_lg_get_tuple(%s, %s)::jsonb #>> '{config,configurable,checkpoint_id}')", thread, ns) or chain[-1]
    conn.rollback()
    parent = random.choice([head, head, chain[0], None, str(uuid.uuid4()), zlg2[-1]])
    cid = random.choice([ids("9%03x" % (k % 4096), k), ids("9%03x" % (k % 4096), k), chain[0],
                         "00000000-0000-0000-0000-00000000000%d" % (k % 10)])
    bname = random.choice(list(bases))
    bt, bns, base = bases[bname]
    channel = random.choice(["messages"] * 12 + ["step", "obj", "nope", "__start__"])
    n = random.choice(N_VALUES + [len(truth.get(bname) or [])] * 6)
    el = random.choice(EL[:4] * 3 + EL)
    shape = random.random()
    if shape < 0.8:
        app = {channel: {"base": base, "n": n}}
    elif shape < 0.85:
        app = {channel: {"base": base}}
    elif shape < 0.9:
        app = {channel: {"base": n, "n": n}}
    elif shape < 0.95:
        app = random.choice([[], 5, "x", {channel: 5}, {channel: []}, {"": {"base": base, "n": 1}}])
    else:
        app = {channel: {"base": base, "n": n}, "messages": {"base": base, "n": n}}
    vals = {"messages": el, "step": 9, "obj": {"z": 1}}
    if random.random() < 0.2:
        vals.pop(random.choice(list(vals)))
    newv = {"messages": 99, "step": 99, "obj": 99}
    if random.random() < 0.2:
        newv.pop(random.choice(list(newv)))
    vers = {"messages": 99, "step": 99, "obj": 99, "nope": 1}
    bc = bt_ = bv = None
    if random.random() < 0.15:
        bc, bt_, bv = [channel], ["bytes"], [b"\x01\x02"]
    role = random.choice([None, None, None, "fz_alice", "fz_bob"])
    sql = ("SET LOCAL ROLE %s; " % role if role else "") + PUT
    args = (thread, ns, parent, cpdoc(cid, vals, vers), json.dumps({"source": random.choice(["loop", "update", "fork"]), "step": k}),
            json.dumps(newv), bc, bt_, bv, random.random() < 0.1, json.dumps(app))

    def check(r):
        got = r[0][0] if r else None
        if got is None:
            return None
        # stored: each channel with an append reads as its base's value plus the elements sent
        try:
            cur.execute("SELECT sg_lg_get_tuple(%s, %s, %s)::jsonb", (thread, ns, got))
            doc = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM sg_lg_list(%s, %s)", (thread, ns))
            cur.execute("SELECT count(*) FROM sg_lg_list(%s)", (thread,))
        except psycopg.Error as e:
            return "stored checkpoint unreadable: %s %s" % (e.diag.sqlstate, e.diag.message_primary)
        if not isinstance(app, dict):
            return None
        for ch, a in app.items():
            if not isinstance(a, dict) or ch not in newv:
                continue
            try:
                cur.execute("SELECT sg_lg_get_tuple(%s, %s, %s)::jsonb #> %s",
                            (thread, ns, a["base"], ["channel_values", ch]))
                basev = cur.fetchone()[0]
            except psycopg.Error as e:
                return "base unreadable after a stored append: %s" % e.diag.message_primary
            readv = doc["channel_values"].get(ch)
            if not isinstance(basev, list) or len(basev) != a.get("n"):
                return "append of %s stored on base %s of %r elements, n=%r: reads %r" % (
                    ch, a["base"], None if basev is None else len(basev), a.get("n"), str(readv)[:200])
            if not same_json(readv, basev + (vals.get(ch) if isinstance(vals.get(ch), list) else [vals.get(ch)])):
                return "append of %s reads %r, expected base %r + %r" % (ch, str(readv)[:200], str(basev)[:200], vals.get(ch))
        return None
    attempt("lg_put_appends:" + bname, sql, args, check)


for _ in range(N):
    put_case()

# appends then prune, then read, in one transaction; and a checkpoint put again
# after another extended it
def seq_prune():
    cid = ids("a000", random.randint(1, 1 << 20))
    sql = (PUT + "; SELECT sg_lg_prune(ARRAY['zlg'], %s); "
           "SELECT count(*) FROM sg_lg_list('zlg'); SELECT sg_lg_get_tuple('zlg')::jsonb #> '{channel_values,messages}'")
    args = ("zlg", "", zlg[-1], cpdoc(cid, {"messages": ["p"]}, {"messages": 50}), "{}", '{"messages": 50}',
            None, None, None, False, json.dumps({"messages": {"base": zlg[-1], "n": 6}}),
            random.choice(["keep_latest", "delete", "nope", None]))

    def check(r):
        want = ["m0", "m1", "m2", "m3", "m4", "m5", "p"]
        if r and r[0][0] != want and args[-1] == "keep_latest":
            return "after prune reads %r" % (r[0][0],)
    attempt("lg_put_then_prune", sql, args, check)


def seq_reput():
    c1 = ids("b000", 1)
    c2 = ids("b000", 2)
    sql = (PUT + ";" + PUT + ";" + PUT + "; SELECT sg_lg_get_tuple('zlg', '', %s)::jsonb #> '{channel_values,messages}'")
    el = random.choice(EL)
    args = ("zlg", "", zlg[-1], cpdoc(c1, {"messages": ["a"]}, {"messages": 60}), "{}", '{"messages": 60}',
            None, None, None, False, json.dumps({"messages": {"base": zlg[-1], "n": 6}}),
            "zlg", "", c1, cpdoc(c2, {"messages": ["b"]}, {"messages": 61}), "{}", '{"messages": 61}',
            None, None, None, False, json.dumps({"messages": {"base": c1, "n": 7}}),
            "zlg", "", zlg[-1], cpdoc(c1, {"messages": el}, {"messages": 60}), "{}", '{"messages": 60}',
            None, None, None, False, None, c2)

    def check(r):
        want = ["m0", "m1", "m2", "m3", "m4", "m5", "a", "b"]
        if r and r[0][0] != want:
            return "a checkpoint extending one put again reads %r (put: %r)" % (r[0][0], want)
    attempt("lg_reput_base", sql, args, check)


for _ in range(max(N // 20, 5)):
    seq_prune()
    seq_reput()

# ---------------------------------------------------------------------------
# 2. sg_lg_put_writes
SPECIAL = ["__error__", "__scheduled__", "__interrupt__", "__resume__", "__no_writes__", "__pregel_tasks",
           "__start__", "branch:to:x", "messages", "", "x" * 300]
TASKS = [None] + ["t"] * 8 + ["", "x" * 5000, "q'\"\\", "\u00e9", "00000000-0000-0000-0000-000000000000", " "]
for _ in range(N):
    thread, ns = random.choice([("zlg", ""), ("zlg", "sub:1"), ("zlga", ""), ("zlgp", ""), ("nope", "")])
    cid = random.choice(seeded.get((thread, ns), zlg) + [str(uuid.uuid4()), zlgp[0], None])
    nw = random.randint(0, 4)
    writes = [[random.choice(SPECIAL), random.choice([1, None, [], {"a": 1}, "v", [{"value": "q"}]])] for _ in range(nw)]
    if random.random() < 0.1:
        writes = random.choice([{}, "x", [1], [[1, 2]], [["a"]], [["a", 1, 2]], None, [[None, 1]]])
    bidx = random.choice([None] * 6 + [[0], [1], [-1], [0, 0], [3, 2], [2147483647], [None], []])
    bl = len(bidx) if isinstance(bidx, list) else 0
    btypes = None if bidx is None else random.choice([["bytes"] * bl] * 3 + [[None] * bl, ["x"]])
    bvals = None if bidx is None else random.choice([[b"\x00"] * bl] * 3 + [[None] * bl])
    path = random.choice(["", "", "", "p", None, "~" * 300])
    role = random.choice([None, None, "fz_alice", "fz_bob"])

    def check(r, thread=thread, ns=ns, cid=cid):
        try:
            cur.execute("SELECT sg_lg_get_tuple(%s, %s, %s)::jsonb", (thread, ns, cid))
            cur.execute("SELECT count(*) FROM sg_lg_list(%s, %s)", (thread, ns))
        except psycopg.Error as e:
            if e.diag.sqlstate.startswith("XX") or "unrecognized" in (e.diag.message_primary or ""):
                return "after put_writes: %s %s" % (e.diag.sqlstate, e.diag.message_primary)
        return None
    attempt("lg_put_writes", ("SET LOCAL ROLE %s; " % role if role else "") +
            "SELECT sg_lg_put_writes(%s, %s, %s, %s, %s::jsonb, %s, %s::int[], %s::text[], %s::bytea[])",
            (thread, ns, cid, random.choice(TASKS), None if writes is None else json.dumps(writes), path,
             bidx, btypes, bvals), check)

# a checkpoint holding exactly the parent's (special) pending write, that
# write replaced by a later put_writes: the checkpoint reads what was put
# (fixed: it referred to the write; pg_regress fuzz3_lg_writes)
for ch in ["__error__", "__interrupt__", "__scheduled__", "__resume__", "messages", "__no_writes__"]:
    for size in (10, 300, 5000):
        val = {"message": "e" * size} if random.random() < 0.5 else [{"value": "v" * size}]
        c1, c2 = ids("c000", 1), ids("c000", 2)
        sql = (PUT + "; SELECT sg_lg_put_writes(%s, '', %s, 't', %s::jsonb); " + PUT +
               "; SELECT sg_lg_put_writes(%s, '', %s, 't', %s::jsonb); "
               "SELECT sg_lg_get_tuple(%s, '', %s)::jsonb #> %s")
        args = ("zw", "", None, cpdoc(c1, {}, {}), "{}", "{}", None, None, None, False, None,
                "zw", c1, json.dumps([[ch, val]]),
                "zw", "", c1, cpdoc(c2, {ch: val}, {ch: 2}), "{}", json.dumps({ch: 2}), None, None, None, False, None,
                "zw", c1, json.dumps([[ch, "changed"]]), "zw", c2, ["channel_values", ch])
        attempt("lg_value_of_special_write", sql, args,
                lambda r, val=val: None if r and r[0][0] == val else "reads %r" % (str(r)[:120],))

# a delete or prune, as a role that cannot see the thread, after a copy into
# it in the same transaction (fixed: it released the copy's lock and warned)
for role in ["fz_alice", "fz_bob"]:
    for sp in ("", "SAVEPOINT a; "):
        for call in ("SELECT sg_lg_delete_thread('zcopy')", "SELECT sg_lg_prune(ARRAY['zcopy'], 'keep_latest')",
                     "SELECT sg_lg_prune(ARRAY['zcopy', 'zlg'], 'delete')", "SELECT sg_prune(keep_last => 1, thread_id => 'zcopy')",
                     "SELECT sg_lg_delete_for_runs(ARRAY['zcopy'])", "SELECT sg_delete_thread('zcopy')"):
            attempt("lg_remove_after_copy", "SELECT sg_lg_copy_thread('zlg', 'zcopy'); " + sp +
                    "SET LOCAL ROLE %s; %s; %s; RESET ROLE; SELECT sg_lg_delete_thread('zcopy')" % (role, call, call))

# ---------------------------------------------------------------------------
# 3. sg_lg_list
FILTERS = [None, "{}", "[]", "1", "null", '{"source": "loop"}', '{"step": 1}', '{"step": "1"}', '{"parents": {}}',
           '{"source": null}', '{"a": {"b": [1]}}', '{"writes": null}', json.dumps({"x": "y" * 5000}), '"s"']
for _ in range(N):
    role = random.choice([None, None, "fz_alice"])
    attempt("lg_list", ("SET LOCAL ROLE %s; " % role if role else "") +
            "SELECT count(*), sum(length(d::text)) FROM sg_lg_list(%s, %s, %s::jsonb, %s, %s, %s) d",
            (random.choice([None, "zlg", "zlg2", "zlgp", "zlga", "nope", "", "l1"]),
             random.choice([None, "", "sub:1", "nope"]), random.choice(FILTERS),
             random.choice([None] + zlg + zlg2 + zlgp + zsub + [str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000"]),
             random.choice([None, -1, 0, 1, 3, 2147483647, -2147483648]),
             random.choice([None, zlg[0], zlg[-1], zsub[0], zlgp[0], str(uuid.uuid4())])))

# ---------------------------------------------------------------------------
# 4. imports of LangGraph.js exports with tampered blobs (digest recomputed)
LG_DIG = ("SELECT md5((%(d)s::jsonb->>'version') || COALESCE(%(d)s::jsonb->'thread_id','null')::text || COALESCE(%(d)s::jsonb->'checkpoints','null')::text"
          " || COALESCE(%(d)s::jsonb->'blobs','null')::text || COALESCE(%(d)s::jsonb->'writes','null')::text)")
exports = {}
for t in ("zlg", "zlg2", "zlgp", "lg2"):
    exports[t] = q1("SELECT sg_export_thread(%s)", t)
conn.rollback()
for _ in range(N):
    t = random.choice(list(exports))
    doc = copy.deepcopy(exports[t])
    for _ in range(random.randint(1, 2)):
        blobs = doc.get("blobs") or []
        if not blobs:
            break
        b = random.choice(blobs)
        field = random.choice(["base", "n", "digest", "value", "writer", "channel", "wcheckpoint", "version"])
        others = [x.get("writer") for x in blobs]
        b[field] = random.choice({
            "base": others + [None, str(uuid.uuid4()), "ffffffff-ffff-ffff-ffff-ffffffffffff", b.get("writer")],
            "n": [None, -1, 0, 1, 100, 2147483647, -2147483648, 2.5, "1"],
            "digest": [None, "\\x00", "\\x" + "ab" * 32, "x"],
            "value": [None, [[]], [{}], [5], [[1, 2, 3]], [None], ["x"], [[None]]],
            "writer": others + [str(uuid.uuid4())],
            "channel": ["messages", "step", "obj", "nope"],
            "wcheckpoint": [None, zlg[0], str(uuid.uuid4())],
            "version": [None, 1, "x", [], {}],
        }[field])
    cur.execute(LG_DIG, {"d": json.dumps(doc)})
    doc["digest"] = cur.fetchone()[0]
    conn.rollback()
    newid = "zimp-" + uuid.uuid4().hex[:8]

    def check(r, newid=newid):
        try:
            cur.execute("SELECT checkpoint_ns, checkpoint_id FROM stategraph.lg_checkpoints WHERE thread_id = %s", (newid,))
            for ns, cid in cur.fetchall():
                cur.execute("SAVEPOINT c")
                try:
                    cur.execute("SELECT sg_lg_get_tuple(%s, %s, %s)::text", (newid, ns, cid))
                    cur.execute("SELECT count(*) FROM sg_lg_list(%s, %s)", (newid, ns))
                    cur.execute("SELECT sg_get_state(%s)", (newid,))
                except psycopg.Error as e:
                    st = e.diag.sqlstate
                    if st.startswith("XX") and st != "XX001":
                        return "imported thread: %s %s" % (st, e.diag.message_primary)
                    out["lg_import_read"][st] += 1
                cur.execute("ROLLBACK TO SAVEPOINT c")
            # an append put onto every stored array value
            cur.execute("SELECT DISTINCT ON (checkpoint_ns, channel) checkpoint_ns, channel, writer, n FROM stategraph.lg_blobs "
                        "WHERE thread_id = %s AND n IS NOT NULL ORDER BY checkpoint_ns, channel, writer DESC", (newid,))
            for ns, ch, w, n in cur.fetchall():
                cur.execute("SAVEPOINT c")
                try:
                    nid = "ffff0000-0000-6000-8000-000000000001"
                    cur.execute(PUT, (newid, ns, None, cpdoc(nid, {ch: ["t"]}, {ch: 1000}), '{"source": "fork"}',
                                      json.dumps({ch: 1000}), None, None, None, False,
                                      json.dumps({ch: {"base": str(w), "n": n}})))
                    cur.execute("SELECT sg_lg_get_tuple(%s, %s, %s)::text", (newid, ns, nid))
                except psycopg.Error as e:
                    st = e.diag.sqlstate
                    if st.startswith("XX") and st != "XX001":
                        return "append onto imported value: %s %s" % (st, e.diag.message_primary)
                    out["lg_import_append"][st] += 1
                cur.execute("ROLLBACK TO SAVEPOINT c")
        except psycopg.Error as e:
            return "check failed: %s" % e
        return None
    attempt("lg_import_tampered", "SELECT sg_import_thread(%s::jsonb, %s)", (json.dumps(doc), newid), check)

# ---------------------------------------------------------------------------
# 5. runs: sg_submit, sg_cancel, sg_wait, sg_set_retention
MT = ["reject", "enqueue", "interrupt", "rollback", "", None, "REJECT", "x" * 300, "reject "]
AFTER = [None, "0", "-1 s", "1 ms", "1 day", "178000000 years", "-178000000 years", "1 month -30 days", "infinity"]
KEYS = [None, "", "k1", "k1", "x" * 5000, "q'\"\\", "\u00e9"]
THR = [None, "r1", "r3", "l1", "zlg", "lg1", "nope-new", "", "a1", "h1", "e4"]
for _ in range(N):
    nsub = random.randint(1, 3)
    parts = []
    args = []
    role = random.choice([None, None, "fz_alice", "fz_bob"])
    for _ in range(nsub):
        parts.append("SELECT sg_submit(%s, %s::jsonb, thread_id => %s, checkpoint_id => %s, resume => %s::jsonb, "
                     "recursion_limit => %s, multitask => %s, after => %s::interval, idempotency_key => %s)")
        if random.random() < 0.7:   # a valid submit, so that runs exist to wait for, cancel, enqueue behind
            args += [random.choice(["loop", "loop", "hitl", "fz_owned"]), '{"n": 0}',
                     random.choice([None, "zr1", "zr2", "zr3", "r1", "l1", "a1"]), None, None, 50,
                     random.choice(["reject", "enqueue", "interrupt", "rollback"]),
                     random.choice([None, None, "1 ms", "1 day"]), random.choice([None, None, "zk1", "zk2", "zk3"])]
            continue
        args += [random.choice(["loop", "hitl", "ext", "fz_owned", "nope", None]),
                 random.choice([None, '{"n": 0}', "[]", '"x"', '{"nope": 1}']),
                 random.choice(THR), random.choice([None, str(uuid.uuid4()), zlg[0]]),
                 random.choice([None, None, '"yes"', "null"]), random.choice([None, -1, 0, 25, 2147483647]),
                 random.choice(MT), random.choice(AFTER), random.choice(KEYS)]
    if random.random() < 0.5:
        parts.append("SELECT sg_cancel(run_id, %s) FROM stategraph.runs ORDER BY random() LIMIT 2")
        args.append(random.choice(["interrupt", "rollback", "", None, "INTERRUPT", "x" * 300, "delete"]))
    if random.random() < 0.3:
        parts.append("SELECT sg_wait(run_id, %s::interval) FROM stategraph.runs ORDER BY random() LIMIT 1")
        args.append(random.choice(["0", "-1 s", "1 ms", "10 ms", None, "-178000000 years", "1 month -30 days"]
                                  if random.random() < 0.9 else ["10 ms"]))
    if random.random() < 0.3:
        parts.append("SELECT count(*) FROM sg_runs(%s, %s)")
        args += [random.choice(THR), random.choice([None, "pending", "running", "success", "error", "interrupted", "nope", ""])]
    attempt("runs_batch", ("SET LOCAL ROLE %s; " % role if role else "") + "SET LOCAL statement_timeout = '5s'; " +
            "; ".join(parts), tuple(args), commit=random.random() < 0.3)
    if random.random() < 0.1:     # CALL sg_work commits: outside a transaction block
        conn.autocommit = True
        cur.execute("SET statement_timeout = '20s'")
        attempt("sg_work", "CALL sg_work(%s, %s::interval)",
                (random.choice([None, -1, 0, 1, 3, 2147483647]), random.choice([None, "-1 s", "0", "100 ms", "2 s"])))
        conn.autocommit = False
    if random.random() < 0.3:
        attempt("runs_real", "SET LOCAL statement_timeout = '5s'; SELECT sg_cancel(run_id, %s) FROM stategraph.runs "
                "WHERE status IN ('pending', 'running') ORDER BY random() LIMIT 1", (random.choice(["interrupt", "rollback"]),),
                commit=random.random() < 0.5)
        attempt("runs_real", "SET LOCAL statement_timeout = '5s'; SELECT sg_wait(run_id, %s::interval) FROM stategraph.runs "
                "ORDER BY random() LIMIT 1", (random.choice(["0", "1 ms", "50 ms", None]),))
for _ in range(max(N // 4, 10)):
    attempt("cancel", "SELECT sg_cancel(%s, %s)",
            (random.choice([None, str(uuid.uuid4())] + [str(r) for r in []]),
             random.choice(["interrupt", "rollback", None, ""])))
    attempt("wait", "SET LOCAL statement_timeout = '3s'; SELECT sg_wait(%s, %s::interval)",
            (random.choice([None, str(uuid.uuid4())]),
             random.choice([None, "0", "-1 s", "10 ms", "178000000 years", "-178000000 years"])))
    attempt("set_retention", "SELECT sg_set_retention(%s, %s::interval, %s, %s)",
            (random.choice([None, "loop", "nope", "", "fz_owned", "x" * 300]),
             random.choice([None, "0", "-1 s", "1 ms", "1 day", "178000000 years", "-178000000 years",
                            "1 month -30 days", "infinity", "-infinity"]),
             random.choice([None, "delete", "keep_latest", "keep_last", "", "nope", "DELETE"]),
             random.choice([None, -1, 0, 1, 2147483647, -2147483648])))
    attempt("reassign_owned", "SELECT sg_reassign_owned(%s, %s)",
            (random.choice([None, "", "nope", "fz_alice", "fz_bob", "postgres", "pg_signal_backend"]),
             random.choice([None, "", "nope", "fz_alice", "fz_bob", "postgres", "public"])))

# ---------------------------------------------------------------------------
# 6. the extension's C trigger functions as triggers of other tables (a
# superuser's mistake; fork_source_owned crashed on a non-text parent_thread)
# and rows written through them as fz_alice (as postgres too, except
# runs_loaded, which would hold the workers off while this session lasts)
for fn in ["fork_source_owned", "graph_gen", "graphs_changed", "runs_loaded"]:
    for cols in ["a int", "a int, parent_thread int", "a int, parent_thread text", "a int, gen bigint",
                 "a int, gen text", "a int, gen bigint GENERATED ALWAYS AS IDENTITY"]:
        for when in ["BEFORE INSERT OR UPDATE", "AFTER INSERT OR UPDATE", "BEFORE DELETE"]:
            for level in ["ROW", "STATEMENT"]:
                for role in (["fz_alice"] if fn == "runs_loaded" else ["fz_alice", None]):
                    attempt("trigger:" + fn,
                            "CREATE TABLE public.fz_trig (%s); GRANT ALL ON public.fz_trig TO PUBLIC; "
                            "CREATE TRIGGER t %s ON public.fz_trig FOR EACH %s EXECUTE FUNCTION stategraph.%s(); %s"
                            "INSERT INTO public.fz_trig (a) VALUES (1); UPDATE public.fz_trig SET a = 2; "
                            "DELETE FROM public.fz_trig" % (cols, when, level, fn,
                                                            "SET LOCAL ROLE %s; " % role if role else ""))

# ---------------------------------------------------------------------------
# 7. the end check: every thread reads and its export imports again
cur.execute("SELECT thread_id FROM stategraph.threads UNION SELECT thread_id FROM stategraph.lg_checkpoints ORDER BY 1")
threads = [r[0] for r in cur.fetchall()]
conn.rollback()
for t in threads:
    attempt("end_get_state", "SELECT sg_get_state(%s)::text", (t,))
    attempt("end_lg_tuples", "SELECT count(sg_lg_get_tuple(thread_id, checkpoint_ns, checkpoint_id)::text) "
            "FROM stategraph.lg_checkpoints WHERE thread_id = %s", (t,))
    attempt("end_export_import", "SELECT sg_import_thread(sg_export_thread(%s), 'zre-' || md5(%s))", (t, t))

for kind in sorted(out):
    print("| %s | %s |" % (kind, ", ".join("%s %d" % kv for kv in out[kind].most_common())))
if os.environ.get("MESSAGES"):
    for (kind, st, _), m in sorted(sample.items()):
        print("  %s %s %s" % (kind, st, m[:150]))
print("bad outcomes: %d" % len(bad))
for b in bad[:40]:
    print("BAD", b)
sys.exit(1 if bad else 0)
