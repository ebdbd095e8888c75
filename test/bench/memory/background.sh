#!/usr/bin/env bash
# Memory of a background worker over many runs (issue 9): one worker
# (stategraph.max_workers = 1) executes N runs of the seed graph, each on a new
# thread, submitted in batches of 1000; the worker's private memory (RssAnon)
# is sampled from /proc after every 10,000 runs. Flat means the worker's loop
# frees everything a run allocated.
# Usage: bash test/bench/memory/background.sh   (N=20000 for a shorter try; PG_CONFIG selects PostgreSQL)
# Writes test/bench/out/memory-background-<date>.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
N=${N:-100000}
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$($PG_CONFIG --bindir)
DIR=$(mktemp -d /tmp/sg-bg-mem.XXXXXX)
chmod 755 "$DIR"
run() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$DIR"
run "$PGBIN/initdb -D $DIR/data -U postgres -A trust >/dev/null"
cat >>"$DIR/data/postgresql.conf" <<CONF
shared_preload_libraries = 'stategraph'
stategraph.max_workers = 1
listen_addresses = ''
unix_socket_directories = '$DIR'
CONF
run "$PGBIN/pg_ctl -D $DIR/data -l $DIR/server.log -w start >/dev/null"
trap 'run "$PGBIN/pg_ctl -D $DIR/data -m immediate -w stop >/dev/null 2>&1"; rm -rf "$DIR"' EXIT
export PGHOST=$DIR PGUSER=postgres PGDATABASE=postgres PGPORT=5432 PATH="$PGBIN:$PATH"
psql -Xq -f "$ROOT/test/bench/setup.sql" >/dev/null
mkdir -p "$ROOT/test/bench/out"
OUT=$ROOT/test/bench/out/memory-background-$(date +%Y%m%d-%H%M%S).txt
done_runs() { psql -XAtc "SELECT count(*) FROM stategraph.runs WHERE status = 'success'"; }
{
	echo "== $N runs of the seed graph (3 steps), each on a new thread, one background worker"
	submitted=0
	removed=0
	SECONDS=0
	while [ "$submitted" -lt "$N" ]; do
		psql -XAtqc "SELECT count(sg_submit('workflow', '{\"data\": \"x\"}', 'm-' || g)) FROM generate_series($submitted + 1, $submitted + 1000) g" >/dev/null
		submitted=$((submitted + 1000))
		if [ $((submitted % 10000)) -eq 0 ]; then
			until [ $(( $(done_runs) + removed )) -ge "$submitted" ]; do sleep 0.5; done
			pid=$(psql -XAtc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker' LIMIT 1")
			printf "%7d runs  %4ss  worker %s  RssAnon %7s kB\n" "$submitted" "$SECONDS" "$pid" \
				"$(awk '/^RssAnon/ {print $2}' /proc/"$pid"/status)"
			# finished runs are not kept for this measurement
			removed=$((removed + $(psql -XAtc "WITH d AS (DELETE FROM stategraph.runs WHERE status = 'success' RETURNING 1) SELECT count(*) FROM d")))
		fi
	done
	echo "failed runs: $(psql -XAtc "SELECT count(*) FROM stategraph.runs WHERE status <> 'success'")"
} | tee "$OUT"
