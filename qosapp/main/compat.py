"""Close Ryu 4.34's gap with the eventlet that runs on Python 3.11.

`ryu.app.wsgi` does `from eventlet.wsgi import ALREADY_HANDLED`; eventlet
>= 0.33 no longer has that name, and the eventlets that do fail on 3.11.
Ryu only uses it as a sentinel that a handler may return, so any unique
object will do. This module must be imported before `ryu.app.wsgi`;
`qosapp.main.launcher` and `qosapp.http.rest` both do. Never patch site-packages.

It also keeps eventlet's `import distutils.version` (its greenlet version
check) on the standard library's distutils: setuptools' shim would answer it
with `setuptools._distutils`, which imports setuptools and pkg_resources,
~18 MB of the controller's RSS for one LooseVersion comparison.
"""
import sys


def _stdlib_distutils() -> None:
    """Take setuptools' distutils shim out of the import path before eventlet loads."""
    if "distutils" in sys.modules:
        return
    try:
        import _distutils_hack  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return
    _distutils_hack.remove_shim()


_stdlib_distutils()

import eventlet.wsgi  # noqa: E402  (after the shim is gone)

if not hasattr(eventlet.wsgi, "ALREADY_HANDLED"):
    eventlet.wsgi.ALREADY_HANDLED = object()
