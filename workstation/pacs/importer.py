"""Importing files, folders, zip archives and DICOMDIR media into the study database.

Headers only are read (the engine's fast walker), in batches of :data:`BATCH_SIZE` objects;
each batch is written in one transaction, so the browser sees studies appear batch by batch
and an interrupted import leaves the database as it was after the last whole batch.

Objects are indexed where they are, or copied into managed storage (``copy=True``; see
:mod:`workstation.pacs.storage`). The SOP Instance UID is the identity of an instance:

- an unknown UID is added;
- a known UID whose recorded location still holds it (same size and modification time; for a
  managed copy, same size) is *already present*, whatever other copy is being imported, so
  re-importing the same data changes nothing and writes no copy twice;
- a known UID whose recorded object is gone or changed, or an in-place instance imported
  again with ``copy=True``, is *updated* to the new location (a managed copy is written).

Files indexed in place are never modified or deleted.

Cancelling
----------
``cancel()`` is polled before every object; when it returns True the import stops at once and
returns a **partial report** with ``cancelled=True`` (it does not raise
:class:`workstation.io.Cancelled`). Every batch committed before stays; the batch being read is
discarded whole, so no row and no managed copy of it remains. Thumbnails are made after the last
batch, so series of a cancelled import have none yet: the next import of them, or
:func:`make_missing_thumbnails`, makes them.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from workstation.core.errors import DicomFileError, ErrorCode, FileError
from workstation.io.discover import discover
from workstation.io.header import InstanceHeader
from workstation.io.header_codec import header_to_json
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.reader import HeaderMemo
from workstation.io.scan import Cancelled, Progress, read_headers
from workstation.io.sources import FileSource, Source, ZipArchive, ZipMemberSource
from workstation.pacs import storage
from workstation.pacs.database import StudyDatabase
from workstation.pacs.loading import scan_series
from workstation.pacs.records import Thumbnail
from workstation.pacs.thumbnails import thumbnail_of_series

#: Objects read and written per transaction.
BATCH_SIZE = 500
#: Host parameters per ``IN (...)`` query (SQLite before 3.32 allows 999).
_CHUNK = 500

Cancel = Callable[[], bool]


@dataclass
class ImportReport:
    """What an import did.

    Attributes
    ----------
    added:
        Instances new to the database.
    already_present:
        Instances the database already held at a valid location (nothing written).
    updated:
        Known instances whose location or content changed and were re-recorded.
    non_image:
        DICOM objects without an image (SR, presentation states, DICOMDIR...): skipped.
    errors:
        Objects that could not be read or copied, with the engine's error codes.
    thumbnails:
        Series thumbnails made.
    files:
        Candidate objects found under the paths.
    seconds:
        Wall time of the import.
    cancelled:
        The import was stopped through ``cancel``; the counts say how far it got.
    series:
        Series that gained or changed instances, each with its study (Series Instance UID →
        Study Instance UID).
    """

    added: int = 0
    already_present: int = 0
    updated: int = 0
    non_image: int = 0
    errors: list[FileError] = field(default_factory=list)
    thumbnails: int = 0
    files: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    series: dict[str, str] = field(default_factory=dict)

    @property
    def imported(self) -> int:
        """Instances of the imported paths that the database now holds."""
        return self.added + self.already_present + self.updated

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The ``workstation import --json`` report (updated instances count as present)."""
        return {
            "added": self.added,
            "already_present": self.already_present + self.updated,
            "non_image": self.non_image,
            "errors": [error.to_json() for error in self.errors],
        }


