"""The admin command table: each CUCM command to its handler.

The grammar lives in ``grammar``; groups of commands with a subject of their
own (traces, SQL) live in modules beside this one and are gathered here.
Every handler prints CUCM's own lines (taken from the reference documents)
around the use case it calls.
"""

from __future__ import annotations

from collections.abc import Callable

from phonetrust.cli.admin import activelog_cmds, grammar, sftpget, sql_cmds, unsupported
from phonetrust.cli.admin.grammar import Command, Handler, UnknownCommand
from phonetrust.cli.admin.session import Session
from phonetrust.errors import LocalError, PhonetrustError
from phonetrust.formats.trustlist import Kind
from phonetrust.net import sftp
from phonetrust.policy.domain import CertName, SecurityMode
from phonetrust.policy.rules import NotPublisherError, require_publisher
from phonetrust.service import fileplan, nodes, security, truststores
from phonetrust.service import showing as show
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, x509_of
from phonetrust.service.context import node as node_of


def parse(line: str) -> tuple[Command, list[str]]:
    return grammar.parse(COMMANDS, line)


def execute(session: Session, line: str) -> None:
    command, args = parse(line)
    command.run(session, args)


# -- show --------------------------------------------------------------------------


def _show_ctl(s: Session, _: list[str]) -> None:
    s.write(show.show_trust_list(s.ctx, s.node, Kind.CTL))


def _show_itl(s: Session, _: list[str]) -> None:
    s.write(show.show_trust_list(s.ctx, s.node, Kind.ITL))


def _show_own_list(s: Session, _: list[str]) -> None:
    s.say("", *show.own_list(show.own_certificates(s.ctx, s.node)))


def _show_trust_list(s: Session, _: list[str]) -> None:
    s.say("", *show.trust_list_lines(truststores.listing(s.ctx)))


def _show_own(s: Session, args: list[str]) -> None:
    name = CertName.parse(args[0].removesuffix(".pem").split("/")[0])
    own = show.own_certificate(s.ctx, s.node, name)
    if own is None:
        raise LocalError(f"{name.value}: no such certificate on {s.node}")
    s.say(*show.certificate_text(x509_of(own)))


# -- set cert regen ------------------------------------------------------------------


def _regen(s: Session, args: list[str]) -> None:
    name = CertName.parse(args[0])
    nodes.check_hold(s.ctx, s.node, name)
    s.say(
        "",
        "WARNING: This operation will overwrite any CA signed certificate",
        f"previously imported for {name.value}",
    )
    if not s.prompts.confirm("Proceed with regeneration (yes|no)? ", yes="yes"):
        s.say("Certificate regeneration aborted.")
        return
    nodes.regenerate(s.ctx, s.node, name)
    s.say("", nodes.regenerated_message(name))


# -- utils ctl -----------------------------------------------------------------------


NOT_PUBLISHER = "This is not a Publisher Node"
"""What CUCM answers ``utils itl reset`` on a subscriber (reference 003)."""


def _set_cluster(
    mode: str, action: Callable[[Context, str], list[str]], already: SecurityMode | None = None
) -> Handler:
    """``utils ctl set-cluster ...``: publisher only, confirmed, then CUCM's lines.

    On a cluster already in ``already`` mode it says so first: confirming would still
    re-sign the CTL, which phones notice, so nothing changes unless the answer is yes.
    """

    def run(s: Session, _: list[str]) -> None:
        _publisher_only(s, "utils ctl")
        if already is not None and security.security_mode(s.ctx) is already:
            s.say(f"The cluster is already in {mode} Mode")
        if not s.prompts.confirm(security.set_cluster_question(mode)):
            s.say("Operation cancelled.")
            return
        s.say(*action(s.ctx, s.node))

    return run


_mixed = _set_cluster("Mixed", security.set_mixed_mode, SecurityMode.MIXED)
_non_secure = _set_cluster("Non Secure", security.set_non_secure_mode)


def _update_ctl(s: Session, _: list[str]) -> None:
    _publisher_only(s, "utils ctl")
    security.check_update_ctl(s.ctx)
    if not s.prompts.confirm(security.CTL_UPDATE_QUESTION):
        s.say("Operation cancelled.")
        return
    s.say(*security.update_ctl(s.ctx, s.node))


# -- utils itl reset -------------------------------------------------------------------


