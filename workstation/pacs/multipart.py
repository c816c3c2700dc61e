"""A streaming reader and writer of ``multipart/related`` bodies (RFC 2046 §5.1, PS3.18 §8.6).

WADO-RS answers a series as one multipart body, an instance per part. :func:`iter_parts`
yields each part as soon as its closing delimiter has arrived, holding at most one part (plus a
network chunk) in memory, and refuses parts over a size bound. A body that ends before its
final delimiter (the server died, the connection dropped) raises ``interrupted`` after the
complete parts have been yielded: a part is never handed on unless it is whole.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from workstation.pacs.errors import PacsError, PacsReason

#: Bound on the header block of one part.
MAX_PART_HEADER_BYTES = 16 * 1024

_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]{1,200})"|([^\s;,"]{1,200}))""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Part:
    """One body part: its headers (names lower-cased) and its content."""

    headers: dict[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a ``multipart/*`` Content-Type header."""
    if not content_type.lower().lstrip().startswith("multipart/"):
        raise PacsError(
            PacsReason.PROTOCOL, f"expected a multipart answer, got {content_type[:80]!r}"
        )
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise PacsError(PacsReason.PROTOCOL, "the multipart answer names no boundary")
    return (found.group(1) or found.group(2)).encode("ascii", "replace")


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise PacsError(PacsReason.PROTOCOL, "a multipart part has a malformed header line")
        headers[name.strip().lower()] = value.strip()
    return headers


def iter_parts(chunks: Iterable[bytes], boundary: bytes, *, max_part_bytes: int) -> Iterator[Part]:
    """The parts of a multipart body arriving in ``chunks``.

    Raises
    ------
    PacsError
        ``protocol`` for a malformed body or a part over ``max_part_bytes``; ``interrupted``
        when the body ends before its closing delimiter.
    """
    delimiter = b"\r\n--" + boundary
    buffer = bytearray(b"\r\n")  # so that a delimiter on the very first line is found too
    position = 0  # where searching resumes: everything before holds no delimiter
    stream = iter(chunks)

    def more() -> bool:
        for chunk in stream:
            if chunk:
                buffer.extend(chunk)
                return True
        return False

    def find(token: bytes, limit: int | None, what: str) -> int:
        nonlocal position
        while True:
            index = buffer.find(token, position)
            if index >= 0:
                return index
            position = max(position, len(buffer) - len(token) + 1)
            if limit is not None and len(buffer) > limit + len(token):
                raise PacsError(PacsReason.PROTOCOL, f"{what} is larger than {limit} bytes")
            if not more():
                raise PacsError(
                    PacsReason.INTERRUPTED, "the answer ended before its last part was complete"
                )

    # Preamble (ignored), bounded.
    start = find(delimiter, MAX_PART_HEADER_BYTES, "the multipart preamble")
    del buffer[: start + len(delimiter)]
    position = 0
    while True:
        while len(buffer) < 2:
            if not more():
                raise PacsError(PacsReason.INTERRUPTED, "the answer ended inside a delimiter")
        if buffer[:2] == b"--":
            return  # close delimiter: the epilogue is ignored
        end_of_line = find(b"\r\n", 1024, "a delimiter line")  # transport padding allowed
        del buffer[: end_of_line + 2]
        position = 0
        if buffer[:2] == b"\r\n":  # no headers at all
            header_end, header_block = 0, b""
            del buffer[:2]
        else:
            header_end = find(b"\r\n\r\n", MAX_PART_HEADER_BYTES, "a part's header block")
            header_block = bytes(buffer[:header_end])
            del buffer[: header_end + 4]
        headers = _headers(header_block)
        position = 0
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_part_bytes:
            raise PacsError(
                PacsReason.PROTOCOL, f"a part declares {declared} bytes, over {max_part_bytes}"
            )
        body_end = find(delimiter, max_part_bytes, "a part")
        with memoryview(buffer) as view:
            content = bytes(view[:body_end])
        del buffer[: body_end + len(delimiter)]
        position = 0
        yield Part(headers, content)


def new_boundary() -> str:
    return f"workstation-{uuid.uuid4().hex}"


def encode_related(parts: Iterable[bytes], boundary: str, content_type: str) -> Iterator[bytes]:
    """The chunks of a ``multipart/related`` body holding ``parts`` (each of ``content_type``)."""
    marker = boundary.encode("ascii")
    head = f"Content-Type: {content_type}\r\n\r\n".encode("ascii")
    for part in parts:
        yield b"--" + marker + b"\r\n" + head
        yield part
        yield b"\r\n"
    yield b"--" + marker + b"--\r\n"
