"""The store on etcd (implements `StoreApi`): the replicated state of a controller cluster.

`qos-controller --store etcd://host:port[,host:port...]`. The client is
etcd3gw (etcd's HTTP/JSON gateway); one client talks to one endpoint, so
every call goes through `_post`, which moves on to the next configured
endpoint when one fails and raises `StoreUnavailable` when none answers.

Keys, all under one prefix (default `/qos-sdn/`):

    data/settings/<key>                 value
    data/<table>/<id, 12 digits>        {"name": ..., ...}   table: services, policies, paths, queues, meters, static_flows
    data/names/<table>/<name>           <id>                 (the unique name; queues: "<sw>/<port>")
    seq/<table>                         the last id given out (ids are never reused)
    cluster/...                         membership and mastership (`qosapp.adapters.etcdcluster`)

Every write is one etcd transaction: the ids come from the table's counter
(compared by mod revision), each new name must be absent (compared by create
revision), so a bulk POST of 20,000 policies is all or nothing, and two
instances that take the same name at once see one succeed and the other get
`Conflict` (a `StoreConflict`: HTTP 409). etcd is durable once a write is
acknowledged (its quorum has it on disk), so `sync()` has nothing to do.

The mirror: `watch_forever` keeps a copy of the whole prefix, first from a
range read, then from etcd's watch stream (HTTP streaming, newline-delimited
JSON), and calls back with which parts changed. `tables()` reads the mirror
(no I/O), for `qosapp.core.converge`. `caught_up()` says whether the mirror
already holds this instance's own last write, so a converge never undoes a
write whose watch event is still on its way.
"""
from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from typing import Any, Callable, Iterator
from urllib.parse import quote

import requests
from etcd3gw.client import Etcd3Client

from qosapp.core.storeapi import SETTING_KEYS, StoreConflict, StoreUnavailable, Tables

LOG = logging.getLogger(__name__)

DEFAULT_PREFIX = "/qos-sdn/"
TABLES = ("services", "policies", "paths", "queues", "meters", "static_flows")
#: keys per range request (etcd answers a range in one message; keep each small)
PAGE = 2000
#: attempts when another writer moved a counter between our read and our transaction
CAS_ATTEMPTS = 50


class Conflict(StoreConflict):
    """A unique name (or a queue profile's sw+port) was taken by another writer."""


