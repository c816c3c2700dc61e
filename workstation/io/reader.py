"""Reading the header of one DICOM object, whatever its encoding.

The fast walker handles Part 10 files in the little/big endian syntaxes; deflated datasets are
inflated with a bound first; files without a meta header, or encoded otherwise than they claim,
go to pydicom — reading from memory, so that no declared length can make it allocate more than
the file holds. Every failure becomes a :class:`DicomFileError` with its code.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from typing import Any, NoReturn

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io import syntax
from workstation.io.header import (
    ATTRIBUTES,
    MODALITY_LUT_SEQUENCE,
    PER_FRAME_FUNCTIONAL_GROUPS,
    SHARED_FUNCTIONAL_GROUPS,
    InstanceHeader,
    PixelElement,
    header_from_values,
    present,
)
from workstation.io.layouts import LayoutMemo, WalkResult
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.sources import MemoryReader, Reader, Source
from workstation.io.values import RawDecoder, ValueCache, from_pydicom
from workstation.io.walker import DeflatedDataset, WalkUnsupported, walk_stream

_DECODERS = {True: RawDecoder(little_endian=True), False: RawDecoder(little_endian=False)}
_MEDIA_DIRECTORY_CLASS = "1.2.840.10008.1.3.10"


class NotAnImage(Exception):  # noqa: N818 - not a failure: the object simply has no pixels
    """A valid DICOM object without pixel data (SR, DICOMDIR, presentation state...)."""


def read_header(
    source: Source, limits: Limits = DEFAULT_LIMITS, memo: HeaderMemo | None = None
) -> InstanceHeader:
    """The :class:`InstanceHeader` of ``source``.

    ``memo`` carries what the previous objects of the same indexing run taught (their layouts
    and decoded values): pass one to every call of a run, from one thread.

    Raises
    ------
    DicomFileError
        ``not_dicom``, ``truncated``, ``corrupt``, ``too_large`` or
        ``unsupported_transfer_syntax``.
    NotAnImage
        For valid objects that hold no image.
    """
    try:
        with source.reader() as reader:
            try:
                result = walk_stream(
                    reader,
                    ATTRIBUTES,
                    max_depth=limits.max_sequence_depth,
                    memo=None if memo is None else memo.layouts,
                )
            except WalkUnsupported as reason:
                if reader.size > limits.max_inflated_bytes:
                    raise DicomFileError(
                        ErrorCode.TOO_LARGE, "file is larger than the engine accepts"
                    ) from reason
                data = reader.read_all()
                if isinstance(reason, DeflatedDataset):
                    return _read_deflated(source, data, limits)
                return read_header_with_pydicom(source, data, limits)
            ts = syntax.lookup(result.transfer_syntax)
            assert ts is not None  # the walker refuses unknown syntaxes
            header = _header_from_walk(
                source,
                result,
                little_endian=ts.little_endian,
                memo=memo,
            )
            header.fast = True
            _finish(header, limits)
            if header.is_enhanced:
                _add_enhanced_frames(header, reader, result.pixel)
            return header
    except (DicomFileError, NotAnImage):
        raise
    except OSError as exc:
        raise DicomFileError(ErrorCode.CORRUPT, f"cannot read: {exc.strerror or exc}") from exc
    except (struct.error, ValueError, IndexError, UnicodeDecodeError, LookupError) as exc:
        raise DicomFileError(ErrorCode.CORRUPT, f"malformed header: {exc}") from exc


class HeaderMemo:
    """What one indexing run remembers between objects: element layouts and decoded values."""

    __slots__ = ("decoded", "layouts", "values")

    def __init__(self) -> None:
        self.layouts = LayoutMemo()
        #: by byte order: the same bytes mean other numbers in the other order
        self.values: dict[bool, ValueCache] = {True: {}, False: {}}
        #: the values decoded from a replayed object's raw mapping, by the mapping's id (with
        #: the mapping itself, so that a recycled id is never mistaken for it)
        self.decoded: dict[int, tuple[dict[int, tuple[bytes, bytes]], dict[str, Any]]] = {}

    def decode(self, result: WalkResult, little_endian: bool) -> dict[str, Any]:
        """The present values of a walked or replayed object."""
        decoder, cache = _DECODERS[little_endian], self.values[little_endian]
        known = None if result.based_on is None else self.decoded.pop(id(result.based_on), None)
        if known is not None and known[0] is result.based_on:
            values = decoder.decode_changed(known[1], result.raw, result.changed, cache)
        else:
            values = present(decoder.decode(result.raw, cache))
        if len(self.decoded) >= _DECODED_KEPT:  # layouts no longer replayed left theirs
            self.decoded.clear()
        self.decoded[id(result.raw)] = (result.raw, values)
        return values


#: Decoded values kept for the next object of each layout (one or a few per series).
_DECODED_KEPT = 256


def _header_from_walk(
    source: Source,
    result: WalkResult,
    *,
    little_endian: bool,
    memo: HeaderMemo | None = None,
) -> InstanceHeader:
    if memo is None:
        header = header_from_values(
            source, result.transfer_syntax, _DECODERS[little_endian].decode(result.raw)
        )
    else:
        values = memo.decode(result, little_endian)
        header = InstanceHeader(source=source, transfer_syntax=result.transfer_syntax, **values)
    header.pixel = result.pixel
    header.has_modality_lut = MODALITY_LUT_SEQUENCE in result.present
    header.is_enhanced = bool(
        {SHARED_FUNCTIONAL_GROUPS, PER_FRAME_FUNCTIONAL_GROUPS} & result.present
    )
    if not header.sop_class_uid:
        header.sop_class_uid = result.media_sop_class_uid
    return header


def _read_deflated(source: Source, data: bytes, limits: Limits) -> InstanceHeader:
    header = _walk_inflated(source, inflate_dataset(data, limits), limits)
    _finish(header, limits)
    return header


def read_header_with_pydicom(
    source: Source, data: bytes, limits: Limits = DEFAULT_LIMITS
) -> InstanceHeader:
    """The header of ``data`` (the whole object) as pydicom reads it.

    The fallback for files the walker does not handle, and the reference the walker is
    checked against.
    """
    force = False
    if data[128:132] != b"DICM":
        if not _looks_like_bare_dataset(data):
            raise DicomFileError(ErrorCode.NOT_DICOM, "not a DICOM file")
        force = True
    dataset = parse_with_pydicom(data, force=force)
    try:
        return _header_from_dataset(source, dataset, limits)
    except (DicomFileError, NotAnImage):
        raise
    except Exception as exc:
        # pydicom converts values lazily: a damaged one raises here, of any type.
        raise DicomFileError(ErrorCode.CORRUPT, f"malformed dataset: {exc}") from exc


def _header_from_dataset(source: Source, dataset: Any, limits: Limits) -> InstanceHeader:
    transfer_syntax = str(getattr(dataset.file_meta, "TransferSyntaxUID", "") or "")
    if not transfer_syntax:
        transfer_syntax = _guess_syntax(dataset)
    if syntax.lookup(transfer_syntax) is None:
        raise DicomFileError(
            ErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"transfer syntax {transfer_syntax} is not supported",
        )
    header = header_from_values(source, transfer_syntax, from_pydicom(dataset))
    if not header.sop_class_uid:
        header.sop_class_uid = str(getattr(dataset.file_meta, "MediaStorageSOPClassUID", ""))
    header.has_modality_lut = "ModalityLUTSequence" in dataset
    header.is_enhanced = "PerFrameFunctionalGroupsSequence" in dataset
    pixel_tag = next((t for t in (0x7FE00010, 0x7FE00008, 0x7FE00009) if t in dataset), None)
    if pixel_tag is not None:
        value = dataset[pixel_tag].value
        encapsulated = bool(getattr(dataset[pixel_tag], "is_undefined_length", False))
        header.pixel = PixelElement(
            tag=pixel_tag, offset=-1, length=None if encapsulated else len(value or b"")
        )
    _finish(header, limits)
    if header.is_enhanced:
        from workstation.io.enhanced import frames_from_dataset

        header.frames = frames_from_dataset(dataset, header.number_of_frames)
    return header


def _looks_like_bare_dataset(data: bytes) -> bool:
    """A dataset without preamble starts with a low group (0002 or 0008) element."""
    if len(data) < 12:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack_from(order + "HH", data, 0)
        if group in (0x0002, 0x0008) and element <= 0x0100:
            vr = data[4:6]
            if vr.isalpha() and vr.isupper():
                return True
            (length,) = struct.unpack_from(order + "L", data, 4)
            if length < len(data):
                return True
    return False


def _guess_syntax(dataset: Any) -> str:
    if getattr(dataset, "is_little_endian", True) is False:
        return syntax.EXPLICIT_VR_BIG_ENDIAN
    if getattr(dataset, "is_implicit_VR", True):
        return syntax.IMPLICIT_VR_LITTLE_ENDIAN
    return syntax.EXPLICIT_VR_LITTLE_ENDIAN


def parse_with_pydicom(data: bytes, *, force: bool, stop_before_pixels: bool = False) -> Any:
    """A pydicom ``Dataset`` read from memory, any failure mapped to an error code."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            # pydicom warns about what it repairs while reading; the engine reports by code.
            warnings.simplefilter("ignore")
            return pydicom.dcmread(
                io.BytesIO(data), force=force, stop_before_pixels=stop_before_pixels
            )
    except InvalidDicomError as exc:
        raise DicomFileError(ErrorCode.NOT_DICOM, f"not a DICOM file: {exc}") from exc
    except (EOFError, struct.error) as exc:
        raise DicomFileError(ErrorCode.TRUNCATED, f"file ends early: {exc}") from exc
    except MemoryError as exc:
        raise DicomFileError(ErrorCode.TOO_LARGE, "a declared length is too large") from exc
    except Exception as exc:
        raise DicomFileError(ErrorCode.CORRUPT, f"malformed dataset: {exc}") from exc


