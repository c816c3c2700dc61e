"""The local study library as a :class:`~workstation.pacs.source.DataSource`.

Queries go to :mod:`workstation.pacs.queries`; "retrieving" reads the library's own files into
a sink (to send a local study elsewhere, say); "storing" imports into managed storage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workstation.io.sources import MemorySource, Source
from workstation.pacs.database import StudyDatabase
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.importer import import_paths, import_sources
from workstation.pacs.loading import series_sources
from workstation.pacs.queries import find_studies
from workstation.pacs.source import (
    Cancel,
    InstanceSink,
    Progress,
    RemoteInstance,
    RemoteSeries,
    RemoteStudy,
    Storable,
    StoreReport,
    StudyQuery,
    match_wildcard,
)

LOCAL_NAME = "local"


class LocalSource:
    """The study database opened by the calling thread (see :mod:`workstation.pacs.database`)."""

    delivers_on_caller_thread = True

    def __init__(self, db: StudyDatabase, name: str = LOCAL_NAME) -> None:
        self.db = db
        self.name = name

    def echo(self) -> float:
        started = time.perf_counter()
        self.db.connection.execute("SELECT 1").fetchone()
        return time.perf_counter() - started

    def find_studies(self, query: StudyQuery) -> list[RemoteStudy]:
        records = find_studies(
            self.db,
            date_from=query.study_date_from or None,
            date_to=query.study_date_to or None,
            modality=query.modality or None,
            with_thumbnails=False,
        )
        found = []
        for record in records:
            if query.study_instance_uid and record.study_instance_uid != query.study_instance_uid:
                continue
            if not match_wildcard(query.patient_id, record.patient_id, fold=False):
                continue
            if not match_wildcard(query.patient_name, record.patient_name, fold=True):
                continue
            if not match_wildcard(query.accession_number, record.accession_number, fold=False):
                continue
            found.append(
                RemoteStudy(
                    study_instance_uid=record.study_instance_uid,
                    patient_name=record.patient_name,
                    patient_id=record.patient_id,
                    patient_birth_date=record.patient_birth_date,
                    patient_sex=record.patient_sex,
                    study_date=record.study_date,
                    study_time=record.study_time,
                    study_description=record.study_description,
                    accession_number=record.accession_number,
                    modalities=record.modalities,
                    n_series=len(record.series),
                    n_instances=record.n_instances,
                )
            )
            if len(found) >= query.limit:
                break
        return found

    def find_series(self, study_uid: str) -> list[RemoteSeries]:
        rows = self.db.connection.execute(
            "SELECT series_uid, modality, description, number, n_instances FROM series "
            "WHERE study_uid = ? ORDER BY number IS NULL, number, series_uid",
            (study_uid,),
        ).fetchall()
        return [
            RemoteSeries(uid, study_uid, modality, description, number, n)
            for uid, modality, description, number, n in rows
        ]

    def find_instances(self, study_uid: str, series_uid: str) -> list[RemoteInstance]:
        rows = self.db.connection.execute(
            "SELECT i.sop_instance_uid, i.sop_class_uid, i.instance_number FROM instances i "
            "JOIN series s ON s.series_uid = i.series_uid "
            "WHERE i.series_uid = ? AND s.study_uid = ? "
            "ORDER BY i.instance_number IS NULL, i.instance_number, i.sop_instance_uid",
            (series_uid, study_uid),
        ).fetchall()
        return [
            RemoteInstance(uid, series_uid, study_uid, sop_class, number)
            for uid, sop_class, number in rows
        ]

    def retrieve(
        self,
        study_uid: str,
        series_uid: str | None = None,
        *,
        sink: InstanceSink,
        instance_uids: Sequence[str] | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> int:
        series = (
            [series_uid]
            if series_uid
            else [s.series_instance_uid for s in self.find_series(study_uid)]
        )
        wanted = set(instance_uids) if instance_uids is not None else None
        sources: list[Source] = []
        for uid in series:
            if wanted is None:
                sources.extend(series_sources(self.db, uid))
            else:
                rows = self.db.connection.execute(
                    "SELECT sop_instance_uid FROM instances WHERE series_uid = ? "
                    "ORDER BY instance_number IS NULL, instance_number, path, member",
                    (uid,),
                ).fetchall()
                located = series_sources(self.db, uid)
                sources.extend(s for (sop,), s in zip(rows, located, strict=False) if sop in wanted)
        done = 0
        for source in sources:
            if cancel is not None and cancel():
                break
            try:
                with source.reader() as reader:
                    data = reader.read_all()
            except Exception as exc:
                raise PacsError(
                    PacsReason.NOT_FOUND, f"a library file cannot be read: {exc}", node=self.name
                ) from exc
            sink.put(data)
            done += 1
            if progress is not None:
                progress(done, len(sources))
        return done

    def store(
        self,
        items: Sequence[Storable],
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> StoreReport:
        started = time.perf_counter()
        files = [Path(item) for item in items if isinstance(item, str | Path)]
        others: list[Source] = [
            MemorySource(_encoded(item), f"<object {n}>")
            for n, item in enumerate(items)
            if not isinstance(item, str | Path)
        ]
        report = StoreReport()
        if files:
            imported = import_paths(self.db, files, copy=True, progress=progress, cancel=cancel)
            report.sent += imported.imported
            report.failed += [(e.path, f"{e.code.value}: {e.message}") for e in imported.errors]
            report.cancelled |= imported.cancelled
        if others:
            imported = import_sources(self.db, others, copy=True, cancel=cancel)
            report.sent += imported.imported
            report.failed += [(e.path, f"{e.code.value}: {e.message}") for e in imported.errors]
            report.cancelled |= imported.cancelled
        report.seconds = time.perf_counter() - started
        return report

    def close(self) -> None:
        """The database belongs to the caller, who closes it."""


def _encoded(item: Any) -> bytes:
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    from workstation.pacs.encoding import encode_dataset

    return encode_dataset(item)
