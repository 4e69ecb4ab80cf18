"""The hardware-eToken CTL client: mixed mode and CTL updates signed in a token (D3, D5).

Like Cisco's CTL client it lists the cluster's servers and the eTokens of
the current CTL, refuses a signing token the current CTL does not list
(unless the CTL file was deleted), needs at least two tokens, asks the
signing token's password - counting wrong ones per token serial, locked at
15 - and has the token sign the new CTL, which every TFTP node then serves.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.pki.etoken import TokenInfo, TokenLocked, TokenSession, WrongTokenPassword, login
from phonetrust.policy import etokens
from phonetrust.policy.domain import SecurityMode, Service
from phonetrust.service import fileplan
from phonetrust.service.changes import reading
from phonetrust.service.context import Context, cluster, publisher
from phonetrust.service.security import publish_hardware_ctl
from phonetrust.store.repository import TokenCounter, UnitOfWork

CTL_PATH = "/usr/local/cm/tftp/CTLFile.tlv"
RESTART_ALL = (
    "You must restart all the Cisco Unified Communications Manager and TFTP nodes in the Cluster."
)


def current_ctl(uow: UnitOfWork) -> TrustList | None:
    """The CTL the client finds on the publisher (or the first TFTP node); None if deleted."""
    pub = publisher(uow)
    hosts = [n.host for n in uow.list_nodes() if n.runs(Service.TFTP)]
    host = pub.host if pub.host in hosts else (hosts[0] if hosts else None)
    data = None if host is None else uow.published_file(host, fileplan.CTL_NAME)
    return None if data is None else TrustList.from_wire(data)


def _save_counter(ctx: Context, counter: TokenCounter) -> None:
    with ctx.repo.unit_of_work() as uow:
        uow.put_token_counter(counter)


def unlock(ctx: Context, token: TokenInfo, password: str) -> TokenSession:
    """Log in to ``token``, keeping its wrong-password counter (D3).

    The counter is committed before a refusal is raised, so failures add up
    across attempts; a locked token is not even tried.
    """
    with ctx.repo.unit_of_work() as uow:
        counter = uow.get_token_counter(token.serial)
    if counter.locked:
        raise TokenLocked(etokens.LOCKED_TEXT)
    session: TokenSession | None
    try:
        session = login(token, password)
    except WrongTokenPassword:
        session = None
    except TokenLocked:  # the token's own counter ran out: remember it
        _save_counter(ctx, TokenCounter(token.serial, counter.failures, locked=True))
        raise TokenLocked(etokens.LOCKED_TEXT) from None
    outcome = etokens.password_attempt(counter.failures, locked=False, correct=session is not None)
    if (outcome.failures, outcome.locked) != (counter.failures, counter.locked):
        _save_counter(ctx, TokenCounter(token.serial, outcome.failures, outcome.locked))
    if session is None:
        error = TokenLocked if outcome.locked else WrongTokenPassword
        raise error(outcome.message)
    return session


def _sign_and_publish(
    ctx: Context, signing: TokenInfo, password: str, tokens: list[x509.Certificate]
) -> list[str]:
    """Build the CTL around ``tokens`` (the signer first), sign it in the token, install it."""
    with reading(ctx) as uow:
        pub = publisher(uow)
        nodes = fileplan.node_certs(uow)
        digest = fileplan.digest_of(uow)
    with unlock(ctx, signing, password) as session:
        signer = session.signer()
        records = etokens.hardware_ctl_records(nodes, pub, signer.certificate, tokens)
        ctl = build_trust_list(
            signer,
            records,
            filename=fileplan.CTL_NAME,
            timestamp=int(ctx.now().timestamp()),
            digest=digest,
        )
    publish_hardware_ctl(ctx, ctl.to_wire())
    servers = [str(n.node.ip) for n in nodes if n.node.runs(Service.TFTP)]
    return [f"{ip}\t{CTL_PATH}\tPassed" for ip in servers] + [RESTART_ALL]


def _prepare(
    ctx: Context, signing: TokenInfo, extra: Sequence[TokenInfo]
) -> tuple[list[x509.Certificate], list[str]]:
    """The tokens of the new CTL, after the D5 and D3 checks; and any warning to show first."""
    signer = signing.x509_certificate()
    with reading(ctx) as uow:
        ctl = current_ctl(uow)
        mixed = cluster(uow).security_mode is SecurityMode.MIXED
    etokens.require_token_in_ctl(ctl, signer)
    tokens = etokens.distinct(
        [signer, *etokens.ctl_tokens(ctl), *(token.x509_certificate() for token in extra)]
    )
    etokens.require_enough_tokens(tokens)
    warnings = [etokens.NO_CTL_ON_SERVER] if ctl is None and mixed else []
    return tokens, warnings


def tokens_set_mixed_mode(ctx: Context, tokens: Sequence[TokenInfo], password: str) -> list[str]:
    """The client's "Set Cisco Unified CallManager Cluster to Mixed Mode" (D3).

    ``tokens[0]`` signs with ``password``; the others are listed as backups.
    """
    if not tokens:
        raise etokens.TooFewTokens(etokens.ADD_TOKENS_TEXT)
    listed, warnings = _prepare(ctx, tokens[0], tokens[1:])
    return warnings + _sign_and_publish(ctx, tokens[0], password, listed)


def tokens_update_ctl(
    ctx: Context, signing: TokenInfo, password: str, extra: Sequence[TokenInfo] = ()
) -> list[str]:
    """The client's "Update CTL File" (D5): the CTL's tokens kept, ``extra`` ones added.

    ``signing`` must be listed in the current CTL unless the CTL file was deleted.
    """
    listed, warnings = _prepare(ctx, signing, extra)
    return warnings + _sign_and_publish(ctx, signing, password, listed)
