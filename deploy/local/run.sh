#!/usr/bin/env bash
# Starts the simulated cloud and the router on its embedded default config, on loopback.
# Stops both on Ctrl-C. Used by `make run`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py="$root/.venv/bin/python"

"$py" -m loadtest.mock_cloud --config "$here/mock-cloud.yaml" &
cloud=$!
trap 'kill "$cloud" 2>/dev/null; wait "$cloud" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  if "$py" -c 'import socket; socket.create_connection(("127.0.0.1", 9100), 0.2).close()' 2>/dev/null; then
    break
  fi
  sleep 0.1
done
echo "simulated cloud up (control API on http://127.0.0.1:9100/control/regions)"
# The admin API's token (docs/configuration.md#admin); a demo value unless one is given.
export EDGE_ROUTER_ADMIN_TOKEN="${EDGE_ROUTER_ADMIN_TOKEN:-admin-demo}"
"$root/.venv/bin/edge-router" serve --config "${EDGE_ROUTER_CONFIG:-$here/node.yaml}"
