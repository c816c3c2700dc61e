"""Reading the DICOM JSON model (PS3.18 §F.2) that QIDO-RS and WADO-RS metadata answer with.

A node's answer is untrusted input: every value is type-checked, text is cleaned and bounded,
and an entry whose UIDs are not UIDs (``../x``, slashes, 500 characters) is dropped and
counted, never passed on. Nothing here raises on a malformed *entry*; a malformed *document*
(not a JSON array of objects) raises :class:`~workstation.pacs.errors.PacsError` (protocol).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.source import (
    RemoteInstance,
    RemoteSeries,
    RemoteStudy,
    bounded_int,
    clean_text,
    valid_uid,
)

log = logging.getLogger(__name__)

PATIENT_NAME = "00100010"
PATIENT_ID = "00100020"
PATIENT_BIRTH_DATE = "00100030"
PATIENT_SEX = "00100040"
STUDY_DATE = "00080020"
STUDY_TIME = "00080030"
ACCESSION_NUMBER = "00080050"
MODALITIES_IN_STUDY = "00080061"
MODALITY = "00080060"
STUDY_DESCRIPTION = "00081030"
SERIES_DESCRIPTION = "0008103E"
STUDY_INSTANCE_UID = "0020000D"
SERIES_INSTANCE_UID = "0020000E"
SOP_CLASS_UID = "00080016"
SOP_INSTANCE_UID = "00080018"
SERIES_NUMBER = "00200011"
INSTANCE_NUMBER = "00200013"
N_STUDY_SERIES = "00201206"
N_STUDY_INSTANCES = "00201208"
N_SERIES_INSTANCES = "00201209"

T = TypeVar("T")


def parse_document(data: bytes, what: str) -> list[dict[str, Any]]:
    """The JSON array of a QIDO-RS or metadata answer (an empty body is an empty list)."""
    if not data.strip():
        return []
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PacsError(PacsReason.PROTOCOL, f"the {what} answer is not JSON: {exc}") from None
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise PacsError(PacsReason.PROTOCOL, f"the {what} answer is not a list of datasets")
    return document


def values(item: dict[str, Any], tag: str) -> list[Any]:
    """The ``Value`` array of an attribute, [] when absent or malformed."""
    element = item.get(tag) if isinstance(item, dict) else None
    if not isinstance(element, dict):
        return []
    found = element.get("Value")
    return found if isinstance(found, list) else []


def text(item: dict[str, Any], tag: str, limit: int = 256) -> str:
    """The first value as display text; person names as their alphabetic group."""
    found = values(item, tag)
    if not found:
        return ""
    first = found[0]
    if isinstance(first, dict):  # PN: {"Alphabetic": ..., "Ideographic": ...}
        first = first.get("Alphabetic", "")
    if not isinstance(first, str | int | float):
        return ""
    return clean_text(first, limit)


def texts(item: dict[str, Any], tag: str, limit: int = 32) -> tuple[str, ...]:
    """Every value as short text (Modalities in Study), at most 64 of them."""
    return tuple(
        clean_text(value, limit) for value in values(item, tag)[:64] if isinstance(value, str)
    )


def uid(item: dict[str, Any], tag: str) -> str | None:
    """The UID value, or None when absent or not a UID."""
    found = values(item, tag)
    if len(found) != 1 or not valid_uid(found[0]):
        return None
    value: str = found[0]
    return value


def number(item: dict[str, Any], tag: str) -> int | None:
    found = values(item, tag)
    return bounded_int(found[0]) if found else None


def _collect(
    document: list[dict[str, Any]], build: Callable[[dict[str, Any]], T | None], what: str
) -> list[T]:
    records: list[T] = []
    dropped = 0
    for item in document:
        record = build(item)
        if record is None:
            dropped += 1
        else:
            records.append(record)
    if dropped:
        log.warning("dropped %d %s entr(ies) whose UIDs are not valid DICOM UIDs", dropped, what)
    return records


def studies(document: list[dict[str, Any]]) -> list[RemoteStudy]:
    """Study-level records; entries without a valid Study Instance UID are dropped."""

    def build(item: dict[str, Any]) -> RemoteStudy | None:
        study_uid = uid(item, STUDY_INSTANCE_UID)
        if study_uid is None:
            return None
        return RemoteStudy(
            study_instance_uid=study_uid,
            patient_name=text(item, PATIENT_NAME),
            patient_id=text(item, PATIENT_ID, 64),
            patient_birth_date=text(item, PATIENT_BIRTH_DATE, 8),
            patient_sex=text(item, PATIENT_SEX, 16),
            study_date=text(item, STUDY_DATE, 8),
            study_time=text(item, STUDY_TIME, 16),
            study_description=text(item, STUDY_DESCRIPTION),
            accession_number=text(item, ACCESSION_NUMBER, 64),
            modalities=texts(item, MODALITIES_IN_STUDY),
            n_series=number(item, N_STUDY_SERIES),
            n_instances=number(item, N_STUDY_INSTANCES),
        )

    return _collect(document, build, "study")


def series(document: list[dict[str, Any]], study_uid: str) -> list[RemoteSeries]:
    """Series-level records of ``study_uid``; entries of another study are dropped too."""

    def build(item: dict[str, Any]) -> RemoteSeries | None:
        series_uid = uid(item, SERIES_INSTANCE_UID)
        owner = uid(item, STUDY_INSTANCE_UID) if item.get(STUDY_INSTANCE_UID) else study_uid
        if series_uid is None or owner != study_uid:
            return None
        return RemoteSeries(
            series_instance_uid=series_uid,
            study_instance_uid=study_uid,
            modality=text(item, MODALITY, 16),
            series_description=text(item, SERIES_DESCRIPTION),
            series_number=number(item, SERIES_NUMBER),
            n_instances=number(item, N_SERIES_INSTANCES),
        )

    return _collect(document, build, "series")


def instances(
    document: list[dict[str, Any]], study_uid: str, series_uid: str
) -> list[RemoteInstance]:
    """Image-level records of one series (from QIDO-RS or WADO-RS metadata)."""

    def build(item: dict[str, Any]) -> RemoteInstance | None:
        sop_uid = uid(item, SOP_INSTANCE_UID)
        owner = uid(item, SERIES_INSTANCE_UID) if item.get(SERIES_INSTANCE_UID) else series_uid
        if sop_uid is None or owner != series_uid:
            return None
        return RemoteInstance(
            sop_instance_uid=sop_uid,
            series_instance_uid=series_uid,
            study_instance_uid=study_uid,
            sop_class_uid=uid(item, SOP_CLASS_UID) or "",
            instance_number=number(item, INSTANCE_NUMBER),
        )

    return _collect(document, build, "instance")
