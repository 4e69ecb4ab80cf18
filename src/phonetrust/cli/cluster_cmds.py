"""``phonetrust cluster ...``, ``alerts`` and ``audit``: the cluster itself."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from phonetrust.cli.app import PASSWORD_ENV, data_options, guarded, locate, open_context
from phonetrust.cli.inventory_cmds import echo_json, json_option
from phonetrust.cli.user_cmds import DEMO_ADMIN, first_admin, first_admin_password
from phonetrust.clock import SystemClock
from phonetrust.errors import LocalError
from phonetrust.pki import keywrap
from phonetrust.pki.selfsigned import Organisation
from phonetrust.policy.domain import Device, Node, Protocol, Service, SignerOption, check_ipv4
from phonetrust.service import alerts, inventory, nodes, shapes
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, cluster
from phonetrust.service.context import publisher as publisher_of
from phonetrust.store.datadir import DataDir
from phonetrust.store.keys import new_vault, open_vault
from phonetrust.store.repository import KeyVault
from phonetrust.store.sql import open_repository

SUBSCRIBER_SERVICES = frozenset({Service.CALLMANAGER, Service.TFTP, Service.TVS})
"""CAPF runs on the publisher only, as on CUCM."""


def _node(host: str, ip: str, domain: str, services: str | None, *, publisher: bool) -> Node:
    default = frozenset(Service) if publisher else SUBSCRIBER_SERVICES
    chosen = default if services is None else _services(services)
    return Node(host, check_ipv4(ip), domain, services=chosen)


def _services(text: str) -> frozenset[Service]:
    out = set()
    for word in filter(None, (w.strip() for w in text.split(","))):
        try:
            out.add(next(s for s in Service if s.value.lower() == word.lower()))
        except StopIteration:
            raise LocalError(
                f"unknown service {word!r}; choose from " + ", ".join(s.value for s in Service)
            ) from None
    return frozenset(out)


def _password(confirm: bool) -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    return str(click.prompt("Security password", hide_input=True, confirmation_prompt=confirm))


@click.group("cluster")
def cluster_group() -> None:
    """Create the cluster, add and rename nodes, see its state."""


@cluster_group.command("init")
@click.option("--publisher", "pub_host", required=True, help="Publisher host name.")
@click.option("--ip", "pub_ip", required=True, help="Publisher IPv4 address.")
@click.option("--domain", default="", help="DNS domain of the nodes.")
@click.option(
    "--subscriber",
    "subscribers",
    multiple=True,
    metavar="HOST=IP",
    help="A subscriber (repeatable).",
)
@click.option("--name", default="phonetrust", show_default=True, help="Cluster name.")
@click.option("--org", default="Cisco", show_default=True, help="O of the certificates.")
@click.option("--unit", default="TAC", show_default=True, help="OU of the certificates.")
@click.option("--locality", default="Krakow", show_default=True, help="L of the certificates.")
@click.option("--state", default="Malopolska", show_default=True, help="ST of the certificates.")
@click.option("--country", default="PL", show_default=True, help="C of the certificates.")
@click.option(
    "--signer",
    type=click.Choice([s.value for s in SignerOption]),
    default=SignerOption.CALLMANAGER.value,
    show_default=True,
    help="Who signs ITL and CTL: CallManager (CUCM 8-11) or ITLRecovery (12.0+).",
)
@click.option(
    "--admin",
    default="admin",
    show_default=True,
    help="The first web administrator (password asked for, or PHONETRUST_ADMIN_PASSWORD).",
)
@data_options
def init(
    pub_host: str,
    pub_ip: str,
    domain: str,
    subscribers: tuple[str, ...],
    name: str,
    org: str,
    unit: str,
    locality: str,
    state: str,
    country: str,
    signer: str,
    admin: str,
    data: Path | None,
    db: str | None,
) -> None:
    """Create the cluster: nodes, their certificates, default group and profiles.

    The security password (asked for, or PHONETRUST_SECURITY_PASSWORD)
    protects the private keys, backups and the ITLRecovery.p12 export. The
    first web administrator (--admin) gets its own password, asked for or
    PHONETRUST_ADMIN_PASSWORD; without either (no terminal) none is made.
    """
    where = locate(data, db)
    if where.exists():
        raise LocalError(f"{where.root} already holds a cluster")
    subs = []
    for spec in subscribers:
        host, eq, ip = spec.partition("=")
        if not eq:
            raise click.BadParameter(f"{spec!r}: expected HOST=IP", param_hint="--subscriber")
        subs.append(_node(host, ip, domain, None, publisher=False))
    publisher = _node(pub_host, pub_ip, domain, None, publisher=True)
    password = _password(confirm=True)
    if len(password) < 8:
        raise LocalError("the security password must have at least 8 characters")
    if len(country) != 2:
        raise LocalError("--country is a two-letter code")
    admin_password = first_admin_password(admin, demo=False)
    said: list[str] = []

    def build(ctx: Context, vault: KeyVault) -> None:
        click.echo(f"Generating certificates for {1 + len(subs)} node(s)...", err=True)
        nodes.init_cluster(
            ctx,
            name=name,
            publisher_node=publisher,
            subscribers=subs,
            org=Organisation(unit, org, locality, state, country),
            signer=SignerOption(signer),
            vault=vault,
        )
        said.append(first_admin(ctx, admin, admin_password))

    _new_cluster(where, password, build)
    click.echo(f"Cluster {name!r} created in {where.root} with publisher {pub_host}.")
    for line in said:
        click.echo(line)


def _new_cluster(where: DataDir, password: str, build: Callable[[Context, KeyVault], None]) -> None:
    """Make a cluster with a new cluster key: in the database and in ``where``, or nowhere."""
    with where.creating():
        repo = open_repository(where.db_url)
        try:
            with repo.unit_of_work() as uow:
                existing = uow.get_cluster()
                if existing is not None or uow.get_key_vault() is not None:
                    raise LocalError(
                        "the database already holds a cluster"
                        + (f" ({existing.name!r})" if existing else "")
                        + "; add this machine to it with `phonetrust cluster join`"
                    )
            cluster_key = keywrap.new_cluster_key()
            ctx = Context(repo, where.keystore(repo, cluster_key), SystemClock())
            build(ctx, new_vault(password, cluster_key, ctx.now()))
            with reading(ctx) as uow:
                uid = uow.node_uid(publisher_of(uow).host)
            where.cache(cluster_key, uid)
        finally:
            repo.close()


@cluster_group.command("join")
@click.option("--node", "host", required=True, help="The node this machine is.")
@data_options
def join(host: str, data: Path | None, db: str | None) -> None:
    """Make this machine a node of the cluster in the database --db names.

    The security password (asked for, or PHONETRUST_SECURITY_PASSWORD) unlocks
    the cluster key, which is then cached in the data directory so services
    start unattended. Keys, certificates and everything else stay in the database.
    """
    where = locate(data, db)
    if db is None:
        raise LocalError("cluster join needs the cluster's database: --db URL (or PHONETRUST_DB)")
    if where.exists():
        raise LocalError(f"{where.root} already holds a cluster")
    repo = open_repository(where.db_url)
    try:
        with repo.unit_of_work() as uow:
            state = uow.get_cluster()
            vault = uow.get_key_vault()
            found = uow.get_node(host)
            known = ", ".join(n.host for n in uow.list_nodes()) or "none"
            uid = uow.node_uid(host)
        if state is None:
            raise LocalError("the database holds no cluster; create one with `cluster init`")
        if vault is None:
            raise LocalError(
                "the cluster's keys are still in its first machine's data directory (an older "
                "phonetrust made it): run any command there once to move them into the database"
            )
        if found is None or uid is None:
            raise LocalError(f"Unknown node {host!r} (nodes: {known})")
        cluster_key = open_vault(vault, _password(confirm=False))
        with where.creating():
            where.cache(cluster_key, uid)
    finally:
        repo.close()
    click.echo(
        f"This machine is now node {host} of cluster {state.name!r} (data in {where.root}); "
        f"start its services with `phonetrust serve`."
    )


@cluster_group.command("add-node")
@guarded
@click.argument("host")
@click.option("--ip", required=True, help="IPv4 address.")
@click.option("--domain", default="", help="DNS domain.")
@click.option(
    "--services",
    help="Comma-separated of CallManager,TFTP,TVS,CAPF [default: CallManager,TFTP,TVS].",
)
@data_options
def add_node(
    host: str, ip: str, domain: str, services: str | None, data: Path | None, db: str | None
) -> None:
    """Add a subscriber node; it gets its own certificates."""
    ctx = open_context(data, db)
    nodes.add_node(ctx, _node(host, ip, domain, services, publisher=False))
    click.echo(f"Node {host} added.")


@cluster_group.command("rename-node")
@guarded
@click.argument("old")
@click.argument("new")
@click.option("--domain", help="New DNS domain [default: unchanged].")
@data_options
def rename_node(old: str, new: str, domain: str | None, data: Path | None, db: str | None) -> None:
    """Change a node's host name or domain; all its certificates are regenerated (B4)."""
    ctx = open_context(data, db)
    regenerated = nodes.rename_node(ctx, old, new, domain)
    click.echo(f"{old} is now {new}; regenerated: {', '.join(regenerated)}.")
    click.echo("Phones must be reset to fetch the new trust lists.")


