"""The local qos.state.json: what the user pushed, as JSON objects.

The seed's qospusher stored each policy as a JSON *string* inside the JSON
file; here entries are objects, so the file can be read, diffed and edited
by hand. Old string entries are still read (and rewritten as objects).

Services, policies and paths are identified by "name"; queue profiles have no
name (the controller keys them by switch + port), so `upsert` and `remove`
take the key function to use and leave what a key *is* to `pusher.sync`.

Writes are atomic (temp file in the same directory, fsync, rename): a crash
or a full disk leaves the previous file, never half a file.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

DEFAULT_STATE_FILE = "qos.state.json"
#: the collections this file holds, in file order
KINDS = ("services", "policies", "queues", "paths", "meters")
#: kinds whose entries are identified by a "name" (queue profiles are not)
NAMED_KINDS = ("services", "policies", "paths", "meters")

#: what identifies an entry within its kind (by default its name)
Key = Callable[[dict[str, Any]], Any]


def entry_name(obj: dict[str, Any]) -> Any:
    return obj.get("name")


class StateError(ValueError):
    """The state file exists but is not a state file we can read."""


@dataclass
class State:
    """The file's content: named objects per kind, plus keys we do not manage.

    `extra` keeps unknown top-level keys verbatim so that a newer file is
    not truncated by an older pusher.
    """

    services: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    queues: list[dict[str, Any]] = field(default_factory=list)
    paths: list[dict[str, Any]] = field(default_factory=list)
    meters: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def items(self, kind: str) -> list[dict[str, Any]]:
        if kind not in KINDS:
            raise KeyError(kind)
        return getattr(self, kind)

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((obj for obj in self.items(kind) if obj.get("name") == name), None)

    def upsert(self, kind: str, obj: dict[str, Any], key: Key = entry_name) -> None:
        """Replace the entry with the same key in place (keeps file order), else append.

        Every entry with that key is dropped but the first, so a hand-edited
        file with a duplicate heals instead of keeping a stale twin.
        """
        entries = self.items(kind)
        wanted = key(obj)
        same = [index for index, old in enumerate(entries) if key(old) == wanted]
        if not same:
            entries.append(obj)
            return
        entries[same[0]] = obj
        for index in reversed(same[1:]):
            del entries[index]

    def remove(self, kind: str, name: Any, key: Key = entry_name) -> bool:
        """Drop the entries whose key is `name`; False when there was none."""
        entries = self.items(kind)
        kept = [obj for obj in entries if key(obj) != name]
        removed = len(kept) != len(entries)
        entries[:] = kept
        return removed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {kind: self.items(kind) for kind in KINDS}
        out.update(self.extra)
        return out

    def dumps(self) -> str:
        """The file text: indented, keys in the order written, trailing newline."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"


def parse_state(data: Any, source: str = DEFAULT_STATE_FILE) -> State:
    """Build a State from decoded JSON, accepting the seed's string entries."""
    if not isinstance(data, dict):
        raise StateError(f"{source}: expected a JSON object with services/policies/queues/paths lists")
    state = State(extra={k: v for k, v in data.items() if k not in KINDS})
    for kind in KINDS:
        entries = data.get(kind, [])
        if not isinstance(entries, list):
            raise StateError(f"{source}: {kind!r} must be a list")
        named = kind in NAMED_KINDS
        state.items(kind).extend(_entry(entry, f"{source}: {kind}[{i}]", named) for i, entry in enumerate(entries))
    return state


def _entry(entry: Any, where: str, named: bool = True) -> dict[str, Any]:
    """One object; a string is the seed's format (JSON text of the object).

    Only the shape is checked here (an object, named where the kind has
    names); whether its content is valid is for `pusher.sync` to say, so
    that `sync pull` can still read, and repair, a file with a bad entry.
    """
    if isinstance(entry, str):
        try:
            entry = json.loads(entry)
        except ValueError as err:
            raise StateError(f"{where}: string entry is not JSON: {err}") from None
    if not isinstance(entry, dict):
        raise StateError(f"{where}: expected an object" + (' with a "name"' if named else ""))
    if named and not isinstance(entry.get("name"), str):
        raise StateError(f"{where}: expected an object with a \"name\"")
    return entry


def load_state(path: str | os.PathLike[str]) -> State:
    """Read the file; a missing file is an empty state (first use)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return State()
    except OSError as err:
        raise StateError(f"{path}: {err.strerror or err}") from None
    if not text.strip():
        return State()
    try:
        data = json.loads(text)
    except ValueError as err:
        raise StateError(f"{path}: not valid JSON: {err}") from None
    return parse_state(data, str(path))


def save_state(path: str | os.PathLike[str], state: State) -> None:
    """Write atomically: temp file next to the target, fsync, then rename.

    The temp file lives in the target's directory so os.replace is a
    same-filesystem rename, which POSIX makes atomic.
    """
    path = Path(path)
    text = state.dumps()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode(path, tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        _unlink_quietly(tmp_name)
        raise


def _keep_mode(path: Path, tmp_name: str) -> None:
    """mkstemp makes 0600 files; keep the old file's mode, or use 0644 like a plain open()."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp_name, mode)


def _unlink_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
