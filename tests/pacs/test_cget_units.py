"""The lean C-GET receiver without a PACS: PDUs and command sets, then a scripted node."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from workstation.pacs import cget
from workstation.pacs.cget import (
    Connection,
    ProtocolError,
    encode_command,
    p_data,
    parse_associate_ac,
    parse_command,
    parse_pdvs,
)
from workstation.pacs.dimse import DimseSource, part10_prefix
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.nodes import parse_node_spec

HOST = "127.0.0.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY = "1.2.826.0.1.3680043.8.498.1"
EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"

# --- command sets ------------------------------------------------------------------------------


def us(value: int) -> bytes:
    return struct.pack("<H", value)


def ui(text: str) -> bytes:
    data = text.encode()
    return data + b"\x00" if len(data) % 2 else data


def test_command_round_trip_and_group_length() -> None:
    data = encode_command([(0x0900, us(0xFF00)), (0x0100, us(0x8010)), (0x0002, ui("1.2.3"))])
    group, element, length, value = struct.unpack_from("<HHII", data)
    assert (group, element, length, value) == (0, 0, 4, len(data) - 12)
    command = parse_command(data)
    assert command.field == 0x8010
    assert command.us(0x0900) == 0xFF00
    assert command.uid(0x0002) == "1.2.3"
    assert not command.has_dataset  # no Command Data Set Type: nothing follows
    assert command.us(0x1020) is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x00\x00\x01\x02\x00", "inside an element header"),  # truncated header
        (struct.pack("<HHI", 0, 0x0100, 0xFFFFFFF0) + b"\x01\x00", "longer than"),  # hostile
        (struct.pack("<HHI", 8, 0x0018, 2) + b"12", "group 0008"),  # not a command element
        (struct.pack("<HHI", 0, 0x0110, 2) + b"\x01\x00", "without a Command Field"),
        (b"\x00" * (cget.MAX_COMMAND + 8), "command set of"),
    ],
)
def test_malformed_command_sets_are_refused(data: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        parse_command(data)


def test_odd_sized_status_is_not_believed() -> None:
    data = encode_command([(0x0100, us(0x8010)), (0x0900, b"\x00")])
    assert parse_command(data).us(0x0900) is None


# --- PDUs ----------------------------------------------------------------------------------------


def test_p_data_fragments_to_the_peer_maximum_and_back() -> None:
    payload = bytes(range(256)) * 20
    pdus = p_data(5, 0, payload, peer_max=1024)
    assert len(pdus) == -(-len(payload) // (1024 - 6))
    joined, controls = b"", []
    for pdu in pdus:
        kind, _, length = struct.unpack_from(">BBI", pdu)
        assert kind == 0x04 and length == len(pdu) - 6 <= 1024
        ((context, control, fragment),) = parse_pdvs(memoryview(pdu)[6:])
        assert context == 5
        controls.append(control)
        joined += bytes(fragment)
    assert joined == payload
    assert controls == [0] * (len(pdus) - 1) + [2]  # only the last fragment says so
    (command,) = p_data(1, 1, b"xy", peer_max=0)
    assert parse_pdvs(memoryview(command)[6:])[0][1:] == (3, memoryview(b"xy"))


def test_several_pdvs_in_one_pdu() -> None:
    body = b"".join(struct.pack(">IBB", len(v) + 2, c, h) + v for c, h, v in PDVS)
    assert [(c, h, bytes(v)) for c, h, v in parse_pdvs(memoryview(body))] == PDVS


PDVS = [(1, 3, b"cmd"), (3, 0, b"data-1"), (3, 2, b"")]


@pytest.mark.parametrize(
    "body",
    [
        struct.pack(">IBB", 1, 1, 3),  # shorter than its own header
        struct.pack(">IBB", 100, 1, 3) + b"short",  # longer than the PDU
        struct.pack(">IBB", 0xFFFFFFFF, 1, 3),  # hostile
        b"\x00\x00\x00",  # a PDU ending inside a PDV header
    ],
)
def test_bad_pdv_lengths_are_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_pdvs(memoryview(body))


def read_from(data: bytes) -> tuple[int, memoryview] | None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(data)
        theirs.shutdown(socket.SHUT_WR)
        ours.settimeout(2)
        return Connection(ours, max_pdu=1024).read()


def test_pdu_lengths_are_bounded_before_reading() -> None:
    pdu = read_from(struct.pack(">BBI", 4, 0, 1024) + b"\x00" * 1024)
    assert pdu is not None and pdu[0] == 4 and len(pdu[1]) == 1024
    with pytest.raises(ProtocolError, match="at most 1024"):
        read_from(struct.pack(">BBI", 4, 0, 1025) + b"\x00" * 1025)
    with pytest.raises(ProtocolError, match="at most"):  # not a P-DATA-TF: a smaller bound
        read_from(struct.pack(">BBI", 2, 0, 0xFFFFFFFF))
    with pytest.raises(ProtocolError, match="unknown PDU type"):
        read_from(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert read_from(struct.pack(">BBI", 4, 0, 100) + b"cut short") is None
    assert read_from(b"") is None


def associate_ac(contexts: dict[int, tuple[int, str]], max_pdu: int = 16384) -> bytes:
    """An A-ASSOCIATE-AC: context ID -> (result, transfer syntax)."""

    def item(kind: int, value: bytes) -> bytes:
        return struct.pack(">BBH", kind, 0, len(value)) + value

    items = [item(0x10, b"1.2.840.10008.3.1.1.1")]
    for context, (result, ts) in contexts.items():
        items.append(item(0x21, bytes((context, 0, result, 0)) + item(0x40, ts.encode())))
    items.append(item(0x50, item(0x51, struct.pack(">I", max_pdu))))
    body = struct.pack(">HH16s16s32s", 1, 0, b"ORTHANC".ljust(16), b"US".ljust(16), b"")
    body += b"".join(items)
    return struct.pack(">BBI", 2, 0, len(body)) + body


def test_associate_ac_parsing() -> None:
    pdu = associate_ac({1: (0, IMPLICIT), 3: (0, EXPLICIT), 5: (3, IMPLICIT)}, max_pdu=32768)
    accepted = parse_associate_ac(memoryview(pdu)[6:])
    assert accepted.contexts == {1: IMPLICIT, 3: EXPLICIT}  # 5: abstract syntax refused
    assert accepted.max_pdu == 32768
    with pytest.raises(ProtocolError):
        parse_associate_ac(memoryview(pdu)[6:-3])  # an item cut short
    with pytest.raises(ProtocolError):
        parse_associate_ac(b"\x00" * 20)


def test_associate_rq_names_contexts_roles_and_size() -> None:
    proposals = [cget.Proposal(1, cget.GET_MODEL, (IMPLICIT,)), cget.Proposal(3, CT, (EXPLICIT,))]
    pdu = cget.associate_rq("US", "THEM", proposals, [CT])
    kind, _, length = struct.unpack_from(">BBI", pdu)
    assert kind == 1 and length == len(pdu) - 6
    assert pdu[10:26] == b"THEM".ljust(16) and pdu[26:42] == b"US".ljust(16)
    assert struct.pack(">BBHI", 0x51, 0, 4, cget.MAX_PDU) in pdu
    role = CT.encode()
    assert struct.pack(">BBHH", 0x54, 0, len(role) + 4, len(role)) + role + b"\x00\x01" in pdu


# --- a scripted node -----------------------------------------------------------------------------


class Node:
    """The node's side of one association, driven by a test's script."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.link = Connection(sock, max_pdu=cget.MAX_PDU)
        self.received: list[tuple[int, int, bytes]] = []  # (context, control, whole value)

    def pdu(self) -> tuple[int, memoryview] | None:
        return self.link.read()

    def accept(self, **kwargs: Any) -> None:
        assert (pdu := self.pdu()) is not None and pdu[0] == 1
        self.sock.sendall(associate_ac({1: (0, IMPLICIT), 3: (0, EXPLICIT)}, **kwargs))

    def message(self) -> tuple[int, int, bytes]:
        """The next whole command set or dataset we were sent."""
        parts = b""
        while True:
            pdu = self.pdu()
            assert pdu is not None and pdu[0] == 4, pdu
            for context, control, fragment in parse_pdvs(pdu[1]):
                parts += bytes(fragment)
                if control & 2:
                    return context, control & 1, parts

    def command(self) -> Any:
        _, is_command, data = self.message()
        assert is_command
        command = parse_command(data)
        if command.has_dataset:
            self.message()
        return command

    def send(self, *pdvs: tuple[int, int, bytes]) -> None:
        body = b"".join(struct.pack(">IBB", len(v) + 2, c, h) + v for c, h, v in pdvs)
        self.sock.sendall(struct.pack(">BBI", 4, 0, len(body)) + body)

    def store(self, message_id: int, uid: str, dataset: bytes, pieces: int = 3) -> Any:
        """A C-STORE-RQ whose dataset comes in ``pieces`` PDUs; our response."""
        command = encode_command(
            [
                (0x0002, ui(CT)),
                (0x0100, us(0x0001)),
                (0x0110, us(message_id)),
                (0x0700, us(0)),
                (0x0800, us(0x0000)),
                (0x1000, ui(uid)),
            ]
        )
        size = -(-len(dataset) // pieces)
        chunks = [dataset[i : i + size] for i in range(0, len(dataset), size)]
        # the command and the first fragment share a PDU; the command itself in two PDVs
        self.send((3, 1, command[:10]), (3, 3, command[10:]), (3, 0, chunks[0]))
        for index, chunk in enumerate(chunks[1:], start=2):
            self.send((3, 2 if index == len(chunks) else 0, chunk))
        return self.command()

    def get_rsp(self, request: Any, status: int, **counts: int) -> None:
        elements = [
            (0x0002, ui(cget.GET_MODEL)),
            (0x0100, us(0x8010)),
            (0x0120, us(request.us(0x0110))),
            (0x0800, us(0x0101)),
            (0x0900, us(status)),
        ]
        numbers = {"remaining": 0x1020, "completed": 0x1021, "failed": 0x1022}
        elements += [(numbers[k], us(v)) for k, v in counts.items()]
        self.send((1, 3, encode_command(elements)))

    def release(self) -> None:
        pdu = self.pdu()
        if pdu is not None and pdu[0] == 5:
            self.sock.sendall(cget.RELEASE_RP_PDU)


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[Node], None]], DimseSource]]:
    """A node on loopback running a script for one connection; a DimseSource to it."""
    listener = socket.create_server((HOST, 0))
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []

    def start(script: Callable[[Node], None], timeout: float = 5.0) -> DimseSource:
        def serve() -> None:
            conn, _ = listener.accept()
            conn.settimeout(5)
            with conn:
                try:
                    script(Node(conn))
                except Exception as exc:  # noqa: BLE001 - reported by the test
                    errors.append(exc)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        port = listener.getsockname()[1]
        node = replace(parse_node_spec(f"dimse:ORTHANC@{HOST}:{port}"), timeout=timeout)
        return DimseSource(node, ae_title="US")

    yield start
    for thread in threads:
        thread.join(10)
    listener.close()
    assert not errors, errors


