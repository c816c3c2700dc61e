"""A lean C-GET receiver: the DICOM upper layer (PS3.8) and DIMSE (PS3.7) reduced to one retrieval.

A C-GET brings each instance as a C-STORE request on our association, answered before the
node sends the next one: per instance, a general-purpose stack decodes two command sets and
encodes one into full datasets, across threads. Here one thread reads whole PDUs, walks the
few command elements it needs (:func:`parse_command`), answers, and hands the dataset bytes,
undecoded, to the sink behind their Part 10 prefix (:func:`part10_prefix`).

What it speaks, and nothing more:

- TCP (no TLS), A-ASSOCIATE-RQ with the Study Root C-GET context and storage contexts, SCP
  role selection for the storage classes; A-ASSOCIATE-AC / -RJ, A-ABORT, A-RELEASE.
- P-DATA-TF with PDV fragments in both directions; command sets in implicit VR little endian.
- C-GET-RQ, C-GET-RSP (pending, final, with or without an identifier), C-STORE-RQ / -RSP,
  C-CANCEL-RQ.

Bounds: a PDU longer than the maximum we announced is refused (:data:`MAX_PDU` for P-DATA,
:data:`MAX_CONTROL_PDU` for the others), as is a command set over :data:`MAX_COMMAND`; a
dataset over the instance limit is not kept (answered "out of resources").

Each C-STORE-RSP goes out before the bytes reach the sink, so the node prepares the next
instance while we file: when the sink then fails, the association is aborted and its error
raised (the node has counted that instance as stored; a resumed retrieval fetches it again).
The node's timeout bounds every wait for a PDU (an idle connection), not a whole transfer.

When the node's A-ASSOCIATE-AC leaves out what this receiver needs (no C-GET context in a
syntax it encodes, a PDU size it cannot send in, a transfer syntax we did not propose),
:class:`Unsupported` is raised before any request was sent, and the caller may retry
through another implementation.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workstation.pacs.errors import PacsError, PacsReason

#: The largest PDU we announce and accept (the Maximum Length sub-item, PS3.8 §D.1).
MAX_PDU = 4 << 20
#: The largest PDU other than P-DATA-TF we accept (A-ASSOCIATE-AC and the short ones).
MAX_CONTROL_PDU = 1 << 16
#: The largest command set we accept (a C-STORE-RQ is ~200 bytes).
MAX_COMMAND = 1 << 16
#: What one held PDV fragment costs beyond its bytes (object, header), counted against the
#: bounds: a node cutting a dataset into 1-byte PDVs cannot make us hold far more than allowed.
FRAGMENT_COST = 256

#: Our implementation's identity (PS3.7 §D.3.3.2, PS3.10 §7.1).
IMPLEMENTATION_CLASS_UID = "2.25.160449542215284627830178573104512066733"
IMPLEMENTATION_VERSION = "WORKSTATION_1"

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"

# PDU types (PS3.8 §9.3).
ASSOCIATE_RQ = 0x01
ASSOCIATE_AC = 0x02
ASSOCIATE_RJ = 0x03
P_DATA = 0x04
RELEASE_RQ = 0x05
RELEASE_RP = 0x06
ABORT = 0x07

# Command Field values (PS3.7 §E.1).
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_GET_RQ = 0x0010
C_GET_RSP = 0x8010
C_CANCEL_RQ = 0x0FFF
NO_DATASET = 0x0101

STATUS_PENDING = (0xFF00, 0xFF01)
STATUS_CANCEL = 0xFE00
STORE_SUCCESS = 0x0000
STORE_OUT_OF_RESOURCES = 0xA700
STORE_CANNOT_UNDERSTAND = 0xC000

_message_ids = itertools.count(1)
_message_lock = threading.Lock()


def next_message_id() -> int:
    """A message ID unique in this process (1..65535, wrapping), to route C-MOVE sub-operations."""
    with _message_lock:
        return (next(_message_ids) - 1) % 65535 + 1


# --- Part 10 ---------------------------------------------------------------------------------


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":
        return struct.pack("<HH2sHI", 2, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", 2, element, vr, len(value)) + value


def _even(text: str, pad: bytes) -> bytes:
    data = text.encode("ascii", "replace")
    return data + pad if len(data) % 2 else data


def part10_prefix(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str) -> bytes:
    """Preamble, ``DICM`` and the file meta group (PS3.10 §7.1) for a received dataset.

    Written here instead of through pydicom: that costs a millisecond per instance, a
    noticeable share of a fast C-GET. The values come from the association (the node), so
    they are bounded: a UID longer than 64 characters raises ``ValueError``.
    """
    for uid in (sop_class_uid, sop_instance_uid, transfer_syntax):
        if not 0 < len(uid) <= 64:
            raise ValueError("a UID of the received instance is empty or longer than 64")
    body = b"".join(
        (
            _meta_element(0x0001, b"OB", b"\x00\x01"),
            _meta_element(0x0002, b"UI", _even(sop_class_uid, b"\x00")),
            _meta_element(0x0003, b"UI", _even(sop_instance_uid, b"\x00")),
            _meta_element(0x0010, b"UI", _even(transfer_syntax, b"\x00")),
            _meta_element(0x0012, b"UI", _even(IMPLEMENTATION_CLASS_UID, b"\x00")),
            _meta_element(0x0013, b"SH", _even(IMPLEMENTATION_VERSION, b" ")),
        )
    )
    length = struct.pack("<HH2sHI", 2, 0x0000, b"UL", 4, len(body))
    return b"\x00" * 128 + b"DICM" + length + body


# --- errors ----------------------------------------------------------------------------------


class Unsupported(Exception):  # noqa: N818 - a signal to the caller, not a failure
    """The node accepted the association in a way this receiver does not handle."""


class Rejected(Exception):  # noqa: N818 - carries the A-ASSOCIATE-RJ fields
    """An A-ASSOCIATE-RJ: (result, source, reason) as PS3.8 §9.3.4 numbers them."""

    def __init__(self, result: int, source: int, reason: int) -> None:
        super().__init__(f"association rejected ({result}, {source}, {reason})")
        self.fields = (result, source, reason)


class _SinkFailed(Exception):  # noqa: N818 - carries the sink's own exception
    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class ProtocolError(Exception):
    """The node sent something that does not follow PS3.7 / PS3.8, or is over our bounds."""


# --- command sets (PS3.7 Annex E, implicit VR little endian) ---------------------------------


def _us(value: int) -> bytes:
    return struct.pack("<H", value)


def _ui(text: str) -> bytes:
    return _even(text, b"\x00")


def encode_command(elements: Sequence[tuple[int, bytes]]) -> bytes:
    """A command set: ``(element, value)`` pairs of group 0000, Command Group Length first."""
    body = b"".join(
        struct.pack("<HHI", 0, element, len(value)) + value for element, value in sorted(elements)
    )
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


@dataclass
class Command:
    """The elements of a received command set that a C-GET needs; raw values in ``raw``."""

    raw: dict[int, bytes]

    def us(self, element: int) -> int | None:
        value = self.raw.get(element)
        if value is None or len(value) != 2:
            return None
        return int.from_bytes(value, "little")

    def uid(self, element: int) -> str:
        value = self.raw.get(element, b"")
        return value.rstrip(b"\x00 ").decode("ascii", "replace")

    @property
    def field(self) -> int | None:
        return self.us(0x0100)

    @property
    def has_dataset(self) -> bool:
        kind = self.us(0x0800)
        return kind is not None and kind != NO_DATASET


def parse_command(data: bytes | memoryview) -> Command:
    """The elements of a command set; ``ProtocolError`` when it is malformed or not group 0000."""
    view = memoryview(data)
    if len(view) > MAX_COMMAND:
        raise ProtocolError(f"a command set of {len(view)} bytes")
    raw: dict[int, bytes] = {}
    offset = 0
    end = len(view)
    while offset < end:
        if end - offset < 8:
            raise ProtocolError("a command set ends inside an element header")
        group, element, length = struct.unpack_from("<HHI", view, offset)
        offset += 8
        if group != 0:
            raise ProtocolError(f"a command element of group {group:04X}")
        if length > end - offset:
            raise ProtocolError("a command element is longer than its command set")
        raw[element] = bytes(view[offset : offset + length])
        offset += length
    if 0x0100 not in raw:
        raise ProtocolError("a command set without a Command Field")
    return Command(raw)


# --- PDUs (PS3.8 §9.3) -----------------------------------------------------------------------


def _item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(value)) + value


def _ae(title: str) -> bytes:
    return title.encode("ascii").ljust(16)[:16]


@dataclass(frozen=True)
class Proposal:
    """One presentation context we propose: odd ID, abstract syntax, transfer syntaxes."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


