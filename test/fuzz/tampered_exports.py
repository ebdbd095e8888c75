#!/usr/bin/python3
# test/fuzz/tampered_exports.py [thread...]: Exports with one change and a recomputed digest: import must refuse them
# (SGX01/22023...) or store a thread that every reader handles without
# internal errors.
import sys, json, random, copy, psycopg, collections, os

random.seed(int(os.environ.get("SEED", "1")))
import time
from fzconn import connect
conn, cur = connect()
SRC = sys.argv[1:] or ["l1", "l2", "f1", "h1", "l3", "l4", "e4", "e1", "e3", "lg1"]
N = int(os.environ.get("N", "300"))
exports = {}
for t in SRC:
    cur.execute("SELECT sg_export_thread(%s)", (t,))
    exports[t] = cur.fetchone()[0]
conn.rollback()

SG_DIG = ("SELECT md5(COALESCE(%(d)s->'thread','null')::text || COALESCE(%(d)s->'checkpoints','null')::text"
          " || COALESCE(%(d)s->'fork_writes','null')::text)")
LG_DIG = ("SELECT md5((%(d)s->>'version') || COALESCE(%(d)s->'thread_id','null')::text || COALESCE(%(d)s->'checkpoints','null')::text"
          " || COALESCE(%(d)s->'blobs','null')::text || COALESCE(%(d)s->'writes','null')::text)")

def paths(doc, pre=()):
    yield pre
    if isinstance(doc, dict):
        for k, v in doc.items():
            if pre == () and k in ("digest", "format", "version"):
                continue
            yield from paths(v, pre + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, pre + (i,))

def get(doc, p):
    for k in p:
        doc = doc[k]
    return doc

ids = set()
def collect_ids(doc):
    if isinstance(doc, dict):
        for v in doc.values(): collect_ids(v)
    elif isinstance(doc, list):
        for v in doc: collect_ids(v)
    elif isinstance(doc, str) and len(doc) == 36 and doc.count("-") == 4:
        ids.add(doc)
for e in exports.values():
    collect_ids(e)
ids = sorted(ids)

VALS = [None, 0, -1, 1, 2147483648, -2147483649, 1e300, "", "x", "nope", [], {}, [None], [[]], {"a": 1}, True,
        "00000000-0000-0000-0000-000000000000", "__start__", "__end__", "a", "b", ["a"], ["nope"],
        [{"node": "nope"}], [["a", {}]], [["nope", {"n": 1}]], "append", "image", "fz_alice", "pg_signal_backend",
        "2026-01-01", "infinity", "-infinity", {"n": 1}, {"n": "x"}, {"log": 5}, "x" * 300]

def mutate(doc):
    doc = copy.deepcopy(doc)
    ps = [p for p in paths(doc) if p]
    p = random.choice(ps)
    parent = get(doc, p[:-1])
    k = p[-1]
    r = random.random()
    if r < 0.15 and isinstance(parent, dict):
        del parent[k]; return doc, "del %r" % (p,)
    if r < 0.22 and isinstance(parent, list):
        if random.random() < 0.5 and len(parent) > 0:
            parent.append(copy.deepcopy(parent[k])); return doc, "dup %r" % (p,)
        del parent[k]; return doc, "drop %r" % (p,)
    if r < 0.4 and ids:
        v = random.choice(ids)
    elif r < 0.5:
        v = copy.deepcopy(get(doc, random.choice(ps)))
    else:
        v = random.choice(VALS)
    parent[k] = v
    s = json.dumps(v)
    return doc, "set %r = %s" % (p, s[:60])

READERS = [
    "SELECT sg_get_state(%(t)s)::text",
    "SELECT count(*) FROM sg_get_state_history(%(t)s)",
    "SELECT sg_export_thread(%(t)s)::text",
    "SELECT sg_draw_history(%(t)s)",
    "SELECT sg_invoke((SELECT graph FROM stategraph.threads WHERE thread_id = %(t)s), NULL, thread_id => %(t)s, recursion_limit => 60)::text",
    "SELECT sg_invoke((SELECT graph FROM stategraph.threads WHERE thread_id = %(t)s), NULL, thread_id => %(t)s, resume => '\"r\"')::text",
    "SELECT sg_update_state(%(t)s, '{}')",
    "SELECT sg_fork(%(t)s, (SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = %(t)s ORDER BY random() LIMIT 1), %(t)s || '-fk')",
    "SELECT sg_get_state(%(t)s, (SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = %(t)s ORDER BY random() LIMIT 1))::text",
    "SELECT sg_prune(keep_last => 1, thread_id => %(t)s)",
    "SELECT count(*) FROM sg_threads()",
    "SELECT sg_delete_thread(%(t)s)",
    "SELECT sg_lg_get_tuple(%(t)s, '', NULL)::text",
    "SELECT count(*) FROM sg_lg_list(%(t)s)",
    "SELECT sg_lg_copy_thread(%(t)s, %(t)s || '-cp')",
    "SELECT sg_lg_prune(ARRAY[%(t)s], 'keep_latest')",
]

out = collections.Counter()
sus = []
for n in range(N):
    src = random.choice(SRC)
    base = exports[src]
    doc, what = mutate(base)
    if random.random() < 0.3:
        doc, w2 = mutate(doc); what += " ; " + w2
    lg = base.get("format") != "stategraph.thread"
    cur.execute(LG_DIG if lg else SG_DIG, {"d": psycopg.types.json.Jsonb(doc)})
    doc["digest"] = cur.fetchone()[0]
    tid = "imp%d" % n
    try:
        cur.execute("SET LOCAL statement_timeout = '10s'")
        cur.execute("SELECT sg_import_thread(%s, %s)", (psycopg.types.json.Jsonb(doc), tid))
        st = "ok"
    except psycopg.Error as e:
        st = e.diag.sqlstate
        msg = e.diag.message_primary
        out[("import", st)] += 1
        if st.startswith("XX") or st not in ("SGX01", "SGX02", "42710", "42501", "22023", "42704", "22004", "42804"):
            sus.append((src, what, "import", st, msg, e.diag.context))
        conn.rollback()
        continue
    out[("import", "ok")] += 1
    for rd in READERS:
        cur.execute("SAVEPOINT s")
        try:
            cur.execute(rd, {"t": tid})
            cur.fetchall()
            rst, msg = "ok", ""
        except psycopg.Error as e:
            rst, msg, ctx = e.diag.sqlstate, e.diag.message_primary, e.diag.context
            if conn.broken:
                print("CRASH", src, what, rd, flush=True); time.sleep(2); conn, cur = connect(); break
            cur.execute("ROLLBACK TO SAVEPOINT s")
            if rst not in ("55000", "SG004", "42704", "55P03", "SG003", "22023", "42710"):
                sus.append((src, what, rd[:60], rst, msg, (ctx or "")[:200]))
            elif rst in ("22023", "42704", "55000", "SG003"):
                sus.append(("minor", src, what, rd[:60], rst, msg))
        out[(rd[:40], rst)] += 1
    conn.rollback()

for s in sus:
    print(" | ".join(str(x) for x in s)[:500])
print("---")
for k, v in sorted(out.items()):
    print(k, v)
