"""What a single (SQLite) controller loads: no cluster client, no setuptools.

These imports are the controller's idle RSS (issue #14, memory <= Ryu's):
setuptools' distutils shim (answering eventlet's `import distutils.version`)
pulled in setuptools and pkg_resources, ~18 MB, and the etcd adapter pulled
in etcd3gw and requests on every start. The check runs in a fresh interpreter,
the way `qos-controller` starts, up to the point where Ryu would run the app.
"""
from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, sys
from qosapp.main import launcher
args = launcher.build_parser().parse_args(["--no-queues"])
launcher.configure_store(args)
import qosapp.main.compat
import qosapp.ofp.app
print(json.dumps({m: m in sys.modules for m in sys.argv[1:]}))
"""


def _loaded(*modules: str) -> dict[str, bool]:
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sqlite_controller_loads_neither_etcd_nor_setuptools() -> None:
    loaded = _loaded("qosapp.ofp.app", "eventlet", "setuptools", "pkg_resources", "etcd3gw", "requests")
    assert loaded.pop("qosapp.ofp.app") and loaded.pop("eventlet"), "the probe did not load the app"
    assert not any(loaded.values()), f"loaded by a single controller: {[m for m, v in loaded.items() if v]}"


def test_cluster_modules_still_import() -> None:
    """The lazy imports still resolve: what an etcd controller loads when it starts."""
    probe = "import qosapp.adapters.etcdstore, qosapp.adapters.etcdcluster, qosapp.ofp.cluster"
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=120)


def test_lean_gc_sets_the_thresholds() -> None:
    """The controller's cyclic GC runs at GC_THRESHOLDS, and stays enabled."""
    import gc

    from qosapp.main import launcher

    saved = gc.get_threshold()
    try:
        launcher.lean_gc()
        assert gc.get_threshold() == launcher.GC_THRESHOLDS
        assert gc.isenabled()
    finally:
        gc.set_threshold(*saved)
