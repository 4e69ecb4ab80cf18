"""Routes: the cluster's addresses mapped to where its services listen here."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonetrust.errors import LocalError
from phonetrust.sim.network import Routes, split_endpoint


def test_exact_route_then_any_port_route_then_unchanged() -> None:
    routes = Routes.parse(["10.0.0.10:2445=127.0.0.1:12445", "CUCM-PUB=127.0.0.2"])
    assert routes.resolve("10.0.0.10", 2445) == ("127.0.0.1", 12445)
    assert routes.resolve("10.0.0.10", 69) == ("10.0.0.10", 69)  # not routed: as written
    assert routes.resolve("cucm-pub", 8443) == ("127.0.0.2", 8443)  # names match any case
    assert routes.resolve("cucm-pub.example", 8443) == ("cucm-pub.example", 8443)


def test_ipv6_endpoints() -> None:
    assert split_endpoint("[::1]:69", 0) == ("::1", 69)
    assert split_endpoint("::1", 69) == ("::1", 69)
    assert Routes.parse(["[fd00::10]:69=[::1]:6969"]).resolve("fd00::10", 69) == ("::1", 6969)


@pytest.mark.parametrize(
    "spec", ["", "=", "a=", "=b", "a:0=b", "a:x=b", "a=b:70000", "nothing", "[]:69=b"]
)
def test_malformed_routes_are_refused_with_a_reason(spec: str) -> None:
    with pytest.raises(LocalError):
        Routes.parse([spec])


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_cleanly(spec: str) -> None:
    try:
        routes = Routes.parse([spec])
    except LocalError:
        return
    ((name, port),) = routes.table
    assert routes.resolve(name, port or 1)[0]
