"""The seed's Floodlight clients' protocol against a real qos-controller, byte for byte on a socket.

Python 2's httplib, handed a full URL as the seed's qospusher.py and
qosmanager2.py do, sends absolute-form request lines
(`GET http://127.0.0.1:8080/wm/qos/tool/status/json HTTP/1.1`), a Host header,
`Accept-Encoding: identity` and `Content-Type: application/json`, and keeps
the connection open between requests (qosmanager2 lists, then deletes, on one
connection). The request lines and bodies below are those the clients send;
the answers are those they read.
"""
from __future__ import annotations

import json
import socket
from typing import Iterator

import pytest

from topologies.controller import ControllerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ctl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    with ControllerProcess(tmp_path_factory.mktemp("floodlight"), extra_args=["--no-queues"]) as proc:
        yield proc


class Py2HttpLib:
    """One keep-alive connection that writes requests as Python 2.7's httplib.HTTPConnection.request does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def request(self, method: str, url: str, body: str | None = None, host: str | None = None) -> tuple[int, bytes]:
        head = (f"{method} {url} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{self.port}'}\r\n"
                "Accept-Encoding: identity\r\n")
        if body is not None:
            head += f"Content-Length: {len(body.encode())}\r\n"
        head += "Content-Type: application/json\r\n\r\n"
        self.sock.sendall(head.encode() + (body.encode() if body is not None else b""))
        return self._response()

    def _response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed before an answer"
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buf = rest[length:]
        return int(lines[0].split()[1]), rest[:length]

    def json(self, method: str, url: str, body: str | None = None) -> tuple[int, object]:
        code, raw = self.request(method, url, body)
        return code, json.loads(raw)

    def close(self) -> None:
        self.sock.close()


def test_absolute_form_request_lines_on_every_kind_of_route(ctl: ControllerProcess) -> None:
    http = Py2HttpLib(ctl.rest_port)
    base = f"http://127.0.0.1:{ctl.rest_port}"
    try:
        assert http.json("GET", f"{base}/wm/qos/tool/status/json") == (200, False)
        assert http.json("GET", f"{base}/qos/status")[1]["enabled"] is False  # native route too
        code, page = http.request("GET", f"{base}/qos/ui/")
        assert code == 200 and b"<html" in page.lower()
        code, err = http.json("GET", f"{base}/qos/nothing-here")
        assert code == 404 and err["field"] == "path"
        # the Host guard applies to the authority in the request line
        code, err = http.json("GET", f"http://attacker.example:{ctl.rest_port}/wm/qos/tool/status/json")
        assert code == 403 and err["field"] == "Host"
    finally:
        http.close()


def test_qosmanager2_session(ctl: ControllerProcess) -> None:
    """enable, status, the seed's two add-policy lines, services binary and decimal, list, delete by id."""
    base = f"http://127.0.0.1:{ctl.rest_port}"
    http = Py2HttpLib(ctl.rest_port)
    try:
        assert http.json("GET", f"{base}/wm/qos/tool/enable/json") == \
            (200, {"status": "success", "details": "QoS Enabled"})
        assert http.json("GET", f"{base}/wm/qos/tool/status/json") == (200, True)
        s1 = (' {"name": "Enqueue 2:2 s1", "protocol":"6","eth-type": "0x0800", "ingress-port": "1",'
              '"ip-src":"10.0.0.1", "sw": "00:00:00:00:00:00:00:01","queue":"2","enqueue-port":"2"}')
        s2 = s1.replace("Enqueue 2:2 s1", "Enqueue 1:2 s2").replace(":01", ":02").replace(
            '"enqueue-port":"2"', '"enqueue-port":"1"')
        for body, name in ((s1, "Enqueue 2:2 s1"), (s2, "Enqueue 1:2 s2")):
            code, answer = http.json("POST", f"{base}/wm/qos/policy/json", body)
            assert code == 200 and answer["status"] == f"Trying to Policy: {name}"
        code, answer = http.json("POST", f"{base}/wm/qos/service/json", '{"name": "Express", "tos": "101000"}')
        assert answer == {"status": "Adding Type Of Service: Express 40"}
        code, answer = http.json("POST", f"{base}/wm/qos/service/json", '{"name": "Decimal", "tos": "46"}')
        assert answer == {"status": "Adding Type Of Service: Decimal 46"}
        code, answer = http.json("POST", f"{base}/wm/qos/service/json", '{"name": "Bad", "tos": "64"}')
        assert code == 200 and answer["status"].startswith("Error!") and "64" in answer["status"]
        code, services = http.json("GET", f"{base}/wm/qos/service/json")
        sid = next(s["sid"] for s in services if s["name"] == "Express")
        assert http.json("DELETE", f"{base}/wm/qos/service/json", '{"sid": "%d"}' % sid) == \
            (200, {"status": f"Type Of Service Service-ID: {sid} Deleted"})
        code, policies = http.json("GET", f"{base}/wm/qos/policy/json")
        assert code == 200 and len(policies) == 2 and all(len(p) == 18 for p in policies)
        assert policies[0]["ipsrc"] == 167772161 and policies[1]["enqueueport"] == "in_port"
        pid = policies[0]["policyid"]
        code, answer = http.json("DELETE", f"{base}/wm/qos/policy/json", '{"policy-id":"%s"}' % pid)
        assert code == 200 and answer["status"].startswith(f"Policy-ID: {pid} Deleted")
        # the native API sees the same objects, with its own status codes
        assert [p["name"] for p in ctl.request("GET", "/qos/policies")[1]] == ["Enqueue 1:2 s2"]
        assert ctl.request("DELETE", "/qos/policies/nope")[0] == 404
    finally:
        http.close()
