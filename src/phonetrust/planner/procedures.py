"""Safe procedures: for each operation the references warn about, the sequence they teach.

The planner predicts what a user's steps do to the phones; this module says
what the references would have done instead, as steps the planner can plan
too (one phonetrust command line, or ``reboot``), so both sets of verdicts
can be shown side by side. A safe sequence that needs something phonetrust
cannot run on a copy of the cluster (an SFTP upload, a certificate exported
from an eToken, pointing phones at another cluster) says so in ``advice``
rather than pretending to be a step.

Each rule is a small function of (the user's steps, :class:`ClusterFacts`)
kept in :data:`RULES`, one row per warned operation:

=====================  ==========================================  =============
operation              safe sequence                               reference
=====================  ==========================================  =============
regen CallManager and  one certificate, ``reboot``, the other,     002, 003 (B2,
TVS of one node with   ``reboot``                                  B3)
no reboot between
regen CallManager or   the regeneration, ``utils ctl update        000, 004 (D6)
CAPF in mixed mode     CTLFile`` on the publisher, ``reboot``
rename a node          mixed mode: rename, ``utils ctl update      002 (B4)
                       CTLFile``, reboot; a lone TVS server:
                       rollback parameter around it, or a second
                       TVS server in the group first
regen ITLRecovery      regen, ``utils service restart Cisco Tftp``  003 (C4, C5)
                       on every TFTP node, ``reboot``
backup restore         the restore, ``reboot``; advice: the         002 (B5)
                       archive must hold CallManager.pem
move phones to another rollback parameter True, ``reboot``; advice  002 (E1, E3)
cluster                (move, parameter back, bulk certificates)
tokenless -> eTokens   ``file delete tftp CTLFile.tlv``, the CTL    000 (D5)
                       client with both tokens, ``reboot``; advice:
                       tokens uploaded to Phone-SAST-trust first
eTokens -> tokenless   ``utils ctl update CTLFile``, ``reboot``     000 (D4)
mixed mode on / off    the switch, ``reboot`` before any other      000 (D1, D9)
                       change; off: delete the stale CTL
=====================  ==========================================  =============

Whenever ITLRecovery.p12 was never exported, every procedure also advises
exporting it first (reference 003, C5): it is the only way back for phones
that end up locked anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from phonetrust.policy import etokens
from phonetrust.policy.domain import CertName, SecurityMode, Service
from phonetrust.policy.params import ROLLBACK, EnterpriseParams
from phonetrust.service.context import cluster, publisher
from phonetrust.service.ctlclient import current_ctl
from phonetrust.store.repository import UnitOfWork

from .steps import Step

SOURCE = "safe procedure"
"""The ``source`` of every step a procedure holds."""

EXPORT_RECOVERY = (
    "Export the ITLRecovery key first: `phonetrust admin --node {publisher} -c "
    '"file get tftp ITLRecovery.p12"` to an SFTP server (reference 003): if phones lock '
    "anyway, `utils itl reset` is the only remote way back."
)
UPDATE_CTL = "utils ctl update CTLFile"
RESTART_TFTP = "utils service restart Cisco Tftp"
DELETE_CTL = "file delete tftp CTLFile.tlv"


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """A CallManager group: its nodes in order, and how many phones use it."""

    name: str
    members: tuple[str, ...]
    phones: int


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    """What the rules need to know about the cluster, read once from the store."""

    mixed: bool
    publisher: str
    default_node: str
    """The node ``admin -c`` runs on without ``--node``."""
    nodes: tuple[str, ...]
    tftp_nodes: tuple[str, ...]
    tvs_nodes: tuple[str, ...]
    groups: tuple[GroupFacts, ...]
    rollback: bool
    """Prepare Cluster for Rollback to pre 8.0 is already True."""
    recovery_exported: bool
    """ITLRecovery.p12 was exported since the security password last changed (C5)."""
    ctl_etokens: int
    """eToken records in the current CTL: more than 0 is a CTL signed by the CTL client."""
    ctl_present: bool

    def lone_tvs_groups(self, host: str) -> list[GroupFacts]:
        """Groups with phones whose only TVS server is ``host``: no other TVS can vouch for
        ``host``'s new certificates (reference 002, hostname changes)."""
        return [
            g
            for g in self.groups
            if g.phones and [m for m in g.members if m in self.tvs_nodes] == [host]
        ]

    def other_tvs(self, host: str) -> str | None:
        """A TVS node other than ``host``, to become a group's second TVS server."""
        return next((n for n in self.tvs_nodes if n != host), None)


