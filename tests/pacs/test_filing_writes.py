"""Filing received instances: atomic writes from memory, the headers kept for thumbnails."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from conftest import check_consistent, storage_files

from workstation.io.header import InstanceHeader
from workstation.io.sources import FileSource, MemorySource
from workstation.pacs import StudyDatabase, storage
from workstation.pacs.filing import LibraryFiler
from workstation.pacs.importer import import_sources, refresh_thumbnails
from workstation.testing.factories import SeriesSpec, write_series


def _instances(folder: Path, n_slices: int = 6) -> list[bytes]:
    written = write_series(folder, SeriesSpec(n_slices=n_slices))
    return [path.read_bytes() for path in written.paths]


def test_interrupted_write_leaves_no_file_and_no_row(
    tmp_path: Path, home: Path, db: StudyDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    datas = _instances(tmp_path / "ct", 2)
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        if len(data) > 1000:  # the instance's bytes: part of them, then the disk is full
            real_write(fd, bytes(memoryview(data)[:100]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with LibraryFiler(threaded=False) as filer:
        monkeypatch.setattr(storage.os, "write", disk_full)
        try:
            error = filer.put(datas[0], wait=True)
        finally:
            monkeypatch.undo()
        assert error is not None and "No space left" in error
        assert storage_files(home) == set()  # neither the final name nor the temporary file
        assert db.connection.execute("SELECT count(*) FROM instances").fetchone() == (0,)
        assert filer.put(datas[0], wait=True) is None  # the next try files it whole
    (path,) = storage_files(home)
    assert (home / "storage" / path).read_bytes() == datas[0]
    check_consistent(db)


def test_temporary_file_left_by_a_crash_is_never_listed(
    tmp_path: Path, home: Path, db: StudyDatabase
) -> None:
    datas = _instances(tmp_path / "ct", 3)
    with LibraryFiler(threaded=False) as filer:
        filer.put(datas[0], wait=True)
    (first,) = storage_files(home)
    # A process killed while writing the second instance leaves its temporary file behind.
    leftover = (home / "storage" / first).with_name(".crashed.dcm.999-1.part")
    leftover.write_bytes(datas[1][:500])
    with LibraryFiler(threaded=False) as filer:
        for data in datas:
            filer.put(data)
        stats = filer.drain()
    assert (stats.added, stats.already_present) == (2, 1)
    rows = {row[0] for row in db.connection.execute("SELECT path FROM instances")}
    assert len(rows) == 3 and storage_files(home) == rows | {
        leftover.relative_to(home / "storage").as_posix()
    }
    for row in rows:
        assert (home / "storage" / row).read_bytes() in datas


def test_write_bytes_makes_missing_hash_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.dcm"
    status = storage.write_bytes(b"x" * 5000, target)
    assert target.read_bytes() == b"x" * 5000 and status.st_size == 5000
    storage.write_bytes(b"y", target)  # replaced whole
    assert target.read_bytes() == b"y"
    assert [p.name for p in target.parent.iterdir()] == ["c.dcm"]


def test_kept_headers_point_at_the_stored_copies(tmp_path: Path, db: StudyDatabase) -> None:
    datas = _instances(tmp_path / "ct", 4)
    kept: dict[str, list[InstanceHeader]] = {}
    for start in (0, 2, 0):  # two batches, then the first again (already present)
        sources = [
            MemorySource(data, f"<{start + i}>") for i, data in enumerate(datas[start : start + 2])
        ]
        import_sources(db, sources, copy=True, thumbnails=False, kept=kept)
    (headers,) = kept.values()
    assert len({h.sop_instance_uid for h in headers}) == 4
    for header in headers:
        assert isinstance(header.source, FileSource)  # not the bytes received
        assert header.source.path.read_bytes() in datas


def test_thumbnail_of_a_series_filed_in_two_retrievals(tmp_path: Path, db: StudyDatabase) -> None:
    datas = _instances(tmp_path / "ct", 6)
    for part in (datas[:2], datas[2:]):  # an interrupted retrieval, then the rest
        with LibraryFiler(threaded=False, batch_instances=3) as filer:
            for data in part:
                filer.put(data)
    made = db.connection.execute("SELECT thumbnail, thumbnail_width FROM series").fetchone()
    (uid,) = db.connection.execute("SELECT series_uid FROM series").fetchone()
    assert refresh_thumbnails(db, [uid]) == 1  # from every header the library holds
    again = db.connection.execute("SELECT thumbnail, thumbnail_width FROM series").fetchone()
    assert made == again and made[0] is not None
    check_consistent(db)
