#!/usr/bin/python3
# test/fuzz/concurrent_calls.py: P sessions (default 5) making random calls for SECS
# seconds (default 60), each call its own committed transaction, on a few
# shared threads of the graphs setup.sql makes (stategraph and LangGraph.js):
# invoke and resume, submit with every multitask, CALL sg_work, sg_wait,
# sg_cancel, claims and completions, update_state (of a thread, and from
# another thread's head: update_from), fork, prune, delete,
# export/import, retention, LangGraph.js puts, writes, prunes, copies,
# deletes; and (not with ROLES=1) node functions replaced by themselves and
# graphs compiled again (every backend's cached graphs dropped). Prints the outcomes by SQLSTATE and the suspicious ones: XX*,
# 40P01 (a deadlock between stategraph's own functions), 57014, 55P03,
# "unexpected"/"cache lookup" messages, server WARNINGs, lost connections.
# 40001 "another transaction created it" (two first writes of one id) is
# expected. Not run by run.sh. Usage, against a database made with
# setup.sql: FUZZ_DB=<db> [P=5] [SECS=60] [SEED=1] [OPS=a,b] /usr/bin/python3 concurrent_calls.py
#
# ROLES=1: the sessions log in as three ordinary roles, fz_r0..fz_r2 (made
# here, LOGIN, so the server must let them in as PGUSER's superuser is let
# in: trust or peer), session i as fz_r(i % 3). Each role owns a graph,
# fzg_<k> (a node function of its own, one of setup.sql's, a conditional
# loop), and calls it and setup.sql's graphs (loop, hitl, ext: anyone's to
# run) on thread ids r<k>t0..3 of its own, shared ids s0, s1, and now and
# then another role's (42501 expected), LangGraph.js ids r<k>g0..1 and s2
# (update_from: from the head of one of those stategraph ids).
# Besides the calls above (retention on its own graph) it makes, on a
# second connection as PGUSER (a superuser): reassign,
# sg_reassign_owned(a, b) of two of the roles then (b, a); rename, ALTER
# ROLE fz_r2 RENAME TO fz_r2x (and back) with sg_reassign_owned in the same
# transaction, as README "Security" asks; and, as the role, peek: the rows
# of stategraph's tables it can see that are not its own (a LEAK when any).
# 42501 is counted apart by message (some are expected: another role's id).
# At the end (ROLES=1): CALL sg_work as the superuser until no run is due,
# the runs by status, the runs still pending or running, and every thread
# read (sg_get_state) as its owner (SET ROLE): a failure there is a thread
# a role owns but cannot read.
import os, re, sys, random, time, json, collections, multiprocessing, uuid
import psycopg, psycopg.sql

DB = os.environ.get("FUZZ_DB", "fuzz")
P = int(os.environ.get("P", "5"))
SECS = float(os.environ.get("SECS", "60"))
TH = ["c%d" % i for i in range(6)]
EX = ["x%d" % i for i in range(4)]
LG = ["g%d" % i for i in range(3)]
MULTITASK = ["reject", "enqueue", "interrupt", "rollback"]


ROLES = os.environ.get("ROLES") == "1"
NR = 3


def conn(user=None):
    c = psycopg.connect("dbname=" + DB + ((" user=" + user) if user else ""), autocommit=False)
    return c


def role_names(cur):
    """The roles' names now (fz_r2 may be renamed fz_r2x), by index."""
    cur.execute("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname ~ '^fz_r[0-9]x?$' ORDER BY rolname")
    return [r[0] for r in cur.fetchall()]


