#!/usr/bin/env bash
# Installs pmta-agent as a systemd service on a PowerMTA host. Run as root from a
# checkout where `npm ci && npm run build` has been run.
#
#   systemd/install.sh [--root DIR] [--prefix /opt/pmta-agent] [--no-start]
#
# --root DIR installs under DIR (a staging tree: no user is created, systemctl is not run).
set -euo pipefail

ROOT=""
PREFIX=/opt/pmta-agent
START=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --no-start) START=0; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

SRC="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$SRC/dist/src/cli/main.js" ] || { echo "install.sh: run 'npm ci && npm run build' first" >&2; exit 1; }
USER_NAME=pmta-agent

if [ -z "$ROOT" ]; then
  if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/pmta-agent --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
  fi
  OWNER=(-o "$USER_NAME" -g "$USER_NAME")
else
  OWNER=()
fi

# The code: dist, production dependencies, templates, README.
install -d -m 0755 "$ROOT$PREFIX"
cp -a "$SRC/dist" "$SRC/package.json" "$SRC/package-lock.json" "$SRC/README.md" "$ROOT$PREFIX/"
install -d -m 0755 "$ROOT$PREFIX/config"
cp -a "$SRC/config/templates" "$ROOT$PREFIX/config/"
cp -a "$SRC/config/pmta-agent.example.json" "$ROOT$PREFIX/config/"
if [ -z "$ROOT" ]; then
  (cd "$PREFIX" && npm ci --omit=dev --no-audit --no-fund)
else
  cp -a "$SRC/node_modules" "$ROOT$PREFIX/"
fi
chmod 0755 "$ROOT$PREFIX/dist/src/cli/main.js"
install -d -m 0755 "$ROOT/usr/local/bin"
ln -sfn "$PREFIX/dist/src/cli/main.js" "$ROOT/usr/local/bin/pmta-agent"

# Its directories: state (systemd's StateDirectory also makes it), config, and the
# PowerMTA include directory it alone writes (include file, backup, DKIM keys).
install -d -m 0750 "${OWNER[@]}" "$ROOT/var/lib/pmta-agent"
install -d -m 0750 "$ROOT/etc/pmta-agent"
install -d -m 0755 "${OWNER[@]}" "$ROOT/etc/pmta/pmta-agent"
install -d -m 0700 "${OWNER[@]}" "$ROOT/etc/pmta/pmta-agent/dkim"

# A first config from the example, with production paths and a fresh API token.
CONFIG="$ROOT/etc/pmta-agent/config.json"
if [ ! -f "$CONFIG" ]; then
  node - "$SRC/config/pmta-agent.example.json" "$CONFIG" <<'JS'
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
const c = JSON.parse(fs.readFileSync(src, 'utf8'));
c.store.stateDir = '/var/lib/pmta-agent';
Object.assign(c.pmta, {
  port: 25,
  configPath: '/etc/pmta/pmta-agent/pmta-agent.conf',
  reloadCommand: 'systemctl reload pmta',
  accountingDir: '/var/log/pmta',
  dkimDir: '/etc/pmta/pmta-agent/dkim',
});
fs.writeFileSync(dst, JSON.stringify(c, null, 2) + '\n', { mode: 0o640 });
JS
  node "$SRC/dist/src/cli/main.js" token new --name admin --scopes admin --write "$CONFIG" >/dev/null 2>&1
  [ -z "$ROOT" ] && chgrp "$USER_NAME" "$CONFIG"
  echo "wrote $CONFIG: edit the tenants, then: systemctl restart pmta-agent"
fi

# The unit, and the polkit rule that lets the agent run exactly `systemctl reload pmta`.
install -D -m 0644 "$SRC/systemd/pmta-agent.service" "$ROOT/etc/systemd/system/pmta-agent.service"
install -D -m 0644 "$SRC/systemd/60-pmta-agent.rules" "$ROOT/etc/polkit-1/rules.d/60-pmta-agent.rules"

if [ -z "$ROOT" ]; then
  systemctl daemon-reload
  if [ "$START" = 1 ]; then systemctl enable --now pmta-agent; else systemctl enable pmta-agent; fi
  echo "Add this line to PowerMTA's /etc/pmta/config, then 'pmta reload':"
  echo "  include /etc/pmta/pmta-agent/pmta-agent.conf"
fi