class Sink:
    def __init__(self) -> None:
        self.items: list[bytes] = []

    def put(self, data: bytes) -> None:
        self.items.append(data)


DATASET = struct.pack("<HHI", 0x0008, 0x0060, 2) + b"CT" + bytes(range(256)) * 9


def test_fragmented_instances_are_filed_as_sent(scripted: Any) -> None:
    answers: list[Any] = []

    def script(node: Node) -> None:
        node.accept()
        request = node.command()
        assert request.field == 0x0010 and request.uid(0x0002) == cget.GET_MODEL
        for number in (1, 2):
            answers.append(node.store(number, f"1.2.3.{number}", DATASET, pieces=number + 1))
            node.get_rsp(request, 0xFF00, remaining=2 - number, completed=number)
        node.get_rsp(request, 0x0000, completed=2)
        node.release()

    source = scripted(script)
    sink = Sink()
    assert source.retrieve(STUDY, sink=sink) == 2
    assert source.get_path == "lean"
    assert sink.items == [part10_prefix(CT, f"1.2.3.{n}", EXPLICIT) + DATASET for n in (1, 2)]
    for number, answer in enumerate(answers, start=1):
        assert answer.field == 0x8001 and answer.us(0x0900) == 0x0000
        assert answer.us(0x0120) == number and answer.uid(0x1000) == f"1.2.3.{number}"