def setup_roles():
    """Roles, grants and a graph of each (idempotent: a database used before keeps them)."""
    c = conn(); c.autocommit = True; cur = c.cursor()
    for k in range(NR):
        cur.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname IN (%s, %s)", ("fz_r%d" % k, "fz_r%dx" % k))
        if not cur.fetchone():
            cur.execute("CREATE ROLE fz_r%d LOGIN" % k)
    names = role_names(cur)
    cur.execute("GRANT CREATE ON SCHEMA public TO " + ", ".join(names))
    cur.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC")
    for k, r in enumerate(names):
        cur.execute("SELECT 1 FROM stategraph.graphs WHERE graph = %s", ("fzg_%d" % k,))
        if cur.fetchone():
            continue
        cur.execute("SET ROLE " + r)
        cur.execute("CREATE FUNCTION fz_r%d_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{\"n\": 1}'::jsonb $$" % k)
        # fz_step writes n, log, total and meta
        g = "fzg_%d" % k
        cur.execute("SELECT sg_create_graph(%s, '{\"n\": \"add\", \"log\": \"append\", \"total\": \"add\", \"meta\": \"merge\"}')", (g,))
        cur.execute("SELECT sg_add_node(%s, 'a', %s)", (g, "fz_r%d_step(jsonb)" % k))
        cur.execute("SELECT sg_add_node(%s, 'b', 'fz_step(jsonb,jsonb)')", (g,))
        cur.execute("SELECT sg_add_edge(%s, '__start__', 'a')", (g,))
        cur.execute("SELECT sg_add_edge(%s, 'a', 'b')", (g,))
        cur.execute("SELECT sg_add_conditional_edges(%s, 'b', 'fz_route(jsonb)', '{\"again\": \"a\", \"done\": \"__end__\"}')", (g,))
        cur.execute("SELECT sg_compile(%s)", (g,))
        cur.execute("RESET ROLE")
    c.close()


def op_roles(cur, su, me, k):
    """A call as role k (cur) or as the superuser (su: name, sql, args, "su")."""
    own = random.random() < 0.7
    kk = k if own else random.randrange(NR)
    t = random.choice(["r%dt%d" % (kk, i) for i in range(4)] + ["s0", "s1"])
    x = "x" + t
    g = random.choice(["r%dg%d" % (kk, i) for i in range(2)] + ["s2"])
    gr = random.choice(["fzg_%d" % k, "loop"])
    n = random.randrange(100)
    # the plain mode's calls on the role's ids and graphs (its fzg graph has
    # no node c; an update from the head of one of the ids t is drawn from);
    # then its own
    ops = call_ops(me, t, x, g, n, graph=gr, own_graph="fzg_%d" % k, nodes=("a", "b", None),
                   ids=[t, x], history_ids=[t], fork_to=["r%dt%d" % (k, i) for i in range(4)],
                   import_to="r%di%d" % (k, n % 8), copy_to=["r%dg%d" % (k, i) for i in range(2)],
                   from_ids=["r%dt%d" % (kk, i) for i in range(4)] + ["s0", "s1"])
    ops += [
        ("peek", "SELECT ARRAY[(SELECT count(*) FROM stategraph.threads WHERE owner <> current_user),"
         " (SELECT count(*) FROM stategraph.runs WHERE owner <> current_user),"
         " (SELECT count(*) FROM stategraph.tasks WHERE owner <> current_user),"
         " (SELECT count(*) FROM stategraph.checkpoints c JOIN stategraph.threads t USING (thread_id) WHERE t.owner <> current_user),"
         " (SELECT count(*) FROM stategraph.lg_checkpoints WHERE owner::name <> current_user),"
         " (SELECT count(*) FROM stategraph.lg_writes WHERE owner::name <> current_user),"
         " (SELECT count(*) FROM sg_threads() s WHERE NOT EXISTS (SELECT 1 FROM stategraph.threads t WHERE t.thread_id = s.thread_id AND t.owner = current_user)"
         " AND NOT EXISTS (SELECT 1 FROM stategraph.lg_checkpoints l WHERE l.thread_id = s.thread_id AND l.owner::name = current_user))], current_user", ()),
        ("reassign", None, "su"),
        ("rename", None, "su"),
    ]
    name, sql, args = pick(ops, cur)
    if args == "su":
        names = role_names(su)
        su.connection.commit()
        if name == "reassign":
            a, b = random.sample(names, 2)
            sql = ["SELECT sg_reassign_owned(%s, %s)", "SELECT sg_reassign_owned(%s, %s)"]
            args = [(a, b), (b, a)]
        else:
            old = [r for r in names if r.startswith("fz_r2")][0]
            new = "fz_r2" if old.endswith("x") else "fz_r2x"
            # one rename at a time (two of one role at once: PostgreSQL's own
            # XX000 "tuple concurrently updated")
            sql = ["SELECT pg_advisory_xact_lock(4747); ALTER ROLE %s RENAME TO %s; SELECT sg_reassign_owned('%s', '%s')" % (old, new, old, new)]
            args = [()]
    return name, sql, args


