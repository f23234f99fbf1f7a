"""The network topologies a scenario may name (`loadtest/network/topologies/`): the shipped ones
load, and a file that would not make the stack it describes is refused with the file and the
field, before any namespace is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest.network.testbed import HERE, MAX_HOSTS, MAX_LINKS
from loadtest.network.topology_file import (
    TopologyFile,
    TopologyInvalid,
    load_topology,
    topology_names,
)


def _topology(**changes: Any) -> dict[str, Any]:
    """A valid topology (one region), with `changes` over it."""
    return {
        "description": "a PoP and one region",
        "hosts": [HERE, "pop", "us-east", "redis"],
        "links": [
            {"a": HERE, "b": "pop", "delay_ms": 1},
            {"a": "pop", "b": "us-east", "delay_ms": 10},
            {"a": "pop", "b": "redis", "delay_ms": 1},
        ],
        "pop": "pop",
        "regions": ["us-east"],
        "redis": "redis",
        **changes,
    }


def _load(tmp_path: Path, data: dict[str, Any]) -> TopologyFile:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_topology(str(path))


def _refusal(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(TopologyInvalid) as refused:
        _load(tmp_path, data)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'mine.yaml'}: ")
    return message


def test_edge_pop_places_the_demo_regions_at_their_distances_from_the_pop() -> None:
    assert "edge-pop" in topology_names()
    topology = load_topology("edge-pop")
    assert (topology.pop, topology.regions, topology.redis) == (
        "pop",
        ("us-east", "eu-west", "ap-south"),
        "redis",
    )
    delays = {(link.a, link.b): link.delay_ms for link in topology.links}
    assert delays == {
        (HERE, "pop"): 1,
        ("pop", "us-east"): 10,
        ("pop", "eu-west"): 40,
        ("pop", "ap-south"): 90,
        ("pop", "redis"): 1,
    }
    for name in topology_names():  # every shipped one loads
        assert load_topology(name).name == name


def test_the_test_bed_gets_a_control_link_to_each_region_and_redis_with_no_shape() -> None:
    bed = load_topology("edge-pop").bed_topology()
    control = [(link.a, link.b, link.shape) for link in bed.links[5:]]
    assert control == [(HERE, host, {}) for host in ("us-east", "eu-west", "ap-south", "redis")]
    assert bed.links[1].ab == bed.links[1].ba == {"delay_ms": 10.0}


def test_one_direction_of_a_link_may_differ(tmp_path: Path) -> None:
    links = _topology()["links"]
    links[1] = {"a": "pop", "b": "us-east", "delay_ms": 10, "ba": {"delay_ms": 30, "loss": 0.01}}
    bed = _load(tmp_path, _topology(links=links)).bed_topology()
    assert bed.links[1].ab == {"delay_ms": 10.0}
    assert bed.links[1].ba == {"delay_ms": 30.0, "loss": 0.01}


def test_an_unknown_field_is_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    assert "popp: Extra inputs are not permitted" in _refusal(tmp_path, _topology(popp="pop"))
    links = _topology()["links"]
    links[1] = {"a": "pop", "b": "us-east", "delai_ms": 10}
    assert "links.1.delai_ms: Extra inputs" in _refusal(tmp_path, _topology(links=links))


def test_a_shape_out_of_range_is_refused_with_its_field(tmp_path: Path) -> None:
    links = _topology()["links"]
    links[1] = {"a": "pop", "b": "us-east", "loss": 1.5, "ab": {"delay_ms": "fast"}}
    message = _refusal(tmp_path, _topology(links=links))
    assert "links.1.loss: Input should be less than or equal to 1" in message
    assert "links.1.ab.delay_ms: Input should be a valid number" in message


def test_a_part_on_no_host_or_off_the_pop_is_refused(tmp_path: Path) -> None:
    message = _refusal(tmp_path, _topology(regions=["us-east", "us-west"], redis="pop"))
    assert "regions: 'us-west' is not one of the hosts" in message
    assert "'pop' plays two parts" in message
    assert "hosts: no part (pop, a region, redis) for redis" in message
    links = _topology()["links"]
    links[1] = {"a": HERE, "b": "us-east"}  # the region is reached from `here`, not the PoP
    message = _refusal(tmp_path, _topology(links=links))
    assert "links[1]: `here` (the load generator) links to the PoP only" in message
    assert "links: no link between us-east and the PoP, pop" in message
    assert "hosts: the load generator's host `here`" in _refusal(
        tmp_path, _topology(hosts=["pop", "us-east", "redis"], links=links[2:])
    )


def test_a_second_link_between_two_hosts_is_refused(tmp_path: Path) -> None:
    links = [*_topology()["links"], {"a": "us-east", "b": "pop", "delay_ms": 5}]
    assert "links[3]: a second link between us-east and pop" in _refusal(
        tmp_path, _topology(links=links)
    )


def test_the_test_beds_bounds_count_the_stacks_control_links(tmp_path: Path) -> None:
    regions = [f"r{i}" for i in range(MAX_HOSTS - 3)]  # with here, pop and redis: the most
    links = [{"a": HERE, "b": "pop"}, {"a": "pop", "b": "redis"}]
    links += [{"a": "pop", "b": region} for region in regions]
    full = _topology(hosts=[HERE, "pop", "redis", *regions], links=links, regions=regions)
    assert len(_load(tmp_path, full).bed_topology().links) == len(links) + len(regions) + 1
    # Links between regions are allowed (though unused), until the control links overflow.
    spare = MAX_LINKS - len(links) - len(regions) - 1
    extra = [{"a": regions[i], "b": regions[i + 1]} for i in range(spare + 1)]
    message = _refusal(tmp_path, {**full, "links": [*links, *extra]})
    assert f"more than the test bed's {MAX_LINKS}" in message
    assert f"the stack's {len(regions) + 1} control links" in message
    crowded = _topology(hosts=[*full["hosts"], "one-more"])
    assert f"more than the test bed's {MAX_HOSTS}" in _refusal(tmp_path, crowded)


def test_an_unknown_topology_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(TopologyInvalid, match=r"no topology 'nope' \(known: .*edge-pop"):
        load_topology("nope")
