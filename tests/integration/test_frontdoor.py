"""The REST front door of a real qos-controller process, over real sockets (no switch needed).

What a hostile network or a careless client does, measured on the wire:
idle connections past eventlet's 1,024-greenthread pool, a token, raw
request lines with bytes no client library would send, HTTPS, and the CLI
against all of it.
"""
from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from topologies.controller import ControllerProcess, controller_command
from topologies.netutil import free_tcp_port as free_port

pytestmark = pytest.mark.integration

QOSPUSHER = Path(sys.executable).with_name("qospusher")
TOKEN = "front-door-test-token-7f3a"
POLICY = {"name": "p1", "ip-src": "10.0.0.1", "protocol": 6, "sw": "none", "queue": 1, "enqueue-port": 2}


def raw_http(port: int, request: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given; (status, headers with lower-case names, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:])
                length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "-1"))
                if 0 <= length <= len(body):
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    """A controller as the seed's workflow runs it: loopback, no token, default limits."""
    with ControllerProcess(tmp_path_factory.mktemp("plain"), extra_args=["--no-queues"]) as ctl:
        yield ctl


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    """A controller with a token, a small body cap and short timeouts."""
    base = tmp_path_factory.mktemp("guarded")
    token_file = base / "token"
    token_file.write_text(TOKEN + "\n")
    ctl = ControllerProcess(base / "state", extra_args=[
        "--no-queues", "--token-file", str(token_file), "--max-body", "65536",
        "--idle-timeout", "2", "--header-timeout", "2"])
    ctl.token_file = token_file  # type: ignore[attr-defined]
    ctl.headers = {"Authorization": f"Bearer {TOKEN}"}
    with ctl:
        yield ctl


