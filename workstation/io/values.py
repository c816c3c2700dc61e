"""Decoding attribute values (PS3.5 §6.2) into the header's Python values.

The fast walker hands over raw bytes; pydicom hands over its own element values. Both end up as
the same final values (absent or unusable ones as None) so that the two readers cannot disagree.
Decoding raw bytes runs for every attribute of every indexed file: each tag gets its own small
decoding function once, so the per-file loop does no dispatching.
"""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Callable
from typing import Any

from workstation.io.header import ATTRIBUTES, Attribute, Kind, present

_PN_DELIMITERS = {0x5E, 0x3D}  # '^' and '=' separate name components and groups
_TEXT_DELIMITERS = {0x5C}  # '\' separates values
_PIXEL_VALUE_TAGS = frozenset(t for t, a in ATTRIBUTES.items() if a.kind is Kind.PIXEL_VALUE)
_SPECIFIC_CHARACTER_SET = 0x00080005
_PIXEL_REPRESENTATION = 0x00280103
#: Tags whose values change how others are read (names, Smallest/Largest Image Pixel Value).
_CONTEXT_TAGS = frozenset({_SPECIFIC_CHARACTER_SET, _PIXEL_REPRESENTATION})

Decode = Callable[[bytes], Any]
#: tag → (the last raw bytes seen, the field, the value they decoded to): the objects of a
#: series repeat most values, and comparing bytes is cheaper than parsing them again.
ValueCache = dict[int, tuple[bytes, str, Any]]


def _strings(text: str) -> tuple[str, ...]:
    return tuple(part.strip("\0 ") for part in text.split("\\"))


def _parse_decimals(text: str) -> tuple[float, ...] | None:
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
    return tuple(numbers)


def shape_decimals(numbers: tuple[float, ...] | None, count: int) -> Any:
    """A float (count 1), a tuple of exactly ``count`` floats, or any tuple (count 0)."""
    if not numbers:
        return None
    if count == 1:
        return numbers[0]
    if count and len(numbers) != count:
        return None
    return numbers


def _parse_integer(text: str) -> int | None:
    text = text.split("\\", 1)[0].strip("\0 ")
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


def _text(data: bytes) -> str | None:
    return data.decode("latin-1").strip("\0 ") or None


class RawDecoder:
    """Turns the walker's raw values into header values for one byte order."""

    def __init__(self, little_endian: bool) -> None:
        order = "<" if little_endian else ">"
        self._order = order
        self._unsigned = struct.Struct(order + "H").unpack_from
        self._signed = struct.Struct(order + "h").unpack_from
        self._decoders: dict[int, tuple[str, Decode]] = {
            tag: (attribute.field, self._decoder(attribute))
            for tag, attribute in ATTRIBUTES.items()
            if attribute.kind not in (Kind.NAME, Kind.PIXEL_VALUE)
        }

    def _decoder(self, attribute: Attribute) -> Decode:
        kind, count = attribute.kind, attribute.count
        unsigned = self._unsigned
        if kind is Kind.TEXT:
            return _text
        if kind is Kind.STRINGS:
            return lambda data: _strings(data.decode("latin-1"))
        if kind is Kind.DECIMALS:
            return lambda data: shape_decimals(_parse_decimals(data.decode("latin-1")), count)
        if kind is Kind.INTEGER:
            return lambda data: _parse_integer(data.decode("latin-1"))
        if kind is Kind.UNSIGNED:
            return lambda data: unsigned(data)[0] if len(data) >= 2 else None
        order = self._order

        def tags(data: bytes) -> tuple[int, ...]:
            count = len(data) // 4
            pairs = struct.unpack(f"{order}{2 * count}H", data[: 4 * count])
            return tuple((pairs[2 * i] << 16) | pairs[2 * i + 1] for i in range(count))

        return tags

    def decode(
        self,
        raw: dict[int, tuple[bytes, bytes]],
        cache: ValueCache | None = None,
        context: dict[int, tuple[bytes, bytes]] | None = None,
    ) -> dict[str, Any]:
        """Header values by field.

        ``cache`` (one per byte order and indexing run) maps a tag to the last bytes seen, the
        field and the value: bytes equal to the last ones take that value without parsing.
        Cached values are immutable (str, numbers, tuples), so sharing them is safe.
        ``context`` is the object's whole raw mapping when ``raw`` is only part of it.
        """
        if context is None:
            context = raw
        values: dict[str, Any] = {}
        decoders = self._decoders
        names: list[tuple[int, str, bytes]] = []
        if cache is None:
            cache = {}
        for tag, (vr, data) in raw.items():
            last = cache.get(tag)
            if last is not None and last[0] == data:
                values[last[1]] = last[2]
                continue
            decoder = decoders.get(tag)
            if decoder is not None:
                value = decoder[1](data)
                cache[tag] = (data, decoder[0], value)
                values[decoder[0]] = value
            elif tag in _PIXEL_VALUE_TAGS:
                # Depends on the VR and on Pixel Representation too: never cached.
                values[ATTRIBUTES[tag].field] = self._pixel_value(vr, data, context)
            else:
                names.append((tag, ATTRIBUTES[tag].field, data))
        if names:
            encodings = self._encodings(values.get("specific_character_set"))
            for tag, name, data in names:
                value = values[name] = _name(data, encodings)
                if data.isascii():  # read alike in every character set: safe to reuse
                    cache[tag] = (data, name, value)
        return values

    def decode_changed(
        self,
        previous: dict[str, Any],
        raw: dict[int, tuple[bytes, bytes]],
        changed: frozenset[int],
        cache: ValueCache | None = None,
    ) -> dict[str, Any]:
        """The present (not None) values of ``raw``, given ``previous`` — those of an object
        whose raw values were the same except for the tags in ``changed``."""
        if _CONTEXT_TAGS & changed:  # they change how other values read: decode everything
            return present(self.decode(raw, cache))
        values = dict(previous)
        if changed:
            part = {tag: raw[tag] for tag in changed}
            charset = raw.get(_SPECIFIC_CHARACTER_SET)
            if charset is not None:  # names among the changed values are read in it
                part[_SPECIFIC_CHARACTER_SET] = charset
            for name, value in self.decode(part, cache, context=raw).items():
                if value is None:
                    values.pop(name, None)
                else:
                    values[name] = value
        return values

    def _pixel_value(self, vr: bytes, data: bytes, raw: dict[int, tuple[bytes, bytes]]) -> Any:
        """Smallest/Largest Image Pixel Value: SS or US as the VR — or, implicit, as PR says."""
        if len(data) < 2:
            return None
        if vr in (b"US", b"SS"):
            signed = vr == b"SS"
        else:
            representation = raw.get(_PIXEL_REPRESENTATION)
            signed = representation is not None and self._unsigned(representation[1])[0] == 1
        return (self._signed if signed else self._unsigned)(data)[0]

    @staticmethod
    def _encodings(charsets: tuple[str, ...] | None) -> list[str] | None:
        names = [name for name in charsets or () if name]
        if not names or all(name == "ISO_IR 6" for name in names):
            return None
        from pydicom import charset as pydicom_charset

        return list(pydicom_charset.convert_encodings(names))


