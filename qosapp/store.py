"""The durable store: SQLite in the state directory, one transaction per request.

Every write commits before the REST answer goes out (synchronous=FULL, WAL),
so what was acknowledged survives a crash. The store keeps plain rows; the
model re-validates them on load, so a hand-edited database cannot smuggle an
invalid policy past the rules.
"""
from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator

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
CREATE TABLE IF NOT EXISTS queue_profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sw TEXT NOT NULL,
    port TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (sw, port)
);
"""

DEFAULT_STATE_DIR = os.environ.get("QOS_STATE_DIR", "/var/lib/qos-sdn")
DB_NAME = "qos.db"


class Store:
    """Rows of settings, services, policies and queue profiles."""

    def __init__(self, state_dir: str = DEFAULT_STATE_DIR) -> None:
        os.makedirs(state_dir, exist_ok=True)
        self.path = os.path.join(state_dir, DB_NAME)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes of one request commit together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

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
            return db.execute("INSERT INTO services (name, dscp) VALUES (?, ?)", (name, dscp)).lastrowid

    def delete_service(self, name: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM services WHERE name = ?", (name,)).rowcount > 0

    # policies
    def policies(self) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self._db.execute("SELECT id, name, body FROM policies ORDER BY id").fetchall()
        return [(pid, name, json.loads(body)) for pid, name, body in rows]

    def insert_policies(self, items: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Insert many policies in one transaction; returns their new ids."""
        ids: list[int] = []
        with self.transaction() as db:
            for name, body in items:
                ids.append(db.execute("INSERT INTO policies (name, body) VALUES (?, ?)",
                                      (name, json.dumps(body, sort_keys=True))).lastrowid)
        return ids

    def update_policy(self, policy_id: int, name: str, body: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE policies SET name = ?, body = ? WHERE id = ?",
                       (name, json.dumps(body, sort_keys=True), policy_id))

    def delete_policies(self, ids: list[int]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM policies WHERE id = ?", [(i,) for i in ids])

    # paths (QoS along a route between two hosts)
    def paths(self) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self._db.execute("SELECT id, name, body FROM paths ORDER BY id").fetchall()
        return [(pid, name, json.loads(body)) for pid, name, body in rows]

    def insert_path(self, name: str, body: dict[str, Any]) -> int:
        with self.transaction() as db:
            return db.execute("INSERT INTO paths (name, body) VALUES (?, ?)",
                              (name, json.dumps(body, sort_keys=True))).lastrowid

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
                       (sw, port, json.dumps(body, sort_keys=True)))
            return db.execute("SELECT id FROM queue_profiles WHERE sw = ? AND port = ?",
                              (sw, port)).fetchone()[0]

    def delete_queue_profile(self, sw: str, port: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM queue_profiles WHERE sw = ? AND port = ?",
                              (sw, port)).rowcount > 0
