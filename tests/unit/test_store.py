"""Unit tests for qosapp.adapters.store: SQLite rows, transactions, and survival across reopen.

A real SQLite file in pytest's tmp_path: the store is a thin layer, so the
only honest test is against the database itself.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from qosapp.adapters.store import DB_NAME, Store


@pytest.fixture
def state_dir(tmp_path: Path) -> str:
    return str(tmp_path / "state")


@pytest.fixture
def store(state_dir: str) -> Iterator[Store]:
    db = Store(state_dir)
    yield db
    db.close()


def reopen(store: Store, state_dir: str) -> Store:
    store.close()
    return Store(state_dir)


def test_creates_state_dir_and_db(state_dir: str, store: Store) -> None:
    assert store.path == os.path.join(state_dir, DB_NAME)
    assert os.path.isfile(store.path)
    assert store.services() == [] and store.policies() == [] and store.queue_profiles() == []


def test_opening_twice_keeps_schema(state_dir: str, store: Store) -> None:
    store.insert_service("Voice", 46)
    second = Store(state_dir)
    try:
        assert second.services() == [(1, "Voice", 46)]
    finally:
        second.close()


# ---------------------------------------------------------------- settings
def test_settings_default_set_overwrite(store: Store) -> None:
    assert store.get_setting("enabled") is None
    assert store.get_setting("enabled", "false") == "false"
    store.set_setting("enabled", "true")
    assert store.get_setting("enabled", "false") == "true"
    store.set_setting("enabled", "false")
    assert store.get_setting("enabled") == "false"


# ---------------------------------------------------------------- services
def test_services_ids_and_order(store: Store) -> None:
    assert store.insert_service("Best Effort", 0) == 1
    assert store.insert_service("Voice", 46) == 2
    assert store.services() == [(1, "Best Effort", 0), (2, "Voice", 46)]
    assert store.delete_service("Voice") is True
    assert store.delete_service("Voice") is False
    assert store.services() == [(1, "Best Effort", 0)]


def test_service_duplicate_name_rejected(store: Store) -> None:
    store.insert_service("Voice", 46)
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_service("Voice", 10)
    assert store.services() == [(1, "Voice", 46)]


@pytest.mark.parametrize("dscp", [-1, 64])
def test_service_dscp_checked_by_schema(store: Store, dscp: int) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_service("Bad", dscp)
    assert store.services() == []


# ---------------------------------------------------------------- policies
def test_policies_insert_returns_ids_and_bodies(store: Store) -> None:
    ids = store.insert_policies([("a", {"name": "a", "queue": 1}), ("b", {"name": "b", "service": "Vídeo ☎"})])
    assert ids == [1, 2]
    assert store.policies() == [(1, "a", {"name": "a", "queue": 1}),
                                (2, "b", {"name": "b", "service": "Vídeo ☎"})]


def test_batch_insert_with_duplicate_leaves_nothing(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_policies([("a", {"n": 1}), ("b", {"n": 2}), ("a", {"n": 3})])
    assert store.policies() == []
    # The store still works after the rollback, and the failed ids were not handed out.
    assert store.insert_policies([("c", {"n": 4})]) == [1]


def test_batch_insert_colliding_with_existing_leaves_nothing_new(store: Store) -> None:
    store.insert_policies([("a", {"n": 1})])
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_policies([("b", {"n": 2}), ("a", {"n": 3})])
    assert store.policies() == [(1, "a", {"n": 1})]


def test_empty_batch_insert(store: Store) -> None:
    assert store.insert_policies([]) == []
    assert store.policies() == []


def test_update_and_delete_policies(store: Store) -> None:
    store.insert_policies([("a", {"v": 1}), ("b", {"v": 2}), ("c", {"v": 3})])
    store.update_policy(2, "b2", {"v": 20})
    assert store.policies() == [(1, "a", {"v": 1}), (2, "b2", {"v": 20}), (3, "c", {"v": 3})]
    with pytest.raises(sqlite3.IntegrityError):
        store.update_policy(3, "a", {"v": 30})  # rename onto an existing name
    assert store.policies()[2] == (3, "c", {"v": 3})
    store.delete_policies([1, 3])
    assert store.policies() == [(2, "b2", {"v": 20})]
    store.delete_policies([99])
    assert [pid for pid, _n, _b in store.policies()] == [2]


def test_deleted_ids_are_not_reused(state_dir: str, store: Store) -> None:
    store.insert_policies([("a", {}), ("b", {})])
    store.delete_policies([2])
    store = reopen(store, state_dir)
    try:
        assert store.insert_policies([("c", {})]) == [3]  # a reused id would reuse a cookie
    finally:
        store.close()


# ---------------------------------------------------------------- transactions
def test_transaction_rolls_back_on_any_error(store: Store) -> None:
    store.insert_service("Keep", 1)
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db.execute("INSERT INTO services (name, dscp) VALUES ('Gone', 2)")
            db.execute("DELETE FROM services WHERE name = 'Keep'")
            db.execute("INSERT INTO settings (key, value) VALUES ('enabled', 'true')")
            raise RuntimeError("request failed half way")
    assert store.services() == [(1, "Keep", 1)]
    assert store.get_setting("enabled") is None
    store.set_setting("enabled", "true")  # no transaction left open
    assert store.get_setting("enabled") == "true"


def test_transaction_commits_all(store: Store) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO services (name, dscp) VALUES ('A', 1)")
        db.execute("INSERT INTO services (name, dscp) VALUES ('B', 2)")
    assert [name for _i, name, _d in store.services()] == ["A", "B"]


def test_commit_visible_to_another_connection(state_dir: str, store: Store) -> None:
    store.insert_policies([("a", {"q": 1})])
    other = sqlite3.connect(os.path.join(state_dir, DB_NAME))
    try:
        assert other.execute("SELECT name, body FROM policies").fetchall() == [("a", '{"q": 1}')]
    finally:
        other.close()


# ---------------------------------------------------------------- queue profiles
def test_queue_profile_upsert_and_delete(store: Store) -> None:
    first = store.upsert_queue_profile("00:00:00:00:00:00:00:01", "2", {"queues": [1]})
    again = store.upsert_queue_profile("00:00:00:00:00:00:00:01", "2", {"queues": [1, 2]})
    other = store.upsert_queue_profile("00:00:00:00:00:00:00:02", "2", {"queues": [3]})
    assert first == again == 1
    assert other > first  # SQLite spends an AUTOINCREMENT value on the upsert's update, so not 2
    assert store.queue_profiles() == [(1, {"queues": [1, 2]}), (other, {"queues": [3]})]
    assert store.delete_queue_profile("00:00:00:00:00:00:00:01", "2") is True
    assert store.delete_queue_profile("00:00:00:00:00:00:00:01", "2") is False
    assert store.queue_profiles() == [(other, {"queues": [3]})]


# ---------------------------------------------------------------- reopen
def test_everything_survives_reopen(state_dir: str, store: Store) -> None:
    store.set_setting("enabled", "true")
    store.insert_service("Best Effort", 0)
    store.insert_service("Voice", 46)
    store.insert_policies([("a", {"name": "a", "sw": "all"}), ("b", {"name": "b"})])
    store.update_policy(1, "a", {"name": "a", "sw": "none"})
    store.upsert_queue_profile("all", "s1-eth2", {"max-rate": 10})
    store = reopen(store, state_dir)
    try:
        assert store.get_setting("enabled") == "true"
        assert store.services() == [(1, "Best Effort", 0), (2, "Voice", 46)]
        assert store.policies() == [(1, "a", {"name": "a", "sw": "none"}), (2, "b", {"name": "b"})]
        assert store.queue_profiles() == [(1, {"max-rate": 10})]
    finally:
        store.close()


# ---------------------------------------------------------------- deferred sync (group commit)
@pytest.fixture
def deferred(state_dir: str) -> Iterator[Store]:
    db = Store(state_dir, deferred_sync=True)
    yield db
    db.close()


def test_deferred_sync_commits_at_once_and_fsyncs_on_sync(state_dir: str, deferred: Store) -> None:
    assert not deferred.unsynced and deferred.sync() is False
    deferred.insert_policies([("a", {"n": 1})])
    assert deferred.unsynced
    other = sqlite3.connect(os.path.join(state_dir, DB_NAME))  # committed: visible before any fsync
    try:
        assert other.execute("SELECT name FROM policies").fetchall() == [("a",)]
    finally:
        other.close()
    assert deferred.sync() is True and not deferred.unsynced


def test_one_sync_covers_every_commit_before_it(deferred: Store) -> None:
    deferred.insert_policies([("a", {})])
    deferred.set_setting("enabled", "true")
    deferred.insert_service("Voice", 46)
    assert deferred.sync() is True
    assert deferred.sync() is False  # the requests that come later find nothing left to fsync


def test_failed_transaction_leaves_nothing_to_sync(deferred: Store) -> None:
    deferred.insert_policies([("a", {})])
    deferred.sync()
    with pytest.raises(sqlite3.IntegrityError):
        deferred.insert_policies([("a", {})])
    assert not deferred.unsynced


def test_deferred_store_survives_reopen_and_close_syncs(state_dir: str) -> None:
    store = Store(state_dir, deferred_sync=True)
    store.insert_policies([("a", {"q": 1})])
    assert store.unsynced
    store.close()
    assert not store.unsynced
    again = Store(state_dir)
    try:
        assert again.policies() == [(1, "a", {"q": 1})]
    finally:
        again.close()


def test_default_store_has_nothing_to_sync(store: Store) -> None:
    store.insert_policies([("a", {})])
    assert not store.unsynced and store.sync() is False


def test_sync_fsyncs_the_wal_on_disk_without_a_stat_per_sync(state_dir: str, deferred: Store,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One descriptor on the WAL for the store's life: another connection opening and closing the
    database leaves the file in place (SQLite deletes it only with its last connection), and a sync
    stats nothing (a stat between fdatasyncs made each one dearer)."""
    import qosapp.adapters.store as store_module

    deferred.insert_policies([("a", {})])
    assert deferred.sync() is True
    wal = os.path.join(state_dir, DB_NAME) + "-wal"
    fd = deferred._wal_fd
    assert fd is not None and os.fstat(fd).st_ino == os.stat(wal).st_ino
    other = sqlite3.connect(os.path.join(state_dir, DB_NAME))
    other.execute("SELECT count(*) FROM policies").fetchall()
    other.close()  # not the last connection: the WAL stays
    assert os.path.exists(wal) and os.fstat(fd).st_ino == os.stat(wal).st_ino

    calls: list[str] = []
    real_fdatasync = os.fdatasync
    monkeypatch.setattr(store_module.os, "stat", lambda *a, **k: calls.append("stat"))
    monkeypatch.setattr(store_module.os, "fstat", lambda *a, **k: calls.append("fstat"))
    monkeypatch.setattr(store_module.os, "fdatasync", lambda f: (calls.append(f"fdatasync {f}"), real_fdatasync(f)))
    for name in ("b", "c"):
        deferred.insert_policies([(name, {})])
        assert deferred.sync() is True
    monkeypatch.undo()
    assert calls == [f"fdatasync {fd}", f"fdatasync {fd}"]
