"""The pure core: plain values in, decisions out. Imports no Ryu, eventlet, ovs, sqlite3, socket or subprocess."""