def import_paths(
    db: StudyDatabase,
    paths: str | Path | Sequence[str | Path],
    *,
    copy: bool = False,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    limits: Limits = DEFAULT_LIMITS,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Index (or, with ``copy``, copy in) the DICOM objects under ``paths``.

    Parameters
    ----------
    db:
        The database, opened by the calling thread.
    paths:
        Files, folders, zip archives or DICOMDIR files (pass the DICOMDIR itself to import
        just the objects it references).
    copy:
        Copy the objects into managed storage instead of indexing them where they are.
    progress:
        Called with ``(done, total)`` objects as the import advances.
    cancel:
        Polled before each object; True stops the import (see the module notes).
    limits:
        The engine's bounds on what one file may make it allocate.
    batch_size:
        Objects per transaction.
    """
    started = time.perf_counter()
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    sources: list[Source] = []
    errors: list[FileError] = []
    archives: list[ZipArchive] = []
    for item in items:
        found = discover(Path(item), limits)
        sources.extend(found.sources)
        errors.extend(found.errors)
        archives.extend(found.archives)
    try:
        report = import_sources(
            db,
            sources,
            copy=copy,
            progress=progress,
            cancel=cancel,
            limits=limits,
            batch_size=batch_size,
        )
    finally:
        for archive in archives:
            archive.close()
    report.errors[:0] = errors
    report.seconds = time.perf_counter() - started
    return report


def import_sources(
    db: StudyDatabase,
    sources: Sequence[Source],
    *,
    copy: bool = False,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    limits: Limits = DEFAULT_LIMITS,
    batch_size: int = BATCH_SIZE,
    thumbnails: bool = True,
    kept: dict[str, list[InstanceHeader]] | None = None,
    memo: HeaderMemo | None = None,
) -> ImportReport:
    """:func:`import_paths` for objects already found (files, zip members, bytes in memory).

    Objects that are neither files nor zip members (a retrieved instance in memory) are always
    copied into managed storage. ``thumbnails=False`` makes none: a caller filing a stream of
    small imports (instances arriving from a PACS) makes them once at the end with
    :func:`thumbnails_from_headers` (or :func:`refresh_thumbnails`) for the series the reports
    name, passing the same ``kept`` dict to every call: it collects, per series, the headers
    read of the instances that were filed, their sources the stored copies (never the bytes
    in memory), so the thumbnails need not read those headers again. ``memo`` carries the
    layouts learnt by earlier imports of the same stream (one per filing thread).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    report = ImportReport(files=len(sources))
    session = _Session(db, copy, report, kept)
    memo = memo if memo is not None else HeaderMemo()  # the batches of one import share it
    total = len(sources)
    for start in range(0, total, batch_size):
        batch = list(sources[start : start + batch_size])

        def batch_progress(done: int, _: int, offset: int = start) -> None:
            if progress is not None:
                progress(offset + done, total)

        try:
            headers, errors, non_image = read_headers(batch, limits, batch_progress, cancel, memo)
        except Cancelled:
            report.cancelled = True
            break
        report.errors.extend(errors)
        report.non_image += non_image
        session.store(headers)
    if not report.cancelled and thumbnails:
        session.make_thumbnails(limits, cancel)
    report.seconds = time.perf_counter() - started
    return report


def refresh_thumbnails(
    db: StudyDatabase,
    series_uids: Iterable[str],
    *,
    limits: Limits = DEFAULT_LIMITS,
    cancel: Cancel | None = None,
) -> int:
    """Make (again) the thumbnails of the given series from all of their instances."""
    made = 0
    for uid in series_uids:
        if cancel is not None and cancel():
            break
        made += _store_thumbnail(db, uid, scan_series(db, uid, limits).headers, limits)
    return made


def _store_thumbnail(
    db: StudyDatabase, uid: str, headers: list[InstanceHeader] | None, limits: Limits
) -> bool:
    """Make and keep the thumbnail of series ``uid`` from ``headers``; whether one was made."""
    thumbnail = thumbnail_of_series(headers, limits) if headers is not None else None
    if thumbnail is None:
        return False
    with db.transaction() as connection:
        _save_thumbnail(connection, uid, thumbnail)
    return True


def thumbnails_from_headers(
    db: StudyDatabase,
    series_uids: Iterable[str],
    kept: dict[str, list[InstanceHeader]],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> int:
    """Make the thumbnails of the given series from the headers :func:`import_sources` kept.

    A series whose kept headers are not all of its instances (part of it came earlier, or the
    caller dropped them) is read as :func:`refresh_thumbnails` does.
    """
    return sum(
        _store_thumbnail(db, uid, _thumbnail_headers(db, uid, kept.get(uid, []), limits), limits)
        for uid in series_uids
    )


def _thumbnail_headers(
    db: StudyDatabase, uid: str, known: list[InstanceHeader], limits: Limits
) -> list[InstanceHeader] | None:
    """The headers to make a series' thumbnail from: ``known`` when it is all of the series;
    None when the series is gone."""
    row = db.connection.execute(
        "SELECT n_instances FROM series WHERE series_uid = ?", (uid,)
    ).fetchone()
    if row is None:
        return None
    unique = list({header.sop_instance_uid: header for header in known}.values())
    if row[0] != len(unique):
        # Part of the series came with an earlier import (or left since): read its headers.
        return scan_series(db, uid, limits).headers
    return unique


def make_missing_thumbnails(
    db: StudyDatabase, *, limits: Limits = DEFAULT_LIMITS, cancel: Cancel | None = None
) -> int:
    """Make the thumbnails series lack (after a cancelled import); the number made."""
    uids = [
        row[0]
        for row in db.connection.execute(
            "SELECT series_uid FROM series WHERE thumbnail IS NULL ORDER BY series_uid"
        )
    ]
    return refresh_thumbnails(db, uids, limits=limits, cancel=cancel)


class _Recorded(NamedTuple):
    """An instance row as the database holds it."""

    series_uid: str
    path: str
    member: str | None
    size: int
    mtime_ns: int
    managed: bool


class _Location(NamedTuple):
    """Where an instance is to be recorded."""

    path: str
    member: str | None
    size: int
    mtime_ns: int
    managed: bool


_UPSERT_PATIENT = """
INSERT INTO patients (patient_id, patient_name, birth_date, sex) VALUES (?, ?, ?, ?)
ON CONFLICT (patient_id, patient_name) DO UPDATE SET
    birth_date = CASE WHEN excluded.birth_date <> '' THEN excluded.birth_date ELSE birth_date END,
    sex = CASE WHEN excluded.sex <> '' THEN excluded.sex ELSE sex END
"""
_UPSERT_STUDY = """
INSERT INTO studies (study_uid, patient, study_date, study_time, description, accession)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (study_uid) DO UPDATE SET
    patient = excluded.patient,
    study_date = CASE WHEN excluded.study_date <> '' THEN excluded.study_date ELSE study_date END,
    study_time = CASE WHEN excluded.study_time <> '' THEN excluded.study_time ELSE study_time END,
    description =
        CASE WHEN excluded.description <> '' THEN excluded.description ELSE description END,
    accession = CASE WHEN excluded.accession <> '' THEN excluded.accession ELSE accession END
"""
_UPSERT_SERIES = """
INSERT INTO series (series_uid, study_uid, modality, description, number, frame_of_reference)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (series_uid) DO UPDATE SET
    study_uid = excluded.study_uid,
    modality = CASE WHEN excluded.modality <> '' THEN excluded.modality ELSE modality END,
    description =
        CASE WHEN excluded.description <> '' THEN excluded.description ELSE description END,
    number = coalesce(excluded.number, number),
    frame_of_reference = CASE WHEN excluded.frame_of_reference <> ''
        THEN excluded.frame_of_reference ELSE frame_of_reference END
"""
_UPSERT_INSTANCE = """
INSERT INTO instances (sop_instance_uid, series_uid, sop_class_uid, instance_number,
                       path, member, size, mtime_ns, managed, header)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (sop_instance_uid) DO UPDATE SET
    series_uid = excluded.series_uid, sop_class_uid = excluded.sop_class_uid,
    instance_number = excluded.instance_number, path = excluded.path, member = excluded.member,
    size = excluded.size, mtime_ns = excluded.mtime_ns, managed = excluded.managed,
    header = excluded.header
"""
_RECOUNT = """
UPDATE series SET n_instances =
    (SELECT count(*) FROM instances WHERE instances.series_uid = series.series_uid)
WHERE series_uid = ?
"""
_PRUNE = (
    "DELETE FROM series WHERE n_instances = 0",
    "DELETE FROM studies WHERE NOT EXISTS "
    "(SELECT 1 FROM series WHERE series.study_uid = studies.study_uid)",
    "DELETE FROM patients WHERE NOT EXISTS "
    "(SELECT 1 FROM studies WHERE studies.patient = patients.id)",
)


class _Session:
    """The state of one import across its batches."""

    def __init__(
        self,
        db: StudyDatabase,
        copy: bool,
        report: ImportReport,
        kept: dict[str, list[InstanceHeader]] | None = None,
    ) -> None:
        self.db = db
        self.copy = copy
        self.report = report
        self.seen: set[str] = set()
        #: Series to make a thumbnail for, with the headers of theirs this import filed.
        self.thumbnail_headers: dict[str, list[InstanceHeader]] = {} if kept is None else kept
        self._zip_mtimes: dict[str, int] = {}

    # --- one batch -----------------------------------------------------------------------

    def store(self, headers: list[InstanceHeader]) -> None:
        """Record one batch in one transaction (managed copies written inside it)."""
        usable = self._identified(headers)
        if not usable:
            return
        written: list[Path] = []
        replaced: list[str] = []
        counts = {"added": 0, "updated": 0, "present": 0}
        errors: list[FileError] = []
        #: Headers of the instances the database holds after this batch.
        stored: list[InstanceHeader] = []
        #: Headers read from memory, with the file now holding their object.
        rebind: list[tuple[InstanceHeader, Path]] = []
        try:
            with self.db.transaction() as connection:
                recorded = self._recorded(connection, [h.sop_instance_uid for h in usable])
                rows: list[tuple[Any, ...]] = []
                changed: dict[str, InstanceHeader] = {}
                touched: set[str] = set()
                for header in usable:
                    before = recorded.get(header.sop_instance_uid)
                    try:
                        location = self._place(header, before, written, rebind)
                    except DicomFileError as error:
                        errors.append(error.at(header.source.display))
                        continue
                    except OSError as exc:
                        errors.append(
                            FileError(
                                header.source.display,
                                ErrorCode.CORRUPT,
                                f"cannot read or copy: {exc.strerror or exc}",
                            )
                        )
                        continue
                    stored.append(header)
                    if location is None:
                        counts["present"] += 1
                        continue
                    counts["added" if before is None else "updated"] += 1
                    if before is not None:
                        touched.add(before.series_uid)
                        if before.managed and (
                            not location.managed or before.path != location.path
                        ):
                            replaced.append(before.path)
                    rows.append(
                        (
                            header.sop_instance_uid,
                            header.series_instance_uid,
                            header.sop_class_uid,
                            header.instance_number,
                            *location,
                            header_to_json(header),
                        )
                    )
                    changed.setdefault(header.series_instance_uid, header)
                self._write_hierarchy(connection, changed.values())
                connection.executemany(_UPSERT_INSTANCE, rows)
                touched.update(changed)
                connection.executemany(_RECOUNT, [(uid,) for uid in touched])
                for statement in _PRUNE:
                    connection.execute(statement)
        except BaseException:
            storage.remove_files(self.db.storage, written)  # copies of rows never committed
            raise
        storage.remove_copies(self.db.storage, replaced)
        for header, path in rebind:
            header.source = FileSource(path)  # let go of the bytes in memory
        self._keep_for_thumbnails(self.db.connection, stored, set(changed))
        self.report.series.update(
            {uid: header.study_instance_uid for uid, header in changed.items()}
        )
        self.report.added += counts["added"]
        self.report.updated += counts["updated"]
        self.report.already_present += counts["present"]
        self.report.errors.extend(errors)

    def _identified(self, headers: list[InstanceHeader]) -> list[InstanceHeader]:
        """Headers with the three UIDs, each instance once per import."""
        usable = []
        for header in headers:
            if not (
                header.sop_instance_uid and header.series_instance_uid and header.study_instance_uid
            ):
                self.report.errors.append(
                    FileError(
                        header.source.display,
                        ErrorCode.CORRUPT,
                        "no Study, Series or SOP Instance UID: the object cannot be indexed",
                    )
                )
            elif header.sop_instance_uid in self.seen:
                self.report.already_present += 1  # a second copy of an instance of this import
            else:
                self.seen.add(header.sop_instance_uid)
                usable.append(header)
        return usable

    @staticmethod
    def _recorded(connection: sqlite3.Connection, uids: list[str]) -> dict[str, _Recorded]:
        found: dict[str, _Recorded] = {}
        for start in range(0, len(uids), _CHUNK):
            chunk = uids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for uid, *values in connection.execute(
                "SELECT sop_instance_uid, series_uid, path, member, size, mtime_ns, managed "
                f"FROM instances WHERE sop_instance_uid IN ({marks})",
                chunk,
            ):
                series_uid, path, member, size, mtime_ns, managed = values
                found[uid] = _Recorded(series_uid, path, member, size, mtime_ns, bool(managed))
        return found

    def _place(
        self,
        header: InstanceHeader,
        before: _Recorded | None,
        written: list[Path],
        rebind: list[tuple[InstanceHeader, Path]],
    ) -> _Location | None:
        """Where to record the instance (copying it when needed); None when already present.

        An object in memory is listed in ``rebind`` with the managed file that holds it.
        """
        source = header.source
        in_place = not self.copy and isinstance(source, FileSource | ZipMemberSource)
        if in_place:
            location = self._location_in_place(source)
            if before is None:
                return location
            if (before.path, before.member) == (location.path, location.member):
                unchanged = (before.size, before.mtime_ns) == (location.size, location.mtime_ns)
                return None if unchanged else location
            return None if self._still_valid(before) else location
        if (
            before is not None
            and before.managed
            and self._still_valid(before)
            and _source_size(source) == before.size
        ):
            if not isinstance(source, FileSource | ZipMemberSource):
                rebind.append((header, storage.resolve(self.db.storage, before.path)))
            return None
        relative = storage.relative_path(
            header.study_instance_uid, header.series_instance_uid, header.sop_instance_uid
        )
        target = storage.resolve(self.db.storage, relative)
        existed = os.path.exists(target)  # noqa: PTH110 - cheaper than Path.exists
        status = storage.write_copy(source, target)
        if not existed:
            written.append(target)
        if not isinstance(source, FileSource | ZipMemberSource):
            rebind.append((header, target))
        return _Location(relative, None, status.st_size, status.st_mtime_ns, True)

    def _location_in_place(self, source: Source) -> _Location:
        if isinstance(source, ZipMemberSource):
            archive = _absolute(source.archive.path)
            mtime = self._zip_mtimes.get(archive)
            if mtime is None:
                mtime = self._zip_mtimes[archive] = Path(archive).stat().st_mtime_ns
            return _Location(archive, source.info.filename, source.info.file_size, mtime, False)
        assert isinstance(source, FileSource)
        path = _absolute(source.path)
        status = Path(path).stat()
        return _Location(path, None, status.st_size, status.st_mtime_ns, False)

    def _still_valid(self, before: _Recorded) -> bool:
        """Whether the recorded object is still there, unchanged."""
        try:
            if before.managed:
                path = storage.resolve(self.db.storage, before.path)
                return path.stat().st_size == before.size
            status = Path(before.path).stat()
        except (OSError, ValueError):
            return False
        if before.member is not None:  # an unchanged archive still holds its members
            return status.st_mtime_ns == before.mtime_ns
        return (status.st_size, status.st_mtime_ns) == (before.size, before.mtime_ns)

    @staticmethod
    def _write_hierarchy(connection: sqlite3.Connection, firsts: Iterable[InstanceHeader]) -> None:
        """Patient, study and series rows for the series that gained or changed instances."""
        patients: dict[tuple[str, str], int] = {}
        for header in firsts:
            key = (header.patient_id, header.patient_name)
            if key not in patients:
                connection.execute(
                    _UPSERT_PATIENT, (*key, header.patient_birth_date, header.patient_sex)
                )
                (patients[key],) = connection.execute(
                    "SELECT id FROM patients WHERE patient_id = ? AND patient_name = ?", key
                ).fetchone()
            connection.execute(
                _UPSERT_STUDY,
                (
                    header.study_instance_uid,
                    patients[key],
                    header.study_date,
                    header.study_time,
                    header.study_description,
                    header.accession_number,
                ),
            )
            connection.execute(
                _UPSERT_SERIES,
                (
                    header.series_instance_uid,
                    header.study_instance_uid,
                    header.modality,
                    header.series_description,
                    header.series_number,
                    header.frame_of_reference_uid,
                ),
            )

    def _keep_for_thumbnails(
        self, connection: sqlite3.Connection, headers: list[InstanceHeader], changed: set[str]
    ) -> None:
        """Remember the headers of series that gained instances or still lack a thumbnail."""
        by_series: dict[str, list[InstanceHeader]] = defaultdict(list)
        for header in headers:
            by_series[header.series_instance_uid].append(header)
        candidates = [uid for uid in by_series if uid not in changed]
        lacking: set[str] = set()
        for start in range(0, len(candidates), _CHUNK):
            chunk = candidates[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            lacking.update(
                row[0]
                for row in connection.execute(
                    f"SELECT series_uid FROM series WHERE thumbnail IS NULL "
                    f"AND series_uid IN ({marks})",
                    chunk,
                )
            )
        for uid, members in by_series.items():
            if uid in changed or uid in lacking or uid in self.thumbnail_headers:
                self.thumbnail_headers.setdefault(uid, []).extend(members)

    # --- after the last batch ------------------------------------------------------------

    def make_thumbnails(self, limits: Limits, cancel: Cancel | None) -> None:
        """Thumbnails of the series this import changed, written a few at a time."""
        pending: list[tuple[str, Thumbnail]] = []
        for uid, known in self.thumbnail_headers.items():
            if cancel is not None and cancel():
                self.report.cancelled = True
                break
            headers = _thumbnail_headers(self.db, uid, known, limits)
            if headers is None:
                continue
            thumbnail = thumbnail_of_series(headers, limits)
            if thumbnail is not None:
                pending.append((uid, thumbnail))
            if len(pending) >= 64:
                self._save_thumbnails(pending)
        self._save_thumbnails(pending)

    def _save_thumbnails(self, pending: list[tuple[str, Thumbnail]]) -> None:
        if not pending:
            return
        with self.db.transaction() as connection:
            for uid, thumbnail in pending:
                _save_thumbnail(connection, uid, thumbnail)
        self.report.thumbnails += len(pending)
        pending.clear()


def _save_thumbnail(connection: sqlite3.Connection, series_uid: str, thumbnail: Thumbnail) -> None:
    connection.execute(
        "UPDATE series SET thumbnail = ?, thumbnail_width = ?, thumbnail_height = ? "
        "WHERE series_uid = ?",
        (thumbnail.pixels, thumbnail.width, thumbnail.height, series_uid),
    )


def _absolute(path: Path) -> str:
    """An absolute, normalised path, symbolic links kept (the location the user gave)."""
    return os.path.abspath(path)  # noqa: PTH100 - Path.resolve() would follow links


def _source_size(source: Source) -> int:
    if isinstance(source, FileSource):
        return source.path.stat().st_size
    if isinstance(source, ZipMemberSource):
        return source.info.file_size
    with source.reader() as reader:
        return reader.size
