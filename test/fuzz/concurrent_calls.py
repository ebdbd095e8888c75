#!/usr/bin/python3
# test/fuzz/concurrent_calls.py: P sessions (default 5) making random calls for SECS
# seconds (default 60), each call its own committed transaction, on a few
# shared threads of the graphs setup.sql makes (stategraph and LangGraph.js):
# invoke and resume, submit with every multitask, CALL sg_work, sg_wait,
# sg_cancel, claims and completions, update_state, fork, prune, delete,
# export/import, retention, LangGraph.js puts, writes, prunes, copies,
# deletes. Prints the outcomes by SQLSTATE and the suspicious ones: XX*,
# 40P01 (a deadlock between stategraph's own functions), 57014, 55P03,
# "unexpected"/"cache lookup" messages, server WARNINGs, lost connections.
# 40001 "another transaction created it" (two first writes of one id) is
# expected. Not run by run.sh. Usage, against a database made with
# setup.sql: FUZZ_DB=<db> [P=5] [SECS=60] [SEED=1] [OPS=a,b] /usr/bin/python3 concurrent_calls.py
import os, sys, random, time, json, collections, multiprocessing, uuid
import psycopg

DB = os.environ.get("FUZZ_DB", "fuzz")
P = int(os.environ.get("P", "5"))
SECS = float(os.environ.get("SECS", "60"))
TH = ["c%d" % i for i in range(6)]
EX = ["x%d" % i for i in range(4)]
LG = ["g%d" % i for i in range(3)]


def conn():
    c = psycopg.connect("dbname=" + DB, autocommit=False)
    return c


def runs(cur):
    cur.execute("SELECT run_id FROM stategraph.runs ORDER BY random() LIMIT 1")
    r = cur.fetchone()
    return r[0] if r else uuid.uuid4()


def task(cur):
    cur.execute("SELECT task_id, token FROM stategraph.tasks ORDER BY random() LIMIT 1")
    r = cur.fetchone()
    return r if r else ("nope", uuid.uuid4())


def op(cur, me):
    t = random.choice(TH)
    x = random.choice(EX)
    g = random.choice(LG)
    k = random.randrange(100)
    ops = [
        ("invoke", "SELECT sg_invoke('loop', '{\"n\": 0}', thread_id => %s, recursion_limit => 50, on_error => 'return')", (t,)),
        ("resume", "SELECT sg_invoke('loop', NULL, thread_id => %s, recursion_limit => 50)", (t,)),
        ("invoke_hitl", "SELECT sg_invoke('hitl', '{}', thread_id => %s, on_error => 'return')", ("h" + t,)),
        ("resume_hitl", "SELECT sg_invoke('hitl', NULL, thread_id => %s, resume => '\"y\"', on_error => 'return')", ("h" + t,)),
        ("submit", "SELECT sg_submit('loop', %s::jsonb, thread_id => %s, recursion_limit => 50, multitask => %s)",
         (random.choice(['{"n": 0}', None]), t, random.choice(["reject", "enqueue", "interrupt", "rollback"]))),
        ("submit_ext", "SELECT sg_submit('ext', '{\"n\": 0}', thread_id => %s, multitask => %s)",
         (x, random.choice(["reject", "enqueue", "interrupt", "rollback"]))),
        ("invoke_ext", "SELECT sg_invoke('ext', %s::jsonb, thread_id => %s)", (random.choice(['{"n": 0}', None]), x)),
        ("work", "CALL sg_work(2, '200 ms')", ()),
        ("wait", "SELECT sg_wait(%s, '50 ms')", None),
        ("cancel", "SELECT sg_cancel(%s, %s)", None),
        ("claim", "SELECT count(*) FROM sg_claim('fzq', %s, 2, '2 s', '0')", ("w%d" % me,)),
        ("complete", "SELECT sg_complete(%s, %s, '{\"n\": 1}')", "task"),
        ("fail", "SELECT sg_fail(%s, %s, '{\"message\": \"no\"}', %s)", "task2"),
        ("heartbeat", "SELECT sg_heartbeat(%s, %s, '5 s')", "task"),
        ("interrupt_task", "SELECT sg_interrupt_task(%s, %s, '\"q\"')", "task"),
        ("sweep", "SELECT stategraph.sweep_leases(10)", ()),
        ("update_state", "SELECT sg_update_state(%s, '{\"n\": 1}', as_node => %s)", (t, random.choice(["a", "b", "c", None]))),
        ("fork", "SELECT sg_fork(%s, (SELECT head FROM stategraph.threads WHERE thread_id = %s), %s)", (t, t, random.choice(TH))),
        ("prune", "SELECT sg_prune(NULL, 2, %s)", (t,)),
        ("prune_all", "SELECT sg_prune('1 ms', NULL, NULL)", ()),
        ("delete", "SELECT sg_delete_thread(%s)", (random.choice(TH + EX),)),
        ("get_state", "SELECT sg_get_state(%s)", (random.choice(TH + EX),)),
        ("history", "SELECT count(*) FROM sg_get_state_history(%s)", (random.choice(TH + EX),)),
        ("export_import", "SELECT sg_import_thread(sg_export_thread(%s), %s)", (t, "i" + t + str(k))),
        ("threads", "SELECT count(*) FROM sg_threads()", ()),
        ("runs", "SELECT count(*) FROM sg_runs(%s)", (t,)),
        ("tasks", "SELECT count(*) FROM sg_tasks(%s)", (x,)),
        ("retention", "SELECT sg_set_retention('loop', %s, %s)", (random.choice(["1 ms", "1 hour", None]), random.choice(["delete", "keep_latest"]))),
        ("lg_put", "SELECT sg_lg_put(%s, '', (SELECT checkpoint_id FROM stategraph.lg_checkpoints WHERE thread_id = %s ORDER BY checkpoint_id DESC LIMIT 1), %s::jsonb, '{\"source\":\"loop\",\"step\":1}', '{\"m\": 1}')",
         (g, g, json.dumps({"v": 4, "id": str(uuid.uuid1()), "channel_values": {"m": [k]}, "channel_versions": {"m": k}, "versions_seen": {}}))),
        ("lg_writes", "SELECT sg_lg_put_writes(%s, '', (SELECT checkpoint_id FROM stategraph.lg_checkpoints WHERE thread_id = %s ORDER BY checkpoint_id DESC LIMIT 1), %s, '[[\"m\", [1]]]')", (g, g, "t%d" % k)),
        ("lg_prune", "SELECT sg_lg_prune(ARRAY[%s], %s)", (g, random.choice(["keep_latest", "delete"]))),
        ("lg_delete", "SELECT sg_lg_delete_thread(%s)", (g,)),
        ("lg_copy", "SELECT sg_lg_copy_thread(%s, %s)", (g, random.choice(LG))),
        ("lg_get", "SELECT sg_lg_get_tuple(%s)", (g,)),
        ("lg_list", "SELECT count(*) FROM sg_lg_list(%s)", (g,)),
    ]
    only = os.environ.get("OPS")
    if only:
        ops = [o for o in ops if o[0] in only.split(",")]
    name, sql, args = random.choice(ops)
    if args is None:
        rid = runs(cur)
        args = (rid,) if name == "wait" else (rid, random.choice(["interrupt", "rollback"]))
    elif args in ("task", "task2"):
        tid, tok = task(cur)
        args = (tid, tok, random.random() < 0.5) if args == "task2" else (tid, tok)
    return name, sql, args


