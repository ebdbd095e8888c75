#!/usr/bin/env bash
# Runs every test suite of stategraph and ends with one line: "N passed, N failed".
#   pg_regress   sql/*.sql against expected/*.out        } make installcheck
#   isolation    test/specs/*.spec against test/expected/*.out   }
#   pgTAP        test/pgtap/*.sql (pg_prove)
#   TAP          test/t/*.pl (PostgreSQL::Test::Cluster: crashes, restarts): make prove_installcheck
#   JS           clients/langgraph-js's suites; difflg: test/fuzz/difflg.mjs against LangGraph.js
#   docs         README.md and docs/seed-chapter.md examples; project files (test/meta.py)
# Each suite gets a throwaway cluster; the machine gets what it needs (test/deps.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

bash test/deps.sh || { echo "could not install dependencies"; exit 2; }
# PG_CONFIG may point at another PostgreSQL 15 installation (a private copy for
# parallel development, say): the build, the install and every cluster use it.
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$($PG_CONFIG --bindir)

make -s clean >/dev/null 2>&1
if ! make -s -j"$(nproc)" >/dev/null; then echo "build failed"; echo "0 passed, 1 failed"; exit 1; fi
$SUDO make -s install >/dev/null || { echo "install failed"; echo "0 passed, 1 failed"; exit 1; }

LOG=$(mktemp -d /tmp/stategraph-test.XXXXXX)
chmod 755 "$LOG"
total_pass=0
total_fail=0
report() {	# suite passed failed
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	printf '%-12s %4d passed, %d failed\n' "$1" "$2" "$3"
}
# TAP output (prove -v): count "ok"/"not ok", plus one failure for each file
# that failed without a "not ok" (it died, or ran a different number of tests)
count_tap() {
	local ok notok broken
	ok=$(grep -cE '^[[:space:]]*ok [0-9]+' "$1")
	notok=$(grep -cE '^[[:space:]]*not ok [0-9]+' "$1")
	broken=$(grep -cE '^[^[:space:]].*\(Wstat: [0-9]+.*Failed: 0\)' "$1")
	echo "$ok $((notok + broken))"
}
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
# with_cluster CMD...: runs CMD against a throwaway cluster of $PGBIN configured
# with test/stategraph.conf (the preload), reached through its own socket
# directory only (no TCP port, so parallel runs never collide), then removes it.
with_cluster() {
	local dir rc
	dir=$(mktemp -d /tmp/stategraph-cluster.XXXXXX)
	chmod 755 "$dir"; chown postgres "$dir" 2>/dev/null || $SUDO chown postgres "$dir"
	as_postgres "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
		|| { cat "$dir/initdb.log"; return 1; }
	{ cat test/stategraph.conf; echo "listen_addresses = ''"; echo "unix_socket_directories = '$dir'"; } \
		| as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
	as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || { cat "$dir/server.log"; return 1; }
	PGHOST=$dir PGPORT=5432 PGUSER=postgres PGDATABASE=postgres PATH="$PGBIN:$PATH" "$@"
	rc=$?
	as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$dir"
	return $rc
}

# The standard entry points (make installcheck, make prove_installcheck) run in
# a copy of the tree that postgres owns: initdb, which pg_regress's temporary
# instances and PostgreSQL::Test::Cluster run, refuses to run as root.
COPY=$(mktemp -d /tmp/stategraph-check.XXXXXX)
tar --exclude=.git -cf - . | tar -xf - -C "$COPY"
chmod 755 "$COPY"; chown -R postgres "$COPY" 2>/dev/null || $SUDO chown -R postgres "$COPY"
in_copy() {	# make target... in the copy, as postgres
	as_postgres env PATH="$PATH" SG_TESTROOT="$COPY/test" make -C "$COPY" -s PG_CONFIG="$PG_CONFIG" "$@"
}

# pg_regress and isolation: make installcheck (temporary instances with test/stategraph.conf and test/regress.conf)
in_copy installcheck >"$LOG/regress.log" 2>&1
regress_ok=$(grep -cE '^(test |     )?[a-z0-9_]+ +\.\.\. ok' "$LOG/regress.log")
regress_failed=$(grep -cE '\.\.\. FAILED' "$LOG/regress.log")
if [ "$regress_ok" -eq 0 ] && [ "$regress_failed" -eq 0 ]; then regress_failed=1; fi
report "regress+iso" "$regress_ok" "$regress_failed"
[ "$regress_failed" -eq 0 ] || { grep -E 'FAILED|ERROR|failed' "$LOG/regress.log" | head -20; for d in "$COPY"/test/results/regression.diffs "$COPY"/test/output_iso/regression.diffs; do [ -f "$d" ] && head -80 "$d"; done; }

# README.md's and docs/seed-chapter.md's SQL examples run as written and show real output;
# sg_draw's dot output renders with Graphviz
with_cluster sh -c 'bash test/readme.sh; bash test/draw/render.sh' >"$LOG/readme.log" 2>&1
read -r p f < <(count_tap "$LOG/readme.log")
report "README+draw" "$p" "$f"
[ "$f" -eq 0 ] || grep -E -A5 '^not ok' "$LOG/readme.log" | head -30

# LICENSE, CHANGELOG.md and META.json (PGXN Meta Spec v1.0.0) agree with stategraph.control
python3 test/meta.py >"$LOG/meta.log" 2>&1
read -r p f < <(count_tap "$LOG/meta.log")
[ "$p" -gt 0 ] || f=$((f + 1))
report "project" "$p" "$f"
[ "$f" -eq 0 ] || grep -E '^not ok|Error' "$LOG/meta.log" | head -10

