"""TVS, the Trust Verification Service: message codec and sans-I/O sessions."""

from phonetrust.protocols.tvs.messages import (
    DEFAULT_TTL,
    Answer,
    Command,
    Request,
    Response,
    Status,
    Tag,
    TvsServerUntrusted,
    device_name,
    from_wire,
)
from phonetrust.protocols.tvs.session import (
    ClientSession,
    PeerClosed,
    ProtocolFailed,
    RequestReceived,
    ResponseReceived,
    ServerSession,
    TvsSessionError,
)

__all__ = [
    "DEFAULT_TTL",
    "Answer",
    "ClientSession",
    "Command",
    "PeerClosed",
    "ProtocolFailed",
    "Request",
    "RequestReceived",
    "Response",
    "ResponseReceived",
    "ServerSession",
    "Status",
    "Tag",
    "TvsServerUntrusted",
    "TvsSessionError",
    "device_name",
    "from_wire",
]