def worker(me, q):
    random.seed(me * 7919 + int(os.environ.get("SEED", "1")))
    c = conn()
    warns = []
    c.add_notice_handler(lambda d: warns.append(d.message_primary) if d.severity_nonlocalized == "WARNING" else None)
    cur = c.cursor()
    out = collections.Counter()
    sus = []
    end = time.time() + SECS
    while time.time() < end:
        try:
            cur.execute("SET statement_timeout = '20s'")
            c.commit()
            name, sql, args = op(cur, me)
            c.commit()
        except psycopg.Error as e:
            c.rollback(); continue
        del warns[:]
        try:
            if name == "work":
                c.autocommit = True
                cur.execute(sql, args)
                c.autocommit = False
            else:
                cur.execute(sql, args)
                if cur.description:
                    cur.fetchall()
                c.commit()
            st = "ok"
        except psycopg.Error as e:
            st = e.diag.sqlstate or "?"
            if c.broken:
                sus.append(("CRASH?", name, str(e)[:200]))
                time.sleep(3); c = conn(); cur = c.cursor(); c.add_notice_handler(lambda d: warns.append(d.message_primary) if d.severity_nonlocalized == "WARNING" else None)
                continue
            msg = e.diag.message_primary or ""
            c.rollback()
            c.autocommit = False
            if st.startswith("XX") or st in ("40P01", "57014", "55P03") or any(w in msg for w in ("cache lookup", "unexpected", "unrecognized", "SPI_", "could not")):
                sus.append((st, name, msg[:200], str(args)[:150], (e.diag.context or "")[:200]))
        for w in warns:
            if "failed: division by zero" in w:
                continue
            sus.append(("WARNING", name, w[:200], str(args)[:150]))
        out[(name, st)] += 1
    q.put((out, sus))


if __name__ == "__main__":
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=worker, args=(i, q)) for i in range(P)]
    for p in ps: p.start()
    tot = collections.Counter(); allsus = []
    for _ in ps:
        o, s = q.get(); tot.update(o); allsus += s
    for p in ps: p.join()
    byname = collections.defaultdict(dict)
    for (n, st), v in tot.items(): byname[n][st] = v
    for n in sorted(byname):
        print("%-15s %s" % (n, ", ".join("%s %d" % kv for kv in sorted(byname[n].items(), key=lambda kv: -kv[1]))))
    print("calls:", sum(tot.values()))
    seen = set()
    for s in allsus:
        key = (s[0], s[1], s[2][:60])
        if key in seen: continue
        seen.add(key); print("SUS", " | ".join(map(str, s)))
    print("suspicious:", len(allsus))
