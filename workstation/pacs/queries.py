"""Reading the study database: the browser's searches and counts."""

from __future__ import annotations

import datetime
from collections import defaultdict

from workstation.pacs.database import StudyDatabase, fold
from workstation.pacs.records import SeriesRecord, StudyRecord, Thumbnail

_CHUNK = 500


def _check_date(name: str, value: str) -> str:
    """A DICOM DA value (PS3.5 §6.2): eight digits forming a real date."""
    try:
        if len(value) != 8 or not value.isdigit():
            raise ValueError
        datetime.datetime.strptime(value, "%Y%m%d")
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYYMMDD, got {value!r}") from None
    return value


def find_studies(
    db: StudyDatabase,
    *,
    text: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    modality: str | None = None,
    with_thumbnails: bool = True,
) -> list[StudyRecord]:
    """Studies matching every given filter, newest first, each with all of its series.

    Parameters
    ----------
    text:
        Case-insensitive substring of the patient's name or ID; ``^`` (the PN component
        separator) and a space match each other, so "doe john" finds ``Doe^John``.
    date_from, date_to:
        Inclusive bounds on the Study Date, as YYYYMMDD; studies without a date are left out
        when either is given.
    modality:
        Studies with at least one series of this modality (case-insensitive); every series
        of such a study is returned, as ModalitiesInStudy matching does in a C-FIND.
    with_thumbnails:
        False leaves ``thumbnail`` None (lists that show no pictures read less).

    Raises
    ------
    ValueError
        When a date is not YYYYMMDD.
    """
    conditions: list[str] = []
    parameters: list[str] = []
    if text:
        needle = fold(text.strip())
        conditions.append(
            "(instr(ws_fold(p.patient_name), ?) > 0 OR instr(ws_fold(p.patient_id), ?) > 0)"
        )
        parameters += [needle, needle]
    if date_from:
        conditions.append("st.study_date >= ?")
        parameters.append(_check_date("date_from", date_from))
    if date_to:
        conditions.append("st.study_date <> '' AND st.study_date <= ?")
        parameters.append(_check_date("date_to", date_to))
    if modality:
        conditions.append(
            "EXISTS (SELECT 1 FROM series se WHERE se.study_uid = st.study_uid "
            "AND upper(se.modality) = upper(?))"
        )
        parameters.append(modality.strip())
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = db.connection.execute(
        "SELECT st.study_uid, p.patient_name, p.patient_id, p.birth_date, p.sex, "
        "st.study_date, st.study_time, st.description, st.accession "
        f"FROM studies st JOIN patients p ON p.id = st.patient {where} "
        "ORDER BY st.study_date DESC, st.study_time DESC, p.patient_name, st.study_uid",
        parameters,
    ).fetchall()
    series = _series_of(db, [row[0] for row in rows], with_thumbnails)
    return [
        StudyRecord(
            study_instance_uid=uid,
            patient_name=name,
            patient_id=patient_id,
            patient_birth_date=birth_date,
            patient_sex=sex,
            study_date=date,
            study_time=time,
            study_description=description,
            accession_number=accession,
            series=tuple(series.get(uid, ())),
        )
        for uid, name, patient_id, birth_date, sex, date, time, description, accession in rows
    ]


def _series_of(
    db: StudyDatabase, study_uids: list[str], with_thumbnails: bool
) -> dict[str, list[SeriesRecord]]:
    picture = (
        "thumbnail, thumbnail_width, thumbnail_height" if with_thumbnails else "NULL, NULL, NULL"
    )
    found: dict[str, list[SeriesRecord]] = defaultdict(list)
    for start in range(0, len(study_uids), _CHUNK):
        chunk = study_uids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for (
            series_uid,
            study_uid,
            modality,
            description,
            number,
            frame_of_reference,
            n_instances,
            pixels,
            width,
            height,
        ) in db.connection.execute(
            "SELECT series_uid, study_uid, modality, description, number, frame_of_reference, "
            f"n_instances, {picture} FROM series WHERE study_uid IN ({marks}) "
            "ORDER BY number IS NULL, number, series_uid",
            chunk,
        ):
            thumbnail = Thumbnail(width, height, bytes(pixels)) if pixels is not None else None
            found[study_uid].append(
                SeriesRecord(
                    series_instance_uid=series_uid,
                    study_instance_uid=study_uid,
                    modality=modality,
                    series_description=description,
                    series_number=number,
                    frame_of_reference_uid=frame_of_reference,
                    n_instances=n_instances,
                    thumbnail=thumbnail,
                )
            )
    return found


def study_count(db: StudyDatabase) -> int:
    """How many studies the database holds."""
    (count,) = db.connection.execute("SELECT count(*) FROM studies").fetchone()
    return int(count)


def instance_count(db: StudyDatabase) -> int:
    """How many instances the database holds."""
    (count,) = db.connection.execute("SELECT count(*) FROM instances").fetchone()
    return int(count)
