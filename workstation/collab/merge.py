"""Three-way, field-wise merge of two annotation versions made from a common base.

Two readers edit the same annotation while apart: one moves its points, the other renames it.
Neither edit should be lost, and neither reader should have to choose. The fields of an
annotation fall into independent *groups*; an edit changes some groups. When the two sides
changed different groups (or changed a group to the same value) the merge takes each side's
changed groups and is safe. When both changed one group to different values, or one side
deleted the annotation while the other edited it, the merge is refused and the caller keeps a
visible conflict for a person to resolve.

The server merges a pushed version against the version it holds; the client uses the same
function to describe a conflict. Both work on :meth:`Annotation.to_json` dictionaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Field groups that may change independently. Geometry is one group: the computed values
#: (length, area, statistics) and the plane belong to the points they were computed from.
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "geometry": (
        "kind",
        "reference",
        "points_lps_mm",
        "plane_normal",
        "values",
        "value_unit",
        "segment",
    ),
    "label": ("label",),
    "text": ("text",),
    "deleted": ("deleted",),
}


def _group(document: Mapping[str, Any], name: str) -> tuple[Any, ...]:
    return tuple(document.get(key) for key in FIELD_GROUPS[name])


def changed_groups(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """The field groups whose values differ between two versions."""
    return {name for name in FIELD_GROUPS if _group(before, name) != _group(after, name)}


def same_content(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two versions hold the same content (every group equal; metadata ignored)."""
    return not changed_groups(a, b)


@dataclass(frozen=True)
class MergeResult:
    """The outcome of :func:`three_way`.

    ``merged`` is the merged document (version and times left for the caller to set) when
    the merge is safe; otherwise None and ``conflicting`` names the groups that collide
    (``"deleted"`` among them when a deletion meets an edit).
    """

    merged: dict[str, Any] | None
    conflicting: tuple[str, ...] = ()


def three_way(
    base: Mapping[str, Any] | None, mine: Mapping[str, Any], theirs: Mapping[str, Any]
) -> MergeResult:
    """Merge ``mine`` into ``theirs``, both made from ``base`` (None: no common version).

    ``theirs`` is the version already accepted (the server's); the result keeps its identity
    and creation time and takes ``mine``'s author and update time, as ``mine`` is the newer
    edit in the server's order.
    """
    if base is None:
        # Two histories with no common version: only identical content is safe.
        differing = changed_groups(mine, theirs)
        if differing:
            return MergeResult(None, tuple(sorted(differing)))
        return MergeResult(dict(theirs))
    mine_changed = changed_groups(base, mine)
    theirs_changed = changed_groups(base, theirs)
    collisions = {
        name for name in mine_changed & theirs_changed if _group(mine, name) != _group(theirs, name)
    }
    # A deletion on one side against an edit of any other group on the other side is not a
    # safe merge: the editor meant the annotation to stay, the deleter meant it to go.
    for deleter, editor_changes in ((mine, theirs_changed), (theirs, mine_changed)):
        if deleter.get("deleted") and editor_changes - {"deleted"}:
            collisions.add("deleted")
            collisions |= editor_changes - {"deleted"}
    if collisions:
        return MergeResult(None, tuple(sorted(collisions)))
    merged = dict(theirs)
    for name in mine_changed:
        for key in FIELD_GROUPS[name]:
            merged[key] = mine.get(key)
    merged["author"] = mine.get("author", merged.get("author", ""))
    merged["updated"] = mine.get("updated", merged.get("updated", ""))
    return MergeResult(merged)
