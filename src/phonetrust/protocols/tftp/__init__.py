"""TFTP (RFC 1350 with RFC 2347-2349 and 7440 options): packets and sans-I/O server and client."""

from phonetrust.protocols.tftp.client import ClientState, ClientTransfer
from phonetrust.protocols.tftp.packets import (
    Ack,
    Data,
    Error,
    ErrorCode,
    MalformedPacket,
    OptionAck,
    Packet,
    PeerError,
    ProtocolViolation,
    ReadRequest,
    TftpError,
    TransferTimeout,
    WriteRequest,
    parse,
)
from phonetrust.protocols.tftp.server import (
    LISTENER,
    OpenTransfer,
    Queued,
    Refused,
    RequestReceived,
    Send,
    TftpServerCore,
    TransferEnded,
)
from phonetrust.protocols.tftp.transfer import Address, ServerConfig

__all__ = [
    "LISTENER",
    "Ack",
    "Address",
    "ClientState",
    "ClientTransfer",
    "Data",
    "Error",
    "ErrorCode",
    "MalformedPacket",
    "OpenTransfer",
    "OptionAck",
    "Packet",
    "PeerError",
    "ProtocolViolation",
    "Queued",
    "ReadRequest",
    "Refused",
    "RequestReceived",
    "Send",
    "ServerConfig",
    "TftpError",
    "TftpServerCore",
    "TransferEnded",
    "TransferTimeout",
    "WriteRequest",
    "parse",
]
