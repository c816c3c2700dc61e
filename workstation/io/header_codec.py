"""Headers as JSON, so a library can reopen a series without reading every file again.

The text holds what :func:`~workstation.io.reader.read_header` found (values, pixel location,
per-frame geometry) and nothing of where the object lives: the caller gives the source back.
Only plain JSON types are used; nothing is evaluated or unpickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from workstation.io.header import FrameInfo, InstanceHeader, PixelElement
from workstation.io.sources import Source

#: Bumped when the meaning of a field changes: older texts are then ignored, not misread.
CODEC_VERSION = 1
_SKIP = {"source", "pixel", "frames"}
_FIELDS = {f.name for f in fields(InstanceHeader)} - _SKIP
#: Values equal to the field's default are left out: a third of the text, parsed 400× a series.
_DEFAULTS = {f.name: f.default for f in fields(InstanceHeader) if f.name in _FIELDS}
_FRAME_FIELDS = {f.name for f in fields(FrameInfo)}


def header_to_json(header: InstanceHeader) -> str:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(header, name)
        if value != _DEFAULTS[name]:
            values[name] = value
    values["_v"] = CODEC_VERSION
    pixel = header.pixel
    # Spelled out: ``asdict`` deep-copies every value, a fifth of this function's time.
    values["pixel"] = (
        None
        if pixel is None
        else {
            "tag": pixel.tag,
            "offset": pixel.offset,
            "length": pixel.length,
            "n_fragments": pixel.n_fragments,
        }
    )
    values["frames"] = [asdict(frame) for frame in header.frames] if header.frames else None
    return json.dumps(values, separators=(",", ":"))


def _tuples(value: Any) -> Any:
    """JSON arrays back to the tuples the header holds (every sequence field is flat)."""
    return tuple(value) if value.__class__ is list else value


def header_from_json(text: str, source: Source) -> InstanceHeader | None:
    """The header a :func:`header_to_json` text describes, or None if it cannot be used."""
    try:
        values = json.loads(text)
        if not isinstance(values, dict) or values.pop("_v", None) != CODEC_VERSION:
            return None
        pixel = values.pop("pixel", None)
        frames = values.pop("frames", None)
        kwargs = {name: _tuples(value) for name, value in values.items() if name in _FIELDS}
        header = InstanceHeader(source=source, **kwargs)
        header.pixel = PixelElement(**pixel) if pixel is not None else None
        if frames is not None:
            header.frames = [
                FrameInfo(**{k: _tuples(v) for k, v in frame.items() if k in _FRAME_FIELDS})
                for frame in frames
            ]
        return header
    except (TypeError, ValueError, KeyError):
        return None