def _name(data: bytes, encodings: list[str] | None) -> str | None:
    """PN and LO values: plain bytes are read as they are; others through the character set."""
    if encodings is None or data.isascii():
        return data.decode("latin-1").rstrip("\0 ") or None
    from pydicom import charset as pydicom_charset

    text = pydicom_charset.decode_bytes(data, encodings, _PN_DELIMITERS | _TEXT_DELIMITERS)
    return text.rstrip("\0 ") or None


def from_pydicom(dataset: Any) -> dict[str, Any]:
    """Header values from a pydicom ``Dataset`` (its top-level attributes of ATTRIBUTES)."""
    values: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about each invalid value it converts
        for tag, attribute in ATTRIBUTES.items():
            try:
                element = dataset.get(tag)
                value = None if element is None else element.value
            except Exception:  # noqa: BLE001 - pydicom converts lazily; a bad value is absent
                continue
            if value is None or value == "":
                continue
            values[attribute.field] = _convert(attribute, value)
    return values


def _as_list(value: Any) -> list[Any]:
    """The items of a multi-valued element; a single value (str, PersonName...) as one item."""
    from pydicom.multival import MultiValue

    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def _convert(attribute: Attribute, value: Any) -> Any:
    kind = attribute.kind
    if kind in (Kind.TEXT, Kind.NAME):
        text = (
            value.decode("latin-1")
            if isinstance(value, bytes)
            else "\\".join(str(item) for item in _as_list(value))
        )
        # Leading spaces are significant in names and descriptions (PS3.5 6.2), not in codes.
        return (text.strip("\0 ") if kind is Kind.TEXT else text.rstrip("\0 ")) or None
    if kind is Kind.STRINGS:
        return tuple(str(item).strip("\0 ") for item in _as_list(value))
    if kind is Kind.DECIMALS:
        try:
            numbers = tuple(float(item) for item in _as_list(value))
        except (TypeError, ValueError):
            return None
        if not all(math.isfinite(n) for n in numbers):
            return None
        return shape_decimals(numbers, attribute.count)
    if kind is Kind.INTEGER:
        try:
            number = float(_as_list(value)[0])
        except (TypeError, ValueError):
            return None
        return int(number) if number.is_integer() else None
    if kind is Kind.TAGS:
        return tuple(int(item) for item in _as_list(value))
    first = _as_list(value)[0]
    return int(first) if isinstance(first, int) else None  # UNSIGNED, PIXEL_VALUE
