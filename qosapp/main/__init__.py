"""Wiring: command-line launcher, settings and the eventlet compatibility shim."""
