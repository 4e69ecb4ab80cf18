"""What every request handler needs: the cluster, the signer, the throttle, the templates."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from phonetrust.service.context import Context
from phonetrust.web.sessions import Signer
from phonetrust.web.throttle import Throttle

SESSION_PURPOSE = "phonetrust web sessions v1"


def templates() -> Environment:
    """Autoescaping on for every template: names typed by anyone are shown everywhere."""
    env = Environment(
        loader=PackageLoader("phonetrust.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["APP"] = "phonetrust"
    return env


@dataclass
class WebState:
    """One per served app. ``ctx`` acts as nobody; each request acts as its user."""

    ctx: Context
    node: str
    """The node these pages are served by (Certificate Management opens on it)."""
    data_root: Path | None = None
    signer: Signer = field(init=False)
    throttle: Throttle = field(default_factory=Throttle)
    """Failed logins, per address."""
    secret_throttle: Throttle = field(default_factory=Throttle)
    """Wrong security passwords (backup, ITL reset), per address: apart from logins, so a
    mistyped security password does not lock its typist out of logging in."""
    env: Environment = field(default_factory=templates)

    def __post_init__(self) -> None:
        self.signer = Signer(self.ctx.keys.derived_secret(SESSION_PURPOSE))

    def acting(self, user: str, address: str, via: str) -> Context:
        """The context of one request: its audit entries name the user and the address."""
        return replace(self.ctx, actor=f"{user} ({via} {address})")
