"""Attacks on phonetrust, each a bounded, loopback-only test that failed before its fix.

One module per area (keys, CAPF, TFTP, TLS listeners, serving, CLI input); every
flood or guessing loop is bounded in count and time and targets 127.0.0.0/8 only.
"""
