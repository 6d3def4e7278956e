"""Open vSwitch instances the data-plane tools talk to: a private one, or a running system one.

Why a private instance: tests and experiments must not touch an Open vSwitch
that belongs to someone else, and the machines have no system OVS running
anyway. A private instance keeps its database, sockets, pidfiles and logs in
one directory of our choosing and is stopped by its own pidfiles, never by
process name.

How the OVS tools find an instance (checked against OVS 3.1.0): ``ovs-vsctl``
uses ``unix:$OVS_RUNDIR/db.sock`` as its default database, ``ovs-ofctl``
reaches a bridge through ``$OVS_RUNDIR/<bridge>.mgmt`` and ``ovs-appctl -t
<daemon>`` reads ``$OVS_RUNDIR/<daemon>.pid``. ``OVS_DBDIR`` and
``OVS_LOGDIR`` only move the default database and log files. Mininet's
``OVSSwitch`` shells out to ``ovs-vsctl``/``ovs-ofctl`` from its node shells,
which inherit ``os.environ`` when they are spawned, so the variables must be
in ``os.environ`` *before* a network is built and until it is stopped:
``OvsEndpoint.exported()`` does exactly that.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
SYSTEM_RUNDIR = Path("/var/run/openvswitch")
# The variables the OVS command-line tools read to find an instance.
OVS_ENV_VARS = ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR")


class OvsError(RuntimeError):
    """An Open vSwitch daemon or tool did not do what was asked."""


def _run(argv: Sequence[str], env: Mapping[str, str], timeout: float = 15.0) -> str:
    """Run one OVS tool and return its stdout; raise OvsError with its stderr on failure.

    A bounded timeout because a tool waiting for a dead daemon would otherwise hang forever.
    """
    try:
        proc = subprocess.run(list(argv), env=dict(env), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise OvsError(f"{shlex.join(argv)} timed out after {timeout}s") from exc
    if proc.returncode != 0:
        raise OvsError(f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


class OvsEndpoint:
    """Where an OVS instance's sockets live, and how to point the OVS tools at it.

    Shared by the private instance and a found system instance, so callers
    (tests, the experiment runner) use either the same way.
    """

    def __init__(self, rundir: str | Path, dbdir: str | Path | None = None, logdir: str | Path | None = None) -> None:
        self.rundir = Path(rundir)
        self.dbdir = Path(dbdir) if dbdir is not None else self.rundir
        self.logdir = Path(logdir) if logdir is not None else self.rundir

    @property
    def db_sock(self) -> Path:
        """The OVSDB unix socket (the default database of ovs-vsctl under ``env``)."""
        return self.rundir / "db.sock"

    @property
    def db_remote(self) -> str:
        """The OVSDB address in OVS's own syntax, e.g. for ``ovs-vsctl --db``."""
        return f"unix:{self.db_sock}"

    @property
    def overrides(self) -> dict[str, str]:
        """Only the OVS_* variables, for callers that merge them into their own environment."""
        return {"OVS_RUNDIR": str(self.rundir), "OVS_DBDIR": str(self.dbdir), "OVS_LOGDIR": str(self.logdir)}

    @property
    def env(self) -> dict[str, str]:
        """A full environment (a copy of os.environ plus ``overrides``) for subprocesses."""
        merged = dict(os.environ)
        merged.update(self.overrides)
        return merged

    @contextmanager
    def exported(self) -> Iterator["OvsEndpoint"]:
        """Put ``overrides`` into os.environ for the block, then restore what was there.

        Needed for Mininet: its switch shells and its own ``ovs-vsctl`` calls
        inherit os.environ and accept no other way to name the database.
        """
        saved = {name: os.environ.get(name) for name in OVS_ENV_VARS}
        os.environ.update(self.overrides)
        try:
            yield self
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def vsctl(self, *args: str, timeout: float = 10.0) -> str:
        """Run ``ovs-vsctl`` against this instance and return its output."""
        return _run(["ovs-vsctl", f"--db={self.db_remote}", f"--timeout={int(timeout)}", *args],
                    self.env, timeout + 5)

    def ofctl(self, *args: str, timeout: float = 10.0) -> str:
        """Run ``ovs-ofctl`` against a bridge of this instance (bridges are found under OVS_RUNDIR)."""
        return _run(["ovs-ofctl", f"--timeout={int(timeout)}", *args], self.env, timeout + 5)

    def db_answers(self, timeout: float = 2.0) -> bool:
        """True if ovsdb-server answers on ``db_sock`` (a stale socket file does not count)."""
        if not self.db_sock.exists():
            return False
        try:
            _run(["ovs-vsctl", f"--db={self.db_remote}", "--no-wait", f"--timeout={max(1, int(timeout))}",
                  "get", "Open_vSwitch", ".", "ovs_version"], self.env, timeout + 3)
        except OvsError:
            return False
        return True

    def vswitchd_answers(self, timeout: float = 2.0) -> bool:
        """True if ovs-vswitchd answers on its control socket; without it no bridge forwards."""
        try:
            _run(["ovs-appctl", f"--timeout={max(1, int(timeout))}", "-t", "ovs-vswitchd", "version"],
                 self.env, timeout + 3)
        except OvsError:
            return False
        return True

    def userspace_tso_enabled(self) -> bool:
        """Whether TCP can cross this instance's userspace datapath (see platform notes).

        Only meaningful if the value was set before ovs-vswitchd started;
        the flag in the database is the best evidence a caller can get.
        """
        value = self.vsctl("--no-wait", "--if-exists", "get", "Open_vSwitch", ".",
                           "other_config:userspace-tso-enable").strip()
        return value.strip('"') == "true"

    def bridges(self) -> list[str]:
        """Names of the bridges in this instance's database."""
        return self.vsctl("--no-wait", "list-br").split()


