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
# Ownership needs root; a staging run by another user still gets the modes.
AS_ROOT=0
[ "$(id -u)" = 0 ] && AS_ROOT=1

if [ -z "$ROOT" ]; then
  if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/pmta-agent --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
  fi
  SERVICE=(-o "$USER_NAME" -g "$USER_NAME")
  SERVICE_GROUP=(-g "$USER_NAME")
else
  SERVICE=()
  SERVICE_GROUP=()
fi

# The code, owned by root and writable by nobody else: the service runs it, and root
# runs it to check PowerMTA's include file before a reload. Copied, not `cp -a`, so
# the checkout owner's uid does not come along. No tests, benches or dev dependencies.
CODE="$ROOT$PREFIX"
rm -rf "$CODE.new"
install -d -m 0755 "$CODE.new" "$CODE.new/config"
cp -R "$SRC/dist" "$CODE.new/"
rm -rf "$CODE.new/dist/test" "$CODE.new/dist/bench"
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/README.md" "$CODE.new/"
cp -R "$SRC/config/templates" "$CODE.new/config/"
cp "$SRC/config/pmta-agent.example.json" "$CODE.new/config/"
cp -R "$SRC/node_modules" "$CODE.new/"
(cd "$CODE.new" && npm prune --omit=dev --no-audit --no-fund >/dev/null)
chmod 0755 "$CODE.new/dist/src/cli/main.js"
[ "$AS_ROOT" = 1 ] && chown -R root:root "$CODE.new"
chmod -R u+rwX,go+rX,go-w "$CODE.new"
rm -rf "$CODE"
mv "$CODE.new" "$CODE"
install -d -m 0755 "$ROOT/usr/local/bin"
ln -sfn "$PREFIX/dist/src/cli/main.js" "$ROOT/usr/local/bin/pmta-agent"

# What the service may write: its state directory, and the PowerMTA include directory
# (include file, backup, DKIM keys). Its config: readable by its group, written by root.
install -d -m 0700 "${SERVICE[@]}" "$ROOT/var/lib/pmta-agent"
install -d -m 0755 "${SERVICE[@]}" "$ROOT/etc/pmta/pmta-agent"
install -d -m 0700 "${SERVICE[@]}" "$ROOT/etc/pmta/pmta-agent/dkim"
install -d -m 0750 "${SERVICE_GROUP[@]}" "$ROOT/etc/pmta-agent"
# PowerMTA writes the agent's accounting file here (its own <acct-file>, apart from the
# vendor's /var/log/pmta/acct.csv, so no record is read twice); the service only reads it.
# PowerMTA's package runs it as the user pmta where that user exists.
ACCT_OWNER=()
if [ ${#SERVICE_GROUP[@]} -gt 0 ] && id pmta >/dev/null 2>&1; then ACCT_OWNER=(-o pmta); fi
install -d -m 0750 "${ACCT_OWNER[@]}" "${SERVICE_GROUP[@]}" "$ROOT/var/log/pmta/pmta-agent"

# A first production config: the example's settings with production paths, a fresh
# API token, PowerMTA reloaded through the root-owned check, and no tenants (the
# example's are demo tenants with plaintext passwords).
CONFIG="$ROOT/etc/pmta-agent/config.json"
if [ ! -f "$CONFIG" ]; then
  node - "$SRC/config/pmta-agent.example.json" "$CONFIG" <<'JS'
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
const c = JSON.parse(fs.readFileSync(src, 'utf8'));
c.store.stateDir = '/var/lib/pmta-agent';
c.tenants = [];
Object.assign(c.pmta, {
  port: 25,
  configPath: '/etc/pmta/pmta-agent/pmta-agent.conf',
  reloadCommand: 'systemctl start pmta-agent-reload-pmta.service',
  accountingDir: '/var/log/pmta/pmta-agent',
  dkimDir: '/etc/pmta/pmta-agent/dkim',
});
fs.writeFileSync(dst, JSON.stringify(c, null, 2) + '\n', { mode: 0o640 });
JS
  node "$SRC/dist/src/cli/main.js" token new --name admin --scopes admin --write "$CONFIG" >/dev/null 2>&1
  echo "wrote $CONFIG: add the tenants (passwordHash from 'pmta-agent hash-password'), then: systemctl restart pmta-agent"
fi
[ -n "$ROOT" ] || chown root:"$USER_NAME" "$CONFIG"
chmod 0640 "$CONFIG"
if ! node "$SRC/dist/src/cli/main.js" check-config --production --config "$CONFIG" >/dev/null; then
  echo "install.sh: $CONFIG is not ready for production (above); the service will not start until it is" >&2
fi

# The units: the agent, and the root-owned oneshot that lints the include file before
# it reloads PowerMTA; the polkit rule lets the agent start exactly that unit.
install -D -m 0644 "$SRC/systemd/pmta-agent.service" "$ROOT/etc/systemd/system/pmta-agent.service"
install -D -m 0644 "$SRC/systemd/pmta-agent-reload-pmta.service" "$ROOT/etc/systemd/system/pmta-agent-reload-pmta.service"
install -D -m 0644 "$SRC/systemd/60-pmta-agent.rules" "$ROOT/etc/polkit-1/rules.d/60-pmta-agent.rules"

if [ -z "$ROOT" ]; then
  systemctl daemon-reload
  if [ "$START" = 1 ]; then systemctl enable --now pmta-agent; else systemctl enable pmta-agent; fi
  echo "Add this line to PowerMTA's /etc/pmta/config, then 'pmta reload':"
  echo "  include /etc/pmta/pmta-agent/pmta-agent.conf"
fi