def test_oversize_and_unreadable_instances_are_answered_not_filed(scripted: Any) -> None:
    answers: list[Any] = []

    def script(node: Node) -> None:
        node.accept()
        request = node.command()
        answers.append(node.store(1, "1.2.3.1", DATASET * 8))  # over the limit below
        answers.append(node.store(2, "9" * 65, DATASET))  # a UID over 64 characters
        answers.append(node.store(3, "1.2.3.3", DATASET))
        # one byte per PDV: the fragments' upkeep counts against the limit too
        answers.append(node.store(4, "1.2.3.4", DATASET, pieces=len(DATASET)))
        node.get_rsp(request, 0xB000, completed=1, failed=3)
        node.release()

    source = scripted(script)
    source.limits = replace(source.limits, max_instance_bytes=4 * len(DATASET))
    sink = Sink()
    assert source.retrieve(STUDY, sink=sink) == 1
    assert [a.us(0x0900) for a in answers] == [0xA700, 0xC000, 0x0000, 0xA700]
    assert len(sink.items) == 1


@pytest.mark.parametrize(
    ("status", "words"),
    [(0xA701, "out of resources"), (0xC000, "0xC000"), (0xA900, "0xA900")],
)
def test_failure_statuses(scripted: Any, status: int, words: str) -> None:
    def script(node: Node) -> None:
        node.accept()
        node.get_rsp(node.command(), status)
        node.release()

    with pytest.raises(PacsError) as caught:
        scripted(script).retrieve(STUDY, sink=Sink())
    assert caught.value.reason == PacsReason.SERVER and words in caught.value.message


