"""Group commit (qosapp.adapters.groupcommit): durable before return, one fdatasync shared by the waiters."""
from __future__ import annotations

from typing import Callable, Iterator

import eventlet
import pytest
from eventlet.event import Event

from qosapp.adapters.groupcommit import GroupCommit
from qosapp.adapters.store import Store


class GreenEvent:
    """eventlet's Event with the set/wait shape GroupCommit expects (ryu.lib.hub.Event in the controller)."""

    def __init__(self) -> None:
        self.event = Event()

    def set(self) -> None:
        self.event.send()

    def wait(self, timeout: float | None = None) -> None:
        self.event.wait()


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    db = Store(str(tmp_path), deferred_sync=True)
    yield db
    db.close()


def slow_offload(log: list[int], store: Store) -> Callable[[Callable[[], None]], None]:
    """Run the fsync after yielding, as a worker thread would: other greenthreads commit meanwhile."""
    def offload(fn: Callable[[], None]) -> None:
        log.append(store.commits)
        eventlet.sleep(0.01)
        fn()
    return offload


def test_sync_makes_commits_durable_and_skips_when_nothing_is_new(store: Store) -> None:
    ran: list[int] = []
    group = GroupCommit(store, slow_offload(ran, store), GreenEvent)
    assert group.sync() is False and ran == []
    store.insert_policies([("a", {})])
    assert store.synced < store.commits
    assert group.sync() is True and store.synced == store.commits
    assert group.sync() is False and len(ran) == 1


def test_requests_arriving_during_an_fsync_share_the_next_one(store: Store) -> None:
    ran: list[int] = []
    group = GroupCommit(store, slow_offload(ran, store), GreenEvent)
    durable_at_return: dict[str, bool] = {}

    def request(name: str) -> None:
        store.insert_policies([(name, {})])
        target = store.commits
        group.sync()
        durable_at_return[name] = store.synced >= target

    first = eventlet.spawn(request, "a")
    eventlet.sleep(0)  # "a" committed and its fsync is in flight
    others = [eventlet.spawn(request, name) for name in ("b", "c", "d")]
    for thread in [first, *others]:
        thread.wait()
    assert durable_at_return == {"a": True, "b": True, "c": True, "d": True}
    # one fsync for "a"; "b", "c", "d" committed while it ran and share the second
    assert group.fsyncs == 2 and ran == [store.commits - 3, store.commits]


def test_a_failed_fsync_reaches_its_caller_and_the_next_caller_retries(store: Store) -> None:
    calls = []

    def failing_once(fn: Callable[[], None]) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        fn()

    group = GroupCommit(store, failing_once, GreenEvent)
    store.insert_policies([("a", {})])
    with pytest.raises(OSError):
        group.sync()
    assert store.synced < store.commits  # not marked durable
    assert group.sync() is True and store.synced == store.commits


def test_a_lone_request_fsyncs_inline_without_the_hand_off(store: Store) -> None:
    handed: list[int] = []
    group = GroupCommit(store, slow_offload(handed, store), GreenEvent, busy=lambda: False)
    store.insert_policies([("a", {})])
    assert group.sync() is True and store.synced == store.commits
    assert handed == [] and group.fsyncs == 1
