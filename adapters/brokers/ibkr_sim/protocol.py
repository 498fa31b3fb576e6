"""TWS API socket framing in text mode, as ib_async 2.1.0 speaks it.

Every message is a 4-byte big-endian length followed by NUL-terminated text fields.
The client opens with ``b"API\\0"`` and a framed ``"v<min>..<max>[ options]"``; the
server answers ``[server_version, connection_time]``. We answer 176: inside the
client's 157..178 range and far below 201, where ib_async switches to protobuf.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable
from datetime import UTC, datetime

SERVER_VERSION = 176
PROTOBUF_VERSION = 201  # never answer this or above: ib_async would switch encodings
API_SIGNATURE = b"API\0"
_VERSION_RANGE = re.compile(rb"^v(\d+)(?:\.\.(\d+))?")


class ProtocolError(Exception):
    """The peer sent something that is not the TWS API protocol."""


def encode_field(value: object) -> str:
    """One field as TWS writes it: None empty, bools 1/0, integral floats without noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinite"
        return repr(value)
    return str(value)


def frame(fields: Iterable[object]) -> bytes:
    payload = "".join(encode_field(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def ib_time(ts: datetime | None = None) -> str:
    """``YYYYMMDD HH:MM:SS UTC``: the form ib_async's ``parseIBDatetime`` reads with a zone."""
    return (ts or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def negotiate_version(handshake_payload: bytes) -> int:
    """The server version to answer for the client's ``v<min>..<max>`` range."""
    m = _VERSION_RANGE.match(handshake_payload)
    if not m:
        raise ProtocolError(f"bad version range {handshake_payload[:40]!r}")
    low = int(m.group(1))
    high = int(m.group(2) or m.group(1))
    if high < SERVER_VERSION or low > SERVER_VERSION:
        # every message is laid out for 176 exactly: an older client would misread them
        raise ProtocolError(f"no common version: client {low}..{high}, server {SERVER_VERSION}")
    version = SERVER_VERSION
    assert version < PROTOBUF_VERSION
    return version


class FrameReader:
    """Accumulates bytes and yields complete messages as field lists."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[list[str]]:
        self._buf += data
        out: list[list[str]] = []
        while len(self._buf) >= 4:
            (size,) = struct.unpack(">I", self._buf[:4])
            if len(self._buf) < 4 + size:
                break
            payload = self._buf[4 : 4 + size]
            self._buf = self._buf[4 + size :]
            fields = payload.decode(errors="backslashreplace").split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            out.append(fields)
        return out

    def take_handshake(self) -> bytes | None:
        """The framed version range after ``API\\0``, once it has fully arrived."""
        if len(self._buf) < len(API_SIGNATURE):
            return None
        if not self._buf.startswith(API_SIGNATURE):
            raise ProtocolError("missing API signature")
        rest = self._buf[len(API_SIGNATURE) :]
        if len(rest) < 4:
            return None
        (size,) = struct.unpack(">I", rest[:4])
        if len(rest) < 4 + size:
            return None
        self._buf = rest[4 + size :]
        return rest[4 : 4 + size]
