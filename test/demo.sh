#!/usr/bin/env bash
# The main job (README.md, first command): install what is needed, build and
# install stategraph, start a local PostgreSQL 15 cluster, and run the seed
# chapter's walkthrough (docs/seed-chapter.md) in it, showing every statement
# and its output under the heading of the chapter's example it belongs to.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
PORT=${STATEGRAPH_PORT:-5440}
DB=stategraph_demo

bash test/deps.sh
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
make -s
$SUDO make -s install

as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "15/stategraph"; then
	$SUDO pg_createcluster 15 stategraph --port "$PORT" >/dev/null
fi
PORT=$(pg_lsclusters -h | awk '$1 == 15 && $2 == "stategraph" {print $3}')
# the names of a shared_preload_libraries value, one a line
preload_names() { tr ',' '\n' <<<"$1" | tr -d " \t'\"" | grep -v '^$' || true; }
# background runs need the library preloaded: added to what the cluster
# preloads already (pg_cron, say, as README's Schedules with pg_cron has it)
preload=$($SUDO pg_conftool -s 15 stategraph show shared_preload_libraries 2>/dev/null || true)
if ! preload_names "$preload" | grep -qx stategraph; then
	$SUDO pg_conftool 15 stategraph set shared_preload_libraries "${preload:+$preload,}stategraph"
fi
# (re)start: a running server keeps the library it preloaded, not the one just installed
restart() {
	$SUDO pg_ctlcluster 15 stategraph restart 2>/dev/null || $SUDO pg_ctlcluster 15 stategraph start 2>/dev/null || true
	read -r status log < <(pg_lsclusters -h | awk '$1 == 15 && $2 == "stategraph" {print $4, $7}')
	if [ "${status%%,*}" != online ]; then
		echo "test/demo.sh: cluster 15/stategraph (port $PORT) did not start (a port in use?); its log: $log" >&2
		exit 1
	fi
}
preloaded() {	# what the running server preloads
	as_postgres psql -X -A -t -q -p "$PORT" -d postgres -c "SHOW shared_preload_libraries"
}
restart
# a preload list set with ALTER SYSTEM (postgresql.auto.conf) wins over
# postgresql.conf's: stategraph is added to that one, what it names kept
preload=$(preloaded)
if ! preload_names "$preload" | grep -qx stategraph; then
	items=$(preload_names "$preload" | sed "s/.*/'&'/" | paste -sd, -)
	as_postgres psql -X -q -p "$PORT" -d postgres -v ON_ERROR_STOP=1 \
		-c "ALTER SYSTEM SET shared_preload_libraries = ${items:+$items, }'stategraph'"
	echo "test/demo.sh: shared_preload_libraries is set with ALTER SYSTEM (to '$preload'), over postgresql.conf: stategraph added there"
	restart
	if ! preload_names "$(preloaded)" | grep -qx stategraph; then
		echo "test/demo.sh: cluster 15/stategraph does not preload stategraph (shared_preload_libraries is '$(preloaded)'); see SELECT * FROM pg_file_settings WHERE name = 'shared_preload_libraries'" >&2
		exit 1
	fi
fi

# the demo's own database, made anew: sessions still in it (a psql left open
# to explore it, pg_cron's scheduler when cron.database_name names it) end
as_postgres psql -X -q -p "$PORT" -d postgres -v ON_ERROR_STOP=1 \
	-c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
echo "== docs/seed-chapter.md on the local cluster 15/stategraph (port $PORT), database $DB =="
blocks=$(mktemp -d)
trap 'rm -rf "$blocks"' EXIT
python3 test/docblocks.py split docs/seed-chapter.md "$blocks"
title=""
for f in "$blocks"/*.sql; do
	if [ "$(cat "${f%.sql}.title")" != "$title" ]; then
		title=$(cat "${f%.sql}.title")
		printf '\n=== %s ===\n\n' "$title"
	fi
	as_postgres psql -X -a -p "$PORT" -d "$DB" -v ON_ERROR_STOP=1 -f - < "$f"
done
echo
echo "The threads above are still there. Explore them with:"
if [ "$(id -u)" -eq 0 ]; then echo "  runuser -u postgres -- psql -p $PORT $DB"; else echo "  sudo -u postgres psql -p $PORT $DB"; fi
echo "  SELECT * FROM sg_threads();"
