"""Code check as part of the tests (Faucet runs its codecheck in CI too).

pyflakes over every Python file of the project: unused imports and names,
undefined names, redefinitions. A line marked `# noqa` is deliberate (e.g.
`import qosapp.main.compat`, imported for its side effect before Ryu's WSGI).
"""
from __future__ import annotations

from pathlib import Path

from pyflakes.api import checkPath
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("qosapp", "pusher", "topologies", "bench", "tests")


class Collect(Reporter):
    def __init__(self) -> None:
        self.found: list[str] = []

    def unexpectedError(self, filename: str, msg: str) -> None:  # noqa: N802 (pyflakes' API)
        self.found.append(f"{filename}: {msg}")

    def syntaxError(self, filename: str, msg: str, lineno: int, offset: int, text: str) -> None:  # noqa: N802
        self.found.append(f"{filename}:{lineno}: {msg}")

    def flake(self, message) -> None:  # type: ignore[no-untyped-def]
        line = Path(message.filename).read_text().splitlines()[message.lineno - 1]
        if "# noqa" not in line:
            self.found.append(str(message))


def project_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if not any(part.startswith(".venv") for part in p.relative_to(ROOT).parts))


def test_pyflakes_finds_nothing() -> None:
    files = project_files()
    assert len(files) > 40  # the check really looked at the project
    reporter = Collect()
    for path in files:
        checkPath(str(path), reporter)
    assert reporter.found == []
