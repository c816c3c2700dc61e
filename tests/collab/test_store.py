"""The local annotation store: round trips, versions, tombstones, filters, feed, bad input."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from workstation.collab.store import SCHEMA_VERSION, AnnotationStore, StoreError
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.errors import WorkstationError

Make = Callable[..., Annotation]

STUDY = "1.2.826.0.1.3680043.8.498.1"
SERIES = "1.2.826.0.1.3680043.8.498.1.1"
OTHER_SERIES = "1.2.826.0.1.3680043.8.498.1.2"
OTHER_STUDY = "1.2.826.0.1.3680043.8.498.2"


@pytest.mark.parametrize("kind", list(AnnotationKind))
def test_every_kind_round_trips_through_the_file(
    tmp_path: Path, make: Make, kind: AnnotationKind
) -> None:
    path = tmp_path / "annotations.sqlite"
    annotation = make(kind)
    with AnnotationStore(path) as store:
        assert store.save(annotation)
        assert store.get(annotation.uuid) == annotation
    with AnnotationStore(path) as reopened:
        assert reopened.get(annotation.uuid) == annotation
        assert reopened.load() == [annotation]
        row = sqlite3.connect(path).execute(
            "SELECT kind, study_uid, series_uid, frame_of_reference_uid, version, deleted, "
            "created, updated, author FROM annotations"
        )
        assert row.fetchone() == (
            kind.value,
            STUDY,
            SERIES,
            annotation.reference.frame_of_reference_uid,
            1,
            0,
            annotation.created,
            annotation.updated,
            "dr.reader",
        )


def test_only_a_newer_version_replaces_the_stored_one(store: AnnotationStore, make: Make) -> None:
    first = make()
    second = first.edited(label="aorta")
    assert store.save(first)
    assert store.save(second)
    sequence = store.last_sequence()
    assert not store.save(first)  # a replica delivering late
    assert not store.save(second)  # the same version again
    assert not store.save(replace(second, label="conflicting content, same version"))
    assert store.get(first.uuid) == second
    assert store.last_sequence() == sequence
    third = second.edited(points=((0.0, 0.0, 0.0), (30.0, 0.0, 0.0)))
    assert store.save(third)
    assert store.get(first.uuid) == third


def test_tombstones_are_kept_but_left_out_unless_asked(store: AnnotationStore, make: Make) -> None:
    live, gone = make(), make(AnnotationKind.ANGLE)
    store.save(live)
    store.save(gone)
    tombstone = gone.tombstone()
    assert store.save(tombstone)
    assert store.load() == [live]
    assert store.load(include_deleted=True) == [live, tombstone]
    assert store.get(gone.uuid) == tombstone
    assert not store.save(gone)  # the deletion is not undone by a late live version


def test_load_filters_by_series_and_study_oldest_first(store: AnnotationStore, make: Make) -> None:
    other_series = ImageReference(STUDY, OTHER_SERIES)
    other_study = ImageReference(OTHER_STUDY, "1.2.826.0.1.3680043.8.498.2.1")
    newest = make(created="2026-01-01T10:00:03.000+00:00")
    oldest = make(AnnotationKind.POINT, created="2026-01-01T10:00:01.000+00:00")
    middle = make(AnnotationKind.TEXT, other_series, created="2026-01-01T10:00:02.000+00:00")
    elsewhere = make(AnnotationKind.ELLIPSE, other_study, created="2026-01-01T10:00:00.000+00:00")
    for annotation in (newest, oldest, middle, elsewhere):
        store.save(annotation)
    assert store.load(series_uid=SERIES) == [oldest, newest]
    assert store.load(series_uid=OTHER_SERIES) == [middle]
    assert store.load(study_uid=STUDY) == [oldest, middle, newest]
    assert store.load(study_uid=STUDY, series_uid=OTHER_SERIES) == [middle]
    assert store.load(study_uid=OTHER_STUDY) == [elsewhere]
    assert store.load() == [elsewhere, oldest, middle, newest]
    assert store.load(series_uid="1.2.3.unknown") == []


def test_change_feed_numbers_each_saved_version(store: AnnotationStore, make: Make) -> None:
    assert store.last_sequence() == 0
    assert store.changes_since(0) == []
    a, b = make(), make(AnnotationKind.POINT)
    store.save(a)
    store.save(b)
    a2 = a.edited(label="edited")
    store.save(a2)
    assert store.changes_since(0) == [(2, b), (3, a2)]  # a's first version is superseded
    assert store.changes_since(2) == [(3, a2)]
    assert store.changes_since(0, limit=1) == [(2, b)]
    assert store.last_sequence() == 3
    assert store.changes_since(3) == []
    tombstone = b.tombstone()
    store.save(tombstone)
    assert store.changes_since(3) == [(4, tombstone)]


def test_the_file_is_wal_synchronous_full_and_versioned(store: AnnotationStore) -> None:
    assert sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection = store._connection()
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    version = connection.execute("SELECT version FROM schema_version").fetchall()
    assert version == [(SCHEMA_VERSION,)]
    indexes = {
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'annotations'"
        )
    }
    assert {"annotations_study", "annotations_series"} <= indexes


def test_each_thread_gets_its_own_synchronous_full_connection(store: AnnotationStore) -> None:
    seen: list[tuple[int, int]] = []

    def probe() -> None:
        connection = store._connection()
        seen.append((id(connection), connection.execute("PRAGMA synchronous").fetchone()[0]))

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    assert seen[0][0] != id(store._connection())
    assert seen[0][1] == 2


def test_a_corrupt_file_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "annotations.sqlite"
    path.write_bytes(bytes(range(256)) * 32)
    with pytest.raises(StoreError, match=r"annotations\.sqlite is not a usable annotation store"):
        AnnotationStore(path)
    assert issubclass(StoreError, WorkstationError)


def test_random_bytes_are_a_named_error(tmp_path: Path) -> None:
    rng = random.Random(1234)
    for attempt in range(5):
        path = tmp_path / f"random{attempt}.sqlite"
        path.write_bytes(rng.randbytes(rng.choice([100, 4096, 65536])))
        with pytest.raises(StoreError):
            AnnotationStore(path)


def test_a_database_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "studies.sqlite"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE studies (uid TEXT)")
    other.commit()
    other.close()
    with pytest.raises(StoreError, match="another program"):
        AnnotationStore(path)
    assert sqlite3.connect(path).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    ).fetchall() == [("studies",)]


def test_a_newer_schema_is_refused_and_reopening_keeps_the_data(tmp_path: Path, make: Make) -> None:
    path = tmp_path / "annotations.sqlite"
    annotation = make()
    with AnnotationStore(path) as store:
        store.save(annotation)
    with AnnotationStore(path) as store:  # no migration runs twice
        assert store.load() == [annotation]
    connection = sqlite3.connect(path)
    connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match="schema"):
        AnnotationStore(path)


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = AnnotationStore(tmp_path / "annotations.sqlite")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.load()


def test_malformed_rows_are_skipped_and_logged_without_patient_names(
    store: AnnotationStore, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    good = make()
    store.save(good)
    name = "DOE^JOHN"
    bad_value = make(label=name).to_json()
    bad_value["values"] = {"length_mm": name}
    bad_points = make(text=name).to_json()
    bad_points["points_lps_mm"] = [[0, 0, 0]]
    bad_type = make().to_json()
    bad_type["values"] = [name]
    rows = {
        "not-json": "{" + name,
        "not-an-object": f'["{name}"]',
        "bad-value": bad_value,
        "bad-points": bad_points,
        "bad-type": bad_type,
        "other-uuid": make(label=name).to_json(),
    }
    connection = sqlite3.connect(store.path)
    for sequence, (uuid, document) in enumerate(rows.items(), start=100):
        text = document if isinstance(document, str) else json.dumps(document)
        connection.execute(
            "INSERT INTO annotations VALUES (?, 'length', ?, ?, '', 1, 0, '', '', '', ?, ?)",
            (uuid, STUDY, SERIES, text, sequence),
        )
    connection.commit()
    connection.close()
    with caplog.at_level(logging.WARNING, logger="workstation.collab.store"):
        assert store.load() == [good]
        assert store.get("bad-value") is None
        assert [a for _, a in store.changes_since(0)] == [good]
    assert "not-json" in caplog.text and "bad-type" in caplog.text
    assert name not in caplog.text
    assert "DOE" not in caplog.text
    # A newer, well-formed version replaces a malformed row.
    repaired = replace(make(), uuid="bad-points", version=2)
    assert store.save(repaired)
    assert store.get("bad-points") == repaired


def test_a_reader_thread_sees_consistent_versions_while_the_gui_thread_saves(
    store: AnnotationStore, make: Make
) -> None:
    annotations = [make(AnnotationKind.LENGTH) for _ in range(8)]
    done = threading.Event()
    failures: list[BaseException] = []
    seen_versions: dict[str, int] = {}
    batches: list[int] = []

    def read() -> None:
        cursor = 0
        try:
            while True:
                finished = done.is_set()
                for annotation in store.load():
                    assert annotation.version >= seen_versions.get(annotation.uuid, 0)
                    seen_versions[annotation.uuid] = annotation.version
                changes = store.changes_since(cursor)
                numbers = [number for number, _ in changes]
                assert numbers == sorted(numbers) and all(n > cursor for n in numbers)
                if changes:
                    cursor = numbers[-1]
                    batches.append(len(changes))
                if finished:
                    break
        except (AssertionError, WorkstationError, sqlite3.Error) as exc:  # for the main thread
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    current = list(annotations)
    for round_ in range(25):
        for index, annotation in enumerate(current):
            updated = annotation if round_ == 0 else annotation.edited(label=f"round {round_}")
            assert store.save(updated)
            current[index] = updated
    done.set()
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert failures == []
    assert seen_versions == {a.uuid: 25 for a in current}
    assert sum(batches) >= len(current)
    assert len(store._connections) == 2  # one per thread


def test_two_writer_threads_never_lose_a_version(store: AnnotationStore, make: Make) -> None:
    failures: list[BaseException] = []

    def write(annotation: Annotation) -> None:
        try:
            for _ in range(40):
                annotation = annotation.edited()
                assert store.save(annotation)
        except (AssertionError, WorkstationError, sqlite3.Error) as exc:
            failures.append(exc)

    firsts = [make(), make(AnnotationKind.POINT)]
    threads = [threading.Thread(target=write, args=(a,)) for a in firsts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert {a.uuid: a.version for a in store.load()} == {a.uuid: 41 for a in firsts}
    assert store.last_sequence() == 80
