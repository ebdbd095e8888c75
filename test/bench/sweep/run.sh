#!/usr/bin/env bash
# The retention sweep's delete rate, builds side by side in one run:
#
#     SWEEP_BUILDS="/opt/a/usr/lib/postgresql/15/bin /usr/lib/postgresql/15/bin" bash test/bench/sweep/run.sh
#
# For each round and each build (a PostgreSQL 15 bindir with stategraph
# installed), on a throwaway cluster of its own (autovacuum off, so that
# every build meets the same dead rows): N expired stategraph threads of 4
# checkpoints each (a one-node graph), then N expired LangGraph.js threads
# of 2 checkpoints each, each set removed by one CALL sg_work() (no
# preload: the sweep's batches in the calling session). Prints a Markdown
# table: seconds per round and the median, and threads per second.
#
# Settings (environment):
#   SWEEP_BUILDS   bindirs to compare (default: pg_config's, or /usr/lib/postgresql/15/bin)
#   SWEEP_THREADS=3000   expired threads of each kind
#   SWEEP_ROUNDS=3       rounds (the builds take turns within a round)
#   SWEEP_DATADIR=/var/tmp   where the clusters live
set -euo pipefail

N=${SWEEP_THREADS:-3000}
ROUNDS=${SWEEP_ROUNDS:-3}
DEFAULT_BIN=$( (pg_config --bindir 2>/dev/null) || echo /usr/lib/postgresql/15/bin)
BUILDS=${SWEEP_BUILDS:-$DEFAULT_BIN}
DATADIR=${SWEEP_DATADIR:-/var/tmp}
AS=()
[ "$(id -u)" = 0 ] && AS=(runuser -u postgres --)

# one round of one build: prints "stategraph_seconds langgraph_seconds"
measure() {
	local bin=$1 d
	d=$(mktemp -d "$DATADIR/sgsweep.XXXXXX")
	[ "$(id -u)" = 0 ] && chown postgres "$d"
	"${AS[@]}" "$bin/initdb" -D "$d/data" -U postgres -A trust >/dev/null
	printf "listen_addresses = ''\nunix_socket_directories = '%s'\nautovacuum = off\n" "$d" >> "$d/data/postgresql.conf"
	"${AS[@]}" "$bin/pg_ctl" -D "$d/data" -l "$d/log" -w start >/dev/null
	local P=("${AS[@]}" "$bin/psql" -h "$d" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1)
	"${P[@]}" >/dev/null <<SQL
CREATE EXTENSION stategraph;
CREATE FUNCTION sweep_node(state jsonb) RETURNS jsonb LANGUAGE sql AS \$\$ SELECT '{}'::jsonb \$\$;
SELECT sg_create_graph('sg', '{"n": "replace"}');
SELECT sg_add_node('sg', 'a', 'sweep_node(jsonb)');
SELECT sg_add_edge('sg', '__start__', 'a');
SELECT sg_add_edge('sg', 'a', '__end__');
SELECT sg_compile('sg');
SELECT count(sg_invoke('sg', jsonb_build_object('n', i), thread_id => 't' || i)) FROM generate_series(1, $N) i;
SELECT sg_set_retention('sg', '1 hour');
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours';
CHECKPOINT;
SQL
	local s e sg lg
	s=$(date +%s.%N); "${P[@]}" -c 'CALL sg_work()'; e=$(date +%s.%N)
	[ "$("${P[@]}" -c 'SELECT count(*) FROM stategraph.threads')" = 0 ] || { echo "stategraph threads left over" >&2; exit 1; }
	sg=$(echo "$e - $s" | bc)
	"${P[@]}" >/dev/null <<SQL
INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs)
SELECT 'l' || i, ('1ef00000-0000-6000-8000-00000000000' || k)::uuid,
       CASE WHEN k = 2 THEN '1ef00000-0000-6000-8000-000000000001'::uuid END,
       '{"v": 4}', jsonb_build_object('source', 'loop', 'step', k), '{}'
  FROM generate_series(1, $N) i, generate_series(1, 2) k;
UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 hours';
SELECT sg_set_retention(NULL, '1 hour');
CHECKPOINT;
SQL
	s=$(date +%s.%N); "${P[@]}" -c 'CALL sg_work()'; e=$(date +%s.%N)
	[ "$("${P[@]}" -c 'SELECT count(*) FROM stategraph.lg_checkpoints')" = 0 ] || { echo "LangGraph.js threads left over" >&2; exit 1; }
	lg=$(echo "$e - $s" | bc)
	"${AS[@]}" "$bin/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null
	rm -rf "$d"
	echo "$sg $lg"
}

declare -A SG LG
for r in $(seq 1 "$ROUNDS"); do
	for b in $BUILDS; do
		read -r sg lg < <(measure "$b")
		SG[$b]="${SG[$b]:-} $sg"
		LG[$b]="${LG[$b]:-} $lg"
		echo "round $r $b: stategraph ${sg}s, LangGraph.js ${lg}s" >&2
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "$N expired threads of each kind, $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| build | stategraph threads: seconds | median | threads/s | LangGraph.js threads: seconds | median | threads/s |"
echo "|---|---|---|---|---|---|---|"
for b in $BUILDS; do
	ms=$(echo "${SG[$b]}" | median); ml=$(echo "${LG[$b]}" | median)
	printf '| %s |%s | %.2f | %.0f |%s | %.2f | %.0f |\n' "$b" "$(printf ' %.2f' ${SG[$b]})" "$ms" "$(echo "$N / $ms" | bc -l)" \
		"$(printf ' %.2f' ${LG[$b]})" "$ml" "$(echo "$N / $ml" | bc -l)"
done
