#!/usr/bin/python3
# test/fuzz/own_rows.py [sg|lg]: direct writes of one's own rows (PUBLIC has INSERT/UPDATE/DELETE, row-level
# security limits them to the role's rows): a column set to an odd value of
# its type, then every reader. Looking for crashes and internal errors.
import sys, random, psycopg, collections, os
random.seed(int(os.environ.get("SEED", "1")))
import time
from fzconn import connect
conn, cur = connect()
JS = ["'null'", "'5'", "'\"x\"'", "'[]'", "'{}'", "'[null]'", "'[[]]'", "'{\"n\": \"x\"}'", "'[1,2,3]'",
      "'{\"a\": null}'", "'[{\"node\": 5}]'", "'[[\"a\"]]'", "'[[5, {}]]'", "'{\"n\": {\"ref\": 1}}'",
      "'{\"log\": {\"seg\": \"zz\"}}'", "'{\"x\": [1, [2]]}'", "'[\"nope\"]'", "'{\"01a22b67-511a-7c47-8430-c77549c44649\": 5}'",
      "'{\"n\": \"01a22b67-511a-7c47-8430-c77549c44649\"}'", "'{\"log\": [\"01a22b67-511a-7c47-8430-c77549c44649\", 3]}'",
      "NULL"]
KIND = sys.argv[1] if len(sys.argv) > 1 else "sg"
if KIND == "sg":
    COLS = {
      "checkpoints": {"parent_id": ["NULL", "gen_random_uuid()", "checkpoint_id", "'00000000-0000-0000-0000-000000000000'"],
                      "parent_thread": ["NULL", "'nope'", "thread_id", "'l2'", "'lg1'"],
                      "step": ["NULL", "-1", "2147483647", "-2147483648"],
                      "source": ["NULL", "''", "'nope'", "'fork'", "'update'", "'input'", "'loop'"],
                      "next": ["NULL", "'{}'", "'{nope}'", "'{NULL}'", "'{__end__}'", "'{__start__}'", "'{a,a,a}'"],
                      "writes": JS, "image": JS, "image_complete": ["NULL", "true", "false"], "refs": JS,
                      "barriers": JS, "sends": JS, "pending": JS, "meta": JS,
                      "created_at": ["NULL", "'infinity'", "'-infinity'"]},
      "threads": {"channels": JS + ["'{\"n\": \"append\"}'", "'{\"n\": \"nope\"}'", "'{\"zz\": \"image\"}'"],
                  "head": ["NULL", "gen_random_uuid()", "'00000000-0000-0000-0000-000000000000'"],
                  "forked_from": ["NULL", "'{}'", "'{NULL}'", "'{nope}'"], "status": ["NULL", "''", "'nope'", "'running'"],
                  "graph": ["'hitl'", "'nope'", "'ext'"], "created_at": ["'infinity'"], "updated_at": ["'-infinity'"]},
      "graphs": {"channels": JS + ["'{\"n\": \"append\"}'", "'{\"n\": {\"reducer\": \"nope\"}}'"], },
      "nodes": {"fn": ["NULL", "'now()'::regprocedure", "'fz_route(jsonb)'::regprocedure", "'fz_fail(jsonb)'::regprocedure"],
                "retry": JS + ["'{\"sqlstates\": [\"x\"]}'", "'{\"max_attempts\": \"x\"}'", "'{\"sqlstates\": [5]}'"],
                "queue": ["NULL", "''", "'q'"], "lease": ["NULL", "'-1 s'", "'0'"]},
      "edges": {"sources": ["'{}'", "'{NULL}'", "'{nope}'", "'{__end__}'"], "target": ["''", "'nope'", "'__start__'"]},
      "branches": {"path_map": JS, "router": ["'now()'", "'nope(jsonb)'", "''"], "source": ["'nope'", "'__end__'"]},
    }
    cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'stategraph' AND table_name = 'graphs'")
    gcols = dict(cur.fetchall()); conn.rollback()
    for c, t in gcols.items():
        if t == "jsonb" and c not in COLS["graphs"]:
            COLS["graphs"][c] = JS
        elif t == "text" and c not in ("graph", "owner"):
            COLS["graphs"][c] = ["NULL", "''", "'nope'"]
        elif t == "boolean":
            COLS["graphs"][c] = ["NULL", "true", "false"]
        elif t == "ARRAY":
            COLS["graphs"][c] = ["NULL", "'{}'", "'{NULL}'", "'{nope}'"]
    READ = ["SELECT sg_get_state('{t}')::text", "SELECT count(*) FROM sg_get_state_history('{t}')",
            "SELECT sg_export_thread('{t}')::text", "SELECT sg_draw_history('{t}')",
            "SELECT sg_invoke('{g}', NULL, thread_id => '{t}', recursion_limit => 60)::text",
            "SELECT sg_invoke('{g}', '{{\"n\": 1}}', thread_id => '{t}', recursion_limit => 60)::text",
            "SELECT sg_update_state('{t}', '{{\"n\": 1}}', as_node => 'a')",
            "SELECT sg_fork('{t}', (SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = '{t}' ORDER BY checkpoint_id LIMIT 1 OFFSET 1), '{t}-fk')",
            "SELECT sg_prune(keep_last => 1, thread_id => '{t}')", "SELECT count(*) FROM sg_threads()",
            "SELECT sg_draw('{g}')", "SELECT sg_compile('{g}')",
            "SELECT sg_invoke('{g}', '{{\"n\": 1}}', thread_id => 'fz-fresh', recursion_limit => 60)::text", "SELECT sg_draw('{g}')", "SELECT sg_delete_thread('{t}')",
            "SELECT sg_import_thread(sg_export_thread('{t}'), '{t}-imp')"]
    THREADS = [("l1", "loop"), ("l3", "loop"), ("f1", "loop"), ("h1", "hitl"), ("e4", "ext"), ("l4", "loop")]

