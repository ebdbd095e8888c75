#!/usr/bin/env bash
# The main job (README.md, first command): install what is needed, build and
# install stategraph, start a local PostgreSQL 15 cluster, and run the seed
# chapter's walkthrough (sql/seed.sql) in it, showing every statement and its output.
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
$SUDO pg_ctlcluster 15 stategraph start 2>/dev/null || true

as_postgres psql -X -q -p "$PORT" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
echo "== sql/seed.sql on the local cluster 15/stategraph (port $PORT), database $DB =="
as_postgres psql -X -a -p "$PORT" -d "$DB" -v ON_ERROR_STOP=1 -f - < sql/seed.sql
echo
echo "The threads above are still there. Explore them with:"
echo "  sudo -u postgres psql -p $PORT $DB"
echo "  SELECT * FROM sg_threads();"
