"""The reference controller's own venv: bench/.venv-ryu with Ryu 4.34 and rest_qos's needs.

Why a separate venv: `ryu.lib.ovs` (imported by `ryu.app.rest_qos`) needs
ovs==2.16.0, while qos-sdn runs ovs==4.0.0; one venv cannot hold both.
Created at run time, idempotent (a stamp holds the hash of the pins), and
built with the project's constraints.txt (setuptools<68, or Ryu's setup.py
does not build).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
VENV_DIR = BENCH_DIR / ".venv-ryu"
REQUIREMENTS = BENCH_DIR / "ryu-requirements.txt"
CONSTRAINTS = REPO_DIR / "constraints.txt"
STAMP = VENV_DIR / ".bench-installed"


def _wanted_stamp() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + CONSTRAINTS.read_bytes()).hexdigest()


def venv_python(venv: Path = VENV_DIR) -> Path:
    return venv / "bin" / "python"


def ensure_ryu_venv(log=print) -> Path:
    """Create or refresh bench/.venv-ryu; returns its python. A second call only checks the stamp."""
    python = venv_python()
    if python.exists() and STAMP.exists() and STAMP.read_text() == _wanted_stamp():
        return python
    log(f"creating {VENV_DIR} (ryu==4.34 + rest_qos dependencies) ...")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True)
    env = dict(os.environ, PIP_CONSTRAINT=str(CONSTRAINTS), PIP_DISABLE_PIP_VERSION_CHECK="1")
    for args in (["setuptools<68", "wheel"], ["-r", str(REQUIREMENTS)]):
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join(line for line in proc.stderr.splitlines() if "is ignored" not in line)[-3000:]
            raise RuntimeError(f"pip install {' '.join(args)} failed in {VENV_DIR}:\n{tail}")
    # rest_qos imports ryu.lib.ovs.bridge: proof that the ovs pin fits
    subprocess.run([str(python), "-c", "import eventlet, ryu.lib.ovs.bridge"], check=True)
    STAMP.write_text(_wanted_stamp())
    return python