def find_running(rundir: str | Path = SYSTEM_RUNDIR, timeout: float = 2.0) -> OvsEndpoint | None:
    """Return the OVS instance already serving ``rundir`` (the system one by default), or None.

    Both daemons must answer: a database without ovs-vswitchd would accept
    bridges that never forward, which is worse than starting our own.
    """
    endpoint = OvsEndpoint(rundir)
    if endpoint.db_answers(timeout) and endpoint.vswitchd_answers(timeout):
        return endpoint
    return None


def _pid_from(pidfile: Path) -> int | None:
    """The pid written in an OVS pidfile, or None if the file is missing or empty."""
    try:
        text = pidfile.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _is_ours(pid: int, pidfile: Path) -> bool:
    """True if ``pid`` is alive and is the daemon that was started with ``pidfile``.

    Guards against pid reuse: we only signal a process whose command line
    names our own pidfile.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and f"--pidfile={pidfile}".encode() in cmdline


def _gone(pid: int) -> bool:
    """True once ``pid`` has finished exiting (no /proc entry, or a zombie nobody has reaped yet).

    Not the same as "not ours": an exiting process loses its command line
    before it is fully dead.
    """
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    return not _gone(pid)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Poll until ``pid`` is gone; False if it is still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _stop_daemon(pidfile: Path, timeout: float) -> None:
    """SIGTERM the daemon named by ``pidfile``, wait until it is gone, SIGKILL it if it lingers."""
    pid = _pid_from(pidfile)
    if pid is None or not _is_ours(pid, pidfile):
        return
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout) and _is_ours(pid, pidfile):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, timeout)


class PrivateOvs(OvsEndpoint):
    """An ovsdb-server + ovs-vswitchd pair that lives entirely under ``workdir``.

    Layout: ``workdir/run`` (db.sock, pidfiles, control and bridge sockets),
    ``workdir/db/conf.db``, ``workdir/log``. Use as a context manager, or
    call ``start()``/``stop()``; ``stop()`` is safe to call more than once.
    """

    def __init__(self, workdir: str | Path, ovsdb_tcp_port: int | None = None, userspace_tso: bool = True) -> None:
        workdir = Path(workdir).resolve()
        super().__init__(workdir / "run", workdir / "db", workdir / "log")
        self.workdir = workdir
        self.ovsdb_tcp_port = ovsdb_tcp_port
        self.userspace_tso = userspace_tso
        self.db_file = self.dbdir / "conf.db"
        self.ovsdb_pidfile = self.rundir / "ovsdb-server.pid"
        self.vswitchd_pidfile = self.rundir / "ovs-vswitchd.pid"

    @property
    def tcp_remote(self) -> str | None:
        """``tcp:127.0.0.1:<port>`` if OVSDB also listens on TCP (for the python-ovs IDL), else None."""
        return None if self.ovsdb_tcp_port is None else f"tcp:127.0.0.1:{self.ovsdb_tcp_port}"

    @property
    def running(self) -> bool:
        """True while both of our daemons are alive."""
        return all(_pid_from(p) is not None and _is_ours(_pid_from(p), p)  # type: ignore[arg-type]
                   for p in (self.ovsdb_pidfile, self.vswitchd_pidfile))

    def pids(self) -> dict[str, int]:
        """The live daemons' pids by name, for callers that want to check nothing is left."""
        found = {}
        for name, pidfile in (("ovsdb-server", self.ovsdb_pidfile), ("ovs-vswitchd", self.vswitchd_pidfile)):
            pid = _pid_from(pidfile)
            if pid is not None and _is_ours(pid, pidfile):
                found[name] = pid
        return found

    def start(self) -> "PrivateOvs":
        """Create the database and start both daemons; returns self once ovs-vswitchd has applied the config.

        The TSO flag is written before ovs-vswitchd starts because it is read
        only at start-up; without it TCP through the userspace datapath hangs.
        """
        if self.running:
            return self
        for directory in (self.rundir, self.dbdir, self.logdir):
            directory.mkdir(parents=True, exist_ok=True)
        try:
            self._create_db()
            self._start_ovsdb()
            self._configure_before_vswitchd()
            self._start_vswitchd()
        except Exception:
            self.stop()
            raise
        return self

    def _create_db(self) -> None:
        """A fresh database from the installed schema, so no state leaks between runs."""
        if self.db_file.exists():
            self.db_file.unlink()
        _run(["ovsdb-tool", "create", str(self.db_file), str(SCHEMA)], self.env)

    def _start_ovsdb(self) -> None:
        """ovsdb-server on our unix socket (and optional loopback TCP), detached, with a pidfile."""
        argv = ["ovsdb-server", str(self.db_file), f"--remote=punix:{self.db_sock}",
                "--remote=db:Open_vSwitch,Open_vSwitch,manager_options"]
        if self.ovsdb_tcp_port is not None:
            argv.append(f"--remote=ptcp:{self.ovsdb_tcp_port}:127.0.0.1")
        argv += [f"--pidfile={self.ovsdb_pidfile}", f"--log-file={self.logdir / 'ovsdb-server.log'}",
                 "-vconsole:off", "--no-chdir", "--detach"]
        self._start_detached(argv, "ovsdb-server.log")

    def _configure_before_vswitchd(self) -> None:
        """Initialise the root row and write settings that ovs-vswitchd only reads at start-up."""
        self.vsctl("--no-wait", "init")
        if self.userspace_tso:
            self.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true")

    def _start_vswitchd(self) -> None:
        """ovs-vswitchd on our database, then wait until it has applied the database once."""
        self._start_detached(["ovs-vswitchd", self.db_remote, f"--pidfile={self.vswitchd_pidfile}",
                              f"--log-file={self.logdir / 'ovs-vswitchd.log'}", "-vconsole:off",
                              "--no-chdir", "--detach"], "ovs-vswitchd.log")
        # Without --no-wait, ovs-vsctl returns only after ovs-vswitchd caught up: proof it is serving.
        self.vsctl("set", "Open_vSwitch", ".", "external_ids:qos-sdn-private=true")

    def _start_detached(self, argv: list[str], logname: str) -> None:
        """Run a daemon with --detach (it returns once ready); on failure include its log tail."""
        try:
            _run(argv, self.env, timeout=15)
        except OvsError as exc:
            log = self.logdir / logname
            tail = log.read_text()[-2000:] if log.exists() else "(no log)"
            raise OvsError(f"{exc}\n--- {log} ---\n{tail}") from exc

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ovs-vswitchd, then ovsdb-server, each by its pidfile (SIGTERM, then SIGKILL)."""
        _stop_daemon(self.vswitchd_pidfile, timeout)
        _stop_daemon(self.ovsdb_pidfile, timeout)

    def __enter__(self) -> "PrivateOvs":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m topologies.ovsenv start|stop|status DIR``: a private OVS for manual use (e.g. with ``mn``).

    ``start`` prints ``export OVS_RUNDIR=...`` lines for ``eval``.
    """
    parser = argparse.ArgumentParser(prog="python -m topologies.ovsenv", description=main.__doc__)
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("workdir")
    parser.add_argument("--ovsdb-tcp-port", type=int, default=None)
    args = parser.parse_args(argv)
    ovs = PrivateOvs(args.workdir, ovsdb_tcp_port=args.ovsdb_tcp_port)
    if args.action == "start":
        ovs.start()
        for name, value in ovs.overrides.items():
            print(f"export {name}={shlex.quote(value)}")
    elif args.action == "stop":
        ovs.stop()
    else:
        print("running" if ovs.running else "stopped", ovs.pids())
    return 0


if __name__ == "__main__":
    sys.exit(main())
