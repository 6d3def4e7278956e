"""Start-up rules of the front door: where the token comes from, when the controller refuses to start."""
from __future__ import annotations

import pytest

from qosapp.main import frontdoor
from qosapp.main.launcher import build_parser, configure_security
from qosapp.main.config import SETTINGS
from pusher.client import QosClient, read_token as client_token


def test_token_from_file_or_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text("  abc123  \nsecond line ignored\n")
    assert frontdoor.read_token(str(path), {}) == "abc123"
    assert frontdoor.read_token(None, {"QOS_SDN_TOKEN": " xyz "}) == "xyz"
    assert frontdoor.read_token(None, {}) is None
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(frontdoor.StartupRefused, match="empty"):
        frontdoor.read_token(str(tmp_path / "empty"), {})
    with pytest.raises(frontdoor.StartupRefused, match="cannot read"):
        frontdoor.read_token(str(tmp_path / "missing"), {})
    # the CLI reads it the same way, and sends it as a Bearer token
    assert client_token(str(path), {}) == "abc123" and client_token(None, {"QOS_SDN_TOKEN": "e"}) == "e"
    assert QosClient(token="abc123").session.headers["Authorization"] == "Bearer abc123"
    assert "Authorization" not in QosClient().session.headers


@pytest.mark.parametrize("host,token,insecure,refused", [
    ("127.0.0.1", None, False, False), ("::1", None, False, False), ("localhost", None, False, False),
    ("127.0.0.2", None, False, False), ("0.0.0.0", None, False, True), ("10.0.0.5", None, False, True),
    ("0.0.0.0", "t", False, False), ("0.0.0.0", None, True, False), ("ctl.example", None, False, True),
])
def test_non_loopback_without_token_refuses(host, token, insecure, refused):
    if refused:
        with pytest.raises(frontdoor.StartupRefused, match="--insecure-no-token"):
            frontdoor.check_bind(host, token, insecure)
    else:
        frontdoor.check_bind(host, token, insecure)


@pytest.fixture
def settings_restored():
    """configure_security fills the process-wide SETTINGS: put them back for the other tests."""
    saved = dict(vars(SETTINGS))
    yield
    vars(SETTINGS).update(saved)


def test_launcher_options_fill_the_settings(tmp_path, monkeypatch, settings_restored):
    monkeypatch.delenv("QOS_SDN_TOKEN", raising=False)
    token = tmp_path / "t"
    token.write_text("tok")
    args = build_parser().parse_args(["--token-file", str(token), "--token-for-reads", "--rest-allowed-host",
                                      "ctl.example", "--max-body", "1000", "--ofp-allow-dpid", "00:00:00:00:00:00:00:0a",
                                      "--ofp-allow-dpid", "11"])
    assert configure_security(args) == ["--ofp-tcp-listen-port", "6653"]
    assert (SETTINGS.token, SETTINGS.token_for_reads, SETTINGS.allowed_hosts, SETTINGS.max_body) == \
        ("tok", True, ["ctl.example"], 1000)
    assert SETTINGS.ofp_allow == {10, 11}
    assert build_parser().parse_args([]).ofp_host == "127.0.0.1"
    tls = configure_security(build_parser().parse_args(["--ofp-cert", "c", "--ofp-key", "k", "--ofp-ca", "a"]))
    assert tls == ["--ctl-privkey", "k", "--ctl-cert", "c", "--ofp-ssl-listen-port", "6653", "--ca-certs", "a"]
    for bad in (["--token-for-reads"], ["--rest-cert", "c"], ["--ofp-allow-dpid", "xyz"]):
        with pytest.raises(frontdoor.StartupRefused):
            configure_security(build_parser().parse_args(bad))