@pytest.mark.parametrize(
    ("misdeed", "reason"),
    [
        ("huge_pdu", PacsReason.PROTOCOL),
        ("huge_pdv", PacsReason.PROTOCOL),
        ("pending_without_status", PacsReason.PROTOCOL),
        ("answer_to_another", PacsReason.PROTOCOL),
        ("data_without_command", PacsReason.PROTOCOL),
        ("close_mid_dataset", PacsReason.INTERRUPTED),
        ("abort", PacsReason.INTERRUPTED),
        ("silence", PacsReason.TIMEOUT),
    ],
)
def test_misbehaving_nodes(scripted: Any, misdeed: str, reason: PacsReason) -> None:
    def script(node: Node) -> None:
        node.accept()
        request = node.command()
        if misdeed == "huge_pdu":
            node.sock.sendall(struct.pack(">BBI", 4, 0, cget.MAX_PDU + 1))
        elif misdeed == "huge_pdv":
            node.sock.sendall(struct.pack(">BBIIBB", 4, 0, 6, 0x7FFFFFFF, 3, 0))
        elif misdeed == "pending_without_status":
            elements = [(0x0100, us(0x8010)), (0x0120, us(request.us(0x0110)))]
            node.send((1, 3, encode_command([*elements, (0x0800, us(0x0101))])))
        elif misdeed == "answer_to_another":
            node.send((1, 3, encode_command([(0x0100, us(0x8010)), (0x0120, us(0))])))
        elif misdeed == "data_without_command":
            node.send((3, 2, DATASET))
        elif misdeed == "close_mid_dataset":
            command = encode_command(
                [(0x0002, ui(CT)), (0x0100, us(1)), (0x0110, us(7)), (0x0800, us(0))]
            )
            node.send((3, 3, command), (3, 0, DATASET))
            return
        elif misdeed == "abort":
            node.sock.sendall(cget.ABORT_PDU)
            return
        elif misdeed == "silence":
            node.pdu()  # until we give up
            return
        node.pdu()  # our A-ABORT, or the end

    source = scripted(script, timeout=1.0)
    with pytest.raises(PacsError) as caught:
        source.retrieve(STUDY, sink=Sink())
    assert caught.value.reason == reason, caught.value


