#!/usr/bin/env bash
# Installs what building and testing stategraph needs (Debian 12), if missing.
# Usage: test/deps.sh [extra Debian packages...]
set -euo pipefail

packages=(build-essential postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl libipc-run-perl graphviz gnuplot-nox
          postgresql-15-cron postgresql-15-plproxy python3-psycopg sqlsmith gdb "$@")
# Node.js and npm (the JS client and benchmarks): Debian's, unless a node is already there
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# The JS client and its tests need Node.js 20 or later; Debian 12's is 18
# (vitest does not start there). npm installs Node.js 20 (the registry's
# "node" package) into its global prefix, /usr/local, ahead of /usr/bin.
node20() {
	[ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 20 ] && return
	echo "Installing Node.js 20 with npm (node $(node --version) is older)"
	$SUDO npm install -g --no-audit --no-fund node@20 >/dev/null && hash -r
}
[ ${#missing[@]} -eq 0 ] && { node20; exit; }

echo "Installing: ${missing[*]}"
$SUDO apt-get update -qq
# keep Debian from creating and starting a default cluster we do not use
if [ ! -e /etc/postgresql-common/createcluster.d/stategraph.conf ]; then
	$SUDO mkdir -p /etc/postgresql-common/createcluster.d
	echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/stategraph.conf >/dev/null
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
node20
