"""The etcd store (qosapp.adapters.etcdstore) against a real etcd started by the test.

One etcd member on free loopback ports with a tmp data dir (Debian's
etcd-server). The same rows as the SQLite store; one transaction per write
(a bulk insert with one taken name stores nothing); two clients racing for a
name; a dead endpoint skipped; the watched mirror; and two `QosCore`s on
one etcd converging to each other.
"""
from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from qosapp.adapters.etcdstore import Conflict, EtcdStore, parse_url
from qosapp.core.controller import QosCore
from qosapp.core.storeapi import StoreConflict, StoreUnavailable, read_tables
from topologies.etcdenv import EtcdCluster
from topologies.netutil import free_tcp_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd"), size=1).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    return f"/test-{request.node.name}/"


@pytest.fixture
def store(etcd: EtcdCluster, prefix: str) -> Iterator[EtcdStore]:
    db = EtcdStore(etcd.endpoints, prefix=prefix)
    yield db
    db.close()


def follow(store: EtcdStore) -> threading.Thread:
    """Run the store's watch in a thread (the controller runs it in a green thread)."""
    thread = threading.Thread(target=store.watch_forever, args=(lambda kinds: None,), daemon=True)
    thread.start()
    wait_until(lambda: store.mirror_live, 5, "the mirror's first snapshot")
    return thread


def test_parse_url() -> None:
    assert parse_url("etcd://127.0.0.1:2379,10.0.0.2:2379") == ["127.0.0.1:2379", "10.0.0.2:2379"]
    for bad in ("sqlite", "etcd://", "etcd://host", "etcd://host:0", "etcd://host:port"):
        with pytest.raises(ValueError):
            parse_url(bad)


def test_rows_as_the_sqlite_store_keeps_them(store: EtcdStore) -> None:
    assert store.services() == [] and store.policies() == [] and store.paths() == []
    assert store.insert_service("Best Effort", 0) == 1
    assert store.insert_service("Voice", 46) == 2
    assert store.services() == [(1, "Best Effort", 0), (2, "Voice", 46)]
    assert store.delete_service("Voice") and not store.delete_service("Voice")
    ids = store.insert_policies([("a", {"name": "a", "queue": 1}), ("b", {"name": "b"}), ("c", {"name": "c"})])
    assert ids == [1, 2, 3]
    store.update_policy(2, "b2", {"name": "b2", "priority": 5})
    store.delete_policies([1])
    assert store.policies() == [(2, "b2", {"name": "b2", "priority": 5}), (3, "c", {"name": "c"})]
    assert store.insert_policies([("a", {"name": "a"})]) == [4]  # ids are never reused
    assert store.insert_path("h1-h2", {"name": "h1-h2", "src": "10.0.0.1"}) == 1
    store.delete_path(1)
    assert store.paths() == []
    first = store.upsert_queue_profile("all", "all", {"sw": "all", "port": "all", "max-rate": 1})
    assert store.upsert_queue_profile("all", "all", {"sw": "all", "port": "all", "max-rate": 2}) == first
    store.upsert_queue_profile("00:00:00:00:00:00:00:01", "s1-eth2", {"sw": "1", "port": "s1-eth2"})
    assert [body.get("max-rate") for _, body in store.queue_profiles()] == [2, None]
    assert store.delete_queue_profile("all", "all") and not store.delete_queue_profile("all", "all")
    flow = {"switch": "00:00:00:00:00:00:00:01", "name": "f", "actions": "output=2"}
    assert store.insert_static_flow("f", flow) == 1
    assert store.insert_static_flow("r", {**flow, "name": "r"}) == 2
    with pytest.raises(Conflict):
        store.insert_static_flow("f", flow)
    store.update_static_flow(1, "f", {**flow, "actions": "output=3"})  # replaced under its name: the id stays
    with pytest.raises(Conflict):
        store.update_static_flow(1, "r", flow)  # renamed onto a taken name
    store.delete_static_flows([2])
    assert store.static_flows() == [(1, "f", {**flow, "actions": "output=3"})]
    assert read_tables(store).static_flows == store.static_flows()
    assert store.get_setting("enabled") is None and store.get_setting("enabled", "false") == "false"
    store.set_setting("enabled", "true")
    assert store.get_setting("enabled") == "true"
    assert not store.sync()  # etcd is durable on commit


