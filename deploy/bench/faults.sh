#!/usr/bin/env bash
# The router's scorecard under the public fault catalogue (issue 19; `make bench-faults`): every
# fault scenario of the load-test suite (loadtest/scenarios/fault-*.yaml), each against a fresh
# simulated cloud (the local demo's) and a fresh router on deploy/bench/node-faults.yaml, so that
# no scenario inherits what the router learned in the one before (an ejected region, its
# estimates); then the report with each one's verdict (pass, partial, safe, fail:
# loadtest/harness/scorecard.py). Both processes are stopped after each scenario, whatever
# happened. About 7 minutes: a hang is only judged once the router's own timeouts (60 s to a
# first byte, 30 s between chunks) have run out.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py="$root/.venv/bin/python"
out="${OUT:-$root/bench-results/faults}"
mkdir -p "$out"
cd "$root"
cloud=""
router=""

stop() {
  kill -TERM $router $cloud 2>/dev/null || true
  wait $router $cloud 2>/dev/null || true
  cloud=""
  router=""
}
trap stop EXIT

start() {
  setsid "$py" -m loadtest.mock_cloud --config deploy/local/mock-cloud.yaml >>"$out/cloud.log" 2>&1 &
  cloud=$!
  setsid "$py" -m router.cli serve --config deploy/bench/node-faults.yaml >>"$out/router.log" 2>&1 &
  router=$!
  "$py" - <<'PY'
import time, urllib.request
for _ in range(600):
    try:
        urllib.request.urlopen("http://127.0.0.1:8080/readyz", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("the router did not become ready (bench-results/faults/router.log)")
PY
}

results=()
for scenario in $("$py" -m loadtest list | sed -n 's/^\(fault-[a-z-]*\):.*/\1/p'); do
  start
  "$py" -m loadtest run "$scenario" --target http://127.0.0.1:8080/v1 --key sk-loadtest \
    --control http://127.0.0.1:9100 --name router --pid "$router" \
    --out "$out/$scenario.jsonl" >/dev/null
  results+=("$out/$scenario.jsonl")
  stop
done
"$py" -m loadtest report "${results[@]}" --html "$out/scorecard.html" | tee "$out/scorecard.md"
