"""The ports a cluster's files and phones name for each service of a node.

A light module of its own: the CLI and the simulator route these names to
where services really listen without importing the servers.
"""

from __future__ import annotations

STANDARD_PORTS = {"tftp": 69, "tvs": 2445, "capf": 3804, "https": 8443}
FALLBACK_PORTS = {"tftp": 6969, "tvs": 2445, "capf": 3804, "https": 8443}
"""Used when the standard port may not be bound (TFTP's 69 needs privileges)."""