# pgTAP
if ls test/pgtap/*.sql >/dev/null 2>&1; then
	with_cluster sh -c 'pg_prove -v test/pgtap/*.sql' >"$LOG/pgtap.log" 2>&1
	read -r p f < <(count_tap "$LOG/pgtap.log")
	report "pgTAP" "$p" "$f"
	[ "$f" -eq 0 ] || grep -E '^not ok|Failed|Parse errors|Dubious|ERROR' "$LOG/pgtap.log" | head -30
fi

# TAP: make prove_installcheck (PostgreSQL::Test::Cluster, with test/stategraph.conf)
if ls test/t/*.pl >/dev/null 2>&1; then
	# two test files at a time (each prints whole when it ends): about half the time
	# of one at a time; every test makes its own clusters, ports and directories.
	# The stress tests (hundreds of thousands of runs, both cores busy for
	# minutes) run beside one another first, then the others: a test that
	# times how soon something happens, beside one of them, failed now and
	# then (TAP 067 beside 068, 043 and 010 beside 042), and the order costs
	# no time, each phase keeping both cores busy.
	heavy="test/t/042_submit_batch.pl test/t/065_million_batch.pl test/t/068_claim_from_long_run.pl test/t/045_claim_from.pl"
	# the slowest of the others first (a minute or more each in CI): one of them
	# started last kept one job alone for its whole length
	slow="test/t/002_router.pl test/t/090_lg_copy_many.pl test/t/101_idle_after_sweep_requeue.pl test/t/001_crash.pl"
	rest="$slow $(ls test/t/*.pl | grep -vxF "$(tr ' ' '\n' <<<"$heavy $slow")" | tr '\n' ' ')"
	in_copy prove_installcheck PROVE_TESTS="$heavy" PROVE_FLAGS="-v --timer -j${SG_TAP_JOBS:-2}" >"$LOG/tap.log" 2>&1
	cp -r "$COPY/tmp_check/log" "$LOG/tap-stress-logs" 2>/dev/null	# the next phase empties tmp_check
	in_copy prove_installcheck PROVE_TESTS="$rest" PROVE_FLAGS="-v --timer -j${SG_TAP_JOBS:-2}" >>"$LOG/tap.log" 2>&1
	read -r p f < <(count_tap "$LOG/tap.log")
	[ "$p" -gt 0 ] || f=$((f + 1))
	report "TAP" "$p" "$f"
	[ "$f" -eq 0 ] || grep -E '^\s*not ok|Failed|Parse errors|Dubious|Error' "$LOG/tap.log" | head -30
fi

# JS: the LangGraph.js checkpointer (clients/langgraph-js) on a throwaway cluster:
# LangGraph's own saver suite (vitest, TAP), the seed's scenarios end to end and
# the two-process test (node:test, counted from its "# pass" / "# fail" lines)
JSDIR=clients/langgraph-js
if command -v npm >/dev/null && [ -f "$JSDIR/package-lock.json" ]; then
	js_stamp="$JSDIR/node_modules/.lock.sha256"
	if [ ! -f "$js_stamp" ] || [ "$(sha256sum <"$JSDIR/package-lock.json")" != "$(cat "$js_stamp")" ]; then
		(cd "$JSDIR" && npm ci --no-audit --no-fund) >"$LOG/npm.log" 2>&1 && sha256sum <"$JSDIR/package-lock.json" >"$js_stamp"
	fi
	with_cluster sh -c "cd $JSDIR && psql -qc 'CREATE EXTENSION stategraph' && ./node_modules/.bin/vitest run --reporter=tap-flat; node --test test/*.node.mjs" >"$LOG/js.log" 2>&1
	p=$(grep -cE '^ok [0-9]+ - test/' "$LOG/js.log")		# vitest (tap-flat)
	f=$(grep -cE '^not ok [0-9]+ - test/' "$LOG/js.log")
	np=$(grep -E '^# pass [0-9]+' "$LOG/js.log" | awk '{s+=$3} END {print s+0}')	# node:test
	nf=$(grep -E '^# fail [0-9]+' "$LOG/js.log" | awk '{s+=$3} END {print s+0}')
	[ "$p" -gt 0 ] || f=$((f + 1))		# the validation suite did not run
	[ "$np" -gt 0 ] || nf=$((nf + 1))	# the node:test files did not run
	report "JS" "$((p + np))" "$((f + nf))"
	[ "$((f + nf))" -eq 0 ] || { grep -E '^\s*not ok|Error' "$LOG/js.log" | head -30; tail -5 "$LOG/npm.log" 2>/dev/null; }
else
	report "JS" 0 1; echo "npm or $JSDIR/package-lock.json missing"
fi

# Differential test: stategraph's engine against LangGraph.js (MemorySaver) on
# 200 random graphs, seed 1 (test/fuzz/difflg.mjs; one TAP line per graph)
if [ -d "$JSDIR/node_modules/@langchain/langgraph" ]; then
	with_cluster node test/fuzz/difflg.mjs 1 200 >"$LOG/difflg.log" 2>&1
	read -r p f < <(count_tap "$LOG/difflg.log")
	grep -qE '^# pass [0-9]+' "$LOG/difflg.log" || f=$((f + 1))	# it died before its summary
	report "difflg" "$p" "$f"
	[ "$f" -eq 0 ] || grep -E -A8 '^not ok|Error' "$LOG/difflg.log" | head -40
else
	report "difflg" 0 1; echo "$JSDIR/node_modules missing"
fi

echo "logs: $LOG"
[ "$total_fail" -gt 0 ] || rm -rf "$COPY"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
