#!/usr/bin/env bash
# Starts the simulated cloud and the router on its embedded default config, on loopback; used by
# `make run`. SIGTERM or SIGINT (Ctrl-C) stops both, the way a process manager expects: the router
# stops accepting and drains its requests in flight (server.drain_timeout_s) while the simulated
# cloud still answers them, then the cloud stops, and the script exits 0. If either fails to start
# (a port already in use, say), it says so in one line and the other is stopped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py="$root/.venv/bin/python"
cloud=""
router=""
cloud_out=$(mktemp)

# Both children run in sessions of their own (setsid), so a terminal's Ctrl-C reaches this script
# alone, which stops them in order; otherwise the cloud would stop under requests still draining.
finish() {
  local code=$?
  trap - EXIT INT TERM
  if [ -n "$router" ]; then
    kill -TERM "$router" 2>/dev/null || true
    wait "$router" 2>/dev/null || true
  fi
  if [ -n "$cloud" ]; then
    kill -TERM "$cloud" 2>/dev/null || true
    wait "$cloud" 2>/dev/null || true
  fi
  rm -f "$cloud_out"
  exit "$code"
}
trap finish EXIT
trap 'exit 0' INT TERM

setsid "$py" -m loadtest.mock_cloud --config "$here/mock-cloud.yaml" >"$cloud_out" &
cloud=$!
# Up means this cloud said where it listens (not that something answers on its port: that may be
# another instance); it exits at once with one line when a port is taken.
for _ in $(seq 1 200); do
  grep -q '^control on ' "$cloud_out" && break
  if ! kill -0 "$cloud" 2>/dev/null; then
    wait "$cloud" && code=0 || code=$?
    cloud=""
    exit "$((code == 0 ? 1 : code))"
  fi
  sleep 0.05
done
grep -q '^control on ' "$cloud_out" || { echo "the simulated cloud did not start in 10 s" >&2; exit 1; }
echo "simulated cloud up (control API on http://127.0.0.1:9100/control/regions)"

# The admin API's token (docs/configuration.md#admin); a demo value unless one is given.
export EDGE_ROUTER_ADMIN_TOKEN="${EDGE_ROUTER_ADMIN_TOKEN:-admin-demo}"
setsid "$root/.venv/bin/edge-router" serve --config "${EDGE_ROUTER_CONFIG:-$here/node.yaml}" &
router=$!
wait "$router" && code=0 || code=$?
router=""
exit "$code"