def cluster_facts(uow: UnitOfWork, default_node: str | None = None) -> ClusterFacts:
    """The facts of the cluster in ``uow``; ``default_node`` is the node this machine is
    (``admin -c`` runs there without ``--node``), by default the publisher."""
    state = cluster(uow)
    nodes = uow.list_nodes()
    pub = publisher(uow).host
    phones: dict[str, int] = {}
    for device in uow.list_devices():
        phones[device.group] = phones.get(device.group, 0) + 1
    ctl = current_ctl(uow)
    exported = state.p12_exported_at
    changed = state.password_changed_at
    return ClusterFacts(
        mixed=state.security_mode is SecurityMode.MIXED,
        publisher=pub,
        default_node=default_node or pub,
        nodes=tuple(n.host for n in nodes),
        tftp_nodes=tuple(n.host for n in nodes if n.runs(Service.TFTP)),
        tvs_nodes=tuple(n.host for n in nodes if n.runs(Service.TVS)),
        groups=tuple(
            GroupFacts(g.name, g.members, phones.get(g.name, 0)) for g in uow.list_groups()
        ),
        rollback=EnterpriseParams.from_stored(uow.get_params()).rollback,
        recovery_exported=exported is not None and (changed is None or changed <= exported),
        ctl_etokens=len(etokens.ctl_tokens(ctl)),
        ctl_present=ctl is not None,
    )


@dataclass(frozen=True, slots=True)
class Procedure:
    """A safe sequence standing for some of the user's steps."""

    title: str
    why: str
    """The reference's reason, in a sentence or two, naming the reference."""
    steps: tuple[Step, ...]
    """Runnable phonetrust steps, with ``reboot`` where the phones must reboot."""
    replaces: tuple[Step, ...]
    """The user's steps this procedure stands for."""
    advice: tuple[str, ...] = ()
    """What must be done by hand: phonetrust cannot run it on a copy of the cluster."""


# -- reading the user's steps ------------------------------------------------------------

Argv = tuple[str, ...]


def _admin(step: Step, facts: ClusterFacts) -> tuple[str, tuple[str, ...]] | None:
    """An ``admin`` step's node and its command's words (lower case), else None."""
    if not step.command or step.argv[0] != "admin":
        return None
    node, command = facts.default_node, None
    rest = iter(step.argv[1:])
    for arg in rest:
        if arg == "--node":
            node = next(rest, node)
        elif arg.startswith("--node="):
            node = arg.split("=", 1)[1]
        elif arg == "-c":
            command = next(rest, None)
        elif arg.startswith("-c"):
            command = arg[2:]
    if command is None:
        return None
    return node, tuple(word.lower() for word in command.split())


def _regen(step: Step, facts: ClusterFacts) -> tuple[str, str] | None:
    """``set cert regen NAME``: (node, certificate name in lower case)."""
    found = _admin(step, facts)
    if found is None or found[1][:3] != ("set", "cert", "regen") or len(found[1]) != 4:
        return None
    return found[0], found[1][3]


def _admin_is(step: Step, facts: ClusterFacts, command: str) -> bool:
    found = _admin(step, facts)
    return found is not None and found[1] == tuple(command.lower().split())


