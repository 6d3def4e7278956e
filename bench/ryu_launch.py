"""Run Ryu's manager on Python 3.11 (the benchmark's reference controller).

Ryu 4.34's `ryu.app.wsgi` imports `eventlet.wsgi.ALREADY_HANDLED`, a name
the eventlet that runs on 3.11 no longer has. Ryu only uses it as a
sentinel, so any unique object will do; it must be set before anything
imports `ryu.app.wsgi`. Kept apart from qosapp on purpose: this runs in
bench/.venv-ryu, where qos-sdn is not installed.

Usage: .venv-ryu/bin/python ryu_launch.py [ryu-manager arguments] APP...
"""
import sys

import eventlet.wsgi

if not hasattr(eventlet.wsgi, "ALREADY_HANDLED"):
    eventlet.wsgi.ALREADY_HANDLED = object()

from ryu.cmd import manager  # noqa: E402  (after the sentinel, deliberately)

if __name__ == "__main__":
    sys.argv[0] = "ryu-manager"
    manager.main(args=sys.argv[1:])
