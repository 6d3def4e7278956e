"""mypy (pinned in the test extra) over qosapp/ and pusher/, with the [tool.mypy] settings of pyproject.toml."""
from __future__ import annotations

import os
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_passes() -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)  # mypy reads pyproject.toml and resolves `files` from here
    try:
        out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    finally:
        os.chdir(cwd)
    assert status == 0, out + err
    assert "Success: no issues found" in out
