"""The Ryu shell: OpenFlow events in, messages out (Ryu message building and raw OpenFlow 1.3 wire packing)."""