def associate_rq(
    calling: str,
    called: str,
    proposals: Sequence[Proposal],
    scp_roles: Sequence[str],
    max_pdu: int = MAX_PDU,
) -> bytes:
    """An A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2) asking for the SCP role of ``scp_roles``."""
    items = [_item(0x10, APPLICATION_CONTEXT.encode())]
    for proposal in proposals:
        sub = [_item(0x30, proposal.abstract_syntax.encode())]
        sub += [_item(0x40, ts.encode()) for ts in proposal.transfer_syntaxes]
        items.append(_item(0x20, bytes((proposal.context_id, 0, 0, 0)) + b"".join(sub)))
    user = [
        _item(0x51, struct.pack(">I", max_pdu)),
        _item(0x52, IMPLEMENTATION_CLASS_UID.encode()),
    ]
    for uid in scp_roles:  # SCU/SCP Role Selection (PS3.7 §D.3.3.4): SCU role 0, SCP role 1
        encoded = uid.encode()
        user.append(_item(0x54, struct.pack(">H", len(encoded)) + encoded + b"\x00\x01"))
    user.append(_item(0x55, IMPLEMENTATION_VERSION.encode()))
    items.append(_item(0x50, b"".join(user)))
    body = struct.pack(">HH16s16s32s", 1, 0, _ae(called), _ae(calling), b"") + b"".join(items)
    return struct.pack(">BBI", ASSOCIATE_RQ, 0, len(body)) + body


