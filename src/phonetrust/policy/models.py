"""What each phone model can do, as far as trust is concerned.

The reference documents name these capabilities: Security By Default (ITL
and TVS; 7940/7960, Jabber and some TelePresence lack it, D7), trusting only
TFTP servers whose address is in the CTL (7940/7960, D8), SHA-512 file
signatures (H7: newer models only), and encrypted configuration. Where the
documents are silent the table says what Cisco's release notes say for
current firmware; unknown models are treated like a current SBD phone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PhoneModel:
    name: str
    security_by_default: bool = True
    tftp_address_in_ctl: bool = False
    sha512: bool = True
    encrypted_config: bool = True
    blksize: bool = True


def _legacy_79xx(name: str) -> PhoneModel:
    return PhoneModel(name, sha512=False)


MODELS: dict[str, PhoneModel] = {
    m.name: m
    for m in (
        PhoneModel(
            "7940", security_by_default=False, tftp_address_in_ctl=True, sha512=False, blksize=False
        ),
        PhoneModel(
            "7960", security_by_default=False, tftp_address_in_ctl=True, sha512=False, blksize=False
        ),
        *(
            _legacy_79xx(n)
            for n in (
                "7906",
                "7911",
                "7931",
                "7937",
                "7941",
                "7942",
                "7945",
                "7961",
                "7962",
                "7965",
                "7970",
                "7971",
                "7975",
            )
        ),
        *(PhoneModel(n) for n in ("6921", "6941", "6961", "7811", "7821", "7841", "7861")),
        *(
            PhoneModel(n)
            for n in ("8811", "8841", "8845", "8851", "8861", "8865", "8961", "9951", "9971")
        ),
        PhoneModel("Jabber", security_by_default=False, encrypted_config=False),
        PhoneModel("TelePresence", security_by_default=False, encrypted_config=False),
    )
}


def model(name: str) -> PhoneModel:
    """The model's capabilities; ``CP-7975`` and ``7975`` name the same model."""
    key = name.upper().removeprefix("CP-")
    for known, caps in MODELS.items():
        if known.upper() == key:
            return caps
    return PhoneModel(name)
