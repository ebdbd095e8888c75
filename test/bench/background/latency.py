"""Commit-to-start latency of background runs: submit one run at a time
(autocommit), note the client's clock when the commit has returned, and
compare with the run's started_at (set by the worker with clock_timestamp()
when it claims the run; same machine, same clock). Negative values mean the
worker started the run before the client saw its commit return."""
import statistics
import sys
import time

import psycopg

n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
with psycopg.connect(autocommit=True) as conn:
    ids = []
    for i in range(n):
        rid = conn.execute(
            "SELECT sg_submit('workflow', '{\"data\": \"x\"}', %s)", (f"lat-{i}-{time.time()}",)).fetchone()[0]
        committed = time.time()
        ids.append((rid, committed))
        time.sleep(0.01)
    lat, fin = [], []
    for rid, committed in ids:
        st = conn.execute("SELECT extract(epoch FROM started_at), extract(epoch FROM finished_at) "
                          "FROM sg_wait(%s, '30 s')", (rid,)).fetchone()
        lat.append((float(st[0]) - committed) * 1000)
        fin.append((float(st[1]) - committed) * 1000)
    lat.sort()
    fin.sort()
    print(f"{statistics.median(lat):.2f} ms p50, {lat[int(len(lat) * 0.9)]:.2f} ms p90 commit-to-start; "
          f"{statistics.median(fin):.2f} ms p50 commit-to-finished")