def _rename(step: Step) -> tuple[str, str] | None:
    """``cluster rename-node OLD NEW``: (old, new)."""
    if step.argv[:2] != ("cluster", "rename-node"):
        return None
    words: list[str] = []
    rest = iter(step.argv[2:])
    for arg in rest:
        if arg == "--domain":
            next(rest, None)
        elif not arg.startswith("-"):
            words.append(arg)
    return (words[0], words[1]) if len(words) == 2 else None


def _is(step: Step, *head: str) -> bool:
    return step.argv[: len(head)] == head


def _ctl_refreshed(steps: Sequence[Step], after: int, facts: ClusterFacts) -> bool:
    """A later step re-signs the CTL (tokenless update or the CTL client)."""
    return any(_admin_is(s, facts, UPDATE_CTL) or _is(s, "ctl-client") for s in steps[after + 1 :])


def _next_command(steps: Sequence[Step], i: int) -> int | None:
    """The index of the next step that is a command, if no reboot comes before it."""
    for j in range(i + 1, len(steps)):
        if steps[j].reboot:
            return None
        if steps[j].command:
            return j
    return None


# -- building procedures ------------------------------------------------------------------


def _build(*argvs: Argv | None) -> tuple[Step, ...]:
    """Steps of a procedure, numbered in order; ``None`` is a reboot."""
    return tuple(
        Step((), SOURCE, line, reboot=True) if argv is None else Step(argv, SOURCE, line)
        for line, argv in enumerate(argvs, start=1)
    )


def _on(node: str, command: str) -> Argv:
    return ("admin", "--node", node, "-c", command)


def _param_rollback(value: bool) -> Argv:
    return ("param", "set", ROLLBACK, str(value))


def _ctl_update(facts: ClusterFacts) -> tuple[list[Argv], list[str]]:
    """What re-signs the CTL after a certificate of the cluster changed: steps and advice."""
    if facts.ctl_etokens:
        return [], [
            "Re-run the CTL client with a token of the current CTL, `phonetrust ctl-client "
            "update --token LABEL`, so the CTL lists the new certificate (reference 004); "
            "`utils ctl update CTLFile` would move the cluster to a tokenless CTL instead."
        ]
    return [_on(facts.publisher, UPDATE_CTL)], []


def _procedure(
    facts: ClusterFacts,
    title: str,
    why: str,
    argvs: Iterable[Argv | None],
    replaces: Iterable[Step],
    *,
    advice: Iterable[str] = (),
) -> Procedure:
    extra = [] if facts.recovery_exported else [EXPORT_RECOVERY.format(publisher=facts.publisher)]
    return Procedure(title, why, _build(*argvs), tuple(replaces), (*extra, *advice))


# -- the rules ----------------------------------------------------------------------------

Rule = Callable[[Sequence[Step], ClusterFacts], list[Procedure]]

CM_AND_TVS = frozenset({"callmanager", "tvs"})


