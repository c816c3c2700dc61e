"""Remembered element layouts: the next file of a series is checked, not walked.

The files of one series are usually written by one program from one template — the same
elements in the same order with the same lengths; only values differ (UIDs, positions, times).
Every decision of the walker depends on three things only: the bytes of the element headers it
reads (tags, VRs, lengths), the meta group's transfer syntax and SOP class, and the file's size.
A file of the same size whose bytes at all those places equal those of a file already walked
would therefore be walked exactly alike: its values lie at the same offsets and are sliced out
directly. The check is one vectorised comparison instead of a Python loop over every
element, which is what makes indexing a series several times faster.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

import numpy as np

from workstation.io.header import PixelElement
from workstation.io.sources import Reader

#: Layouts kept per file size, and in all: a series has one or a few; a mixed folder more.
_PER_SIZE = 4
_CAPACITY = 64
#: Layouts whose checked bytes lie further into the file than this are not kept: replaying
#: them would read more than the walk does.
_MAX_EXTENT = 256 << 10


@dataclass(slots=True)
class WalkResult:
    """What a walk of one object found (or what a remembered layout says it would find)."""

    transfer_syntax: str
    media_sop_class_uid: str
    #: tag → (VR as two ASCII bytes or b"" when implicit, raw value bytes)
    raw: dict[int, tuple[bytes, bytes]]
    #: tags of PRESENCE_FLAGS found at the top level
    present: Set[int]
    pixel: PixelElement | None
    dataset_offset: int
    #: For a replayed object: the ``raw`` of the previous object of the same layout, and the
    #: tags whose bytes differ from it (every other entry is that object's, unchanged).
    based_on: dict[int, tuple[bytes, bytes]] | None = None
    changed: frozenset[int] = frozenset()


#: Roles of the bytes of a layout: part of an element header (or a meta value the walk reads),
#: part of nothing the walk looks at, or (0, 1, ...) part of the n-th kept value.
_HEADER = -2
_OTHER = -1


class _Layout:
    """One remembered layout, and the last object replayed with it.

    A new object is compared byte for byte with that last object: where they differ tells at
    once whether the layout still holds (no differing byte in an element header) and which
    values must be sliced out again (every other value is the last object's). The bytes are
    cut into segments of one role each (a run of header bytes, one kept value, a run of other
    bytes), so that the comparison yields one flag per segment, not one per byte.
    """

    __slots__ = (
        "bounds",
        "dataset_offset",
        "differs",
        "extent",
        "kept",
        "last_raw",
        "last_view",
        "media_sop_class_uid",
        "pixel",
        "present",
        "segment_roles",
        "transfer_syntax",
    )

    def __init__(
        self,
        result: WalkResult,
        data: bytes,
        segments: tuple[list[int], list[int], int],
        kept: tuple[tuple[int, bytes, int, int], ...],
    ) -> None:
        bounds, roles, extent = segments
        self.extent = extent
        self.kept = kept
        #: where each segment starts, and its role (segments of one role are never adjacent)
        self.bounds = np.array(bounds, dtype=np.intp)
        self.segment_roles = np.array(roles, dtype=np.int32)
        #: scratch for the comparison of one object with the last (no allocation per object)
        self.differs = np.empty(extent, dtype=bool)
        self.transfer_syntax = result.transfer_syntax
        self.media_sop_class_uid = result.media_sop_class_uid
        self.present = frozenset(result.present)
        self.pixel = result.pixel  # immutable: shared by every object replayed
        self.dataset_offset = result.dataset_offset
        self.last_view = np.frombuffer(data, dtype=np.uint8, count=extent)
        self.last_raw = result.raw

    def replay(self, data: bytes) -> WalkResult | None:
        view = np.frombuffer(data, dtype=np.uint8, count=self.extent)
        differs = np.not_equal(view, self.last_view, out=self.differs)
        roles = self.segment_roles[np.logical_or.reduceat(differs, self.bounds)].tolist()
        if _HEADER in roles:
            return None
        based_on = self.last_raw
        raw = dict(based_on)
        changed = []
        for index in roles:
            if index >= 0:
                tag, vr, start, length = self.kept[index]
                raw[tag] = (vr, data[start : start + length])
                changed.append(tag)
        self.last_view, self.last_raw = view, raw
        return WalkResult(
            self.transfer_syntax,
            self.media_sop_class_uid,
            raw,
            self.present,
            self.pixel,
            self.dataset_offset,
            based_on,
            frozenset(changed),
        )


def _segments(
    trace: list[int], kept: list[tuple[int, bytes, int, int]]
) -> tuple[list[int], list[int], int] | None:
    """The segments of a walked file: starts, roles and the end of the last one.

    The walk records header ranges and kept values in file order (two sorted runs, merged by
    one sort); header ranges may overlap one another (the meta group's end is probed by a
    group number the dataset's first header repeats). None when a value overlaps a header:
    such a file is not remembered.
    """
    ranges = [(trace[i], trace[i + 1], _HEADER) for i in range(0, len(trace), 2)]
    ranges += [(start, length, index) for index, (_, _, start, length) in enumerate(kept)]
    ranges.sort()
    bounds: list[int] = []
    roles: list[int] = []
    end = 0
    for start, length, role in ranges:
        stop = start + length
        if length <= 0:
            continue
        if start < end:  # overlaps what is covered: only headers may overlap headers
            if role != _HEADER or roles[-1] != _HEADER:
                return None
            end = max(end, stop)
            continue
        if start > end:
            bounds.append(end)
            roles.append(_OTHER)
        elif roles and roles[-1] == _HEADER == role:  # adjacent headers: one segment
            end = stop
            continue
        bounds.append(start)
        roles.append(role)
        end = stop
    return bounds, roles, end


class LayoutMemo:
    """The layouts of recently walked files, by file size (one memo per indexing run/thread)."""

    def __init__(self) -> None:
        self._by_size: dict[int, list[_Layout]] = {}
        self._extents: dict[int, int] = {}
        self._count = 0
        self._wanted: object | None = None
        #: objects walked, and objects replayed from a layout (how well the memo serves)
        self.walked = 0
        self.replayed = 0

    def serve(self, wanted: object) -> None:
        """Bind the memo to the set of wanted tags its layouts keep (one set per memo)."""
        if self._wanted is None:
            self._wanted = wanted
        elif self._wanted is not wanted:
            raise ValueError("a layout memo serves walks of one set of wanted tags")

    def extent(self, size: int) -> int:
        """Bytes from the start of a file of ``size`` bytes that a replay needs (0: no layout)."""
        return self._extents.get(size, 0)

    def replay(self, size: int, data: bytes) -> WalkResult | None:
        """The walk result of the file whose first bytes are ``data``, if a layout fits it."""
        layouts = self._by_size.get(size)
        if layouts is None:
            return None
        for index, layout in enumerate(layouts):
            if len(data) < layout.extent:  # the file changed since its size was read
                continue
            found = layout.replay(data)
            if found is not None:
                if index:  # the layout that fits is tried first next time
                    layouts.insert(0, layouts.pop(index))
                self.replayed += 1
                return found
        return None

    def remember(
        self,
        reader: Reader,
        trace: list[int],
        kept: list[tuple[int, bytes, int, int]],
        result: WalkResult,
        head: bytes,
    ) -> None:
        """Keep the layout of a file just walked.

        ``trace`` holds (position, length) pairs of the bytes the walk depended on, ``kept``
        the places of the values it collected, ``head`` the file's first bytes as far as the
        walk had them (read again when the layout lies further).
        """
        self.walked += 1
        segments = _segments(trace, kept)
        if segments is None:
            return
        extent = segments[2]
        if extent > _MAX_EXTENT:
            return
        data = head if len(head) >= extent else reader.pread(0, extent)
        if len(data) < extent:
            return
        size = reader.size
        layout = _Layout(result, data, segments, tuple(kept))
        layouts = self._by_size.setdefault(size, [])
        layouts.insert(0, layout)
        self._extents[size] = max(self._extents.get(size, 0), extent)
        self._count += 1
        if len(layouts) > _PER_SIZE:
            layouts.pop()
            self._count -= 1
        if self._count > _CAPACITY:
            oldest = next(iter(self._by_size))
            self._count -= len(self._by_size.pop(oldest))
            del self._extents[oldest]