@dataclass
class Accepted:
    """What an A-ASSOCIATE-AC granted: accepted context IDs with their transfer syntax."""

    contexts: dict[int, str] = field(default_factory=dict)
    #: The largest P-DATA-TF PDU (its variable field) the node takes; 0 = no limit.
    max_pdu: int = 0


def _items(data: memoryview, head: str, what: str) -> list[tuple[int, memoryview]]:
    """Consecutive items ``type, reserved, length`` (``head`` "H" or "I" for the length)."""
    size = struct.calcsize(">BB" + head)
    items = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < size:
            raise ProtocolError(f"{what} ends inside an item header")
        kind, _, length = struct.unpack_from(">BB" + head, data, offset)
        offset += size
        if length > len(data) - offset:
            raise ProtocolError(f"an item of {what} is longer than what holds it")
        items.append((kind, data[offset : offset + length]))
        offset += length
    return items


def parse_associate_ac(body: bytes | memoryview) -> Accepted:
    """The accepted contexts and the node's maximum PDU of an A-ASSOCIATE-AC's variable field."""
    view = memoryview(body)
    if len(view) < 68:
        raise ProtocolError("an A-ASSOCIATE-AC shorter than its fixed fields")
    accepted = Accepted()
    for kind, value in _items(view[68:], "H", "an A-ASSOCIATE-AC"):
        if kind == 0x21:
            if len(value) < 4:
                raise ProtocolError("a presentation context item shorter than its fields")
            context_id, result = value[0], value[2]
            syntaxes = [
                bytes(sub).rstrip(b"\x00 ").decode("ascii", "replace")
                for sub_kind, sub in _items(value[4:], "H", "a presentation context")
                if sub_kind == 0x40
            ]
            if result == 0 and len(syntaxes) == 1:
                accepted.contexts[context_id] = syntaxes[0]
        elif kind == 0x50:
            for sub_kind, sub in _items(value, "H", "the user information"):
                if sub_kind == 0x51 and len(sub) == 4:
                    accepted.max_pdu = struct.unpack(">I", sub)[0]
    return accepted


def p_data(context_id: int, control: int, payload: bytes, peer_max: int) -> list[bytes]:
    """P-DATA-TF PDUs carrying ``payload``, one PDV each, fragmented to the node's maximum.

    ``control`` is 1 for a command, 0 for a dataset; the last fragment gets bit 1 set.
    """
    room = len(payload) or 1
    if peer_max:
        room = peer_max - 6
    pdus = []
    for start in range(0, max(len(payload), 1), room):
        fragment = payload[start : start + room]
        last = start + room >= len(payload)
        pdv = struct.pack(">IBB", len(fragment) + 2, context_id, control | (2 if last else 0))
        pdus.append(struct.pack(">BBI", P_DATA, 0, len(pdv) + len(fragment)) + pdv + fragment)
    return pdus


