"""Tag numbers and enumerated values of the trust file formats (spec/formats.md)."""

from __future__ import annotations

from enum import IntEnum


class HeaderTag(IntEnum):
    """Header elements; names as CUCM's ``show`` prints them, misspellings included."""

    VERSION = 1
    HEADERLENGTH = 2
    SIGNERID = 3
    SIGNERNAME = 4
    SERIALNUMBER = 5
    CANAME = 6
    SIGNATUREINFO = 7
    DIGESTALGORTITHM = 8
    SIGNATUREALGOINFO = 9
    SIGNATUREALGORTITHM = 10
    SIGNATUREMODULUS = 11
    SIGNATURE = 12
    PADDING = 13
    FILENAME = 14
    TIMESTAMP = 15
    ENCRYPTIONINFO = 16
    IVINFO = 17
    IVUNKNOWN = 18
    IV = 19
    PADDINGCOUNT = 20
    KEYINFO = 21
    KEYUNKNOWN = 22
    KEYSIZE = 23
    KEYALGORITHM = 24
    KEY = 25
    ENCRYPTIONHASHALGORITHM = 26
    ENCRYPTIONHASH = 27
    SIGNERVERSION = 28


HEADER_CONTAINERS = frozenset(
    {
        HeaderTag.SIGNERID,
        HeaderTag.SIGNATUREINFO,
        HeaderTag.SIGNATUREALGOINFO,
        HeaderTag.ENCRYPTIONINFO,
        HeaderTag.IVINFO,
        HeaderTag.KEYINFO,
    }
)
"""Header tags whose value is a list of elements; readers step into them."""


class RecordTag(IntEnum):
    RECORDLENGTH = 1
    DNSNAME = 2
    SUBJECTNAME = 3
    FUNCTION = 4
    ISSUERNAME = 5
    SERIALNUMBER = 6
    PUBLICKEY = 7
    SIGNATURE = 8
    CERTIFICATE = 9
    IPADDRESS = 10
    CERTHASH = 11
    HASHALGORITHM = 12


RECORD_TAG_NAMES: dict[int, str] = {
    RecordTag.RECORDLENGTH: "RECORDLENGTH",
    RecordTag.DNSNAME: "DNSNAME",
    RecordTag.SUBJECTNAME: "SUBJECTNAME",
    RecordTag.FUNCTION: "FUNCTION",
    RecordTag.ISSUERNAME: "ISSUERNAME",
    RecordTag.SERIALNUMBER: "SERIALNUMBER",
    RecordTag.PUBLICKEY: "PUBLICKEY",
    RecordTag.SIGNATURE: "SIGNATURE",
    RecordTag.CERTIFICATE: "CERTIFICATE",
    RecordTag.IPADDRESS: "IPADDRESS",
    RecordTag.CERTHASH: "CERTHASH",
    RecordTag.HASHALGORITHM: "HASH ALGORITHM",
}


class Role(IntEnum):
    """The FUNCTION of a record: what the certificate is trusted for."""

    SAST = 0
    CCM = 1
    CCM_TFTP = 2
    TFTP = 3
    CAPF = 4
    APP_SERVER = 7
    TVS = 21

    @property
    def spelling(self) -> str:
        """How administrators and the CLI spell the role (``CCM+TFTP``, ``APP-SERVER``)."""
        return ROLE_SPELLINGS[self]

    @property
    def listing_name(self) -> str:
        """How ``show ctl`` / ``show itl`` print the role."""
        return "System Administrator Security Token" if self is Role.SAST else self.spelling

    @classmethod
    def from_spelling(cls, text: str) -> Role:
        wanted = text.strip().upper()
        for role, spelling in ROLE_SPELLINGS.items():
            if spelling == wanted:
                return role
        choices = ", ".join(ROLE_SPELLINGS.values())
        raise ValueError(f"unknown role {text!r} (choose from {choices})")


ROLE_SPELLINGS = {
    Role.SAST: "SAST",
    Role.CCM: "CCM",
    Role.CCM_TFTP: "CCM+TFTP",
    Role.TFTP: "TFTP",
    Role.CAPF: "CAPF",
    Role.APP_SERVER: "APP-SERVER",
    Role.TVS: "TVS",
}

TFTP_ROLES = frozenset({Role.CCM_TFTP, Role.TFTP})
"""Roles whose key may sign configuration files and (for ITLs) the list itself."""
