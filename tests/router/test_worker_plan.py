"""How many workers `serve` runs and what each shares: CPUs from the affinity and the cgroup
quota, the node-local Redis holding what the node config does not share, and the workers' series
gathered into one `/metrics`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.config.loader import load_node_config
from router.pool_membership import POOL_DIR_PREFIX, PoolMembership, new_pool_directory
from router.telemetry.worker_metrics import merged_exposition
from router.usable_cpus import cpu_quota, usable_cpus
from router.worker_plan import WorkersRefused, as_pool_worker, node_redis_holds, plan_workers

ROOT = Path(__file__).resolve().parents[2]
SCHEDULED_ON = len(os.sched_getaffinity(0))


def _cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_cgroup_v2_quota_of_one_and_a_half_cpus_rounds_up_to_two(tmp_path: Path) -> None:
    root = _cgroup(tmp_path, {"cpu.max": "150000 100000\n"})
    assert cpu_quota(root) == 1.5
    assert usable_cpus(root) == min(SCHEDULED_ON, 2)


def test_a_quota_below_one_cpu_still_runs_one_worker(tmp_path: Path) -> None:
    assert usable_cpus(_cgroup(tmp_path, {"cpu.max": "20000 100000"})) == 1


def test_no_quota_leaves_the_affinity(tmp_path: Path) -> None:
    assert usable_cpus(_cgroup(tmp_path, {"cpu.max": "max 100000"})) == SCHEDULED_ON
    assert usable_cpus(tmp_path / "absent") == SCHEDULED_ON


def test_a_cgroup_v1_quota_is_read_too(tmp_path: Path) -> None:
    root = _cgroup(tmp_path, {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"})
    assert cpu_quota(root) == 1.0
    assert usable_cpus(root) == 1
    unlimited = _cgroup(
        tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "1"}
    )
    assert cpu_quota(unlimited) is None


def _demo(tmp_path: Path, extra: str = "") -> Path:
    text = (ROOT / "deploy/local/node.yaml").read_text() + extra
    text = text.replace("../../policies", str(ROOT / "policies"))
    path = tmp_path / "node.yaml"
    path.write_text(text)
    return path


def test_the_node_local_redis_holds_only_what_the_config_does_not_share(tmp_path: Path) -> None:
    demo = load_node_config(_demo(tmp_path), require_secrets=False).config
    assert node_redis_holds(demo) == ("limits", "cache")
    limits = demo.limits.model_copy(update={"backend": "redis"})
    assert node_redis_holds(demo.model_copy(update={"limits": limits})) == ("cache",)
    off = demo.cache.model_copy(update={"enabled": False})
    assert node_redis_holds(demo.model_copy(update={"cache": off})) == ("limits",)


def test_a_pool_worker_spawns_no_edge_worker_and_points_what_is_held_at_the_node_redis(
    tmp_path: Path,
) -> None:
    loaded = load_node_config(_demo(tmp_path), require_secrets=False)
    assert loaded.config.edge_worker.spawn
    pool = PoolMembership(tmp_path / "pool", 2, 3)
    worker = as_pool_worker(loaded, pool).config
    assert not worker.edge_worker.spawn
    url = f"unix://{tmp_path / 'pool' / 'redis.sock'}"
    assert worker.limits.backend == "redis" and worker.limits.redis.url == url
    assert worker.cache.shared.enabled and worker.cache.shared.redis.url == url
    assert worker.endpoints == loaded.config.endpoints
    assert pool.siblings == [1, 3]


WORKER_ONE = b"""# HELP router_requests_total Requests answered.
# TYPE router_requests_total counter
router_requests_total{outcome="ok"} 3.0
# HELP router_endpoint_rtt_seconds Probe RTT.
# TYPE router_endpoint_rtt_seconds gauge
router_endpoint_rtt_seconds{endpoint="us-east"} 0.002
"""
WORKER_TWO = WORKER_ONE.replace(b"} 3.0", b"} 5.0").replace(b"0.002", b"0.004")


def test_merged_metrics_label_each_workers_samples_and_count_who_answered() -> None:
    merged = asyncio.run(merged_exposition([(1, WORKER_ONE), (2, WORKER_TWO), (3, None)], 3))
    families = {f.name: f for f in text_string_to_metric_families(merged.decode())}
    requests = families["router_requests"]
    assert requests.type == "counter"
    by_worker = {s.labels["worker"]: s.value for s in requests.samples if s.name.endswith("_total")}
    assert by_worker == {"1": 3.0, "2": 5.0}
    rtt = {s.labels["worker"]: s.value for s in families["router_endpoint_rtt_seconds"].samples}
    assert rtt == {"1": 0.002, "2": 0.004}
    pool = {s.labels["state"]: s.value for s in families["router_pool_workers"].samples}
    assert pool == {"configured": 3.0, "answered": 2.0}


def test_the_default_runs_a_pool_with_redis_server_and_one_process_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = _demo(tmp_path)
    loaded = load_node_config(path, require_secrets=False)
    if shutil.which("redis-server") is not None:
        pool = plan_workers(None, loaded, path, "INFO", cpus=4)
        assert pool.workers == 4 and pool.redis_server == shutil.which("redis-server")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with caplog.at_level(logging.WARNING, logger="edge_router.workers"):
        single = plan_workers(None, loaded, path, "INFO", cpus=4)
    assert single.workers == 1 and single.redis_server is None
    assert "install redis-server" in caplog.text
    with pytest.raises(WorkersRefused, match="--workers 1"):
        plan_workers(4, loaded, path, "INFO")


def test_a_config_that_shares_everything_through_its_redis_needs_no_redis_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _demo(tmp_path, "")
    loaded = load_node_config(path, require_secrets=False)
    config = loaded.config
    shared = config.cache.shared.model_copy(update={"enabled": True})
    config = config.model_copy(
        update={
            "limits": config.limits.model_copy(update={"backend": "redis"}),
            "cache": config.cache.model_copy(update={"shared": shared}),
        }
    )
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    plan = plan_workers(3, dataclasses.replace(loaded, config=config), path, "INFO")
    assert plan.workers == 3 and plan.redis_server is None


def test_a_new_pool_directory_clears_those_of_supervisors_gone_and_keeps_the_living(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{POOL_DIR_PREFIX}{gone.pid}-abc"
    living = tmp_path / f"{POOL_DIR_PREFIX}{os.getppid()}-def"
    unrelated = tmp_path / "something-else"
    for directory in (stale, living, unrelated):
        directory.mkdir()
        (directory / "worker-1.sock").touch()
    created = new_pool_directory()
    assert not stale.exists()
    assert living.exists() and unrelated.exists()
    assert created.parent == tmp_path and created.name.startswith(
        f"{POOL_DIR_PREFIX}{os.getpid()}-"
    )
    assert created.stat().st_mode & 0o777 == 0o700