def parse_pdvs(body: memoryview) -> list[tuple[int, int, memoryview]]:
    """The PDVs of a P-DATA-TF PDU's variable field: (context ID, control header, fragment)."""
    pdvs = []
    offset = 0
    end = len(body)
    while offset < end:
        if end - offset < 6:
            raise ProtocolError("a P-DATA-TF ends inside a PDV header")
        (length,) = struct.unpack_from(">I", body, offset)
        if length < 2 or length > end - offset - 4:
            raise ProtocolError(f"a PDV of length {length} in a PDU of {end} bytes")
        pdvs.append((body[offset + 4], body[offset + 5], body[offset + 6 : offset + 4 + length]))
        offset += 4 + length
    return pdvs


RELEASE_RQ_PDU = struct.pack(">BBII", RELEASE_RQ, 0, 4, 0)
RELEASE_RP_PDU = struct.pack(">BBII", RELEASE_RP, 0, 4, 0)
ABORT_PDU = struct.pack(">BBIBBBB", ABORT, 0, 4, 0, 0, 0, 0)


class Connection:
    """A TCP connection reading whole PDUs, each bounded by what we announced."""

    def __init__(self, sock: socket.socket, max_pdu: int = MAX_PDU) -> None:
        self.sock = sock
        self.max_pdu = max_pdu
        self._header = bytearray(6)

    def _fill(self, view: memoryview) -> bool:
        done = 0
        size = len(view)
        recv_into = self.sock.recv_into
        while done < size:
            count = recv_into(view[done:], size - done)
            if not count:
                return False
            done += count
        return True

    def read(self) -> tuple[int, memoryview] | None:
        """The next PDU (type, variable field); None when the node closed the connection."""
        if not self._fill(memoryview(self._header)):
            return None
        kind, _, length = struct.unpack(">BBI", self._header)
        bound = self.max_pdu if kind == P_DATA else MAX_CONTROL_PDU
        if not ASSOCIATE_RQ <= kind <= ABORT:
            raise ProtocolError(f"an unknown PDU type 0x{kind:02X}")
        if length > bound:
            raise ProtocolError(f"a PDU of {length} bytes (at most {bound} agreed)")
        body = bytearray(length)
        view = memoryview(body)
        if not self._fill(view):
            return None
        return kind, view

    def send(self, *pdus: bytes) -> None:
        self.sock.sendall(pdus[0] if len(pdus) == 1 else b"".join(pdus))

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(ABORT_PDU)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# --- the C-GET -------------------------------------------------------------------------------


@dataclass
class Final:
    """A final C-GET-RSP: attribute names as the DIMSE status datasets name them."""

    Status: int
    NumberOfFailedSuboperations: int = 0
    NumberOfCompletedSuboperations: int = 0


@dataclass
class Target:
    """Where and as whom to associate; ``timeout`` bounds every wait."""

    host: str
    port: int
    called_ae: str
    calling_ae: str
    timeout: float
    address: str
    name: str


@dataclass
class _Incoming:
    """A command whose dataset is arriving."""

    command: Command
    context_id: int
    fragments: list[memoryview] = field(default_factory=list)
    size: int = 0
    #: ``size`` plus :data:`FRAGMENT_COST` per fragment: what holding them costs.
    held: int = 0
    over: bool = False


GET_MODEL = "1.2.840.10008.5.1.4.1.2.2.3"


