#!/usr/bin/env bash
# Formats one run of test/bench/background/run.sh as Markdown: bash report.sh <run directory>
set -euo pipefail
awk -F'\t' '
	{ m[$1] = $2 }
	function n(x, d) { return sprintf("%." d "f", x) }
	function ratio(a, b) { return (b > 0) ? sprintf("%.2fx", a / b) : "n/a" }
	function ok(c) { return c ? "met" : "**missed**" }
	function cl(c) { return c " client" (c > 1 ? "s" : "") }
	END {
		print "| measurement (seed graph, 3 SQL nodes, new thread per run) | background runs | peer | ratio | target |"
		print "| --- | ---: | ---: | ---: | --- |"
		for (c = 1; c <= 4; c += 3) {
			r = m["submit_c" c] / m["invoke_c" c]
			printf "| closed loop (submit, sg_wait), %s; rounds %s/ %s | %s | sg_invoke: %s | %s | >= 0.7x: %s |\n", cl(c),
				m["submit_c" c "_all"], m["invoke_c" c "_all"], n(m["submit_c" c], 1), n(m["invoke_c" c], 1),
				ratio(m["submit_c" c], m["invoke_c" c]), ok(r >= 0.7)
		}
		for (c = 1; c <= 4; c += 3) {
			r = m["open_c" c] / m["invoke_c" c]
			printf "| open loop (submits, first submit to last end), %s; rounds %s | %s | sg_invoke: %s | %s | >= 0.7x: %s |\n", cl(c),
				m["open_c" c "_all"], n(m["open_c" c], 1), n(m["invoke_c" c], 1), ratio(m["open_c" c], m["invoke_c" c]), ok(r >= 0.7)
		}
		for (c = 1; c <= 4; c += 3)
			printf "| closed loop next to CALL sg_run (a commit per step, in the client), %s | %s | CALL sg_run: %s | %s | (reference) |\n",
				cl(c), n(m["submit_c" c], 1), n(m["call_c" c], 1), ratio(m["submit_c" c], m["call_c" c])
		if ("dbos_c1" in m)
			for (c = 1; c <= 4; c += 3) {
				r = m["submit_c" c] / m["dbos_c" c]
				printf "| workflows/s through a queue (closed loop), %s | %s | DBOS %s: %s | %s | >= 5x: %s |\n", cl(c),
					n(m["submit_c" c], 1), m["dbos_version"], n(m["dbos_c" c], 1), ratio(m["submit_c" c], m["dbos_c" c]), ok(r >= 5)
			}
		printf "| commit-to-start p50 (ms), %s submits one at a time | %s (p90 %s; commit-to-finished p50 %s) | | | < 2 ms: %s |\n",
			m["start_n"], m["start_p50"], m["start_p90"], m["finish_p50"], ok(m["start_p50"] < 2)
		print ""
		print "Where the time goes, per run (commits and WAL: 20 runs one after another, pg_waldump; CPU: all the cluster'"'"'s processes, median of the 4-client rounds):"
		print ""
		print "| way | commits | WAL records | WAL bytes | server CPU ms (4 clients) |"
		print "| --- | ---: | ---: | ---: | ---: |"
		split(m["wal_invoke"], a, " "); printf "| sg_invoke | %s | %s | %s | %s |\n", a[1], a[2], a[3], m["invoke_c4_cpu"]
		split(m["wal_run_call"], a, " "); printf "| CALL sg_run | %s | %s | %s | %s |\n", a[1], a[2], a[3], m["call_c4_cpu"]
		split(m["wal_submit"], a, " "); printf "| sg_submit + background worker + sg_wait | %s | %s | %s | %s |\n", a[1], a[2], a[3], m["submit_c4_cpu"]
		printf "| open-loop sg_submit + background worker | | | | %s |\n", m["open_c4_cpu"]
		if ("dbos_c4_cpu" in m) { split(m["dbos_c4_cpu"], a, " "); printf "| DBOS workflow through its queue (+ %s ms in Node) | | | | %s |\n", a[2], a[1] }
		print ""
		printf "Machine: %s; PostgreSQL %s, stategraph %s (commit %s), stategraph.max_workers %s, stategraph.worker_sync_steps %s.\n",
			m["cpu"], m["pg_version"], m["ext_version"], m["commit"], m["max_workers"], m["worker_sync_steps"]
		printf "Load average (1/5/15 min): start %s; after the throughput runs %s; after the latency run %s; at the end %s.\n",
			m["load_start"], m["load_throughput"], m["load_latency"], m["load_end"]
	}' "$1/metrics.txt"