else:
    JSX = JS + ["'{\"messages\": 5}'", "'{\"channel_values\": 5}'", "'{\"v\": 4}'"]
    COLS = {
      "lg_checkpoints": {"checkpoint": [v + "::json" if v != "NULL" else v for v in JSX] + ["'{\"ts\": 5}'", "'{\"ts\": []}'", "'{\"ts\": [1,2]}'"],
                         "metadata": JSX, "blobs": JSX + ["'{\"messages\": \"01a22b67-511a-7c47-8430-c77549c44649\"}'", "'{\"messages\": \"zz\"}'", "'{\"messages\": [1]}'"],
                         "parent_checkpoint_id": ["NULL", "gen_random_uuid()", "checkpoint_id", "'1ef00000-0000-6000-8000-000000000103'"],
                         "created_at": ["'infinity'", "'-infinity'", "NULL"], "checkpoint_ns": ["'x'", "''"]},
      "lg_blobs": {"version": JSX, "base": ["NULL", "gen_random_uuid()", "writer", "'1ef00000-0000-6000-8000-000000000103'"],
                   "n": ["NULL", "-1", "0", "2147483647"], "digest": ["NULL", "'\\x00'"], "value": JSX,
                   "type": ["NULL", "''", "'json'", "'bytes'"], "bytes": ["NULL", "'\\x00'"],
                   "wcheckpoint": ["NULL", "gen_random_uuid()"], "wtask": ["NULL", "'nope'"], "widx": ["NULL", "-5", "99"],
                   "writer": ["gen_random_uuid()", "'1ef00000-0000-6000-8000-000000000103'"]},
      "lg_writes": {"idx": ["-1", "-4", "-99", "2147483647"], "channel": ["''", "'__interrupt__'", "'__error__'"], "value": JSX,
                    "type": ["NULL", "''", "'bytes'"], "bytes": ["NULL", "'\\x00'"], "task_path": ["NULL", "''"]},
    }
    READ = ["SELECT sg_lg_get_tuple('{t}', '', NULL)::text", "SELECT count(*) FROM sg_lg_list('{t}')",
            "SELECT sg_lg_get_tuple('{t}', '', '1ef00000-0000-6000-8000-000000000102')::text",
            "SELECT sg_lg_get_tuple('{t}', 'sub:1', NULL)::text",
            "SELECT sg_get_state('{t}')::text", "SELECT count(*) FROM sg_get_state_history('{t}')",
            "SELECT sg_export_thread('{t}')::text", "SELECT sg_import_thread(sg_export_thread('{t}'), '{t}-imp')",
            "SELECT sg_lg_copy_thread('{t}', '{t}-cp')", "SELECT sg_lg_prune(ARRAY['{t}'], 'keep_latest')",
            "SELECT sg_prune(keep_last => 1, thread_id => '{t}')", "SELECT count(*) FROM sg_threads()",
            "SELECT sg_draw_history('{t}')",
            "SELECT sg_lg_put('{t}', '', '1ef00000-0000-6000-8000-000000000103', '{{\"v\": 4, \"id\": \"1ef00000-0000-6000-8000-000000000104\", \"channel_values\": {{\"messages\": [1, 2, 3, 4], \"step\": 3}}, \"channel_versions\": {{\"messages\": 4, \"step\": 4, \"b\": 1}}, \"versions_seen\": {{}}}}', '{{\"source\": \"loop\", \"step\": 2}}', '{{\"messages\": 4, \"step\": 4}}')",
            "SELECT sg_lg_delete_thread('{t}')"]
    THREADS = [("lg2", None), ("lg1", None)]

