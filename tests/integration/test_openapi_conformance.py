"""Schemathesis against the document a real controller serves: the document is the API.

The controller runs with an API token (so `ignored_auth` can check that
writes need it) and no switch. Bounded: 50 examples per operation, a fixed
seed, ASCII strings (the name rule "printable" has no regular expression
for all of Unicode), about half a minute.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from topologies.controller import ControllerProcess

pytestmark = pytest.mark.integration

ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
TOKEN = "schemathesis-token-42"


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with ControllerProcess(tmp_path / "state", extra_args=["--no-queues", "--token-file", str(token_file)]) as ctl:
        run = subprocess.run(
            [str(ST), "--config-file", str(CONFIG), "run", f"{ctl.url}/qos/openapi.json", "--max-examples", "50",
             "--seed", "1", "--generation-codec", "ascii", "--generation-database", "none", "--no-color",
             "--request-timeout", "20", "-H", f"Authorization: Bearer {TOKEN}"],
            capture_output=True, text=True, timeout=420, cwd=tmp_path)
        summary = run.stdout[-3000:]
        print(summary)
        assert run.returncode == 0, summary
        selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
        assert selected and selected.group(1) == selected.group(2), summary  # nothing filtered out
        assert f"Tested: {selected.group(1)}" in run.stdout and int(selected.group(1)) >= 30, summary
        assert "Traceback" not in ctl.log_tail(2000)
