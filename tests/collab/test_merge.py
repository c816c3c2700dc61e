"""The field-wise three-way merge shared by the server and the client."""

from __future__ import annotations

from collections.abc import Callable

from workstation.collab.merge import changed_groups, same_content, three_way
from workstation.core.annotations import Annotation

Make = Callable[..., Annotation]


def test_edits_of_different_fields_merge(make: Make) -> None:
    base = make(label="node")
    mine = base.edited(points=((0.0, 0.0, 0.0), (3.0, 4.0, 0.0)), values={"length_mm": 5.0})
    theirs = base.edited(label="node 4R")
    result = three_way(base.to_json(), mine.to_json(), theirs.to_json())
    assert result.merged is not None and result.conflicting == ()
    merged = Annotation.from_json(result.merged)
    assert merged.label == "node 4R"
    assert merged.points == mine.points and merged.values == {"length_mm": 5.0}
    assert merged.updated == mine.updated and merged.created == theirs.created


def test_the_same_change_on_both_sides_is_no_conflict(make: Make) -> None:
    base = make(label="a")
    result = three_way(
        base.to_json(), base.edited(label="b").to_json(), base.edited(label="b").to_json()
    )
    assert result.merged is not None and result.merged["label"] == "b"


def test_different_changes_of_one_field_conflict(make: Make) -> None:
    base = make(label="a", text="t")
    result = three_way(
        base.to_json(),
        base.edited(label="mine", text="x").to_json(),
        base.edited(label="theirs").to_json(),
    )
    assert result.merged is None and result.conflicting == ("label",)


def test_a_deletion_against_an_edit_conflicts_but_two_deletions_merge(make: Make) -> None:
    base = make()
    deleted = base.tombstone().to_json()
    edited = base.edited(label="keep").to_json()
    assert three_way(base.to_json(), deleted, edited).conflicting == ("deleted", "label")
    assert three_way(base.to_json(), edited, deleted).merged is None
    assert three_way(base.to_json(), deleted, base.tombstone().to_json()).merged is not None
    # A deletion merges with an edit that changed nothing else.
    assert three_way(base.to_json(), deleted, base.edited().to_json()).merged is not None


def test_without_a_common_base_only_identical_content_merges(make: Make) -> None:
    a = make(label="x")
    assert three_way(None, a.to_json(), a.edited().to_json()).merged is not None
    assert three_way(None, a.to_json(), a.edited(label="y").to_json()).conflicting == ("label",)


def test_groups_and_metadata(make: Make) -> None:
    a = make()
    b = a.edited(author="someone else")  # author, times and version are not content
    assert same_content(a.to_json(), b.to_json())
    assert changed_groups(a.to_json(), a.edited(text="n").to_json()) == {"text"}