@pytest.mark.parametrize(
    ("fields", "reason"),
    [((1, 1, 7), PacsReason.AE_TITLE), ((1, 1, 3), PacsReason.AE_TITLE), ((2, 1, 1), "refused")],
)
def test_rejections_keep_their_reasons(scripted: Any, fields: tuple[int, ...], reason: str) -> None:
    def script(node: Node) -> None:
        node.pdu()
        node.sock.sendall(struct.pack(">BBIBBBB", 3, 0, 4, 0, *fields))

    with pytest.raises(PacsError) as caught:
        scripted(script).retrieve(STUDY, sink=Sink())
    assert caught.value.reason == reason


def test_not_a_dicom_node(scripted: Any) -> None:
    def script(node: Node) -> None:
        node.sock.recv(1 << 16)
        node.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with pytest.raises(PacsError) as caught:
        scripted(script).retrieve(STUDY, sink=Sink())
    assert caught.value.reason == PacsReason.PROTOCOL


def test_cancel_sends_c_cancel_and_keeps_what_came(scripted: Any) -> None:
    seen: list[Any] = []

    def script(node: Node) -> None:
        node.accept()
        request = node.command()
        node.store(1, "1.2.3.1", DATASET)
        cancel = node.command()  # sent with our response to the first instance
        seen.append(cancel)
        node.store(2, "1.2.3.2", DATASET)  # already under way: still taken
        node.get_rsp(request, 0xFE00, completed=2, remaining=8)
        node.release()

    sink = Sink()
    source = scripted(script)
    assert source.retrieve(STUDY, sink=sink, cancel=lambda: len(sink.items) >= 1) == 2
    (cancel,) = seen
    assert cancel.field == 0x0FFF and cancel.us(0x0120) is not None


def test_unsupported_acceptance_falls_back_to_pynetdicom(
    scripted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def script(node: Node) -> None:
        assert (pdu := node.pdu()) is not None and pdu[0] == 1
        node.sock.sendall(associate_ac({1: (4, IMPLICIT), 3: (0, EXPLICIT)}))  # no C-GET
        node.release()

    calls: list[int] = []
    monkeypatch.setattr(DimseSource, "_get_pynetdicom", lambda self, *args: calls.append(1) or 5)
    source = scripted(script)
    assert source.retrieve(STUDY, sink=Sink()) == 5
    assert source.get_path == "pynetdicom" and calls == [1]


def test_the_gate() -> None:
    source = DimseSource(parse_node_spec(f"dimse:ORTHANC@{HOST}:104"), ae_title="US")
    assert source.uses_lean_get()
    source.lean_get = False
    assert not source.uses_lean_get()
    tls = parse_node_spec(f"dimse:ORTHANC@{HOST}:104")
    tls = replace(tls, tls=replace(tls.tls, enabled=True))
    assert not DimseSource(tls, ae_title="US").uses_lean_get()


def test_silent_node_while_associating(scripted: Any) -> None:
    def script(node: Node) -> None:
        node.pdu()  # our A-ASSOCIATE-RQ, never answered
        node.pdu()  # until we give up

    with pytest.raises(PacsError) as caught:
        scripted(script, timeout=1.0).retrieve(STUDY, sink=Sink())
    assert caught.value.reason == PacsReason.TIMEOUT


def test_nothing_listening_is_unreachable() -> None:
    with socket.create_server((HOST, 0)) as placeholder:
        port = placeholder.getsockname()[1]
    source = DimseSource(parse_node_spec(f"dimse:NOBODY@{HOST}:{port}"), ae_title="US")
    with pytest.raises(PacsError) as caught:
        source.retrieve(STUDY, sink=Sink())
    assert caught.value.reason == PacsReason.UNREACHABLE
    assert str(caught.value).startswith(f"dimse:NOBODY@{HOST}:{port}: unreachable: ")