@cluster_group.command("show")
@json_option
@data_options
def show(as_json: bool, data: Path | None, db: str | None) -> None:
    """The cluster's mode, nodes and services."""
    ctx = open_context(data, db)
    with reading(ctx) as uow:
        state = cluster(uow)
        if as_json:
            echo_json(shapes.cluster(state, uow.list_nodes(), uow.current_version()))
            return
        click.echo(
            f"Cluster {state.name}: ClusterSecurityMode {int(state.security_mode)}, "
            f"signer {state.signer.value}"
        )
        if state.itl_reset_active:
            click.echo("An ITL reset is in force until the next TFTP restart.")
        for n in uow.list_nodes():
            role = "publisher" if n.publisher else "subscriber"
            services = ",".join(sorted(s.value for s in n.services))
            click.echo(f"  {n.host:<20} {n.ip!s:<15} {role:<10} {services}")
        click.echo(f"File plan version {uow.current_version()}")


@click.command("alerts")
@json_option
@data_options
def alerts_cmd(as_json: bool, data: Path | None, db: str | None) -> None:
    """Open alerts (the ITLRecovery backup alert is raised again every day until exported)."""
    ctx = open_context(data, db)
    with ctx.repo.unit_of_work() as uow:
        current = alerts.check_daily(uow, ctx.now())
    if as_json:
        echo_json(shapes.listing(shapes.alert(a) for a in current))
        return
    if not current:
        click.echo("No open alerts.")
    for alert in current:
        click.echo(f"{alert.raised_at:%Y-%m-%d %H:%M:%S} {alert.kind}: {alert.message}")