def runs(cur):
    cur.execute("SELECT run_id FROM stategraph.runs ORDER BY random() LIMIT 1")
    r = cur.fetchone()
    return r[0] if r else uuid.uuid4()


def task(cur):
    cur.execute("SELECT task_id, token FROM stategraph.tasks ORDER BY random() LIMIT 1")
    r = cur.fetchone()
    return r if r else ("nope", uuid.uuid4())


def call_ops(me, t, x, g, n, graph="loop", own_graph="loop", nodes=("a", "b", "c", None), ids=TH + EX,
             history_ids=TH + EX, fork_to=TH, import_to=None, copy_to=LG, from_ids=TH):
    """The calls of both modes (name, sql, args: pick), on thread t, external
    thread x and LangGraph.js thread g, n a number below 100: graph is run,
    own_graph given a retention; update_state names a node of nodes,
    update_from too, from the head of one of from_ids; delete and get_state
    take one of ids, history one of history_ids; fork makes one
    of fork_to, export_import import_to (default i<t><n>), lg_copy one of
    copy_to. Their defaults are the plain mode's (op); op_roles passes its
    own."""
    return [
        ("invoke", "SELECT sg_invoke(%s, '{\"n\": 0}', thread_id => %s, recursion_limit => 50, on_error => 'return')", (graph, t)),
        ("resume", "SELECT sg_invoke(%s, NULL, thread_id => %s, recursion_limit => 50)", (graph, t)),
        ("invoke_hitl", "SELECT sg_invoke('hitl', '{}', thread_id => %s, on_error => 'return')", ("h" + t,)),
        ("resume_hitl", "SELECT sg_invoke('hitl', NULL, thread_id => %s, resume => '\"y\"', on_error => 'return')", ("h" + t,)),
        ("submit", "SELECT sg_submit(%s, %s::jsonb, thread_id => %s, recursion_limit => 50, multitask => %s)",
         (graph, random.choice(['{"n": 0}', None]), t, random.choice(MULTITASK))),
        ("submit_ext", "SELECT sg_submit('ext', '{\"n\": 0}', thread_id => %s, multitask => %s)", (x, random.choice(MULTITASK))),
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
        ("update_state", "SELECT sg_update_state(%s, '{\"n\": 1}', as_node => %s)", (t, random.choice(nodes))),
        ("update_from", "SELECT sg_update_state(%s, '{\"n\": 1}', as_node => %s, checkpoint_id => (SELECT head FROM stategraph.threads WHERE thread_id = %s))",
         (t, random.choice(nodes), random.choice(from_ids))),
        ("fork", "SELECT sg_fork(%s, (SELECT head FROM stategraph.threads WHERE thread_id = %s), %s)", (t, t, random.choice(fork_to))),
        ("prune", "SELECT sg_prune(NULL, 2, %s)", (t,)),
        ("prune_all", "SELECT sg_prune('1 ms', NULL, NULL)", ()),
        ("delete", "SELECT sg_delete_thread(%s)", (random.choice(ids),)),
        ("get_state", "SELECT sg_get_state(%s)", (random.choice(ids),)),
        ("history", "SELECT count(*) FROM sg_get_state_history(%s)", (random.choice(history_ids),)),
        ("export_import", "SELECT sg_import_thread(sg_export_thread(%s), %s)", (t, import_to or "i" + t + str(n))),
        ("threads", "SELECT count(*) FROM sg_threads()", ()),
        ("runs", "SELECT count(*) FROM sg_runs(%s)", (t,)),
        ("tasks", "SELECT count(*) FROM sg_tasks(%s)", (x,)),
        ("retention", "SELECT sg_set_retention(%s, %s, %s)", (own_graph, random.choice(["1 ms", "1 hour", None]), random.choice(["delete", "keep_latest"]))),
        ("lg_put", "SELECT sg_lg_put(%s, '', (SELECT checkpoint_id FROM stategraph.lg_checkpoints WHERE thread_id = %s ORDER BY checkpoint_id DESC LIMIT 1), %s::jsonb, '{\"source\":\"loop\",\"step\":1}', '{\"m\": 1}')",
         (g, g, json.dumps({"v": 4, "id": str(uuid.uuid1()), "channel_values": {"m": [n]}, "channel_versions": {"m": n}, "versions_seen": {}}))),
        ("lg_writes", "SELECT sg_lg_put_writes(%s, '', (SELECT checkpoint_id FROM stategraph.lg_checkpoints WHERE thread_id = %s ORDER BY checkpoint_id DESC LIMIT 1), %s, '[[\"m\", [1]]]')", (g, g, "t%d" % n)),
        ("lg_prune", "SELECT sg_lg_prune(ARRAY[%s], %s)", (g, random.choice(["keep_latest", "delete"]))),
        ("lg_delete", "SELECT sg_lg_delete_thread(%s)", (g,)),
        ("lg_copy", "SELECT sg_lg_copy_thread(%s, %s)", (g, random.choice(copy_to))),
        ("lg_get", "SELECT sg_lg_get_tuple(%s)", (g,)),
        ("lg_list", "SELECT count(*) FROM sg_lg_list(%s)", (g,)),
    ]