def _check_admin_password(s: Session) -> None:
    s.ctx.keys.check_password(s.prompts.secret(security.ADMIN_PASSWORD_PROMPT))


def _itl_reset_publisher_only(s: Session) -> None:
    """CUCM's own refusal, then phonetrust's reason (scripts match either)."""
    with reading(s.ctx) as uow:
        if not node_of(uow, s.node).publisher:
            raise NotPublisherError(
                f"{NOT_PUBLISHER}: utils itl reset can only be run on the publisher node"
            )


def _reset_local(s: Session, _: list[str]) -> None:
    _itl_reset_publisher_only(s)
    _check_admin_password(s)
    s.say("", *security.itl_reset(s.ctx, s.node))


def _reset_remote(s: Session, args: list[str]) -> None:
    _itl_reset_publisher_only(s)
    server, user, path = args
    host, port = _host_port(server)
    password = s.prompts.secret("Enter Sftp password :")
    data = sftp.fetch(
        host,
        port,
        user,
        password,
        path,
        known_hosts=s.where.root / "known_hosts",
        accept_new_host=sftpget.host_question(s),
    )
    _check_admin_password(s)
    s.say("", *security.itl_reset(s.ctx, s.node, data))


def _host_port(text: str) -> tuple[str, int]:
    """``host`` or ``host:port`` (phonetrust's extension; CUCM always uses port 22)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 22
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise LocalError(f"invalid SFTP port in {text!r}")
    return host, int(port)


# -- file ------------------------------------------------------------------------------


TFTP_DIRECTORY = "/usr/local/cm/tftp"
"""Where CUCM's ``file get tftp`` says the file came from (reference 003)."""


def _file_get(s: Session, args: list[str]) -> None:
    """The shared ``file get`` dialogue, recording its outcome (C5).

    Only a completed upload is an export: answering no records nothing, a failed
    upload is audited as failed with its destination, and both leave the alert open.
    """
    area, name = args
    if area.lower() != "tftp" or name != security.RECOVERY_P12:
        raise LocalError("only 'file get tftp ITLRecovery.p12' is supported")
    files = [(security.RECOVERY_P12, security.export_recovery(s.ctx, s.node))]
    to = sftpget.ask(s, files)
    if to is None:
        return
    try:
        sftpget.send(s, to, files)
    except (PhonetrustError, OSError) as exc:
        # Recorded, then reported by the shell as any failure is.
        security.recovery_export_failed(s.ctx, s.node, to.where, str(exc))
        raise
    security.recovery_exported(s.ctx, s.node, to.where)
    sftpget.completed(s, TFTP_DIRECTORY, [security.RECOVERY_P12])


def _file_list(s: Session, args: list[str]) -> None:
    """Names only, or with ``detail`` CUCM's date, time and size columns (reference 004)."""
    area, pattern, *rest = args
    if area.lower() != "tftp":
        raise LocalError("only the tftp area can be listed")
    if rest and rest[0].lower() != "detail":
        raise LocalError(f"unknown option {rest[0]!r}: usage: file list tftp PATTERN [detail]")
    files = security.tftp_listing(s.ctx, s.node, pattern)
    for f in files:
        if rest:
            s.say(f"{activelog_cmds.stamp(f.modified.timestamp())} {f.size:,} {f.name}")
        else:
            s.say(f.name)
    s.say(f"dir count = 0, file count = {len(files)}")


def _file_delete(s: Session, args: list[str]) -> None:
    area, name = args
    if area.lower() != "tftp" or name != fileplan.CTL_NAME:
        raise LocalError("only 'file delete tftp CTLFile.tlv' is supported")
    _delete_ctl(s)


def _delete_ctl(s: Session) -> None:
    """Says there is none before asking: a question about nothing would mislead."""
    name = fileplan.CTL_NAME
    if not security.has_ctl(s.ctx, s.node):
        raise LocalError(f"{name}: file not found; there is no CTL file on {s.node}")
    if not s.prompts.confirm(
        f'Delete the File {name}?\nEnter "y" followed by return to continue: '
    ):
        return
    s.say(*security.delete_ctl(s.ctx, s.node))


ACTIVELOG_CTL = "cm/tftpdata/CTLFile.tlv"
"""Where CUCM keeps the TFTP directory's CTL: references 000/001 delete it by this path."""