def inflate_dataset(data: bytes, limits: Limits) -> bytes:
    """A deflated Part 10 file with its dataset inflated (bounded; the meta group untouched)."""
    start = _meta_end(data)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        body = inflater.decompress(data[start:], limits.max_inflated_bytes)
    except zlib.error as exc:
        raise DicomFileError(ErrorCode.CORRUPT, f"deflated dataset is corrupt: {exc}") from exc
    if inflater.unconsumed_tail:
        raise DicomFileError(
            ErrorCode.TOO_LARGE, "deflated dataset inflates past the limit (deflate bomb?)"
        )
    return data[:start] + body


def parse_inflated(inflated: bytes) -> Any:
    """pydicom ``Dataset`` of an inflated deflate file (its dataset is Explicit VR LE)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.filereader import read_dataset
    from pydicom.uid import UID

    try:
        dataset = read_dataset(
            io.BytesIO(inflated[_meta_end(inflated) :]),
            is_implicit_VR=False,
            is_little_endian=True,
        )
    except (EOFError, struct.error) as exc:
        raise DicomFileError(ErrorCode.TRUNCATED, f"inflated dataset ends early: {exc}") from exc
    except Exception as exc:
        raise DicomFileError(ErrorCode.CORRUPT, f"malformed inflated dataset: {exc}") from exc
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = UID(syntax.EXPLICIT_VR_LITTLE_ENDIAN)
    return dataset


def _meta_end(data: bytes) -> int:
    """Offset of the first byte after the file meta group."""
    pos = 132
    while pos + 8 <= len(data):
        group, _element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            return pos
        vr = data[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
            (length,) = struct.unpack_from("<L", data, pos + 8)
            pos += 12 + length
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            pos += 8 + length
    raise DicomFileError(ErrorCode.TRUNCATED, "file meta group runs to the end of the file")


def _walk_inflated(source: Source, inflated: bytes, limits: Limits) -> InstanceHeader:
    reader = MemoryReader(inflated)
    try:
        result = walk_stream(
            reader, ATTRIBUTES, max_depth=limits.max_sequence_depth, syntax_override=(True, True)
        )
    except WalkUnsupported as reason:
        raise DicomFileError(ErrorCode.CORRUPT, f"inflated dataset: {reason}") from reason
    header = _header_from_walk(source, result, little_endian=True)
    if header.is_enhanced:
        _add_enhanced_frames(header, reader, result.pixel)
    return header


def _add_enhanced_frames(
    header: InstanceHeader, reader: Reader, pixel: PixelElement | None
) -> None:
    """Parse the functional groups of an enhanced multi-frame object (pydicom, header only)."""
    from workstation.io.enhanced import frames_from_dataset

    data = reader.pread(0, reader.size if pixel is None else pixel.offset)
    dataset = parse_with_pydicom(data, force=False, stop_before_pixels=True)
    try:
        header.frames = frames_from_dataset(dataset, header.number_of_frames)
    except Exception as exc:
        # pydicom converts values lazily: a damaged functional group raises here, of any type.
        raise DicomFileError(ErrorCode.CORRUPT, f"malformed functional groups: {exc}") from exc


#: Storage SOP classes under the image root that hold no pixels (PS3.4 Annex B).
_STORAGE_ROOT = "1.2.840.10008.5.1.4.1.1."
_NON_IMAGE_STORAGE = tuple(
    _STORAGE_ROOT + branch
    for branch in ("9.", "11.", "66", "67", "68.", "88.", "90.", "91.", "104.", "481.")
)


def _no_pixels(header: InstanceHeader) -> NoReturn:
    """Tell a non-image object (skipped quietly) from an image that lost its pixels (an error)."""
    sop_class = header.sop_class_uid
    if header.rows or header.columns or header.bits_allocated:
        # Image attributes without pixels: an image file cut short, not an SR or a KO.
        raise DicomFileError(ErrorCode.TRUNCATED, "image header without pixel data")
    if not sop_class:
        raise DicomFileError(ErrorCode.CORRUPT, "no SOP Class UID and no pixel data")
    if sop_class.startswith(_STORAGE_ROOT) and not sop_class.startswith(_NON_IMAGE_STORAGE):
        raise DicomFileError(ErrorCode.TRUNCATED, "image object without pixel data")
    raise NotAnImage("no pixel data")


def _finish(header: InstanceHeader, limits: Limits) -> None:
    """Refuse objects without an image or with dimensions past the limits."""
    if header.sop_class_uid == _MEDIA_DIRECTORY_CLASS:
        raise NotAnImage("media storage directory (DICOMDIR)")
    if header.pixel is None:
        _no_pixels(header)
    if header.rows <= 0 or header.columns <= 0:
        raise DicomFileError(ErrorCode.CORRUPT, "pixel data without Rows and Columns")
    if header.bits_allocated not in (1, 8, 16, 32, 64) or not 1 <= header.bits_stored <= 64:
        raise DicomFileError(
            ErrorCode.CORRUPT,
            f"unusable bit depth (allocated {header.bits_allocated}, stored {header.bits_stored})",
        )
    if header.bits_stored > header.bits_allocated:
        raise DicomFileError(ErrorCode.CORRUPT, "Bits Stored exceeds Bits Allocated")
    if header.samples_per_pixel not in (1, 3):
        raise DicomFileError(ErrorCode.CORRUPT, f"{header.samples_per_pixel} samples per pixel")
    header.number_of_frames = max(header.number_of_frames, 1)
    if header.rows * header.columns > limits.max_frame_pixels:
        raise DicomFileError(
            ErrorCode.TOO_LARGE, f"frame of {header.rows} × {header.columns} is over the limit"
        )
    if header.number_of_frames > limits.max_frames:
        raise DicomFileError(ErrorCode.TOO_LARGE, f"{header.number_of_frames} frames")
    decoded = header.frame_bytes * header.number_of_frames
    if decoded > limits.max_object_bytes:
        raise DicomFileError(ErrorCode.TOO_LARGE, f"pixels would take {decoded} bytes")
    ts = syntax.lookup(header.transfer_syntax)
    pixel = header.pixel
    if ts is not None and ts.native and pixel.length is not None and pixel.length < decoded:
        raise DicomFileError(
            ErrorCode.TRUNCATED,
            f"pixel data holds {pixel.length} bytes, {decoded} are needed",
        )
    if ts is not None and ts.encapsulated and pixel.length is not None:
        raise DicomFileError(ErrorCode.CORRUPT, "compressed pixel data with a defined length")