def op(cur, me):
    t = random.choice(TH)
    x = random.choice(EX)
    g = random.choice(LG)
    n = random.randrange(100)
    return pick(call_ops(me, t, x, g, n) + redefine_ops(), cur)


def redefine_ops():
    """Plain mode: a node or route function of setup.sql replaced by its own
    definition, or a graph compiled again as setup.sql compiled it: each
    drops every backend's cached graphs while the others run them."""
    fn = random.choice(["fz_route(jsonb)", "fz_step(jsonb,jsonb)", "fz_fan(jsonb)", "fz_ask(jsonb)"])
    return [
        ("replace_fn", "DO $$ BEGIN EXECUTE pg_catalog.pg_get_functiondef('%s'::pg_catalog.regprocedure); END $$" % fn, ()),
        ("recompile", "SELECT sg_compile(%s)", (random.choice(["hitl", "ext"]),)),
    ]


def pick(ops, cur):
    """One of ops (those OPS names, if set), its run or task arguments read now."""
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
    k = me % NR
    su = None
    if ROLES:
        suc = conn(); su = suc.cursor()
        # (the role may be renamed between the read of its name and the
        # login: read it again; a worker that died so left the run waiting)
        for tries in range(100):
            myname = role_names(su)[k]; suc.commit()
            try:
                c = conn(myname)
                break
            except psycopg.OperationalError:
                if tries == 99:
                    raise
                time.sleep(0.05)
    else:
        c = conn()
    deny = collections.Counter()
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
            name, sql, args = op_roles(cur, su, me, k) if ROLES else op(cur, me)
            c.commit()
        except psycopg.Error as e:
            c.rollback(); continue
        del warns[:]
        try:
            if isinstance(sql, list):
                # as the superuser, each statement its own transaction
                try:
                    for q1, a1 in zip(sql, args):
                        su.execute(q1, a1)
                        suc.commit()
                    st = "ok"
                except psycopg.Error as e:
                    st = e.diag.sqlstate or "?"
                    suc.rollback()
                    if st.startswith("XX") or st in ("40P01", "57014", "55P03"):
                        sus.append((st, name, (e.diag.message_primary or "")[:200], str(args)[:150], (e.diag.context or "")[:200]))
                out[(name, st)] += 1
                continue
            if name == "peek":
                # one snapshot for every part (sg_threads() reads with its own
                # under READ COMMITTED: a reassign committing between looked a leak)
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute(sql)
                leak, who = cur.fetchone()
                c.commit()
                if any(leak):
                    # threads, runs, tasks, checkpoints, LangGraph.js checkpoints and writes, sg_threads()
                    sus.append(("LEAK", name, "rows of other roles visible to %s: %s" % (who, leak), ""))
                out[(name, "ok")] += 1
                continue
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
                time.sleep(3); c = conn(role_names(su)[k] if ROLES else None); cur = c.cursor(); c.add_notice_handler(lambda d: warns.append(d.message_primary) if d.severity_nonlocalized == "WARNING" else None)
                continue
            msg = e.diag.message_primary or ""
            if st == "42501":
                deny[(name, re.sub(r'"[^"]*"', '"…"', msg)[:90])] += 1
            c.rollback()
            c.autocommit = False
            # (55P03 "... are being reassigned": a call in a transaction that has
            # written, as documented; 40001 "could not create": two first writes)
            # (XX000 "tuple concurrently updated": two sessions replacing one
            # function at once, PostgreSQL's own answer to replace_fn)
            if name == "replace_fn" and msg == "tuple concurrently updated":
                pass
            elif st.startswith("XX") or st == "40P01" or st == "57014" or (st == "55P03" and "being reassigned" not in msg) or \
                    (st != "40001" and any(w in msg for w in ("cache lookup", "unexpected", "unrecognized", "SPI_", "could not"))):
                sus.append((st, name, msg[:200], str(args)[:150], (e.diag.context or "")[:200]))
        for w in warns:
            if "failed: division by zero" in w:
                continue
            sus.append(("WARNING", name, w[:200], str(args)[:150]))
        out[(name, st)] += 1
    q.put((out, sus, deny))