def test_bulk_insert_is_all_or_nothing(store: EtcdStore) -> None:
    store.insert_policies([("taken", {"name": "taken"})])
    batch = [(f"p{i}", {"name": f"p{i}"}) for i in range(500)] + [("taken", {"name": "taken"})]
    with pytest.raises(Conflict) as err:
        store.insert_policies(batch)
    assert isinstance(err.value, StoreConflict) and "taken" in str(err.value)
    assert [name for _, name, _ in store.policies()] == ["taken"]
    assert store.insert_policies([("next", {"name": "next"})]) == [2]  # the failed batch took no ids


def test_two_writers_race_for_one_name(etcd: EtcdCluster, prefix: str) -> None:
    stores = [EtcdStore(etcd.endpoints, prefix=prefix) for _ in range(4)]
    results: list[object] = []

    def insert(db: EtcdStore) -> None:
        try:
            results.append(db.insert_policies([("same", {"name": "same"})]))
        except StoreConflict as err:
            results.append(err)

    threads = [threading.Thread(target=insert, args=(db,)) for db in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, StoreConflict) for r in results) == 3
    assert [name for _, name, _ in stores[0].policies()] == ["same"]
    # different names from many writers: every one gets its own id
    results.clear()
    threads = [threading.Thread(target=lambda db=db, i=i: results.append(db.insert_policies([(f"n{i}", {})])))
               for i, db in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(r[0] for r in results if isinstance(r, list)) == [2, 3, 4, 5]


def test_a_dead_endpoint_is_skipped_and_reported(etcd: EtcdCluster, prefix: str) -> None:
    dead = f"127.0.0.1:{free_tcp_port()}"
    db = EtcdStore([dead, *etcd.endpoints], prefix=prefix)
    assert db.insert_service("Best Effort", 0) == 1
    assert db.endpoint.address == etcd.endpoints[0]
    health = {h["endpoint"]: h for h in db.health()}
    assert not health[dead]["ok"] and health[dead]["error"]
    assert health[etcd.endpoints[0]]["ok"] and health[etcd.endpoints[0]]["is-leader"]
    nowhere = EtcdStore([dead], prefix=prefix, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        nowhere.services()
    assert time.monotonic() - started < 3


def test_a_transaction_over_etcds_limit_is_refused_not_half_done(store: EtcdStore) -> None:
    # the test etcd allows 100,000 operations per transaction; two per policy
    with pytest.raises(StoreUnavailable) as err:
        store.insert_policies([(f"p{i}", {"name": f"p{i}"}) for i in range(50_001)])
    assert "too many operations" in str(err.value)
    assert store.policies() == []


def test_the_mirror_follows_other_writers(etcd: EtcdCluster, store: EtcdStore, prefix: str) -> None:
    follow(store)
    other = EtcdStore(etcd.endpoints, prefix=prefix)
    other.insert_service("Best Effort", 0)
    other.insert_policies([(f"p{i}", {"name": f"p{i}"}) for i in range(3000)])  # more than one range page
    other.set_setting("enabled", "true")
    other.insert_static_flow("f", {"switch": "00:00:00:00:00:00:00:01", "name": "f"})
    wait_until(lambda: len(store.tables().policies) == 3000, 10, "3,000 policies in the mirror")
    wait_until(lambda: len(store.tables().static_flows) == 1, 5, "the static flow in the mirror")
    assert store.tables().settings == {"enabled": "true"}
    assert store.tables() == read_tables(other)
    other.delete_policies([1, 2])
    wait_until(lambda: len(store.tables().policies) == 2998, 5, "the deletes in the mirror")
    # caught_up: the mirror has seen this store's own last write
    store.set_setting("enabled", "false")
    wait_until(store.caught_up, 5, "the mirror to hold our own write")
    assert store.tables().settings == {"enabled": "false"}


def test_two_cores_on_one_etcd_converge(etcd: EtcdCluster, prefix: str) -> None:
    a_store, b_store = EtcdStore(etcd.endpoints, prefix=prefix), EtcdStore(etcd.endpoints, prefix=prefix)
    a = QosCore(a_store, forwarding="normal")
    b = QosCore(b_store, forwarding="normal")  # both start on an empty store: one seeds Best Effort
    assert [name for _, name, _ in a_store.services()] == ["Best Effort"]
    follow(b_store)
    a.enable()
    a.add_policies([{"name": "seed", "ip-src": "10.0.0.1", "queue": 2, "enqueue-port": 2}])
    wait_until(lambda: b_store.caught_up() and len(b_store.tables().policies) == 1, 5, "b's mirror")
    changed, _ = b.converge(b_store.tables())
    assert changed and b.enabled and b.policies["seed"].id == a.policies["seed"].id
    assert b.converge(b_store.tables())[0] is False
    b_store.close()
