#!/usr/bin/env bash
# The scorecard under the public fault catalogue (issue 19; `make bench-faults`): every fault
# scenario of the load-test suite (loadtest/scenarios/fault-*.yaml), each run by
# `python -m loadtest run SCENARIO --start $PEER` (loadtest/harness/lineup.py), which starts a
# fresh simulated cloud (the local demo's, deploy/local/mock-cloud.yaml) and a fresh gateway for
# it, so that no scenario inherits what the gateway learned in the one before (an ejected
# region, its estimates), and stops both after it, whatever happened. The gateway is pinned to
# core 0, the cloud and the load generator to core 1; the cloud's control API is wired in.
#   PEER=router (the default)  the router on deploy/bench/node-faults.yaml
#   PEER=litellm, PEER=portkey that peer on its config in deploy/bench/peers/ (`make peers`)
# Then the report, with each scenario's verdict (pass, partial, safe, fail:
# loadtest/harness/scorecard.py), in bench-results/faults (the router) or bench-results/faults-PEER.
# About 7 minutes for the router: a hang is only judged once the gateway's own timeouts (the
# router's: 60 s to a first byte, 30 s between chunks) have run out.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py="$root/.venv/bin/python"
peer="${PEER:-router}"
case "$peer" in
  router) default_out="$root/bench-results/faults" ;;
  litellm | portkey) default_out="$root/bench-results/faults-$peer" ;;
  *) echo "PEER must be router, litellm or portkey, not '$peer'" >&2; exit 2 ;;
esac
out="${OUT:-$default_out}"
mkdir -p "$out"
cd "$root"

results=()
for scenario in $("$py" -m loadtest list | sed -n 's/^\(fault-[a-z-]*\):.*/\1/p'); do
  if "$py" -m loadtest run "$scenario" --start "$peer" --core 0 \
    --cloud-config deploy/local/mock-cloud.yaml --router-config deploy/bench/node-faults.yaml \
    --out "$out/$scenario.jsonl" >/dev/null 2>>"$out/lineup.log"; then
    results+=("$out/$scenario.jsonl")
  else
    echo "$scenario: no result ($out/lineup.log says why)" >&2
  fi
done
"$py" -m loadtest report "${results[@]}" --html "$out/scorecard.html" | tee "$out/scorecard.md"
