"""The Ryu shell: OpenFlow events -> the service, returned flow batches -> the wire (Ryu messages, raw OF1.3 packing)."""