def test_1100_idle_connections_do_not_starve_a_get(plain: ControllerProcess) -> None:
    socks = []
    try:
        for _ in range(1100):
            socks.append(socket.create_connection(("127.0.0.1", plain.rest_port), timeout=10))
        time.sleep(0.5)
        started = time.monotonic()
        status, headers, body = raw_http(plain.rest_port, b"GET /qos/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                          b"Connection: close\r\n\r\n", timeout=5)
        took = time.monotonic() - started
        print(f"GET /qos/status with 1,100 idle connections open: {took * 1000:.1f} ms")
        assert status == 200 and json.loads(body)["enabled"] is False
        assert "idle connection(s) closed" in plain.log_tail(200)
    finally:
        for sock in socks:
            sock.close()
    assert plain.request("GET", "/qos/status")[0] == 200


def test_hostile_requests_get_json_4xx_never_a_traceback(plain: ControllerProcess) -> None:
    port = plain.rest_port
    cases = [
        (b"GET /qos/x/%ff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "path"),
        (b"GET /qos/policies/%ff%fe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "path"),
        (b"GET /qos/status HTTP/1.1\r\nHost: attacker.example:8080\r\n\r\n", 403, "Host"),
        (b"POST /qos/enable HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n"
         b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n", 403, "Origin"),
        (b"GET /wm/qos/tool/enable/json HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\n\r\n",
         403, "Sec-Fetch-Site"),
    ]
    big_number = b'{"name": "n", "priority": ' + b"9" * 5000 + b"}"
    deep = b"[" * 10000 + b"]" * 10000
    for body in (big_number, deep):
        cases.append((b"POST /qos/policies HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body), 400, "body"))
    for request, want, field in cases:
        status, headers, body = raw_http(port, request)
        assert (status, json.loads(body)["field"]) == (want, field), request[:60]
        assert headers["content-type"].startswith("application/json") and b"Traceback" not in body
    assert plain.request("GET", "/qos/status")[1]["enabled"] is False
    assert plain.request("GET", "/qos/policies") == (200, [])
    assert "Traceback" not in plain.log_tail(500)


def test_qospusher_deletes_the_name_it_was_given(plain: ControllerProcess, tmp_path: Path) -> None:
    for name in ("a%41b", "aAb"):
        assert plain.request("POST", "/qos/policies", {**POLICY, "name": name})[0] == 201
    run = subprocess.run([str(QOSPUSHER), "--port", str(plain.rest_port), "delete", "policy", "a%41b"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [p["name"] for p in plain.request("GET", "/qos/policies")[1]] == ["aAb"]
    status, _, _ = raw_http(plain.rest_port, b"DELETE /qos/policies/aAb HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200


def test_token_is_required_for_writes(guarded: ControllerProcess, tmp_path: Path) -> None:
    port = guarded.rest_port
    body = json.dumps(POLICY).encode()
    status, headers, answer = raw_http(port, b"POST /qos/policies HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                             % (len(body), body))
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert json.loads(answer)["field"] == "Authorization"
    assert guarded.request("GET", "/qos/policies") == (200, [])  # reads are open unless --token-for-reads

    def pusher(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(QOSPUSHER), "--port", str(port), *argv], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env={**os.environ, **(env or {})})

    clean_env = {k: v for k, v in os.environ.items() if k != "QOS_SDN_TOKEN"}
    refused = subprocess.run([str(QOSPUSHER), "--port", str(port), "add", "service", '{"name": "Gold", "dscp": 46}'],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60, env=clean_env)
    assert refused.returncode == 1 and "401" in refused.stdout + refused.stderr
    ok = pusher("--token-file", str(guarded.token_file), "add", "service",  # type: ignore[attr-defined]
                '{"name": "Gold", "dscp": 46}')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    by_env = pusher("delete", "service", "Gold", env={"QOS_SDN_TOKEN": TOKEN})
    assert by_env.returncode == 0, by_env.stdout + by_env.stderr
    assert [s["name"] for s in guarded.request("GET", "/qos/services")[1]] == ["Best Effort"]


def test_body_cap_and_idle_timeout(guarded: ControllerProcess) -> None:
    body = b"[" + b" " * 100_000 + b"]"
    status, _, answer = raw_http(guarded.rest_port, b"POST /qos/policies HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                    b"Authorization: Bearer " + TOKEN.encode() +
                                 b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(body), body))
    assert status == 413 and json.loads(answer)["limit"] == 65536
    with socket.create_connection(("127.0.0.1", guarded.rest_port), timeout=15) as idle:
        assert idle.recv(1) == b""  # closed by the server after --idle-timeout 2, not by our 15 s
    with socket.create_connection(("127.0.0.1", guarded.rest_port), timeout=15) as slow:
        slow.sendall(b"GET /qos/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the head never ends
        assert slow.recv(1) == b""  # --header-timeout 2


def test_non_loopback_rest_without_token_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "QOS_SDN_TOKEN"}
    run = subprocess.run([*controller_command(), "--state-dir", str(tmp_path), "--rest-host", "0.0.0.0",
                          "--rest-port", str(free_port()), "--no-queues"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode != 0 and "--insecure-no-token" in run.stderr


def test_https_with_the_cli(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True, timeout=60)
    ctl = ControllerProcess(tmp_path / "state", extra_args=["--no-queues", "--rest-cert", str(cert),
                                                            "--rest-key", str(key)])
    ctl.ssl_context = ssl.create_default_context(cafile=str(cert))
    with ctl:
        assert ctl.request("GET", "/qos/status")[0] == 200
        run = subprocess.run([str(QOSPUSHER), "--port", str(ctl.rest_port), "--https", "--ca-cert", str(cert),
                              "status"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        # plain HTTP to the HTTPS port gets no answer, and the server keeps serving
        with socket.create_connection(("127.0.0.1", ctl.rest_port), timeout=10) as sock:
            sock.sendall(b"GET /qos/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                answer = sock.recv(100)
            except ConnectionResetError:
                answer = b""
            assert not answer.startswith(b"HTTP/1.1 200")
        assert ctl.request("GET", "/qos/status")[0] == 200


def test_http11_keep_alive_pipelining_continue_and_smuggling(plain: ControllerProcess) -> None:
    """The REST listener's own HTTP/1.1 (qosapp.http.protocol) against raw clients."""
    port = plain.rest_port
    get = b"GET /qos/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(get + get + b"GET /qos/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 3 and data.count(b'"enabled": false') == 3
    assert data.rstrip().endswith(b"}")  # closed after the third answer, as asked

    policy = json.dumps({**POLICY, "name": "chunked"}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(policy), policy)
    status, _, body = raw_http(port, b"POST /qos/policies HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     + chunked)
    assert status == 201 and json.loads(body)["name"] == "chunked"

    continued = json.dumps({**POLICY, "name": "continued", "ip-src": "10.0.0.9"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /qos/policies HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(continued))
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")  # as curl waits for it
        sock.sendall(continued)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 ")

    smuggled = (b"POST /qos/enable HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nPOST /qos/enable HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers, body = raw_http(port, smuggled)
    assert (status, json.loads(body)["field"], headers["connection"]) == (400, "Transfer-Encoding", "close")
    status, _, body = raw_http(port, b"GET /qos/status HTTP/1.0\r\n\r\n")  # 1.0: closed after the answer
    assert status == 200 and json.loads(body)["enabled"] is False  # the smuggled enable never ran
    assert sorted(p["name"] for p in plain.request("GET", "/qos/policies")[1]) == ["chunked", "continued"]
    for name in ("chunked", "continued"):
        assert plain.request("DELETE", f"/qos/policies/{name}")[0] == 200
