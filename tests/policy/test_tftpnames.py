"""What a TFTP file name means, and the names never served (path tricks, key files)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonetrust.errors import LocalError
from phonetrust.policy import params as P
from phonetrust.policy.tftpnames import NameKind, RefusedName, TftpName, interpret

MAC = "001122AABBCC"


@pytest.mark.parametrize(
    ("raw", "expected", "plan_name"),
    [
        (
            f"CTLSEP{MAC}.tlv",
            TftpName(f"CTLSEP{MAC}.tlv", NameKind.CTL_DEVICE, f"SEP{MAC}"),
            "CTLFile.tlv",
        ),
        (
            f"itlsep{MAC.lower()}.TLV",
            TftpName(f"ITLSEP{MAC}.tlv", NameKind.ITL_DEVICE, f"SEP{MAC}"),
            "ITLFile.tlv",
        ),
        ("ctlfile.tlv", TftpName("CTLFile.tlv", NameKind.CTL), "CTLFile.tlv"),
        ("ITLFile.tlv", TftpName("ITLFile.tlv", NameKind.ITL), "ITLFile.tlv"),
        (f"SEP{MAC}.cnf.xml", TftpName(f"SEP{MAC}.cnf.xml", NameKind.CONFIG, f"SEP{MAC}"), None),
        (
            f"sep{MAC}.cnf.xml.sgn",
            TftpName(f"SEP{MAC}.cnf.xml.sgn", NameKind.CONFIG_SIGNED, f"SEP{MAC}"),
            None,
        ),
        (
            f"SEP{MAC}.cnf.xml.ENC.SGN",
            TftpName(f"SEP{MAC}.cnf.xml.enc.sgn", NameKind.CONFIG_ENCRYPTED, f"SEP{MAC}"),
            None,
        ),
        (
            "Desktops\\320x212x12\\List.xml",
            TftpName("Desktops/320x212x12/List.xml", NameKind.OTHER),
            None,
        ),
        ("sip88xx.14-2-1.loads", TftpName("sip88xx.14-2-1.loads", NameKind.OTHER), None),
        ("XMLDefault.cnf.xml", TftpName("XMLDefault.cnf.xml", NameKind.OTHER), None),
        (f"CTLSEP{MAC}0.tlv", TftpName(f"CTLSEP{MAC}0.tlv", NameKind.OTHER), None),
    ],
)
def test_names_are_recognised_and_canonical(
    raw: str, expected: TftpName, plan_name: str | None
) -> None:
    found = interpret(raw)
    assert found == expected
    assert found.plan_name == (plan_name or expected.name)
    assert found.trust_list == (plan_name is not None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty name"),
        ("a" * 256, "longer than 255 characters"),
        ("a\0b", "NUL or control characters"),
        ("a\nb", "NUL or control characters"),
        ("/etc/passwd", "absolute path"),
        ("\\windows\\win.ini", "absolute path"),
        ("C:boot.ini", "absolute path"),
        ("../phonetrust.db", "path outside the TFTP directory"),
        ("firmware/../../x", "path outside the TFTP directory"),
        ("a//b", "path outside the TFTP directory"),
        ("./a", "path outside the TFTP directory"),
        ("a/", "path outside the TFTP directory"),
        (".ssh/id_rsa", "hidden file"),
        ("ITLRecovery.p12", "key material is never served"),
        ("certs/tomcat.PEM", "key material is never served"),
        ("CallManager.key", "key material is never served"),
        ("x.pfx", "key material is never served"),
        ("keystore.jks", "key material is never served"),
    ],
)
def test_refused_names(raw: str, reason: str) -> None:
    with pytest.raises(RefusedName) as caught:
        interpret(raw)
    assert caught.value.reason == reason


def test_255_characters_are_still_a_name() -> None:
    assert interpret("a" * 255).kind is NameKind.OTHER


@given(st.text(max_size=300))
def test_any_text_is_a_name_or_refused_and_never_escapes(raw: str) -> None:
    try:
        found = interpret(raw)
    except RefusedName:
        return
    segments = found.name.split("/")
    assert ".." not in segments
    assert not found.name.startswith("/")
    assert "\0" not in found.name


def test_alternate_file_servers_parameter() -> None:
    param = P.lookup("alternate cisco file servers")
    assert param.default == ""
    assert param.normalise(" 10.0.0.1 , tftp.b.example:6969,") == "10.0.0.1, tftp.b.example:6969"
    assert P.parse_servers("10.0.0.1, tftp.b.example:6969") == [
        ("10.0.0.1", 69),
        ("tftp.b.example", 6969),
    ]
    assert P.parse_servers("") == []
    for bad in ("a b", "x:0", "x:65536", "x:y", "-x", ",".join(["h"] * 11)):
        with pytest.raises(LocalError):
            P.parse_servers(bad)
