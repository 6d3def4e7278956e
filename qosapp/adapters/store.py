"""The durable store: SQLite in the state directory, one transaction per request.

Every write commits before the REST answer goes out, so what was
acknowledged survives a crash. The store keeps plain rows; the model
re-validates them on load, so a hand-edited database cannot smuggle an
invalid policy past the rules.

Two ways to be durable, both WAL:
- default: synchronous=FULL, every COMMIT waits for its own fsync;
- `deferred_sync=True` (for the controller): COMMIT only appends to the WAL
  (synchronous=NORMAL: safe against a process crash at once) and `sync()`
  fdatasyncs the WAL before the answer goes out (safe against power loss).
  The caller can then overlap the fsync with other waiting, e.g. for a
  switch's barrier reply, and one fsync covers every commit made since the
  last one. The caller must call `sync()` before it acknowledges anything;
  `close()` syncs too. In the controller the fdatasync runs in a worker
  thread (`qosapp.adapters.groupcommit`): in the one eventlet thread it
  blocked every greenthread, so concurrent requests never shared one.
"""
from __future__ import annotations

import json
import json.encoder
import os
import sqlite3
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from qosapp.core.storeapi import StoreConflict

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    dscp INTEGER NOT NULL CHECK (dscp BETWEEN 0 AND 63)
);
CREATE TABLE IF NOT EXISTS policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS paths (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS static_flows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sw TEXT NOT NULL,
    port TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (sw, port)
);
"""

DB_NAME = "qos.db"


def _row_encoder() -> Callable[[Any], str]:
    """JSON text of one row's body, keys sorted: `json.JSONEncoder(sort_keys=True).encode`, made once.

    `encode` makes a new C encoder on every call (a fifth of the cost of
    encoding a policy's body; a bulk POST encodes 100,000); here one is made
    for all, without the circular-reference check (a body is a tree of
    plain values). Without the C accelerator, the plain `encode`.
    """
    encoder = json.JSONEncoder(sort_keys=True)
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:
        return encoder.encode
    one = make(None, encoder.default, json.encoder.encode_basestring_ascii, None,
               encoder.key_separator, encoder.item_separator, True, False, True)
    return lambda value: "".join(one(value, 0))


_encode = _row_encoder()


class Conflict(sqlite3.IntegrityError, StoreConflict):
    """A UNIQUE constraint failed: both SQLite's error and the interface's."""


def _row_id(rowid: int | None) -> int:
    """The id SQLite gave an inserted row (always set after an INSERT)."""
    if rowid is None:
        raise sqlite3.DatabaseError("INSERT gave no row id")
    return rowid


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """Rows of settings, services, policies, paths, queue profiles, meters and static flows (implements `StoreApi`)."""

    def __init__(self, state_dir: str, deferred_sync: bool = False) -> None:
        os.makedirs(state_dir, exist_ok=True)
        self.path = os.path.join(state_dir, DB_NAME)
        self.deferred_sync = deferred_sync
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'NORMAL' if deferred_sync else 'FULL'}")
        self._db.executescript(SCHEMA)
        #: commits made, and how many of them the last sync() covered
        self._commits = self._synced = 0
        self._wal_fd: int | None = None
        if deferred_sync:  # the WAL file's directory entry must be durable before we rely on fsyncing it
            _fsync_dir(state_dir)

    def close(self) -> None:
        self.sync()
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes of one request commit together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except sqlite3.IntegrityError as err:
            self._db.execute("ROLLBACK")
            raise Conflict(*err.args) from err
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._commits += 1

    @property
    def commits(self) -> int:
        """Transactions committed since this store was opened (/metrics: qos_store_commits_total)."""
        return self._commits

    @property
    def unsynced(self) -> bool:
        """Are there commits that a power loss could still take away?"""
        return self.deferred_sync and self._synced < self._commits

    def sync(self) -> bool:
        """Make every commit so far durable (deferred mode); returns whether it had to fsync.

        A no-op when a previous sync() already covered every commit.
        """
        point = self.sync_point()
        if point is None:
            return False
        fd, covered = point
        os.fdatasync(fd)
        self.mark_synced(covered)
        return True

    def sync_point(self) -> tuple[int, int] | None:
        """What one fdatasync must cover now: (WAL descriptor, commits it makes durable); None if nothing.

        For `qosapp.adapters.groupcommit`, which runs the fdatasync in a
        worker thread and then calls `mark_synced(covered)` here.
        """
        if not self.unsynced:
            return None
        return self._wal(), self._commits

    def mark_synced(self, covered: int) -> None:
        """An fdatasync that started after commit number `covered` has finished."""
        self._synced = max(self._synced, covered)

    @property
    def synced(self) -> int:
        """How many commits are durable (deferred mode; every commit otherwise)."""
        return self._synced if self.deferred_sync else self._commits

    def _wal(self) -> int:
        """An open descriptor on the WAL file, opened once (with its directory fsynced) for this store's life.

        SQLite keeps the same WAL file while a connection to the database is
        open: it deletes it only when the last connection closes or the
        journal mode changes, and a checkpoint's reset or a size limit
        rewrites or truncates it in place. This store holds its connection
        until `close()`, and nothing else here opens the database file (a
        plain open and close of it would drop the process's POSIX locks).
        So the descriptor stays right, and there is no per-sync check of the
        file's identity: on this VM's kernel any stat of the WAL between
        two fdatasyncs (even an `fstat` of the descriptor) made the next
        write and fdatasync ~30 µs of CPU and ~50 µs of wall time dearer (one
        policy's commit and sync: 137-144 -> 103-109 µs of CPU without it;
        README's performance list, item 28).
        """
        if self._wal_fd is None:
            self._wal_fd = os.open(self.path + "-wal", os.O_RDONLY)
            _fsync_dir(os.path.dirname(self.path))  # the WAL file's name must be durable as well
        return self._wal_fd

    # settings
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO settings (key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # services
    def services(self) -> list[tuple[int, str, int]]:
        return self._db.execute("SELECT id, name, dscp FROM services ORDER BY id").fetchall()

    def insert_service(self, name: str, dscp: int) -> int:
        with self.transaction() as db:
            return _row_id(db.execute("INSERT INTO services (name, dscp) VALUES (?, ?)", (name, dscp)).lastrowid)

    def delete_service(self, name: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM services WHERE name = ?", (name,)).rowcount > 0

    # policies
    def policies(self) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self._db.execute("SELECT id, name, body FROM policies ORDER BY id").fetchall()
        return [(pid, name, json.loads(body)) for pid, name, body in rows]

    def insert_policies(self, items: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Insert many policies in one transaction; returns their new ids.

        The first row takes its id from AUTOINCREMENT; the others get the
        ids that follow it, in order (what one INSERT at a time would have
        given: inside the transaction no other writer comes between), so one
        `executemany` inserts them all: an `execute` per row, for its
        `lastrowid`, cost a third of the store's part of a 20,000-policy
        bulk POST. A single POST is the one INSERT.
        """
        if not items:
            return []
        (name, body), rest = items[0], items[1:]
        with self.transaction() as db:
            first = _row_id(db.execute("INSERT INTO policies (name, body) VALUES (?, ?)",
                                       (name, _encode(body))).lastrowid)
            ids = list(range(first, first + len(items)))
            db.executemany("INSERT INTO policies (id, name, body) VALUES (?, ?, ?)",
                           [(pid, name, _encode(body)) for pid, (name, body) in zip(ids[1:], rest)])
        return ids

    def update_policy(self, policy_id: int, name: str, body: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE policies SET name = ?, body = ? WHERE id = ?",
                       (name, _encode(body), policy_id))

    def delete_policies(self, ids: list[int]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM policies WHERE id = ?", [(i,) for i in ids])

    # paths (QoS along a route between two hosts)
    def paths(self) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self._db.execute("SELECT id, name, body FROM paths ORDER BY id").fetchall()
        return [(pid, name, json.loads(body)) for pid, name, body in rows]

    def insert_path(self, name: str, body: dict[str, Any]) -> int:
        with self.transaction() as db:
            return _row_id(db.execute("INSERT INTO paths (name, body) VALUES (?, ?)",
                                      (name, _encode(body))).lastrowid)

    def delete_path(self, path_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM paths WHERE id = ?", (path_id,))

    # queue profiles (body is the validated profile's dict)
    def queue_profiles(self) -> list[tuple[int, dict[str, Any]]]:
        rows = self._db.execute("SELECT id, body FROM queue_profiles ORDER BY id").fetchall()
        return [(pid, json.loads(body)) for pid, body in rows]

    def upsert_queue_profile(self, sw: str, port: str, body: dict[str, Any]) -> int:
        with self.transaction() as db:
            db.execute("INSERT INTO queue_profiles (sw, port, body) VALUES (?, ?, ?) "
                       "ON CONFLICT(sw, port) DO UPDATE SET body = excluded.body",
                       (sw, port, _encode(body)))
            return db.execute("SELECT id FROM queue_profiles WHERE sw = ? AND port = ?",
                              (sw, port)).fetchone()[0]

    def delete_queue_profile(self, sw: str, port: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM queue_profiles WHERE sw = ? AND port = ?",
                              (sw, port)).rowcount > 0

    # meters (body is the validated meter's dict)
    def meters(self) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self._db.execute("SELECT id, name, body FROM meters ORDER BY id").fetchall()
        return [(mid, name, json.loads(body)) for mid, name, body in rows]

    def insert_meter(self, name: str, body: dict[str, Any]) -> int:
        with self.transaction() as db:
            return _row_id(db.execute("INSERT INTO meters (name, body) VALUES (?, ?)",
                                      (name, _encode(body))).lastrowid)

    def delete_meter(self, name: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM meters WHERE name = ?", (name,)).rowcount > 0

    # static flow entries (body is the validated entry's dict)
    def static_flows(self) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self._db.execute("SELECT id, name, body FROM static_flows ORDER BY id").fetchall()
        return [(fid, name, json.loads(body)) for fid, name, body in rows]

    def insert_static_flow(self, name: str, body: dict[str, Any]) -> int:
        with self.transaction() as db:
            return _row_id(db.execute("INSERT INTO static_flows (name, body) VALUES (?, ?)",
                                      (name, _encode(body))).lastrowid)

    def update_static_flow(self, flow_id: int, name: str, body: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE static_flows SET name = ?, body = ? WHERE id = ?",
                       (name, _encode(body), flow_id))

    def delete_static_flows(self, ids: list[int]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM static_flows WHERE id = ?", [(i,) for i in ids])