def parse_url(url: str) -> list[str]:
    """`etcd://h1:p1,h2:p2` -> ["h1:p1", "h2:p2"] (ValueError when it is not that)."""
    if not url.startswith("etcd://"):
        raise ValueError(f"not an etcd URL: {url!r} (expected etcd://host:port[,host:port...])")
    endpoints = [e.strip() for e in url[len("etcd://"):].rstrip("/").split(",") if e.strip()]
    if not endpoints:
        raise ValueError(f"no endpoint in {url!r}")
    for endpoint in endpoints:
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"endpoint {endpoint!r} in {url!r} is not host:port")
    return endpoints


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode("utf-8") if isinstance(text, str) else text).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with `prefix` (its last byte + 1)."""
    raw = bytearray(prefix.encode("utf-8"))
    raw[-1] += 1
    return b64(bytes(raw))


def put(key: str, value: str, lease: int | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease is not None:
        req["lease"] = str(lease)
    return {"request_put": req}


def delete(key: str) -> dict[str, Any]:
    return {"request_delete_range": {"key": b64(key)}}


def absent(key: str) -> dict[str, Any]:
    return {"key": b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}


def unchanged(key: str, mod_revision: int) -> dict[str, Any]:
    """Compare: `key` was last written at `mod_revision` (0: it does not exist)."""
    if mod_revision == 0:
        return absent(key)
    return {"key": b64(key), "result": "EQUAL", "target": "MOD", "mod_revision": str(mod_revision)}


class Endpoint:
    """One etcd endpoint, its client and what we last saw of it."""

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        host, _, port = address.rpartition(":")
        self.client = Etcd3Client(host=host, port=int(port), timeout=timeout)
        #: etcd 3.4's gateway is at /v3/ (no version discovery round trip)
        self.base = f"http://{address}/v3/"
        self.ok: bool | None = None
        self.error: str | None = None
        self.last_change = time.time()

    def url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    def mark(self, ok: bool, error: str | None = None) -> None:
        if ok != self.ok:
            self.last_change = time.time()
            if ok:
                LOG.info("etcd endpoint %s answers", self.address)
            else:
                LOG.warning("etcd endpoint %s failed: %s", self.address, error)
        self.ok, self.error = ok, error


class Entry:
    """One key of the mirror: its decoded value and revisions."""

    __slots__ = ("value", "mod_revision", "create_revision", "lease")

    def __init__(self, value: Any, mod_revision: int, create_revision: int, lease: int) -> None:
        self.value = value
        self.mod_revision = mod_revision
        self.create_revision = create_revision
        self.lease = lease


def decode_kv(kv: dict[str, Any]) -> tuple[str, bytes, int, int, int]:
    return (unb64(kv["key"]).decode("utf-8", "replace"), unb64(kv.get("value", "")),
            int(kv.get("mod_revision", 0)), int(kv.get("create_revision", 0)), int(kv.get("lease", 0)))


class EtcdStore:
    """`StoreApi` on etcd: one transaction per write, endpoints tried in turn, a watched mirror."""

    def __init__(self, endpoints: list[str], prefix: str = DEFAULT_PREFIX, timeout: float = 2.0) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoint")
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.timeout = timeout
        self.endpoints = [Endpoint(address, timeout) for address in endpoints]
        self._current = 0
        #: the revision of this instance's last write (the mirror must reach it before a converge)
        self.last_write_revision = 0
        self._commits = 0
        #: key -> Entry, for every key under the prefix, as of `mirror_revision`
        self.mirror: dict[str, Entry] = {}
        self.mirror_revision = 0
        self.mirror_live = False
        self._mirror_lock = threading.Lock()
        self._stopping = False
        self._watch_response: requests.Response | None = None

    # ------------------------------------------------------------ transport
    @property
    def endpoint(self) -> Endpoint:
        return self.endpoints[self._current]

    def _rotate(self, failed: Endpoint) -> None:
        if self.endpoints[self._current] is failed:
            self._current = (self._current + 1) % len(self.endpoints)

    def _post(self, path: str, payload: dict[str, Any], write: bool = False) -> dict[str, Any]:
        """POST to the current endpoint; when it cannot be reached, the next one (each once).

        A write that was sent but not answered in time is not retried
        elsewhere (it may have been applied): `StoreUnavailable` says so.
        The timeout grows with the request (a 20,000-policy transaction
        takes seconds to apply).
        """
        body = json.dumps(payload)
        timeout = self.timeout + len(body) / 2_000_000
        errors = []
        for _ in range(len(self.endpoints)):
            endpoint = self.endpoint
            client = endpoint.client
            try:
                resp = client.session.post(endpoint.url(path), data=body, timeout=timeout,
                                           headers={"Content-Type": "application/json"})
            except (requests.ConnectionError, requests.Timeout) as err:
                sent = isinstance(err, requests.ReadTimeout) or (
                    isinstance(err, requests.ConnectionError) and "refused" not in str(err).lower()
                    and not isinstance(err, requests.ConnectTimeout))
                endpoint.mark(False, _short(err))
                self._rotate(endpoint)
                if write and sent:
                    raise StoreUnavailable(f"etcd {endpoint.address} did not answer the write in {timeout:.1f}s; "
                                           "it may or may not have been applied") from None
                errors.append(f"{endpoint.address}: {_short(err)}")
                continue
            if resp.status_code in (502, 503, 504):  # a member without a leader, or a gateway timeout
                endpoint.mark(False, f"{resp.status_code} {resp.text[:200]}")
                self._rotate(endpoint)
                if write:
                    raise StoreUnavailable(f"etcd {endpoint.address}: {resp.status_code} {resp.text[:200]}")
                errors.append(f"{endpoint.address}: {resp.status_code} {resp.text[:200]}")
                continue
            endpoint.mark(True)
            if resp.status_code != 200:  # answered and refused (e.g. too many operations in one transaction)
                raise StoreUnavailable(f"etcd {endpoint.address} refused the request: {resp.status_code} "
                                       f"{resp.text[:300]}")
            return dict(resp.json())
        raise StoreUnavailable("no etcd endpoint answered: " + "; ".join(errors))

    def _wrote(self, result: dict[str, Any]) -> None:
        revision = int(result.get("header", {}).get("revision", 0))
        self.last_write_revision = max(self.last_write_revision, revision)

    def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
            failure: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One etcd transaction; the answer has "succeeded" (False when absent, as proto3 JSON omits it)."""
        result = self._post("/kv/txn", {"compare": compare, "success": success, "failure": failure or []},
                            write=True)
        result["succeeded"] = bool(result.get("succeeded", False))
        if result["succeeded"]:
            self._wrote(result)
            self._commits += 1
        return result

    def range(self, prefix: str, revision: int | None = None) -> tuple[list[tuple[str, bytes, int, int, int]], int]:
        """Every key under `prefix` (in key order, read page by page at one revision) and that revision."""
        out: list[tuple[str, bytes, int, int, int]] = []
        key = b64(prefix)
        end = prefix_end(prefix)
        while True:
            payload: dict[str, Any] = {"key": key, "range_end": end, "limit": str(PAGE)}
            if revision:
                payload["revision"] = str(revision)
            result = self._post("/kv/range", payload)
            revision = revision or int(result.get("header", {}).get("revision", 0))
            kvs = result.get("kvs", [])
            out += [decode_kv(kv) for kv in kvs]
            if not result.get("more") or not kvs:
                return out, revision
            key = b64(unb64(kvs[-1]["key"]) + b"\x00")

    def get(self, key: str) -> tuple[bytes, int] | None:
        """(value, mod revision) of one key, or None."""
        result = self._post("/kv/range", {"key": b64(key)})
        kvs = result.get("kvs", [])
        if not kvs:
            return None
        _, value, mod, _, _ = decode_kv(kvs[0])
        return value, mod

    # ------------------------------------------------------------ keys
    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def obj_key(self, table: str, row_id: int) -> str:
        return self.key("data", table, f"{row_id:012d}")

    def name_key(self, table: str, name: str) -> str:
        return self.key("data", "names", table, name)

    def counter_key(self, table: str) -> str:
        return self.key("seq", table)

    # ------------------------------------------------------------ StoreApi: lifecycle
    @property
    def commits(self) -> int:
        """Write transactions committed since this store was opened (/metrics: qos_store_commits_total)."""
        return self._commits

    def sync(self) -> bool:
        """Nothing to do: etcd acknowledges a write once its quorum has it on disk."""
        return False

    def close(self) -> None:
        """Stop the watch: its socket is shut down (closing the response from another thread can block)."""
        self._stopping = True
        response = self._watch_response
        sock = getattr(getattr(getattr(response, "raw", None), "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ------------------------------------------------------------ StoreApi: settings
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        found = self.get(self.key("data", "settings", key))
        return found[0].decode("utf-8") if found else default

    def set_setting(self, key: str, value: str) -> None:
        self._wrote(self._post("/kv/put", {"key": b64(self.key("data", "settings", key)), "value": b64(value)},
                               write=True))
        self._commits += 1

    # ------------------------------------------------------------ generic rows
    def _rows(self, table: str) -> list[tuple[int, dict[str, Any]]]:
        rows, _ = self.range(self.key("data", table) + "/")
        return [(int(key.rsplit("/", 1)[1]), json.loads(value)) for key, value, *_ in rows]

    def _counter(self, table: str) -> tuple[int, int]:
        """(last id given out, the counter's mod revision; 0 if it was never written)."""
        found = self.get(self.counter_key(table))
        return (int(found[0]), found[1]) if found else (0, 0)

    def _insert(self, table: str, rows: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Insert rows (unique name, JSON value) in one transaction; returns their new ids."""
        if not rows:
            return []
        for _ in range(CAS_ATTEMPTS):
            last, counter_rev = self._counter(table)
            ids = list(range(last + 1, last + 1 + len(rows)))
            compare = [unchanged(self.counter_key(table), counter_rev)]
            success = [put(self.counter_key(table), str(ids[-1]))]
            for row_id, (name, value) in zip(ids, rows):
                compare.append(absent(self.name_key(table, name)))
                success.append(put(self.obj_key(table, row_id), json.dumps(value, sort_keys=True)))
                success.append(put(self.name_key(table, name), str(row_id)))
            if self.txn(compare, success)["succeeded"]:
                return ids
            if self._counter(table)[1] == counter_rev:  # the counter stayed: a name is taken
                for name, _ in rows:
                    if self.get(self.name_key(table, name)) is not None:
                        raise Conflict(f"{table}: the name {name!r} is taken")
        raise StoreUnavailable(f"{table}: could not get ids after {CAS_ATTEMPTS} attempts (too many writers)")

    def _delete_ids(self, table: str, ids: list[int]) -> int:
        """Delete rows and their name keys in one transaction; returns how many existed."""
        wanted = set(ids)
        if len(wanted) > 32:
            found = {row_id: value for row_id, value in self._rows(table) if row_id in wanted}
        else:
            found = {}
            for row_id in wanted:
                got = self.get(self.obj_key(table, row_id))
                if got is not None:
                    found[row_id] = json.loads(got[0])
        if not found:
            return 0
        ops = []
        for row_id, value in found.items():
            ops.append(delete(self.obj_key(table, row_id)))
            ops.append(delete(self.name_key(table, self._name_of(table, value))))
        self.txn([], ops)
        return len(found)

    @staticmethod
    def _name_of(table: str, value: dict[str, Any]) -> str:
        return queue_name(value["sw"], value["port"]) if table == "queues" else str(value["name"])

    def _delete_name(self, table: str, name: str) -> bool:
        """Delete the row that holds `name` (and the name); False if there is none."""
        found = self.get(self.name_key(table, name))
        if found is None:
            return False
        value, mod = found
        row_id = int(value)
        result = self.txn([unchanged(self.name_key(table, name), mod)],
                          [delete(self.name_key(table, name)), delete(self.obj_key(table, row_id))])
        return bool(result["succeeded"])

    # ------------------------------------------------------------ StoreApi: services
    def services(self) -> list[tuple[int, str, int]]:
        return [(row_id, value["name"], int(value["dscp"])) for row_id, value in self._rows("services")]

    def insert_service(self, name: str, dscp: int) -> int:
        return self._insert("services", [(name, {"name": name, "dscp": dscp})])[0]

    def delete_service(self, name: str) -> bool:
        return self._delete_name("services", name)

    # ------------------------------------------------------------ StoreApi: policies
    def policies(self) -> list[tuple[int, str, dict[str, Any]]]:
        return [(row_id, value["name"], value["body"]) for row_id, value in self._rows("policies")]

    def insert_policies(self, items: list[tuple[str, dict[str, Any]]]) -> list[int]:
        return self._insert("policies", [(name, {"name": name, "body": body}) for name, body in items])

    def update_policy(self, policy_id: int, name: str, body: dict[str, Any]) -> None:
        self._update("policies", policy_id, name, body)

    def _update(self, table: str, row_id: int, name: str, body: dict[str, Any]) -> None:
        """Replace row `row_id`'s name and body in one transaction (the new name must be free)."""
        key = self.obj_key(table, row_id)
        for _ in range(CAS_ATTEMPTS):
            found = self.get(key)
            if found is None:
                return
            old_name = json.loads(found[0])["name"]
            compare = [unchanged(key, found[1])]
            success = [put(key, json.dumps({"name": name, "body": body}, sort_keys=True))]
            if old_name != name:
                compare.append(absent(self.name_key(table, name)))
                success += [delete(self.name_key(table, old_name)),
                            put(self.name_key(table, name), str(row_id))]
            if self.txn(compare, success)["succeeded"]:
                return
            if old_name != name and self.get(self.name_key(table, name)) is not None:
                raise Conflict(f"{table}: the name {name!r} is taken")
        raise StoreUnavailable(f"{table} {row_id}: changed by others on every attempt")

    def delete_policies(self, ids: list[int]) -> None:
        self._delete_ids("policies", ids)

    # ------------------------------------------------------------ StoreApi: paths
    def paths(self) -> list[tuple[int, str, dict[str, Any]]]:
        return [(row_id, value["name"], value["body"]) for row_id, value in self._rows("paths")]

    def insert_path(self, name: str, body: dict[str, Any]) -> int:
        return self._insert("paths", [(name, {"name": name, "body": body})])[0]

    def delete_path(self, path_id: int) -> None:
        self._delete_ids("paths", [path_id])

    # ------------------------------------------------------------ StoreApi: queue profiles
    def queue_profiles(self) -> list[tuple[int, dict[str, Any]]]:
        return [(row_id, value["body"]) for row_id, value in self._rows("queues")]

    def upsert_queue_profile(self, sw: str, port: str, body: dict[str, Any]) -> int:
        name = queue_name(sw, port)
        value = json.dumps({"sw": sw, "port": port, "body": body}, sort_keys=True)
        for _ in range(CAS_ATTEMPTS):
            found = self.get(self.name_key("queues", name))
            if found is not None:  # replace in place: the id stays
                row_id = int(found[0])
                if self.txn([unchanged(self.name_key("queues", name), found[1])],
                            [put(self.obj_key("queues", row_id), value)])["succeeded"]:
                    return row_id
                continue
            try:
                return self._insert("queues", [(name, {"sw": sw, "port": port, "body": body})])[0]
            except Conflict:  # created meanwhile by another writer: replace it on the next round
                continue
        raise StoreUnavailable(f"queue profile {sw}/{port}: changed by others on every attempt")

    def delete_queue_profile(self, sw: str, port: str) -> bool:
        return self._delete_name("queues", queue_name(sw, port))

    # ------------------------------------------------------------ StoreApi: meters
    def meters(self) -> list[tuple[int, str, dict[str, Any]]]:
        return [(row_id, value["name"], value["body"]) for row_id, value in self._rows("meters")]

    def insert_meter(self, name: str, body: dict[str, Any]) -> int:
        return self._insert("meters", [(name, {"name": name, "body": body})])[0]

    def delete_meter(self, name: str) -> bool:
        return self._delete_name("meters", name)

    # ------------------------------------------------------------ StoreApi: static flow entries
    def static_flows(self) -> list[tuple[int, str, dict[str, Any]]]:
        return [(row_id, value["name"], value["body"]) for row_id, value in self._rows("static_flows")]

    def insert_static_flow(self, name: str, body: dict[str, Any]) -> int:
        return self._insert("static_flows", [(name, {"name": name, "body": body})])[0]

    def update_static_flow(self, flow_id: int, name: str, body: dict[str, Any]) -> None:
        self._update("static_flows", flow_id, name, body)

    def delete_static_flows(self, ids: list[int]) -> None:
        self._delete_ids("static_flows", ids)

    # ------------------------------------------------------------ the mirror
    def caught_up(self) -> bool:
        """Does the mirror hold this instance's last write? (A converge before that would undo it.)"""
        return self.mirror_live and self.mirror_revision >= self.last_write_revision

    def tables(self) -> Tables:
        """The data as of the mirror (no I/O), in id order like the read methods."""
        with self._mirror_lock:
            items = [(key, entry.value) for key, entry in self.mirror.items()]
        data = self.key("data") + "/"
        tables = Tables()
        rows: dict[str, list[tuple[int, Any]]] = {table: [] for table in TABLES}
        for key, value in items:
            if not key.startswith(data):
                continue
            table, _, rest = key[len(data):].partition("/")
            if table == "settings":
                if rest in SETTING_KEYS:
                    tables.settings[rest] = value
            elif table in rows and rest.isdigit():
                rows[table].append((int(rest), value))
        for table in TABLES:
            rows[table].sort(key=lambda row: row[0])
        tables.services = [(i, v["name"], int(v["dscp"])) for i, v in rows["services"]]
        tables.policies = [(i, v["name"], v["body"]) for i, v in rows["policies"]]
        tables.paths = [(i, v["name"], v["body"]) for i, v in rows["paths"]]
        tables.queue_profiles = [(i, v["body"]) for i, v in rows["queues"]]
        tables.meters = [(i, v["name"], v["body"]) for i, v in rows["meters"]]
        tables.static_flows = [(i, v["name"], v["body"]) for i, v in rows["static_flows"]]
        return tables

    def entries(self, sub: str) -> dict[str, Entry]:
        """Mirror entries under prefix + `sub` (e.g. "cluster/members/"), by the rest of their key."""
        start = self.prefix + sub
        with self._mirror_lock:
            return {key[len(start):]: entry for key, entry in self.mirror.items() if key.startswith(start)}

    def _decode_value(self, key: str, raw: bytes) -> Any:
        text = raw.decode("utf-8", "replace")
        if key.startswith(self.key("data", "settings") + "/") or key.startswith(self.key("seq") + "/"):
            return text
        try:
            return json.loads(text)
        except ValueError:
            return text

    def _apply(self, events: list[dict[str, Any]], revision: int) -> set[str]:
        """Events of the watch stream into the mirror; returns the parts that changed ("data", "cluster")."""
        kinds: set[str] = set()
        with self._mirror_lock:
            for event in events:
                key, raw, mod, create, lease = decode_kv(event["kv"])
                if event.get("type") == "DELETE":
                    self.mirror.pop(key, None)
                else:
                    self.mirror[key] = Entry(self._decode_value(key, raw), mod, create, lease)
                kinds.add(self._kind(key))
                revision = max(revision, mod)
            self.mirror_revision = max(self.mirror_revision, revision)
        kinds.discard("")
        return kinds

    def _kind(self, key: str) -> str:
        for kind in ("data", "cluster"):
            if key.startswith(self.prefix + kind + "/"):
                return kind
        return ""

    def _snapshot(self) -> int:
        rows, revision = self.range(self.prefix)
        mirror = {key: Entry(self._decode_value(key, raw), mod, create, lease) for key, raw, mod, create, lease in rows}
        with self._mirror_lock:
            self.mirror = mirror
            self.mirror_revision = revision
        return revision

    def watch_forever(self, on_change: Callable[[set[str]], None], sleep: Callable[[float], None] = time.sleep) -> None:
        """Keep the mirror: snapshot, then follow the watch stream; on any break, again from the next endpoint.

        `on_change(kinds)` is called after the snapshot (with both kinds) and
        after every batch of events. Returns once `close()` was called. Run it
        in a thread of the caller's kind (an eventlet green thread under Ryu).
        """
        while not self._stopping:
            endpoint = self.endpoint
            try:
                revision = self._snapshot()
                self.mirror_live = True
                on_change({"data", "cluster"})
                for events, header_revision in self._stream(endpoint, revision + 1):
                    kinds = self._apply(events, header_revision)
                    if kinds:
                        on_change(kinds)
                if not self._stopping:
                    raise StoreUnavailable("watch stream ended")
            except Exception as err:  # noqa: BLE001 - any break: mark, move on, start again
                self.mirror_live = False
                if self._stopping:
                    return
                endpoint.mark(False, f"watch: {_short(err)}")
                self._rotate(endpoint)
                LOG.warning("etcd watch on %s broke (%s); resuming on %s", endpoint.address, _short(err),
                            self.endpoint.address)
                sleep(0.2)

    def _stream(self, endpoint: Endpoint, start_revision: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """(events, header revision) from one watch stream, until it breaks."""
        request = json.dumps({"create_request": {"key": b64(self.prefix), "range_end": prefix_end(self.prefix),
                                                 "start_revision": str(start_revision), "fragment": True}})
        client = endpoint.client
        response = client.session.post(endpoint.url("/watch"), data=request, stream=True,
                                       timeout=(self.timeout, None), headers={"Content-Type": "application/json"})
        self._watch_response = response
        try:
            if response.status_code != 200:
                raise StoreUnavailable(f"watch answered {response.status_code}: {response.text[:200]}")
            buffer = b""
            pending: list[dict[str, Any]] = []  # events of a response that etcd sent in fragments
            for chunk in response.iter_content(chunk_size=None):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    if "error" in message:
                        raise StoreUnavailable(f"watch error: {message['error']}")
                    result = message.get("result", {})
                    if result.get("canceled") or result.get("compact_revision"):
                        raise StoreUnavailable(f"watch canceled: {result.get('cancel_reason', 'compacted')}")
                    revision = int(result.get("header", {}).get("revision", 0))
                    pending += result.get("events", [])
                    if result.get("fragment"):
                        continue  # one transaction's events arrive whole, never half of a bulk POST
                    if pending or revision:
                        yield pending, revision
                    pending = []
        finally:
            response.close()
            self._watch_response = None

    # ------------------------------------------------------------ health
    def health(self) -> list[dict[str, Any]]:
        """Per endpoint: does it answer, its member id, leader, raft term and revision (short timeouts)."""
        out = []
        for endpoint in self.endpoints:
            entry: dict[str, Any] = {"endpoint": endpoint.address, "current": endpoint is self.endpoint}
            try:
                client = endpoint.client
                resp = client.session.post(endpoint.url("/maintenance/status"), json={}, timeout=0.5)
                status = resp.json()
                if resp.status_code != 200:
                    raise StoreUnavailable(str(status)[:200])
                header = status.get("header", {})
                entry.update(ok=True, member=str(header.get("member_id", "")), leader=str(status.get("leader", "")),
                             revision=int(header.get("revision", 0)), version=status.get("version"))
                entry["is-leader"] = entry["member"] == entry["leader"] and entry["member"] != ""
                endpoint.mark(True)
            except (requests.RequestException, ValueError, StoreUnavailable) as err:
                entry.update(ok=False, error=_short(err))
                endpoint.mark(False, _short(err))
            out.append(entry)
        return out


def queue_name(sw: str, port: str) -> str:
    """The unique name of a queue profile: its switch and port."""
    return f"{quote(str(sw), safe='')}/{quote(str(port), safe='')}"


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 200 else text[:200] + "..."
