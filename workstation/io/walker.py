"""A bounded walk over the data elements of a DICOM stream (PS3.5 §7).

It reads the file meta group, then every top-level element of the dataset up to the pixel data,
keeping the raw bytes of the attributes the engine needs and skipping the rest — sequences of
undefined length included — without decoding them. Every declared length is checked against the
bytes that are really there, nesting is bounded, and nothing is allocated from a declared size.

The walk is the hot path of indexing: it reads a few kilobytes per file and touches no pixel.
Anything it does not handle (no meta header, VRs that are not what the transfer syntax says) is
reported as :class:`WalkUnsupported` so that pydicom reads the object instead.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io.header import PIXEL_DATA, PRESENCE_FLAGS, PixelElement
from workstation.io.layouts import LayoutMemo, WalkResult
from workstation.io.sources import Reader

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
_PIXEL_TAGS = frozenset({PIXEL_DATA, 0x7FE00008, 0x7FE00009})
_ITEM_TAGS = frozenset({ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER})

#: VRs whose explicit encoding has a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
#: Every VR of PS3.5 Table 6.2-1, for telling an explicit VR from misread bytes.
_VALID_VRS = _LONG_VRS | frozenset(
    {
        b"AE",
        b"AS",
        b"AT",
        b"CS",
        b"DA",
        b"DS",
        b"DT",
        b"FD",
        b"FL",
        b"IS",
        b"LO",
        b"LT",
        b"PN",
        b"SH",
        b"SL",
        b"SS",
        b"ST",
        b"TM",
        b"UI",
        b"UL",
        b"US",
    }
)
_CHUNK = 16384
_PREAMBLE = 128


class WalkUnsupported(Exception):  # noqa: N818 - a signal to fall back, not an error for users
    """The stream is valid enough for pydicom to try, but not for the fast walk."""


class DeflatedDataset(WalkUnsupported):
    """The dataset is deflated: inflate it (bounded) and walk the result."""


class _Window:
    """A sliding view of the object: ``data`` holds the bytes from ``base`` onwards."""

    __slots__ = ("base", "data", "reader", "size")

    def __init__(self, reader: Reader, first: bytes | None = None) -> None:
        self.reader = reader
        self.size = reader.size
        self.base = 0
        self.data = first if first is not None else reader.pread(0, _CHUNK)

    def fetch(self, pos: int, n: int) -> None:
        """Make ``data`` cover ``[pos, pos + n)``; raise ``truncated`` if the stream ends first."""
        if pos + n > self.size:
            raise DicomFileError(
                ErrorCode.TRUNCATED,
                f"element at byte {pos} needs {n} bytes but the file ends at {self.size}",
            )
        self.data = self.reader.pread(pos, max(n, _CHUNK))
        self.base = pos
        if len(self.data) < n:
            raise DicomFileError(ErrorCode.TRUNCATED, f"file ends inside the element at {pos}")


def _meta(window: _Window, trace: list[int] | None) -> tuple[int, str, str]:
    """Parse the file meta group; returns the dataset offset, transfer syntax, SOP class.

    ``trace`` receives (position, length) of every byte range the result depends on.
    """
    data = window.data
    if len(data) < _PREAMBLE + 4 or data[_PREAMBLE : _PREAMBLE + 4] != b"DICM":
        raise WalkUnsupported("no DICM prefix")
    if trace is not None:
        trace += (_PREAMBLE, 4)
    pos = _PREAMBLE + 4
    transfer_syntax = ""
    sop_class = ""
    unpack_tag = struct.Struct("<HH2s").unpack_from
    unpack_h = struct.Struct("<H").unpack_from
    unpack_l = struct.Struct("<L").unpack_from
    while True:
        if pos + 8 > window.base + len(window.data):
            window.fetch(pos, 8)
        data, off = window.data, pos - window.base
        group, element, vr = unpack_tag(data, off)
        if group != 0x0002:
            if trace is not None:
                trace += (pos, 2)
            break
        if vr in _LONG_VRS:
            if off + 12 > len(data):
                window.fetch(pos, 12)
                data, off = window.data, 0
            length = unpack_l(data, off + 8)[0]
            header = 12
        else:
            length = unpack_h(data, off + 6)[0]
            header = 8
        if trace is not None:
            trace += (pos, header)
        if length == UNDEFINED:
            raise WalkUnsupported("undefined length in the file meta group")
        value_pos = pos + header
        if value_pos + length > window.size:
            raise DicomFileError(ErrorCode.TRUNCATED, "file meta element runs past the end")
        if element in (0x0002, 0x0010):
            if value_pos + length > window.base + len(window.data):
                window.fetch(value_pos, length)
            start = value_pos - window.base
            text = window.data[start : start + length].decode("latin-1").strip("\0 ")
            if trace is not None:
                trace += (value_pos, length)
            if element == 0x0010:
                transfer_syntax = text
            else:
                sop_class = text
        pos = value_pos + length
    if not transfer_syntax:
        raise WalkUnsupported("file meta has no transfer syntax")
    return pos, transfer_syntax, sop_class


_KEY_CACHE: dict[tuple[bool, int], tuple[Mapping[int, object], dict[int, int], dict[int, int]]] = {}


class _Walker:
    """Walks one dataset encoding (explicit/implicit VR, little/big endian)."""

    def __init__(
        self,
        window: _Window,
        explicit: bool,
        little: bool,
        max_depth: int,
        trace: list[int] | None = None,
    ) -> None:
        order = "<" if little else ">"
        self.window = window
        #: (position, length) pairs of every element header read, when recording a layout
        self.trace = trace
        #: (tag, VR, value position, value length) of each kept value, when recording
        self.kept: list[tuple[int, bytes, int, int]] | None = None if trace is None else []
        self.explicit = explicit
        self.max_depth = max_depth
        self.unpack_tag = struct.Struct(order + "HH").unpack_from
        self.unpack_key_explicit = struct.Struct(order + "L2sH").unpack_from
        self.unpack_key_implicit = struct.Struct(order + "LL").unpack_from
        self.unpack_h = struct.Struct(order + "H").unpack_from
        self.unpack_l = struct.Struct(order + "L").unpack_from
        self.little = little

    def key_of(self, tag: int) -> int:
        """The tag as one 32-bit number read in the file's byte order (group, element swapped
        in little endian files): comparing keys spares a shift and an or per element."""
        return ((tag & 0xFFFF) << 16) | (tag >> 16) if self.little else tag

    def tag_of(self, key: int) -> int:
        return self.key_of(key)  # swapping the halves is its own inverse

    def _keys(self, wanted: Mapping[int, object]) -> tuple[dict[int, int], dict[int, int]]:
        """Keys of the wanted and the special tags for this byte order, built once per process."""
        cached = _KEY_CACHE.get((self.little, id(wanted)))
        if cached is None or cached[0] is not wanted:
            key_of = self.key_of
            wanted_keys = {key_of(tag): tag for tag in wanted}
            special = {key_of(tag): tag for tag in (*_PIXEL_TAGS, *PRESENCE_FLAGS, *_ITEM_TAGS)}
            cached = (wanted, wanted_keys, special)
            _KEY_CACHE[(self.little, id(wanted))] = cached
        return cached[1], cached[2]

    def _element(self, pos: int, explicit: bool) -> tuple[int, bytes, int, int]:
        """Tag, VR, value length and header length of the element at ``pos``."""
        window = self.window
        if pos + 12 > window.base + len(window.data) or pos < window.base:
            window.fetch(pos, min(12, window.size - pos) if pos + 8 <= window.size else 8)
        data = window.data
        off = pos - window.base
        group, element = self.unpack_tag(data, off)
        tag = (group << 16) | element
        trace = self.trace
        if group == 0xFFFE or not explicit:
            if trace is not None:
                trace += (pos, 8)
            return tag, b"", self.unpack_l(data, off + 4)[0], 8
        vr = data[off + 4 : off + 6]
        if vr in _LONG_VRS:
            if off + 12 > len(data):
                raise DicomFileError(ErrorCode.TRUNCATED, "file ends inside an element header")
            if trace is not None:
                trace += (pos, 12)
            return tag, vr, self.unpack_l(data, off + 8)[0], 12
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            # Not a VR: the dataset is not encoded as its transfer syntax says (pydicom copes).
            raise WalkUnsupported(f"invalid VR {vr!r} at byte {pos}")
        if trace is not None:
            trace += (pos, 8)
        return tag, vr, self.unpack_h(data, off + 6)[0], 8

    def skip_sequence(self, pos: int, explicit: bool, depth: int) -> int:
        """Skip the items of an undefined-length sequence starting at ``pos``; return its end."""
        if depth > self.max_depth:
            raise DicomFileError(ErrorCode.CORRUPT, "sequences nested too deeply")
        size = self.window.size
        while True:
            tag, _, length, header = self._element(pos, explicit=False)
            pos += header
            if tag == SEQUENCE_DELIMITER:
                return pos
            if tag != ITEM:
                raise DicomFileError(ErrorCode.CORRUPT, f"expected a sequence item at {pos}")
            if length == UNDEFINED:
                pos = self.skip_item(pos, explicit, depth + 1)
            elif pos + length > size:
                raise DicomFileError(ErrorCode.TRUNCATED, "sequence item runs past the end")
            else:
                pos += length

    def skip_item(self, pos: int, explicit: bool, depth: int) -> int:
        """Skip the elements of an undefined-length item; return the end of its delimiter."""
        size = self.window.size
        while True:
            tag, vr, length, header = self._element(pos, explicit)
            pos += header
            if tag == ITEM_DELIMITER:
                return pos
            if length == UNDEFINED:
                # An undefined-length UN holds implicit VR little endian content (PS3.5 §6.2.2).
                pos = self.skip_sequence(pos, explicit and vr != b"UN", depth + 1)
            elif pos + length > size:
                raise DicomFileError(ErrorCode.TRUNCATED, "element runs past the end of the file")
            else:
                pos += length

    def walk(
        self, pos: int, wanted: Mapping[int, object]
    ) -> tuple[dict[int, tuple[bytes, bytes]], set[int], PixelElement | None]:
        """Collect the raw values of ``wanted`` top-level tags up to the pixel data.

        This loop runs once per element of every indexed file, so it does as little as it can:
        each element header is decoded by one ``unpack_from`` whose first field is the tag as
        the file stores it (``key``), compared against keys precomputed for this byte order.
        """
        window = self.window
        size = window.size
        raw: dict[int, tuple[bytes, bytes]] = {}
        present: set[int] = set()
        explicit = self.explicit
        unpack_head = self.unpack_key_explicit if explicit else self.unpack_key_implicit
        unpack_l = self.unpack_l
        long_vrs = _LONG_VRS
        valid_vrs = _VALID_VRS
        wanted_keys, special = self._keys(wanted)
        trace, kept = self.trace, self.kept
        data = window.data
        base = window.base
        data_end = base + len(data)
        while pos + 8 <= size:
            if pos + 12 > data_end or pos < base:
                window.fetch(pos, min(12, size - pos))
                data, base = window.data, window.base
                data_end = base + len(data)
            off = pos - base
            if explicit:
                key, vr, length = unpack_head(data, off)
                if vr in long_vrs:
                    if off + 12 > len(data):
                        raise DicomFileError(ErrorCode.TRUNCATED, "file ends in an element header")
                    length = unpack_l(data, off + 8)[0]
                    value_pos = pos + 12
                elif vr in valid_vrs:
                    value_pos = pos + 8
                elif special.get(key) in _ITEM_TAGS:
                    raise DicomFileError(ErrorCode.CORRUPT, f"stray item tag at byte {pos}")
                else:
                    # Not a VR: the dataset is not encoded as its transfer syntax says.
                    raise WalkUnsupported(f"invalid VR {vr!r} at byte {pos}")
            else:
                key, length = unpack_head(data, off)
                vr = b""
                value_pos = pos + 8
            if trace is not None:
                trace += (pos, value_pos - pos)
            if key in special:
                tag = special[key]
                if tag in _PIXEL_TAGS:
                    return raw, present, self._pixel(tag, value_pos, length)
                if tag in _ITEM_TAGS:
                    raise DicomFileError(ErrorCode.CORRUPT, f"stray item tag at byte {pos}")
                present.add(tag)
            if length == UNDEFINED:
                pos = self.skip_sequence(value_pos, explicit and vr != b"UN", 1)
                data, base = window.data, window.base
                data_end = base + len(data)
                continue
            end = value_pos + length
            if end > size:
                tag = self.tag_of(key)
                raise DicomFileError(
                    ErrorCode.TRUNCATED,
                    f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) declares {length} bytes "
                    f"but the file ends {size - value_pos} bytes later",
                )
            if key in wanted_keys:
                if end > data_end:
                    window.fetch(value_pos, length)
                    data, base = window.data, window.base
                    data_end = base + len(data)
                start = value_pos - base
                raw[wanted_keys[key]] = (vr, data[start : start + length])
                if kept is not None:
                    kept.append((wanted_keys[key], vr, value_pos, length))
            pos = end
        return raw, present, None

    def _pixel(self, tag: int, value_pos: int, length: int) -> PixelElement:
        size = self.window.size
        if length != UNDEFINED:
            if value_pos + length > size:
                raise DicomFileError(
                    ErrorCode.TRUNCATED,
                    f"pixel data declares {length} bytes, only {size - value_pos} are present",
                )
            return PixelElement(tag=tag, offset=value_pos, length=length)
        # Encapsulated: a Basic Offset Table item, then one item per fragment, then a delimiter.
        pos = value_pos
        fragments = -1
        while True:
            if pos + 8 > size:
                raise DicomFileError(ErrorCode.TRUNCATED, "compressed pixel data is cut short")
            item, _, item_length, _ = self._element(pos, explicit=False)
            pos += 8
            if item == SEQUENCE_DELIMITER:
                break
            if item != ITEM or item_length == UNDEFINED:
                raise DicomFileError(ErrorCode.CORRUPT, "malformed compressed pixel data item")
            if pos + item_length > size:
                raise DicomFileError(ErrorCode.TRUNCATED, "compressed pixel fragment is cut short")
            pos += item_length
            fragments += 1
        if fragments < 1:
            raise DicomFileError(ErrorCode.CORRUPT, "compressed pixel data holds no fragment")
        return PixelElement(tag=tag, offset=value_pos, length=None, n_fragments=fragments)


def walk_stream(
    reader: Reader,
    wanted: Mapping[int, object],
    *,
    max_depth: int,
    syntax_override: tuple[bool, bool] | None = None,
    memo: LayoutMemo | None = None,
) -> WalkResult:
    """Walk a Part 10 object (preamble, ``DICM``, meta group, dataset).

    ``syntax_override`` (explicit, little endian) is used for an inflated deflate dataset, whose
    meta group names the deflate syntax while the bytes that follow are plain explicit VR LE.
    With a ``memo``, an object laid out like one walked before is checked against that layout
    instead of walked, and the layout of an object that is walked is remembered.
    """
    first = None
    if memo is not None and syntax_override is None:
        memo.serve(wanted)
        extent = memo.extent(reader.size)
        if extent:
            first = reader.pread(0, extent)
            replayed = memo.replay(reader.size, first)
            if replayed is not None:
                return replayed
    else:
        memo = None
    from workstation.io import syntax  # local: keeps this module import-light for workers

    window = _Window(reader, first)
    trace: list[int] | None = None if memo is None else []
    dataset_offset, transfer_syntax, sop_class = _meta(window, trace)
    if syntax_override is not None:
        explicit, little = syntax_override
    else:
        ts = syntax.lookup(transfer_syntax)
        if ts is None:
            raise DicomFileError(
                ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
                f"transfer syntax {transfer_syntax} is not supported",
            )
        if ts.deflated:
            raise DeflatedDataset("deflated dataset")
        explicit, little = ts.explicit_vr, ts.little_endian
    walker = _Walker(window, explicit, little, max_depth, trace)
    raw, present, pixel = walker.walk(dataset_offset, wanted)
    result = WalkResult(transfer_syntax, sop_class, raw, present, pixel, dataset_offset)
    if memo is not None and trace is not None and walker.kept is not None:
        head = window.data if window.base == 0 else first or b""
        memo.remember(reader, trace, walker.kept, result, head)
    return result
