"""Decoding attribute values (PS3.5 §6.2) into the Python values of :mod:`header`.

The fast walker hands over raw bytes; pydicom hands over its own element values. Both end up as
the same plain values so that the two readers cannot disagree on meaning.
"""

from __future__ import annotations

import math
import struct
import warnings
from typing import Any

from pydicom import charset as pydicom_charset

from workstation.io.header import ATTRIBUTES, Kind

_PN_DELIMITERS = {0x5E, 0x3D}  # '^' and '=' separate name components and groups
_TEXT_DELIMITERS = {0x5C}  # '\' separates values


def _strings(text: str) -> list[str]:
    return [part.strip("\0 ") for part in text.split("\\")]


def _decimals(text: str) -> list[float] | None:
    numbers = []
    for raw_part in text.split("\\"):
        part = raw_part.strip("\0 ")
        if not part:
            continue
        try:
            number = float(part)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        numbers.append(number)
    return numbers


def _integer(text: str) -> int | None:
    text = text.split("\\", maxsplit=1)[0].strip("\0 ")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:  # some writers put "1.0" in an IS; pydicom accepts what is integral
            number = float(text)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


class RawDecoder:
    """Turns the walker's raw values into field values for one dataset encoding."""

    def __init__(self, little_endian: bool) -> None:
        order = "<" if little_endian else ">"
        self._unsigned = struct.Struct(order + "H").unpack_from
        self._signed = struct.Struct(order + "h").unpack_from
        self._order = order

    def decode(self, raw: dict[int, tuple[bytes, bytes]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        charset_raw = raw.get(0x00080005)
        encodings: list[str] | None = None
        if charset_raw is not None:
            names = [name for name in _strings(charset_raw[1].decode("latin-1")) if name]
            if any(name not in ("", "ISO_IR 6") for name in names):
                encodings = pydicom_charset.convert_encodings(names or [""])
        pixel_values: list[tuple[str, bytes, bytes]] = []
        for tag, (vr, data) in raw.items():
            name, kind = ATTRIBUTES[tag]
            if kind is Kind.PIXEL_VALUE:
                pixel_values.append((name, vr, data))
                continue
            values[name] = self._value(kind, data, encodings)
        if pixel_values:
            signed_default = values.get("pixel_representation") == 1
            for name, vr, data in pixel_values:
                if len(data) >= 2:
                    signed = vr == b"SS" or (vr not in (b"US", b"SS") and signed_default)
                    values[name] = (self._signed if signed else self._unsigned)(data)[0]
        return values

    def _value(self, kind: Kind, data: bytes, encodings: list[str] | None) -> Any:
        if kind is Kind.UNSIGNED:
            return self._unsigned(data)[0] if len(data) >= 2 else None
        if kind is Kind.TAGS:
            count = len(data) // 4
            pairs = struct.unpack(f"{self._order}{2 * count}H", data[: 4 * count])
            return [(pairs[2 * i] << 16) | pairs[2 * i + 1] for i in range(count)]
        if kind is Kind.NAME:
            if encodings is None or data.isascii():
                return data.decode("latin-1").rstrip("\0 ")
            delimiters = _PN_DELIMITERS | _TEXT_DELIMITERS
            return pydicom_charset.decode_bytes(data, encodings, delimiters).rstrip("\0 ")
        text = data.decode("latin-1")
        if kind is Kind.TEXT:
            return text.strip("\0 ")
        if kind is Kind.STRINGS:
            return _strings(text)
        if kind is Kind.DECIMALS:
            return _decimals(text)
        return _integer(text)  # Kind.INTEGER


def from_pydicom(dataset: Any) -> dict[str, Any]:
    """Field values from a pydicom ``Dataset`` (top-level attributes of :data:`ATTRIBUTES`)."""
    values: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about each invalid value it converts
        for tag, (name, kind) in ATTRIBUTES.items():
            try:
                element = dataset.get(tag)
                value = None if element is None else element.value
            except Exception:  # noqa: BLE001 - pydicom converts lazily; a bad value is absent
                continue
            if value is None or value == "":
                continue
            values[name] = _convert(kind, value)
    return values


def _as_list(value: Any) -> list[Any]:
    """The items of a multi-valued element; a single value (str, PersonName...) as one item."""
    from pydicom.multival import MultiValue

    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def _convert(kind: Kind, value: Any) -> Any:
    if kind in (Kind.TEXT, Kind.NAME):
        if isinstance(value, bytes):
            return value.decode("latin-1").strip("\0 ")
        items = _as_list(value)
        return "\\".join(str(item) for item in items).strip("\0 ") if items else None
    if kind is Kind.STRINGS:
        return [str(item).strip("\0 ") for item in _as_list(value)]
    if kind is Kind.DECIMALS:
        try:
            numbers = [float(item) for item in _as_list(value)]
        except (TypeError, ValueError):
            return None
        return numbers if all(math.isfinite(n) for n in numbers) else None
    if kind is Kind.INTEGER:
        first = _as_list(value)[0]
        try:
            number = float(first)
        except (TypeError, ValueError):
            return None
        return int(number) if number.is_integer() else None
    if kind is Kind.TAGS:
        return [int(item) for item in _as_list(value)]
    first = _as_list(value)[0]
    return int(first) if isinstance(first, int) else None  # UNSIGNED, PIXEL_VALUE
