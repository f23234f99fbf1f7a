"""The image's HEALTHCHECK: exit 0 when the router's `GET /healthz` answers 200, else 1.

The port and host come from the node config the image serves (`server.port`, `server.host`; the
router's defaults when unset), so a config on another port needs no other health check. /healthz is
liveness, as the Kubernetes livenessProbe uses it; /readyz (the models loaded, an endpoint
available) is for traffic, and a router waiting on its cloud is not one to restart.

    python healthcheck.py [NODE_CONFIG]   (default /etc/edge-router/node.yaml)
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml

DEFAULT_CONFIG = Path("/etc/edge-router/node.yaml")
# router/config/model.py's defaults for `server`.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
TIMEOUT_S = 2.0
# A server listening on every address is reached on loopback.
WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def healthz_url(config: Path) -> str:
    try:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        server = loaded.get("server") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        server = {}
    host = str(server.get("host", DEFAULT_HOST))
    host = WILDCARDS.get(host, host)
    port = int(server.get("port", DEFAULT_PORT))
    return f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"


def main(argv: list[str]) -> int:
    url = healthz_url(Path(argv[1]) if len(argv) > 1 else DEFAULT_CONFIG)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            healthy = response.status == 200
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    print(f"{url}: {'ok' if healthy else 'not ok'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
