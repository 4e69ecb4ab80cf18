"""``phonetrust demo``: a two-node cluster's certificates, its CTL and ITL, and `show itl`.

It shows in a few seconds what phonetrust writes: the publisher's
CallManager certificate signs a tokenless CTL and the ITL, laid out as
CUCM lays them out. The files are left in a directory to explore with
``phonetrust file show``.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import click

from phonetrust.cli.files import PRIVATE, write_atomically
from phonetrust.formats import listing
from phonetrust.formats.record import ITL_DNS_NAME, Record
from phonetrust.formats.signing import Signer
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import build_trust_list
from phonetrust.pki import pem
from phonetrust.pki.selfsigned import (
    Organisation,
    capf_common_name,
    itlrecovery_common_name,
    new_rsa_key,
    self_signed,
)

PUBLISHER = ("cucm-pub", ipaddress.IPv4Address("10.0.0.10"))
SUBSCRIBER = ("cucm-sub1", ipaddress.IPv4Address("10.0.0.11"))


@click.command("demo", short_help="Build a demo cluster's CTL and ITL and print `show itl`.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("phonetrust-demo"),
    show_default=True,
    help="Where to leave the certificates and trust lists.",
)
def demo(directory: Path) -> None:
    """Make a demo cluster's certificates, build its CTL and ITL, and print `show itl`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    org = Organisation()
    click.echo("Generating RSA-2048 keys for CallManager, TVS, CAPF and ITLRecovery...", err=True)
    certs = {}
    for label, cn in (
        ("CallManager", PUBLISHER[0]),
        ("TVS", PUBLISHER[0]),
        ("CAPF", capf_common_name()),
        ("ITLRecovery", itlrecovery_common_name(PUBLISHER[0])),
        ("sub1-CallManager", SUBSCRIBER[0]),
        ("sub1-TVS", SUBSCRIBER[0]),
    ):
        key = new_rsa_key(2048)
        cert = self_signed(org.name(cn), key, now=now)
        certs[label] = (cert, key)
        write_atomically(directory / f"{label}.pem", pem.to_pem(cert, key), mode=PRIVATE)
    signer = Signer.from_private_key(*certs["CallManager"])
    cm = certs["CallManager"][0]
    timestamp = int(now.timestamp())
    ctl = build_trust_list(
        signer,
        [
            Record.from_certificate(cm, Role.SAST, dns_name=PUBLISHER[0], ip_address=PUBLISHER[1]),
            Record.from_certificate(
                cm, Role.CCM_TFTP, dns_name=PUBLISHER[0], ip_address=PUBLISHER[1]
            ),
            Record.from_certificate(
                certs["sub1-CallManager"][0],
                Role.CCM_TFTP,
                dns_name=SUBSCRIBER[0],
                ip_address=SUBSCRIBER[1],
            ),
            Record.from_certificate(
                certs["CAPF"][0], Role.CAPF, dns_name=PUBLISHER[0], ip_address=PUBLISHER[1]
            ),
        ],
        filename="CTLFile.tlv",
        timestamp=timestamp,
    )
    itl = build_trust_list(
        signer,
        [
            Record.from_certificate(cm, Role.SAST, dns_name=ITL_DNS_NAME),
            Record.from_certificate(cm, Role.CCM_TFTP, dns_name=ITL_DNS_NAME),
            Record.from_certificate(certs["CAPF"][0], Role.CAPF, hash_only=True),
            Record.from_certificate(certs["TVS"][0], Role.TVS, hash_only=True),
            Record.from_certificate(certs["ITLRecovery"][0], Role.SAST),
            Record.from_certificate(certs["sub1-TVS"][0], Role.TVS, hash_only=True),
        ],
        filename="ITLFile.tlv",
        timestamp=timestamp,
    )
    write_atomically(directory / "CTLFile.tlv", ctl.to_wire())
    write_atomically(directory / "ITLFile.tlv", itl.to_wire())
    click.echo(f"Wrote certificates, CTLFile.tlv and ITLFile.tlv to {directory}/", err=True)
    click.echo("admin:show itl")
    click.echo(listing.render(itl.to_wire(), modified=now.astimezone()), nl=False)
    click.echo(
        f"\nExplore further: phonetrust file show {directory}/CTLFile.tlv   (or --json)",
        err=True,
    )
