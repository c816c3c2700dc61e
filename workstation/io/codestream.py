"""Dimensions declared inside compressed frames, read before any decoder runs.

A decoder allocates what the codestream declares, not what the DICOM header says: a few hundred
bytes of JPEG can claim 65535 × 65535 pixels. Reading the frame header first lets the engine
refuse a frame whose codestream disagrees with Rows and Columns before memory is reserved.
"""

from __future__ import annotations

import struct

from workstation.core.errors import DicomFileError, ErrorCode

#: JPEG start-of-frame markers (ITU T.81 B.1.1.3) and JPEG-LS SOF55 (T.87).
_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
)
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _SOF_MARKERS:
            if pos + 9 > len(data):
                return None
            rows, columns = struct.unpack_from(">HH", data, pos + 5)
            return rows, columns
        pos += 2 + length
    return None


def _j2k_dimensions(data: bytes) -> tuple[int, int] | None:
    start = 0
    if data.startswith(_JP2_SIGNATURE):
        start = data.find(b"jp2c")
        if start < 0:
            return None
        start += 4
    if data[start : start + 4] != b"\xff\x4f\xff\x51" or len(data) < start + 24:
        return None
    # SIZ: Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz(4) YOsiz(4)
    x_size, y_size, x_offset, y_offset = struct.unpack_from(">4L", data, start + 8)
    return y_size - y_offset, x_size - x_offset


def check_frame(codec: str, data: bytes, rows: int, columns: int) -> None:
    """Refuse a compressed frame that declares other dimensions than the header.

    Frames whose header cannot be read here are left to the decoder, which bounds its own
    output for RLE (the segment sizes come from Rows × Columns).
    """
    if codec in ("jpeg", "jpeg-ls"):
        found = _jpeg_dimensions(data)
    elif codec == "j2k":
        found = _j2k_dimensions(data)
    else:
        return
    if found is None:
        return
    if found[0] > rows or found[1] > columns:
        raise DicomFileError(
            ErrorCode.CORRUPT,
            f"compressed frame declares {found[0]} × {found[1]} pixels, "
            f"the header {rows} × {columns}",
        )