def end_check():
    """Drain the runs due as the superuser, then read every thread as its owner."""
    c = conn(); c.autocommit = True; cur = c.cursor()
    cur.execute("SET statement_timeout = '60s'")
    end = time.time() + 60
    while time.time() < end:
        cur.execute("SELECT count(*) FROM stategraph.runs WHERE status = 'pending' AND not_before <= now()")
        if cur.fetchone()[0] == 0:
            break
        cur.execute("CALL sg_work(50, '2 s')")
    cur.execute("SELECT status, count(*) FROM stategraph.runs GROUP BY 1 ORDER BY 1")
    print("runs by status:", ", ".join("%s %d" % r for r in cur.fetchall()))
    # (a run queued behind its thread's waiting run waits for that run's
    # external tasks, which nobody claims once the load stops: not stuck)
    cur.execute("SELECT run_id, owner, thread_id, graph, status, not_before > now() FROM stategraph.runs r WHERE status IN ('pending', 'running')"
                " AND NOT EXISTS (SELECT 1 FROM stategraph.runs w WHERE w.thread_id = r.thread_id AND w.status = 'waiting' AND w.seq < r.seq) ORDER BY 3")
    for r in cur.fetchall():
        print("STILL", r)
    cur.execute("SELECT error->>'sqlstate', left(error->>'message', 80), count(*) FROM stategraph.runs WHERE status = 'error' GROUP BY 1, 2 ORDER BY 3 DESC")
    for r in cur.fetchall():
        print("run error:", r)
    cur.execute("SELECT thread_id, owner FROM stategraph.threads ORDER BY 1")
    bad = 0
    for tid, owner in cur.fetchall():
        try:
            cur.execute("SET ROLE " + psycopg.sql.Identifier(owner).as_string(c))
            cur.execute("SELECT sg_get_state(%s) IS NOT NULL", (tid,))
            if not cur.fetchone()[0]:
                bad += 1; print("UNREADABLE", tid, owner, "null state")
        except psycopg.Error as e:
            bad += 1; print("UNREADABLE", tid, owner, e.diag.sqlstate, e.diag.message_primary)
        cur.execute("RESET ROLE")
    print("threads unreadable by their owner:", bad)


if __name__ == "__main__":
    if ROLES:
        setup_roles()
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=worker, args=(i, q)) for i in range(P)]
    for p in ps: p.start()
    tot = collections.Counter(); allsus = []; alldeny = collections.Counter()
    for _ in ps:
        o, s, d = q.get(); tot.update(o); allsus += s; alldeny.update(d)
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
    for (n, msg), v in sorted(alldeny.items()):
        print("42501 %-13s %5d %s" % (n, v, msg))
    if ROLES:
        end_check()