class CGetReceiver:
    """One association: negotiate, run C-GET requests, release.

    ``put`` gets each instance's Part 10 bytes, after the C-STORE-RSP went out (the node
    prepares the next instance meanwhile). ``cancel`` is polled per message; when true a
    C-CANCEL-RQ is sent (:meth:`request_cancel`) and the run ends at the node's final
    answer. Everything runs on the calling thread.
    """

    def __init__(
        self,
        target: Target,
        storage: Sequence[tuple[str, Sequence[str]]],
        *,
        max_instance_bytes: int,
        put: Callable[[bytes], None],
        progress: Callable[[int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> None:
        self.target = target
        self.max_instance_bytes = max_instance_bytes
        self.put = put
        self.progress = progress
        self.cancel = cancel
        self.received = 0
        self.cancelled = False
        self.proposals = [Proposal(1, GET_MODEL, (IMPLICIT_VR_LE, EXPLICIT_VR_LE))]
        for sop_class, syntaxes in storage[:127]:
            self.proposals.append(Proposal(2 * len(self.proposals) + 1, sop_class, tuple(syntaxes)))
        self.roles = list(dict.fromkeys(sop_class for sop_class, _ in storage[:127]))
        self.accepted = Accepted()
        self.link: Connection | None = None
        self._message_id = 0
        self._last = time.monotonic()

    # --- errors ---

    def _error(self, reason: PacsReason, message: str) -> PacsError:
        return PacsError(reason, message, node=self.target.name)

    def _lost(self) -> PacsError:
        if time.monotonic() - self._last >= self.target.timeout * 0.9:
            return self._error(
                PacsReason.TIMEOUT, f"C-GET: no answer from {self.target.address} in time"
            )
        return self._error(
            PacsReason.INTERRUPTED, f"C-GET: the connection to {self.target.address} was lost"
        )

    # --- association ---

    def open(self) -> None:
        """Connect and associate; ``Rejected``, ``Unsupported`` or ``PacsError`` otherwise."""
        target = self.target
        try:
            sock = socket.create_connection(
                (target.host, target.port), timeout=min(target.timeout, 10.0)
            )
        except TimeoutError:
            raise self._error(
                PacsReason.TIMEOUT, f"no connection to {target.host}:{target.port} in time"
            ) from None
        except OSError as exc:
            raise self._error(
                PacsReason.UNREACHABLE, f"cannot connect to {target.host}:{target.port}: {exc}"
            ) from None
        link = Connection(sock)
        self.link = link
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(target.timeout)
            link.send(associate_rq(target.calling_ae, target.called_ae, self.proposals, self.roles))
            pdu = link.read()
        except TimeoutError:
            self.close(abort=True)
            raise self._error(
                PacsReason.TIMEOUT,
                f"{target.address} did not answer the association request in time",
            ) from None
        except (OSError, ProtocolError) as exc:
            self.close(abort=True)
            raise self._error(
                PacsReason.PROTOCOL if isinstance(exc, ProtocolError) else PacsReason.REFUSED,
                f"{target.address} answered the association request with no DICOM: {exc}",
            ) from None
        if pdu is None or pdu[0] == ABORT:
            self.close()
            raise self._error(
                PacsReason.REFUSED,
                f"{target.address} aborted the association request (is it a DICOM port?)",
            )
        kind, body = pdu
        if kind == ASSOCIATE_RJ:
            self.close()
            if len(body) < 4:
                raise self._error(PacsReason.PROTOCOL, "a malformed A-ASSOCIATE-RJ")
            raise Rejected(body[1], body[2], body[3])
        if kind != ASSOCIATE_AC:
            self.close(abort=True)
            raise self._error(
                PacsReason.PROTOCOL, f"a PDU of type {kind} in answer to an association request"
            )
        try:
            self.accepted = parse_associate_ac(body)
        except ProtocolError as exc:
            self.close(abort=True)
            raise self._error(PacsReason.PROTOCOL, f"a malformed A-ASSOCIATE-AC: {exc}") from None
        get_syntax = self.accepted.contexts.get(1)
        proposed = {p.context_id: p.transfer_syntaxes for p in self.proposals}
        if (
            get_syntax not in (IMPLICIT_VR_LE, EXPLICIT_VR_LE)
            or (self.accepted.max_pdu and self.accepted.max_pdu < 1024)
            or any(ts not in proposed.get(cid, ()) for cid, ts in self.accepted.contexts.items())
        ):
            self.release()
            raise Unsupported("the node accepted no C-GET context this receiver can use")

    def release(self) -> None:
        """A-RELEASE (bounded wait for the answer), then close."""
        link = self.link
        if link is None:
            return
        wait = min(self.target.timeout, 5.0)
        deadline = time.monotonic() + wait
        try:
            link.sock.settimeout(wait)
            link.send(RELEASE_RQ_PDU)
            while time.monotonic() < deadline:
                pdu = link.read()
                if pdu is None or pdu[0] in (RELEASE_RP, ABORT):
                    break
                if pdu[0] == RELEASE_RQ:  # both sides asked at once: answer theirs
                    link.send(RELEASE_RP_PDU)
                    break
        except (OSError, ProtocolError):
            pass
        self.close()

    def close(self, *, abort: bool = False) -> None:
        link, self.link = self.link, None
        if link is not None:
            if abort:
                link.abort()
            link.close()

    # --- DIMSE ---

    def _send_command(self, context_id: int, elements: Sequence[tuple[int, bytes]]) -> None:
        assert self.link is not None
        self.link.send(*p_data(context_id, 1, encode_command(elements), self.accepted.max_pdu))

    def request_cancel(self) -> None:
        """Send a C-CANCEL-RQ for the running C-GET (once)."""
        if self.cancelled or self.link is None:
            return
        self.cancelled = True
        self._send_command(
            1,
            [
                (0x0100, _us(C_CANCEL_RQ)),
                (0x0120, _us(self._message_id)),
                (0x0800, _us(NO_DATASET)),
            ],
        )

    def _poll_cancel(self) -> None:
        if self.cancel is not None and not self.cancelled and self.cancel():
            self.request_cancel()

    def get_syntax(self) -> str:
        return self.accepted.contexts[1]

    def get(self, identifier: bytes) -> Final | None:
        """One C-GET-RQ; its final status, or None when cancelled and the node stopped."""
        assert self.link is not None
        self._message_id = next_message_id()
        elements = [
            (0x0002, _ui(GET_MODEL)),
            (0x0100, _us(C_GET_RQ)),
            (0x0110, _us(self._message_id)),
            (0x0700, _us(0)),
            (0x0800, _us(0x0000)),
        ]
        try:
            self._send_command(1, elements)
            self.link.send(*p_data(1, 0, identifier, self.accepted.max_pdu))
            self._last = time.monotonic()
            return self._run()
        except _SinkFailed as failed:
            self.close(abort=True)
            raise failed.error from None
        except TimeoutError:
            self.close(abort=True)
            raise self._error(
                PacsReason.TIMEOUT, f"C-GET: no answer from {self.target.address} in time"
            ) from None
        except OSError:
            self.close(abort=True)
            if self.cancelled:
                return None
            raise self._lost() from None
        except ProtocolError as exc:
            self.close(abort=True)
            raise self._error(
                PacsReason.PROTOCOL, f"C-GET: {self.target.address} broke the protocol: {exc}"
            ) from None

    def _run(self) -> Final | None:
        link = self.link
        assert link is not None
        command_parts: list[memoryview] = []
        command_size = 0
        incoming: _Incoming | None = None
        while True:
            pdu = link.read()
            if pdu is None:
                self.close()
                if self.cancelled:
                    return None
                raise self._lost()
            kind, body = pdu
            self._last = time.monotonic()
            if kind == ABORT:
                self.close()
                if self.cancelled:
                    return None
                raise self._error(
                    PacsReason.INTERRUPTED, f"C-GET: {self.target.address} aborted the association"
                )
            if kind == RELEASE_RQ:
                link.send(RELEASE_RP_PDU)
                self.close()
                if self.cancelled:
                    return None
                raise self._lost()
            if kind != P_DATA:
                raise ProtocolError(f"a PDU of type {kind} during a C-GET")
            for context_id, control, fragment in parse_pdvs(body):
                if control & 1:  # a command fragment
                    if incoming is not None:
                        raise ProtocolError("a command inside a dataset")
                    command_parts.append(fragment)
                    command_size += len(fragment) + FRAGMENT_COST
                    if command_size > MAX_COMMAND:
                        raise ProtocolError(f"a command set over {MAX_COMMAND} bytes")
                    if not control & 2:
                        continue
                    command = parse_command(b"".join(command_parts))
                    command_parts, command_size = [], 0
                    if command.has_dataset:
                        incoming = _Incoming(command, context_id)
                        continue
                    final = self._on_command(command, context_id, None)
                else:  # a dataset fragment
                    if incoming is None or context_id != incoming.context_id:
                        raise ProtocolError("a dataset fragment without its command")
                    if not incoming.over:
                        incoming.size += len(fragment)
                        incoming.held += len(fragment) + FRAGMENT_COST
                        if incoming.held > self.max_instance_bytes:
                            incoming.over, incoming.fragments = True, []
                        else:
                            incoming.fragments.append(fragment)
                    if not control & 2:
                        continue
                    done, incoming = incoming, None
                    final = self._on_command(done.command, done.context_id, done)
                if final is not None:
                    if incoming is not None or command_parts:
                        raise ProtocolError("a message after the final C-GET response")
                    return None if final.Status == STATUS_CANCEL and self.cancelled else final

    def _on_command(
        self, command: Command, context_id: int, incoming: _Incoming | None
    ) -> Final | None:
        code = command.field
        if code == C_STORE_RQ:
            self._on_store(command, context_id, incoming)
            return None
        if code == C_GET_RSP:
            if command.us(0x0120) != self._message_id:
                raise ProtocolError("a C-GET response to another request")
            status = command.us(0x0900)
            if status is None:
                raise ProtocolError("a C-GET response without a status")
            if status in STATUS_PENDING:
                self._poll_cancel()
                return None
            return Final(
                status,
                command.us(0x1022) or 0,
                command.us(0x1021) or 0,
            )
        raise ProtocolError(f"an unexpected DIMSE command 0x{code or 0:04X}")

    def _on_store(self, command: Command, context_id: int, incoming: _Incoming | None) -> None:
        self._poll_cancel()
        message_id = command.us(0x0110)
        if message_id is None:
            raise ProtocolError("a C-STORE request without a Message ID")
        sop_class = command.uid(0x0002)
        sop_instance = command.uid(0x1000)
        syntax = self.accepted.contexts.get(context_id)
        prefix = None
        status = STORE_CANNOT_UNDERSTAND
        if incoming is not None and incoming.over:
            status = STORE_OUT_OF_RESOURCES
        elif incoming is not None and syntax is not None and context_id != 1:
            try:
                prefix = part10_prefix(sop_class, sop_instance, syntax)
            except ValueError:
                pass
            else:
                if len(prefix) + incoming.size > self.max_instance_bytes:
                    status, prefix = STORE_OUT_OF_RESOURCES, None
                else:
                    status = STORE_SUCCESS
        # Answered before the bytes are joined and filed: the node sends the next instance
        # meanwhile. A failure of the sink then ends the association (and is raised).
        self._send_command(
            context_id,
            [
                (0x0002, _ui(sop_class[:64])),
                (0x0100, _us(C_STORE_RSP)),
                (0x0120, _us(message_id)),
                (0x0800, _us(NO_DATASET)),
                (0x0900, _us(status)),
                (0x1000, _ui(sop_instance[:64])),
            ],
        )
        if prefix is None or incoming is None:
            return
        data = b"".join((prefix, *incoming.fragments))
        incoming.fragments = []
        try:
            self.put(data)
            self.received += 1
            if self.progress is not None:
                self.progress(self.received)
        except Exception as exc:
            raise _SinkFailed(exc) from exc
        self._poll_cancel()


def encode_identifier(dataset: Any, implicit: bool) -> bytes:
    """A query / retrieve identifier in little endian, implicit or explicit VR."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    write_dataset(buffer, dataset)
    return buffer.getvalue()


def run_get(
    target: Target,
    storage: Sequence[tuple[str, Sequence[str]]],
    identifiers: Sequence[Any],
    *,
    max_instance_bytes: int,
    put: Callable[[bytes], None],
    progress: Callable[[int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[int, list[Final]]:
    """Run ``identifiers`` (pydicom datasets) as C-GET requests on one association.

    Returns the instances put and the final statuses (fewer than the identifiers when
    cancelled). Raises :class:`Unsupported` before anything was requested when the node's
    acceptance does not suit this receiver, :class:`Rejected` for an A-ASSOCIATE-RJ, what
    ``put`` or ``progress`` raised, and :class:`PacsError` for every other failure.
    """
    receiver = CGetReceiver(
        target,
        storage,
        max_instance_bytes=max_instance_bytes,
        put=put,
        progress=progress,
        cancel=cancel,
    )
    receiver.open()
    finals: list[Final] = []
    try:
        implicit = receiver.get_syntax() == IMPLICIT_VR_LE
        for identifier in identifiers:
            final = receiver.get(encode_identifier(identifier, implicit))
            if final is None:
                break
            finals.append(final)
            if receiver.cancelled:
                break
    except BaseException:
        receiver.close(abort=True)
        raise
    receiver.release()
    return receiver.received, finals
