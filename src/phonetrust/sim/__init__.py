"""The simulated phone: what surrounds its trust rules on a real phone.

How a phone judges a file or a certificate is pure and lives in
:mod:`phonetrust.policy` (``phone_trust``, ``phone_configs``,
``phone_decisions``, ``phone_console``, ``phone_calls``); this package is
what a phone does around those decisions:

- :mod:`.phone` - its boot sequence over real sockets (TFTP, TVS, CAPF, HTTPS);
- :mod:`.console` - its console log and status messages, stamped with the time;
- :mod:`.storage` - its flash: the state saved to and loaded from a directory per phone;
- :mod:`.network` - where the servers its files name really listen;
- :mod:`.fleet` - many phones booting at once, and what they came to.
"""
