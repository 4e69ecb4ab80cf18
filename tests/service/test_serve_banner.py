"""What ``serve`` tells the administrator a phone will ask for, in the cluster's mode."""

from __future__ import annotations

from phonetrust.cli.serve_cmd import phone_requests
from phonetrust.service import security
from tests.service.conftest import Lab


def test_non_secure_phones_ask_for_their_itl_first(lab: Lab) -> None:
    assert phone_requests(lab.ctx).startswith("phones ask for ITLSEP<MAC>.tlv, then SEP")


def test_mixed_mode_phones_ask_for_the_ctl_first(lab: Lab) -> None:
    security.set_mixed_mode(lab.ctx, "cucm-pub")
    assert phone_requests(lab.ctx) == (
        "phones ask for CTLSEP<MAC>.tlv, then ITLSEP<MAC>.tlv, then SEP<MAC>.cnf.xml.sgn."
    )
