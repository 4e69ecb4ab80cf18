"""phonetrust: open trust infrastructure for Cisco IP phones.

The package is layered (see DESIGN.md); a module imports only from the
layers before its own: errors, clock, wire, formats, protocols, pki, policy,
store, service, net, sim, planner, cli, web, testing.
"""

__version__ = "0.1.0"
