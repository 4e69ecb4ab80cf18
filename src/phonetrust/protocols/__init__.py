"""Sans-I/O protocol cores: bytes and ``now`` in; bytes, events and timers out; no sockets."""
