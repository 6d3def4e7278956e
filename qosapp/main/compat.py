"""Close Ryu 4.34's gap with the eventlet that runs on Python 3.11.

`ryu.app.wsgi` does `from eventlet.wsgi import ALREADY_HANDLED`; eventlet
>= 0.33 no longer has that name, and the eventlets that do fail on 3.11.
Ryu only uses it as a sentinel that a handler may return, so any unique
object will do. This module must be imported before `ryu.app.wsgi`;
`qosapp.main.launcher` and `qosapp.http.rest` both do. Never patch site-packages.
"""
import eventlet.wsgi

if not hasattr(eventlet.wsgi, "ALREADY_HANDLED"):
    eventlet.wsgi.ALREADY_HANDLED = object()
