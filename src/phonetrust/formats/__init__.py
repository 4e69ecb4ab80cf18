"""Cisco trust files as immutable values: bytes in, objects out, no I/O.

- :mod:`.trustlist` - CTL and ITL files (header + records), build, parse, verify;
- :mod:`.sgn` - signed files (``.sgn``);
- :mod:`.encsgn` and :mod:`.stub` - encrypted configuration (``.enc.sgn``) and its stub;
- :mod:`.listing` - the ``show ctl`` / ``show itl`` text CUCM prints;
- :mod:`.detect` - which of these a blob is.
"""
