#!/usr/bin/env bash
# Fuzzing (issue 4): sqlsmith's random queries, and our own random calls of
# every sg_ function, against a database with graphs and threads in every
# state, for a bounded time; fails if the server crashed even once.
# Not part of `make test` (it takes minutes). Usage:
#   bash test/fuzz/run.sh                 FUZZ_SECONDS=120 FUZZ_CALLS=20000 by default
#   FUZZ_ROUTER=1 bash test/fuzz/run.sh   also the router (router.py; needs plproxy)
# Against a cluster of your own (a private build): PGHOST, PGPORT, PGUSER and
# FUZZ_SERVER_LOG (that server's log) set.
set -uo pipefail
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")	# run.sh runs itself again under pg_virtualenv
cd "$(dirname "$SELF")"
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
FUZZ_CALLS=${FUZZ_CALLS:-20000}
# the server log read for internal errors and crashes (pg_virtualenv's, unless PGHOST points elsewhere)
SERVER_LOG=${FUZZ_SERVER_LOG:-/var/log/postgresql/postgresql-15-regress.log}
if [ -z "${PGHOST:-}${PGPORT:-}" ]; then
	bash ../deps.sh sqlsmith || exit 2
	exec pg_virtualenv -v 15 env FUZZ_SECONDS="$FUZZ_SECONDS" FUZZ_CALLS="$FUZZ_CALLS" FUZZ_ROUTER="${FUZZ_ROUTER:-0}" bash "$SELF"
fi
mkdir -p ../bench/out
OUT=../bench/out/fuzz-$(date +%Y%m%d-%H%M%S).txt
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS fuzz" -c "CREATE DATABASE fuzz" || exit 2
psql -X -q -d fuzz -v ON_ERROR_STOP=1 -f setup.sql >/dev/null || exit 2
psql -X -q -d postgres -c "ALTER DATABASE fuzz SET statement_timeout = '2s'" || exit 2
started=$(psql -XAtq -d fuzz -c "SELECT pg_postmaster_start_time()")

{
	echo "== sqlsmith for ${FUZZ_SECONDS}s"
	timeout --signal=INT "$FUZZ_SECONDS" sqlsmith --target="dbname=fuzz" --verbose --seed=$RANDOM 2>&1 \
		| tr '\r' '\n' | grep -E '^(queries|AST stats|error rate|[0-9]+ (queries|ERROR))' | tail -5
	# each argument of each function bad in turn; exports changed with their digest
	# recomputed; rows their owners changed with SQL (each call rolled back),
	# before the random calls below change and delete what setup.sql made
	if /usr/bin/python3 -c 'import psycopg' 2>/dev/null; then
		echo "== bad arguments, tampered exports, rows changed with SQL"
		FUZZ_DB=fuzz /usr/bin/python3 bad_args.py 2>&1 | tail -60
		FUZZ_DB=fuzz N=$((FUZZ_CALLS / 50)) /usr/bin/python3 tampered_exports.py 2>&1 | grep -v '^minor' | tail -40
		for kind in sg lg; do FUZZ_DB=fuzz N=$((FUZZ_CALLS / 50)) /usr/bin/python3 own_rows.py $kind 2>&1 | tail -40; done
		# appends with tampered bases, special writes, lists, LangGraph.js imports, runs; the end check
		echo "== surfaces.py"
		FUZZ_DB=fuzz N=$((FUZZ_CALLS / 40)) /usr/bin/python3 surfaces.py 2>&1 | tail -60
	fi
	# the router (FUZZ_ROUTER=1): router.py against a router database with
	# two shard databases of this server, compared with one server
	if [ "${FUZZ_ROUTER:-0}" = 1 ] && /usr/bin/python3 -c 'import psycopg' 2>/dev/null; then
		echo "== router.py"
		for db in fzr_router fzr_sg0 fzr_sg1 fzr_single; do
			psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
		done
		for db in fzr_sg0 fzr_sg1 fzr_single; do psql -X -q -d $db -c "CREATE EXTENSION stategraph"; done
		cs="host=${PGHOST:-/var/run/postgresql} port=${PGPORT:-5432}"
		psql -X -q -d fzr_router -v ON_ERROR_STOP=1 -c "CREATE EXTENSION plproxy" -c "CREATE EXTENSION stategraph_router" \
			-c "CREATE SERVER stategraph FOREIGN DATA WRAPPER plproxy OPTIONS (partition_0 '$cs dbname=fzr_sg0',
				partition_1 '$cs dbname=fzr_sg1', partition_2 '$cs dbname=fzr_sg0', partition_3 '$cs dbname=fzr_sg1')" \
			-c "CREATE USER MAPPING FOR PUBLIC SERVER stategraph" -c "GRANT USAGE ON FOREIGN SERVER stategraph TO PUBLIC"
		FUZZ_ROUTER=fzr_router FUZZ_SINGLE=fzr_single FUZZ_SHARDS="fzr_sg0 fzr_sg1" /usr/bin/python3 router.py 2>&1 |
			sed 's/^bad outcomes:/router bad outcomes:/' | tail -80
	fi
	echo "== our calls of every sg_ function: $FUZZ_CALLS"
	psql -X -q -d fuzz -c "SET fz.calls = $FUZZ_CALLS" -f fuzz_calls.sql 2>&1 | tail -3
	psql -X -d fuzz -c "SELECT call, sqlstate, n FROM fz_outcomes ORDER BY call, n DESC"
} | tee "$OUT"

# errors that are bugs rather than bad input: internal errors, lost caches
# (sqlsmith's own set_config() calls with made-up names are not ours); and
# bad outcomes surfaces.py reported (a put reading other than sent, a warning)
surfaces_bad=$(sed -n 's/^bad outcomes: \([0-9]*\)$/\1/p' "$OUT" | tail -1)
if [ "${surfaces_bad:-0}" -gt 0 ]; then
	echo "surfaces.py: $surfaces_bad bad outcomes (see above)" | tee -a "$OUT"
fi
router_bad=$(sed -n 's/^router bad outcomes: \([0-9]*\)$/\1/p' "$OUT" | tail -1)
if [ "${router_bad:-0}" -gt 0 ]; then
	echo "router.py: $router_bad bad outcomes (see above)" | tee -a "$OUT"
fi
internal=$(grep -E 'ERROR:  (XX000|cache lookup failed|unexpected|unrecognized)' \
	"$SERVER_LOG" 2>/dev/null | grep -cv 'unrecognized configuration parameter' || true)
echo "internal errors in the server log: ${internal:-0}" | tee -a "$OUT"
grep -E 'ERROR:  (XX000|cache lookup failed|unexpected|unrecognized)' \
	"$SERVER_LOG" 2>/dev/null | grep -v 'unrecognized configuration parameter' |
	head -30 | tee -a "$OUT"
now=$(psql -XAtq -d fuzz -c "SELECT pg_postmaster_start_time()")
crashes=$(grep -cE 'terminated by signal|server process .* was terminated' "$SERVER_LOG" 2>/dev/null || true)
if [ "$started" != "$now" ] || [ "${crashes:-0}" -gt 0 ]; then
	echo "CRASH: the server restarted during fuzzing (see the server log)" | tee -a "$OUT"
	grep -B2 -A8 -E 'terminated by signal' "$SERVER_LOG" | tail -40
	exit 1
fi
echo "no crash; written to test/bench/out/$(basename "$OUT")" | tee -a "$OUT"
[ "${surfaces_bad:-0}" -eq 0 ] && [ "${router_bad:-0}" -eq 0 ]