@click.command("audit")
@click.option("--limit", default=50, show_default=True, help="How many entries.")
@json_option
@data_options
def audit_cmd(limit: int, as_json: bool, data: Path | None, db: str | None) -> None:
    """The audit log, newest first: who changed what, when."""
    ctx = open_context(data, db)
    with reading(ctx) as uow:
        entries = uow.list_audit(limit)
    if as_json:
        echo_json(shapes.listing(shapes.audit(e) for e in entries))
        return
    for entry in entries:
        detail = f" ({entry.detail})" if entry.detail else ""
        click.echo(f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.who}: {entry.action}{detail}")


DEMO_PASSWORD = "phonetrust-demo"  # noqa: S105 - the demo cluster's published password
DEMO_MODELS = (
    ("7975", Protocol.SCCP),
    ("8845", Protocol.SIP),
    ("7960", Protocol.SCCP),
    ("8865", Protocol.SIP),
)
"""An SBD SCCP phone, a SHA-512-capable SIP phone, a phone without Security By Default..."""


@cluster_group.command("demo")
@click.option(
    "--devices",
    default=4,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="How many demo phones.",
)
@data_options
def demo_cluster(devices: int, data: Path | None, db: str | None) -> None:
    """Create a ready demo cluster (publisher, subscriber, phones) unless one exists.

    Its security password is PHONETRUST_SECURITY_PASSWORD, or "phonetrust-demo"; its web
    administrator is "admin" with PHONETRUST_ADMIN_PASSWORD, or "phonetrust-demo".
    """
    where = locate(data, db)
    if where.exists():
        click.echo(f"Using the cluster in {where.root}.")
        return
    password = os.environ.get(PASSWORD_ENV) or DEMO_PASSWORD
    phones = [
        Device(f"SEP{0x001122330000 + i:012X}", *DEMO_MODELS[(i - 1) % len(DEMO_MODELS)])
        for i in range(1, devices + 1)
    ]

    def build(ctx: Context, vault: KeyVault) -> None:
        click.echo("Creating a demo cluster: generating certificates...", err=True)
        nodes.init_cluster(
            ctx,
            name="demo",
            publisher_node=_node("cucm-pub", "127.0.0.1", "demo.local", None, publisher=True),
            subscribers=[_node("cucm-sub", "127.0.0.2", "demo.local", None, publisher=False)],
            org=Organisation(),
            vault=vault,
        )
        inventory.add_devices(ctx, phones)
        said.append(first_admin(ctx, DEMO_ADMIN, first_admin_password(DEMO_ADMIN, demo=True)))

    said: list[str] = []
    _new_cluster(where, password, build)
    click.echo(
        f"Demo cluster created in {where.root} (security password {password!r}) "
        f"with {len(phones)} phones: "
        + ", ".join(p.name for p in phones[:4])
        + (" ..." if len(phones) > 4 else "")
    )
    for line in said:
        click.echo(line)
