#!/usr/bin/env bash
# The cost of row-level security (issue 8): the same calls as a superuser
# (who bypasses it) and as an ordinary role (whose every read and write goes
# through the policies), side by side on one server, alternating, several
# rounds; prints the median seconds of each and their ratio.
#
#     PGHOST=... PGUSER=postgres bash test/bench/rls.sh
#
# Needs a running PostgreSQL 15 with stategraph installed (a database
# sg_bench_rls is made and dropped). Settings: RLS_INVOKES=3000 (invokes per
# round, on 50 threads), RLS_READS=200 (full-history reads per round),
# RLS_ROUNDS=5.
set -euo pipefail
INVOKES=${RLS_INVOKES:-3000}
READS=${RLS_READS:-200}
ROUNDS=${RLS_ROUNDS:-5}
DB=sg_bench_rls
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql -X -q -d postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sg_bench_user') THEN CREATE ROLE sg_bench_user; END IF; END \$\$"
psql -X -q -d $DB -v ON_ERROR_STOP=1 >/dev/null <<'EOF'
CREATE EXTENSION stategraph;
CREATE FUNCTION bench_step(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', 1, 'log', jsonb_build_array(1)) $$;
SELECT sg_create_graph('bench_rls', '{"n": "add", "log": "append"}');
SELECT sg_add_node('bench_rls', 'a', 'bench_step(jsonb)');
SELECT sg_add_edge('bench_rls', '__start__', 'a');
SELECT sg_add_edge('bench_rls', 'a', '__end__');
SELECT sg_compile('bench_rls');
EOF

# seconds one psql run of "SET ROLE $1" + $2 takes
timed() {
	local s e
	s=$(date +%s.%N)
	psql -X -q -d $DB -c "SET ROLE $1" -c "$2" >/dev/null
	e=$(date +%s.%N)
	echo "$e - $s" | bc
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A inv rd
for r in $(seq 1 "$ROUNDS"); do
	for who in postgres sg_bench_user; do
		inv[$who]+="$(timed $who "SELECT count(sg_invoke('bench_rls', '{\"n\": 1}', thread_id => '$who-' || (i % 50))) FROM generate_series(1, $INVOKES) i")"$'\n'
		rd[$who]+="$(timed $who "SELECT count(*) FROM (SELECT sg_get_state_history('$who-' || (i % 50)) FROM generate_series(1, $READS) i) x")"$'\n'
	done
done
ci=$(printf '%s' "${inv[postgres]}" | median); ui=$(printf '%s' "${inv[sg_bench_user]}" | median)
cr=$(printf '%s' "${rd[postgres]}" | median); ur=$(printf '%s' "${rd[sg_bench_user]}" | median)
echo "| calls (median of $ROUNDS rounds) | superuser (no RLS) s | ordinary role (RLS) s | ratio |"
echo "| --- | --- | --- | --- |"
printf '| %d sg_invoke on 50 threads | %.3f | %.3f | %.2f |\n' "$INVOKES" "$ci" "$ui" "$(echo "$ui / $ci" | bc -l)"
printf '| %d full-history reads | %.3f | %.3f | %.2f |\n' "$READS" "$cr" "$ur" "$(echo "$ur / $cr" | bc -l)"
psql -X -q -d postgres -c "DROP DATABASE $DB"
