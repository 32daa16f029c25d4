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

if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing test dependencies: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

dotnet test FlowServer.sln --logger "console;verbosity=normal" "$@"
