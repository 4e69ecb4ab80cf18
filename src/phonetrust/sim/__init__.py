"""The simulated phone.

- :mod:`.decisions` - the vocabulary of its decisions: verdicts, reasons, status messages, TVS asks;
- :mod:`.trust` - its trust state and the pure decisions it takes on trust lists and TVS (no I/O);
- :mod:`.configs` - the configuration file rules (A5, A6), on top of :mod:`.trust`;
- :mod:`.console` - its console log and status messages, worded as real phones word them;
- :mod:`.storage` - its flash: the state saved to and loaded from a directory per phone;
- :mod:`.calls` - secure registration (F2) and call security (F3), as pure decisions.
"""
