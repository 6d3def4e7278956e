"""Adapters at the edge: the store (SQLite), OVSDB (python-ovs IDL), tc and the queue backend built from both."""
