"""The phone's trust behaviour as a table: trust state x input -> expected outcome.

:data:`TABLE` is the whole behaviour of :mod:`phonetrust.policy.phone_trust` and
:mod:`phonetrust.policy.phone_configs` for a Security By Default model with TVS
servers configured; ``test_state_table.py`` sweeps it cell by cell, and
:func:`table_text` prints it. It is what the tests expect, not what the
phone runs, so it lives with the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from phonetrust.policy.phone_decisions import (
    CONFIG_AUTH_FAILED,
    CONFIG_DECRYPT_FAILED,
    CTL_AND_ITL_INSTALLED,
    CTL_INSTALLED,
    ERASING,
    ITL_INSTALLED,
    TRUST_LIST_UPDATE_FAILED,
    TRUST_LIST_UPDATED,
    Reason,
    TrustState,
    Via,
)


class Input(Enum):
    """What can happen to a phone, as the table names it.

    "Known" is the CallManager key that signed the phone's lists; "unknown" a
    key in none of them (a regenerated CallManager, another cluster).
    """

    CTL_KNOWN = "CTL signed by a known signer"
    CTL_UNKNOWN_TVS_YES = "CTL signed by an unknown signer; TVS vouches"
    CTL_UNKNOWN_TVS_NO = "CTL signed by an unknown signer; TVS refuses"
    ITL_KNOWN = "ITL signed by a known signer"
    ITL_UNKNOWN_TVS_YES = "ITL signed by an unknown signer; TVS vouches"
    ITL_UNKNOWN_TVS_NO = "ITL signed by an unknown signer; TVS refuses"
    ITL_ROLLBACK = "empty rollback ITL signed by a known signer"
    CONFIG_KNOWN = ".sgn signed by a known TFTP key"
    CONFIG_UNKNOWN = ".sgn signed by an unknown key"
    CONFIG_PLAIN = "unsigned .cnf.xml"
    ENC_CONFIG = ".enc.sgn signed by a known key, for the phone's key"
    ENC_CONFIG_WRONG_KEY = ".enc.sgn signed by a known key, for another phone's key"
    HTTPS_LISTED = "HTTPS server certificate that is a record of the lists"
    HTTPS_TVS_YES = "HTTPS server certificate not in the lists; TVS vouches"
    HTTPS_TVS_NO = "HTTPS server certificate not in the lists; TVS refuses"
    ERASE = "Settings menu: erase CTL and ITL"


@dataclass(frozen=True, slots=True)
class Expect:
    """One cell: accepted (how) or rejected (why), the next state, the status message.

    ``next`` None means the state does not change; ``status`` may hold
    ``{file}``, the configuration file's name.
    """

    accepted: bool
    via: Via | None = None
    reason: Reason | None = None
    next: TrustState | None = None
    status: str | None = None

    def text(self) -> str:
        """``TOFU>CTL_ONLY``, ``TVS``, ``NO:TVS_REFUSED``: how :func:`table_text` shows a cell."""
        if not self.accepted:
            return f"NO:{self.reason.name if self.reason else '?'}"
        return (self.via.name if self.via else "OK") + (f">{self.next.name}" if self.next else "")


def _ok(via: Via | None, next_state: TrustState | None = None, status: str | None = None) -> Expect:
    return Expect(True, via, None, next_state, status)


def _no(reason: Reason, status: str | None = None) -> Expect:
    return Expect(False, None, reason, None, status)


def _row(*cells: Expect) -> dict[TrustState, Expect]:
    """One input's cells, in the order of :class:`TrustState`."""
    return dict(zip(TrustState, cells, strict=True))


_S = TrustState
_FAIL = TRUST_LIST_UPDATE_FAILED
_UPD = TRUST_LIST_UPDATED
_TOFU, _TL, _TVS, _UNCH = Via.TOFU, Via.TRUST_LIST, Via.TVS, Via.UNCHECKED
_UNKNOWN = _no(Reason.SIGNER_UNKNOWN, _FAIL)
_REFUSED = _no(Reason.TVS_REFUSED, _FAIL)
_CFG_OK = _ok(_TL)
_CFG_FREE = _ok(_UNCH)
_NO_HTTPS = _no(Reason.CERT_UNKNOWN)

