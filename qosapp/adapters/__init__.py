"""Adapters at the edge: the store (SQLite, implements core.storeapi.StoreApi), OVSDB (python-ovs IDL), tc, and the queue backend built from both."""