def regen_together(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """CallManager and TVS of one node regenerated with no reboot between (B2)."""
    found: list[Procedure] = []
    for i, first in enumerate(steps):
        got = _regen(first, facts)
        if got is None or got[1] not in CM_AND_TVS:
            continue
        for j in range(i + 1, len(steps)):
            if steps[j].reboot:
                break
            other = _regen(steps[j], facts)
            if other is None or other[0] != got[0] or other[1] not in CM_AND_TVS - {got[1]}:
                continue
            argvs: list[Argv | None] = [first.argv, None, steps[j].argv]
            advice: list[str] = []
            if facts.mixed:
                ctl, advice = _ctl_update(facts)
                argvs += ctl
            argvs.append(None)
            found.append(
                _procedure(
                    facts,
                    f"Regenerate CallManager and TVS of {got[0]} one at a time",
                    "Never regenerate CallManager.pem and TVS.pem together: phones check the new "
                    "ITL through the TVS certificate of their old one, so they must reboot "
                    "between the two (reference 002; reference 003's 5-minute hold).",
                    argvs,
                    (first, steps[j]),
                    advice=advice,
                )
            )
            break
    return found


CTL_CERTS = frozenset({"callmanager", "capf"})
SHOWN = {c.value.lower(): c.value for c in CertName}
"""Certificate names as ``show cert list own`` prints them, by their lower-case spelling."""


def ctl_after_regen(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """In mixed mode a new CallManager or CAPF certificate needs a new CTL (D6)."""
    if not facts.mixed:
        return []
    found: list[Procedure] = []
    for i, step in enumerate(steps):
        got = _regen(step, facts)
        if got is None or got[1] not in CTL_CERTS or _ctl_refreshed(steps, i, facts):
            continue
        ctl, advice = _ctl_update(facts)
        found.append(
            _procedure(
                facts,
                f"Update the CTL after regenerating {SHOWN[got[1]]} of {got[0]}",
                "In mixed mode the CTL lists every node's CallManager and CAPF certificate: "
                "after a regeneration run `utils ctl update CTLFile` (or the CTL client) and "
                "reboot the phones, which check the new signer through TVS (references 000, 004).",
                [step.argv, *ctl, None],
                (step,),
                advice=advice,
            )
        )
    return found


def rename_node(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """A host name change regenerates every certificate of the node at once (B4)."""
    found: list[Procedure] = []
    for i, step in enumerate(steps):
        names = _rename(step)
        if names is None:
            continue
        old = names[0]
        why = (
            "Renaming a node regenerates CallManager.pem and TVS.pem together (reference 002, "
            "hostname changes)"
        )
        nxt = _next_command(steps, i)
        hasty = nxt is not None and _rename(steps[nxt]) is not None
        if facts.mixed:
            if _ctl_refreshed(steps, i, facts) and not hasty:
                continue
            ctl, advice = _ctl_update(facts)
            found.append(
                _procedure(
                    facts,
                    f"Rename {old}, then update the CTL",
                    why + "; with a CTL it is only broken until the CTL is updated with the "
                    "new certificates, one node at a time.",
                    [step.argv, *ctl, None],
                    (step,),
                    advice=advice,
                )
            )
            continue
        lone = facts.lone_tvs_groups(old)
        single = len(facts.tvs_nodes) <= 1
        if not (lone or single or hasty):
            continue
        replaces = (step,)
        if (lone or single) and not facts.rollback:
            found.append(
                _procedure(
                    facts,
                    f"Rename {old} with the rollback parameter set",
                    why + ": with no other TVS server the phones lock unless "
                    f"{ROLLBACK!r} is set first, then back to False (reference 002).",
                    [_param_rollback(True), None, step.argv, None, _param_rollback(False), None],
                    replaces,
                )
            )
        other = facts.other_tvs(old)
        if lone and other is not None:
            argvs: list[Argv | None] = [("group", "set", g.name, old, other) for g in lone]
            found.append(
                _procedure(
                    facts,
                    f"Give the phones of {old} a second TVS server, then rename it",
                    why + ": another server in the phones' CallManager group can vouch "
                    "for the new certificates (reference 002).",
                    [*argvs, None, step.argv, None],
                    replaces,
                    advice=[f"Afterwards the group may list {names[1]} alone again (group set)."],
                )
            )
        if hasty and not (lone or single):
            found.append(
                _procedure(
                    facts,
                    f"Rename {old}, then reboot before the next node",
                    why + ": if every server is renamed before the phones reboot, no TVS "
                    "with a known certificate is left (reference 002).",
                    [step.argv, None],
                    replaces,
                )
            )
    return found


def regen_recovery(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """A new ITLRecovery certificate reaches phones only after a TFTP restart and a reset
    (C4); until then ``utils itl reset`` cannot help them (C6)."""
    found: list[Procedure] = []
    for i, step in enumerate(steps):
        got = _regen(step, facts)
        if got is None or got[1] != "itlrecovery":
            continue
        if any(_admin_is(s, facts, RESTART_TFTP) for s in steps[i + 1 :]):
            continue
        restarts: list[Argv | None] = [_on(n, RESTART_TFTP) for n in facts.tftp_nodes]
        found.append(
            Procedure(
                "Regenerate ITLRecovery, restart TFTP, reset the phones",
                "The ITL carries the new ITLRecovery record only after TFTP restarts on every "
                "TFTP node; then reset every phone, and export the new key (reference 003).",
                _build(step.argv, *restarts, None),
                (step,),
                (
                    f"Export the new key: `phonetrust admin --node {facts.publisher} -c "
                    '"file get tftp ITLRecovery.p12"` (reference 003).',
                ),
            )
        )
    return found


def restore(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """A restore keeps phones trusting only if the archive holds CallManager.pem (B5)."""
    return [
        _procedure(
            facts,
            "Restore a backup that holds CallManager.pem",
            "Phones trust a rebuilt TFTP server only with its old CallManager.pem key, so the "
            "backup must hold it (reference 002, CSCtn50405); rebuilt without it, the cluster is "
            "a different cluster to the phones.",
            [step.argv, None],
            (step,),
            advice=[
                "Use an archive of this cluster made after its last CallManager regeneration.",
                "After the restore, `show itl` must say 'The ITL file was verified successfully'; "
                "'This etoken was not used to sign the ITL file' means regenerate CallManager "
                "(reference 002).",
            ],
        )
        for step in steps
        if _is(step, "backup", "restore")
    ]


def move_phones(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """Phones moved to another cluster must trust its files (E3)."""
    if facts.rollback:
        return []
    return [
        _procedure(
            facts,
            "Move the phones with the rollback parameter set on this cluster",
            "A moved phone accepts the new cluster's files only if its current ITL or TVS "
            f"vouches for them; {ROLLBACK!r} gives it an empty ITL that trusts the next one "
            "(reference 002, moving phones and FAQ).",
            [_param_rollback(True), None],
            (step,),
            advice=[
                "Then point the phones at the new cluster (DHCP option 150 or their TFTP "
                "server); they take its ITL on first use.",
                f'Then set it back on this cluster: `phonetrust param set "{ROLLBACK}" False` '
                "and reboot the phones that stay (reference 002: not to be left on).",
                "Or, instead: upload the new cluster's CallManager certificates here, "
                "`phonetrust truststore upload phone-sast-trust FILE.pem`, so this cluster's "
                "TVS vouches for its ITL (bulk certificate export/import).",
            ],
        )
        for step in steps
        if _is(step, "plan", "--to-cluster")
    ]


def tokens_back(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """Tokenless to hardware eTokens (D5): phones must learn the tokens through TVS."""
    if not facts.mixed or facts.ctl_etokens:
        return []
    found: list[Procedure] = []
    for i, step in enumerate(steps):
        if not _is(step, "ctl-client") or step.argv[1:2] not in (("update",), ("set-mixed-mode",)):
            continue
        uploads = [s for s in steps[:i] if _is(s, "truststore", "upload", "phone-sast-trust")]
        delete = [] if not facts.ctl_present else [_on(facts.publisher, DELETE_CTL)]
        advice = [
            "Both tokens must be listed (`--add-token` the second) (reference 004).",
        ]
        if len(uploads) < etokens.MIN_TOKENS:
            advice.insert(
                0,
                "First export each eToken's certificate (SafeNet Authentication Client, Export "
                "Certificate) and upload it: `phonetrust truststore upload phone-sast-trust "
                "TOKEN.pem`; without it phones reject the CTL (reference 000).",
            )
        found.append(
            _procedure(
                facts,
                "Move from tokenless CTL back to eTokens",
                "A tokenless CTL lists no eToken, so the CTL client refuses the tokens until the "
                "CTL file is deleted, and phones accept the token-signed CTL only when TVS "
                "vouches for the tokens from Phone-SAST-trust (reference 000).",
                [*(s.argv for s in uploads), *delete, step.argv, None],
                (*uploads, step),
                advice=advice,
            )
        )
    return found


def tokenless(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """Hardware eTokens to tokenless (D4): the eToken records leave the CTL."""
    if not facts.mixed or not facts.ctl_etokens:
        return []
    return [
        _procedure(
            facts,
            "Move from eTokens to a tokenless CTL",
            "`utils ctl update CTLFile` re-signs the CTL with the publisher's CallManager key "
            "and drops every eToken record; phones accept it through its CCM+TFTP record, then "
            "must reboot (reference 000).",
            [step.argv, None],
            (step,),
            advice=[
                "Check `show ctl`: the CCM+TFTP certificate of the publisher must sign it; if not, "
                "go back to eTokens and redo (reference 000).",
                "Keep the eTokens: moving back needs them (reference 000).",
            ],
        )
        for step in steps
        if _admin_is(step, facts, UPDATE_CTL)
    ]


def security_mode(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """Mixed mode on or off: restart, reboot the phones before anything else changes (D1);
    off leaves a stale CTL to delete on each node (D9)."""
    found: list[Procedure] = []
    for i, step in enumerate(steps):
        on = _admin_is(step, facts, "utils ctl set-cluster mixed-mode")
        off = _admin_is(step, facts, "utils ctl set-cluster non-secure-mode")
        if not (on or off):
            continue
        rushed = _next_command(steps, i) is not None
        deletes = [_on(n, DELETE_CTL) for n in facts.tftp_nodes] if facts.ctl_present else []
        if off and deletes and not any(_admin_is(s, facts, DELETE_CTL) for s in steps[i + 1 :]):
            rushed = True
        if not rushed:
            continue
        restart = _on(facts.publisher, "utils system restart")
        found.append(
            _procedure(
                facts,
                "Set mixed mode, then reboot the phones" if on else "Leave mixed mode cleanly",
                (
                    "After `utils ctl set-cluster mixed-mode` restart TFTP and CallManager on "
                    "every node and reboot every phone so it takes the CTL (reference 000)."
                    if on
                    else "A CTL left on a non-secure cluster is stale: delete it with "
                    "`file delete tftp CTLFile.tlv` on each node (reference 000)."
                ),
                [step.argv, restart, None] if on else [step.argv, *deletes, None],
                (step,),
                advice=[
                    "Phones without Security By Default (7940/7960, Jabber) lose trust whenever "
                    "the publisher's CallManager certificate changes (reference 000)."
                ]
                if on
                else [],
            )
        )
    return found


RULES: tuple[tuple[str, Rule], ...] = (
    ("regenerate CallManager and TVS together", regen_together),
    ("regenerate CallManager or CAPF in mixed mode", ctl_after_regen),
    ("rename a node", rename_node),
    ("regenerate ITLRecovery", regen_recovery),
    ("restore a backup", restore),
    ("move phones to another cluster", move_phones),
    ("tokenless CTL to eTokens", tokens_back),
    ("eTokens to tokenless CTL", tokenless),
    ("switch the security mode", security_mode),
)
"""Each warned operation and the rule that finds it among the steps."""


def procedures_for(steps: Sequence[Step], facts: ClusterFacts) -> list[Procedure]:
    """The safe procedures for the warned operations among ``steps``, in rule order."""
    return [procedure for _, rule in RULES for procedure in rule(steps, facts)]


def render(procedure: Procedure) -> str:
    """The procedure's steps as a steps file (``plan -f``), advice as comments."""
    lines = [f"# {procedure.title}", *(f"# {a}" for a in procedure.advice)]
    lines += [s.text for s in procedure.steps]
    return "\n".join(lines) + "\n"