out = collections.Counter(); sus = []
N = int(os.environ.get("N", "400"))
for n in range(N):
    t, g = random.choice(THREADS)
    tab = random.choice(list(COLS)); col = random.choice(list(COLS[tab])); val = random.choice(COLS[tab][col])
    which = random.choice(["all", "newest", "oldest", "random"])
    if tab.startswith("lg_"):
        where = "thread_id = '%s'" % t + ("" if which == "all" else " AND ctid = (SELECT ctid FROM stategraph.%s WHERE thread_id = '%s' ORDER BY random() LIMIT 1)" % (tab, t))
    elif tab == "checkpoints":
        where = {"all": "thread_id = '%s'" % t,
                 "newest": "thread_id = '%s' AND checkpoint_id = (SELECT max(checkpoint_id) FROM stategraph.checkpoints WHERE thread_id = '%s')" % (t, t),
                 "oldest": "thread_id = '%s' AND checkpoint_id = (SELECT min(checkpoint_id) FROM stategraph.checkpoints WHERE thread_id = '%s')" % (t, t),
                 "random": "thread_id = '%s' AND checkpoint_id = (SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = '%s' ORDER BY random() LIMIT 1)" % (t, t)}[which]
    elif tab == "threads":
        where = "thread_id = '%s'" % t
    else:
        where = "graph = '%s'" % g
    upd = "UPDATE stategraph.%s SET %s = %s WHERE %s" % (tab, col, val, where)
    try:
        cur.execute("SET LOCAL statement_timeout = '10s'")
        cur.execute(upd)
    except psycopg.Error as e:
        out[("update", e.diag.sqlstate)] += 1; conn.rollback(); continue
    for r in READ:
        q = r.format(t=t, g=g)
        cur.execute("SAVEPOINT s")
        try:
            cur.execute(q); cur.fetchall(); st = "ok"
        except psycopg.Error as e:
            if conn.broken:
                print("CRASH", upd, q, flush=True); time.sleep(2); conn, cur = connect(); break
            st = e.diag.sqlstate
            cur.execute("ROLLBACK TO SAVEPOINT s")
            if st.startswith("XX") or any(w in (e.diag.message_primary or "") for w in ("cache lookup", "unexpected", "unrecognized", "SPI_")):
                sus.append((st, e.diag.message_primary, upd, q.split("(")[0]))
        out[(q.split("(")[0][7:], st)] += 1
    conn.rollback()
seen = set()
for s in sus:
    k = (s[0], s[1][:60], s[2].split(" SET ")[1].split(" WHERE")[0], s[3])
    if k in seen: continue
    seen.add(k); print(" | ".join(map(str, s))[:400])
print("---")
for k, v in sorted(out.items()): print(k, v)