TABLE: Mapping[Input, Mapping[TrustState, Expect]] = MappingProxyType(
    {
        # columns:  NO_LISTS, CTL_ONLY, ITL_ONLY, CTL_AND_ITL, ROLLBACK_ITL, CTL_AND_ROLLBACK_ITL
        Input.CTL_KNOWN: _row(
            _ok(_TOFU, _S.CTL_ONLY, CTL_INSTALLED),
            _ok(_TL, _S.CTL_ONLY, _UPD),
            _ok(_TL, _S.CTL_AND_ITL, CTL_AND_ITL_INSTALLED),
            _ok(_TL, _S.CTL_AND_ITL, _UPD),
            _ok(_TOFU, _S.CTL_AND_ROLLBACK_ITL, CTL_AND_ITL_INSTALLED),
            _ok(_TL, _S.CTL_AND_ROLLBACK_ITL, _UPD),
        ),
        Input.CTL_UNKNOWN_TVS_YES: _row(
            _ok(_TOFU, _S.CTL_ONLY, CTL_INSTALLED),
            _UNKNOWN,
            _ok(_TVS, _S.CTL_AND_ITL, CTL_AND_ITL_INSTALLED),
            _ok(_TVS, _S.CTL_AND_ITL, _UPD),
            _ok(_TOFU, _S.CTL_AND_ROLLBACK_ITL, CTL_AND_ITL_INSTALLED),
            _UNKNOWN,
        ),
        Input.CTL_UNKNOWN_TVS_NO: _row(
            _ok(_TOFU, _S.CTL_ONLY, CTL_INSTALLED),
            _UNKNOWN,
            _REFUSED,
            _REFUSED,
            _ok(_TOFU, _S.CTL_AND_ROLLBACK_ITL, CTL_AND_ITL_INSTALLED),
            _UNKNOWN,
        ),
        Input.ITL_KNOWN: _row(
            _ok(_TOFU, _S.ITL_ONLY, ITL_INSTALLED),
            _ok(_TL, _S.CTL_AND_ITL, CTL_AND_ITL_INSTALLED),
            _ok(_TL, _S.ITL_ONLY, _UPD),
            _ok(_TL, _S.CTL_AND_ITL, _UPD),
            _ok(_TOFU, _S.ITL_ONLY, _UPD),
            _ok(_TL, _S.CTL_AND_ITL, _UPD),
        ),
        Input.ITL_UNKNOWN_TVS_YES: _row(
            _ok(_TOFU, _S.ITL_ONLY, ITL_INSTALLED),
            _UNKNOWN,
            _ok(_TVS, _S.ITL_ONLY, _UPD),
            _ok(_TVS, _S.CTL_AND_ITL, _UPD),
            _ok(_TOFU, _S.ITL_ONLY, _UPD),
            _UNKNOWN,
        ),
        Input.ITL_UNKNOWN_TVS_NO: _row(
            _ok(_TOFU, _S.ITL_ONLY, ITL_INSTALLED),
            _UNKNOWN,
            _REFUSED,
            _REFUSED,
            _ok(_TOFU, _S.ITL_ONLY, _UPD),
            _UNKNOWN,
        ),
        Input.ITL_ROLLBACK: _row(
            _ok(_TOFU, _S.ROLLBACK_ITL, ITL_INSTALLED),
            _ok(_TL, _S.CTL_AND_ROLLBACK_ITL, CTL_AND_ITL_INSTALLED),
            _ok(_TL, _S.ROLLBACK_ITL, _UPD),
            _ok(_TL, _S.CTL_AND_ROLLBACK_ITL, _UPD),
            _ok(_TOFU, _S.ROLLBACK_ITL, _UPD),
            _ok(_TL, _S.CTL_AND_ROLLBACK_ITL, _UPD),
        ),
        Input.CONFIG_KNOWN: _row(_CFG_FREE, _CFG_OK, _CFG_OK, _CFG_OK, _CFG_FREE, _CFG_OK),
        Input.CONFIG_UNKNOWN: _row(
            _CFG_FREE,
            *[_no(Reason.SIGNER_UNKNOWN, CONFIG_AUTH_FAILED)] * 3,
            _CFG_FREE,
            _no(Reason.SIGNER_UNKNOWN, CONFIG_AUTH_FAILED),
        ),
        Input.CONFIG_PLAIN: _row(
            _CFG_FREE,
            *[_no(Reason.UNSIGNED, CONFIG_AUTH_FAILED)] * 3,
            _CFG_FREE,
            _no(Reason.UNSIGNED, CONFIG_AUTH_FAILED),
        ),
        Input.ENC_CONFIG: _row(_CFG_FREE, _CFG_OK, _CFG_OK, _CFG_OK, _CFG_FREE, _CFG_OK),
        Input.ENC_CONFIG_WRONG_KEY: _row(*[_no(Reason.CANNOT_DECRYPT, CONFIG_DECRYPT_FAILED)] * 6),
        Input.HTTPS_LISTED: _row(_NO_HTTPS, _ok(_TL), _ok(_TL), _ok(_TL), _NO_HTTPS, _ok(_TL)),
        Input.HTTPS_TVS_YES: _row(_NO_HTTPS, _NO_HTTPS, _ok(_TVS), _ok(_TVS), _NO_HTTPS, _NO_HTTPS),
        Input.HTTPS_TVS_NO: _row(
            _NO_HTTPS,
            _NO_HTTPS,
            _no(Reason.TVS_REFUSED),
            _no(Reason.TVS_REFUSED),
            _NO_HTTPS,
            _NO_HTTPS,
        ),
        Input.ERASE: _row(*[_ok(None, _S.NO_LISTS, ERASING)] * 6),
    }
)
"""Every trust state x input, for a Security By Default model with TVS servers configured.

A rejected trust list leaves the lists as they were; a configuration or a
certificate check never changes the trust state.
"""


def table_text() -> str:
    """The table as text: one block per input, one line per trust state."""
    lines = []
    for row_input, row in TABLE.items():
        lines.append(f"{row_input.name}: {row_input.value}")
        lines += [f"    {state.name:<22} {row[state].text()}" for state in TrustState]
    return "\n".join(lines) + "\n"
