"""The attributes of one DICOM object as rows for a tag browser (no pixel data)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.reader import parse_with_pydicom
from workstation.io.sources import Source

#: Longest value text shown; long values (LUTs, private blobs) are cut with their length noted.
MAX_VALUE_TEXT = 200


@dataclass
class TagRow:
    tag: str  # "(0010,0010)"
    keyword: str
    vr: str
    value: str
    children: list[TagRow] = field(default_factory=list)


def _text(element: Any) -> str:
    if element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or element.tag == 0x7FE00010:
        length = len(element.value) if element.value is not None else 0
        return f"<{length} bytes>"
    value = element.value
    text = "\\".join(str(v) for v in value) if element.VM > 1 else str(value)
    if len(text) > MAX_VALUE_TEXT:
        return text[:MAX_VALUE_TEXT] + f"… ({len(text)} characters)"
    return text


def _rows(dataset: Any) -> list[TagRow]:
    rows = []
    for element in dataset:
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        keyword = element.keyword or ("private" if element.tag.is_private else "")
        if element.VR == "SQ":
            items = [
                TagRow(f"item {n}", "", "", "", _rows(item))
                for n, item in enumerate(element.value or [], start=1)
            ]
            rows.append(TagRow(tag, keyword, "SQ", f"{len(items)} item(s)", items))
            continue
        try:
            value = _text(element)
        except Exception as exc:  # noqa: BLE001 - a damaged value is shown as such, not fatal
            value = f"<unreadable: {exc}>"
        rows.append(TagRow(tag, keyword, str(element.VR), value))
    return rows


def read_tags(source: Source, limits: Limits = DEFAULT_LIMITS) -> list[TagRow]:
    """The file meta group and dataset of ``source``, pixel data left out."""
    with source.reader() as reader:
        if reader.size > limits.max_inflated_bytes:
            data = reader.pread(0, limits.max_inflated_bytes)
        else:
            data = reader.read_all()
    dataset = parse_with_pydicom(data, force=data[128:132] != b"DICM", stop_before_pixels=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = _rows(dataset.file_meta) if getattr(dataset, "file_meta", None) else []
        return meta + _rows(dataset)