def _file_delete_activelog(s: Session, args: list[str]) -> None:
    if args[0].strip("/") == ACTIVELOG_CTL:
        _delete_ctl(s)
        return
    raise LocalError(f"only 'file delete activelog {ACTIVELOG_CTL}' is supported")


# -- restarts and password -----------------------------------------------------------------


def _system_restart(s: Session, _: list[str]) -> None:
    if not s.prompts.confirm("Do you really want to restart ?\nEnter (yes/no)? ", yes="yes"):
        return
    s.say(
        "phonetrust does not restart the machine: the services of this cluster reload instead.",
        *security.restart_tftp(s.ctx),
    )


def _service_restart(s: Session, _: list[str]) -> None:
    s.say("Cisco Tftp [STOPPING]", "Cisco Tftp [STARTING]")
    security.restart_tftp(s.ctx)
    s.say("Cisco Tftp [STARTED]")


def _password(s: Session, _: list[str]) -> None:
    old = s.prompts.secret("Please enter the old password: ")
    new = s.prompts.secret("Please enter the new password: ")
    again = s.prompts.secret("Re-enter new password to confirm: ")
    if new != again:
        raise LocalError("The passwords do not match")
    security.change_security_password(s.ctx, old, new)
    s.say("", "Password updated successfully.")


def _help(s: Session, _: list[str]) -> None:
    width = max(len(c.usage) for c in COMMANDS)
    s.say(*(f"{c.usage.ljust(width)}  {c.help}" for c in COMMANDS))


def _publisher_only(s: Session, what: str) -> None:
    with reading(s.ctx) as uow:
        require_publisher(node_of(uow, s.node), what)


COMMANDS: tuple[Command, ...] = (
    Command(("show", "ctl"), (), "the CTL file this node serves", _show_ctl),
    Command(("show", "itl"), (), "the ITL file this node serves", _show_itl),
    Command(("show", "cert", "list", "own"), (), "this node's certificates", _show_own_list),
    Command(
        ("show", "cert", "list", "trust"), (), "certificates in the trust stores", _show_trust_list
    ),
    Command(("show", "cert", "own"), ("NAME",), "one of this node's certificates", _show_own),
    Command(("set", "cert", "regen"), ("NAME",), "regenerate a certificate of this node", _regen),
    Command(("utils", "ctl", "set-cluster", "mixed-mode"), (), "tokenless CTL, mixed mode", _mixed),
    Command(
        ("utils", "ctl", "set-cluster", "non-secure-mode"),
        (),
        "back to non-secure mode",
        _non_secure,
    ),
    Command(("utils", "ctl", "update", "CTLFile"), (), "re-sign the CTL (tokenless)", _update_ctl),
    Command(
        ("utils", "itl", "reset", "localkey"),
        (),
        "ITL reset with the local recovery key",
        _reset_local,
    ),
    Command(
        ("utils", "itl", "reset", "remotekey"),
        ("HOST", "USER", "PATH"),
        "ITL reset with ITLRecovery.p12 fetched over SFTP",
        _reset_remote,
    ),
    Command(
        ("file", "get"), ("tftp", "ITLRecovery.p12"), "export the recovery key over SFTP", _file_get
    ),
    Command(
        ("file", "list"),
        ("tftp", "PATTERN"),
        "list this node's TFTP files",
        _file_list,
        optional=("detail",),
    ),
    Command(
        ("file", "delete"), ("tftp", "CTLFile.tlv"), "delete the CTL on this node", _file_delete
    ),
    Command(
        ("file", "delete", "activelog"),
        ("PATH",),
        f"delete a file of the active log ({ACTIVELOG_CTL}: the CTL)",
        _file_delete_activelog,
    ),
    Command(("utils", "system", "restart"), (), "reload this cluster's services", _system_restart),
    Command(
        ("utils", "service", "restart", "Cisco", "Tftp"),
        (),
        "restart TFTP (rebuild files)",
        _service_restart,
    ),
    Command(
        ("set", "password", "user", "security"),
        (),
        "change the cluster security password",
        _password,
    ),
    *activelog_cmds.COMMANDS,
    *unsupported.COMMANDS,
    *sql_cmds.COMMANDS,
    Command(("help",), (), "this list", _help),
)

__all__ = ["COMMANDS", "Command", "UnknownCommand", "execute", "parse"]
