"""One interface to every place studies come from: :class:`DataSource`.

The local study database (:mod:`~workstation.pacs.local`), a DICOMweb node
(:mod:`~workstation.pacs.dicomweb`) and a DIMSE node (:mod:`~workstation.pacs.dimse`) all
answer the same calls, so the browser, the command line and the sync jobs never ask which
kind they hold:

- :meth:`DataSource.echo`: is the node there (C-ECHO, or a minimal QIDO-RS query)?
- :meth:`DataSource.find_studies` / :meth:`~DataSource.find_series` /
  :meth:`~DataSource.find_instances`: the query levels of PS3.4 C.6.2 (study root);
- :meth:`DataSource.retrieve`: instance after instance into an :class:`InstanceSink`, never a
  whole study in memory;
- :meth:`DataSource.store`: send files or datasets (STOW-RS, C-STORE).

Records read from a node are validated before anything else sees them: a UID must be a UID
(:func:`valid_uid`); entries that are not are dropped, so a hostile answer can never put
``../`` into a request path (nothing from a node ever becomes a file name: the library names
files by hashes, see :mod:`workstation.pacs.storage`).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: ``(done, total)`` instances.
Progress = Callable[[int, int], None]
#: Polled between instances; True stops the operation.
Cancel = Callable[[], bool]

#: PS3.5 §9.1: digits and dots, at most 64 characters. Components with a leading zero are
#: accepted (they occur in the field); anything else is not a UID.
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
MAX_UID_LENGTH = 64
#: Characters never allowed in a query value: the DICOM value separator and control codes.
_FORBIDDEN_IN_QUERY = re.compile(r"[\\\x00-\x1f\x7f]")
#: Bound on a text filter (LO and PN components are at most 64 characters).
_MAX_QUERY_TEXT = 64


def valid_uid(text: object) -> bool:
    """Whether ``text`` is a DICOM UID (PS3.5 §9.1), so it may go into a request."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= MAX_UID_LENGTH
        and _UID.fullmatch(text) is not None
    )


def check_uid(text: str, what: str = "UID") -> str:
    """``text`` when it is a UID; otherwise ``ValueError`` naming ``what`` (text shortened)."""
    if not valid_uid(text):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(f"{what} is not a DICOM UID (digits and dots, at most 64): {shown!r}")
    return text


def _check_text(name: str, value: str) -> str:
    value = value.strip()
    if len(value) > _MAX_QUERY_TEXT:
        raise ValueError(f"{name} is longer than {_MAX_QUERY_TEXT} characters")
    if _FORBIDDEN_IN_QUERY.search(value):
        raise ValueError(f"{name} must not hold a backslash or control characters")
    return value


def _check_date(name: str, value: str) -> str:
    text = value.strip().replace("-", "")
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        datetime.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYYMMDD, got {value!r}") from None
    return text


@dataclass(frozen=True)
class StudyQuery:
    """What to look for at the study level; empty fields match everything.

    Attributes
    ----------
    patient_id:
        Patient ID (0010,0020); ``*`` and ``?`` are wildcards (PS3.4 C.2.2.2.4).
    patient_name:
        Patient's Name (0010,0010); wildcards as above. Most nodes compare case-insensitively.
    study_date_from, study_date_to:
        Inclusive bounds on Study Date, YYYYMMDD; either may be empty (open range).
    modality:
        Studies with a series of this modality (Modalities in Study, 0008,0061).
    accession_number:
        Accession Number (0008,0050).
    study_instance_uid:
        One study.
    limit:
        At most this many studies are returned.
    """

    patient_id: str = ""
    patient_name: str = ""
    study_date_from: str = ""
    study_date_to: str = ""
    modality: str = ""
    accession_number: str = ""
    study_instance_uid: str = ""
    limit: int = 500

    def __post_init__(self) -> None:
        for name in ("patient_id", "patient_name", "modality", "accession_number"):
            object.__setattr__(self, name, _check_text(name, getattr(self, name)))
        for name in ("study_date_from", "study_date_to"):
            value = getattr(self, name)
            object.__setattr__(self, name, _check_date(name, value) if value.strip() else "")
        if (
            self.study_date_from
            and self.study_date_to
            and self.study_date_from > self.study_date_to
        ):
            raise ValueError("study_date_from is after study_date_to")
        if self.study_instance_uid:
            check_uid(self.study_instance_uid, "study_instance_uid")
        if self.modality and not re.fullmatch(r"[A-Z0-9_ ]{1,16}", self.modality.upper()):
            raise ValueError(f"modality must be a code such as CT or MR, got {self.modality!r}")
        object.__setattr__(self, "modality", self.modality.upper())
        if not 1 <= self.limit <= 100_000:
            raise ValueError("limit must lie in 1..100000")

    @property
    def date_range(self) -> str:
        """The Study Date matching value: ``""``, ``D``, ``D1-D2``, ``D1-`` or ``-D2``."""
        if not (self.study_date_from or self.study_date_to):
            return ""
        if self.study_date_from == self.study_date_to:
            return self.study_date_from
        return f"{self.study_date_from}-{self.study_date_to}"

    @staticmethod
    def parse_date_range(text: str) -> tuple[str, str]:
        """``FROM-TO`` (either side may be empty, ISO dashes allowed in each date) as a pair.

        ``20240101-20241231``, ``2024-01-01-2024-12-31``, ``20240101-``, ``-20241231`` and a
        single date ``20240115`` are understood.
        """
        text = text.strip()
        date = r"(\d{8}|\d{4}-\d{2}-\d{2})"
        found = re.fullmatch(f"{date}?(-)?{date}?", text)
        if not text or found is None or not (found.group(1) or found.group(3)):
            raise ValueError(f"a date range is FROM-TO as YYYYMMDD, got {text!r}")
        start, dash, end = found.group(1) or "", found.group(2), found.group(3) or ""
        if not dash:
            end = start
        return (
            _check_date("study date", start) if start else "",
            _check_date("study date", end) if end else "",
        )


@dataclass(frozen=True)
class TransferLimits:
    """Bounds on what a node's answers may make us hold in memory.

    Attributes
    ----------
    max_json_bytes:
        One QIDO-RS / metadata / STOW-RS answer (after decompression).
    max_instance_bytes:
        One retrieved instance (a multipart part, a C-STORE dataset).
    max_results:
        Entries of one query answer; more are refused (C-FIND) or cut off.
    store_batch_bytes, store_batch_instances:
        What one STOW-RS request carries at most.
    """

    max_json_bytes: int = 64 << 20
    max_instance_bytes: int = 2 << 30
    max_results: int = 100_000
    store_batch_bytes: int = 32 << 20
    store_batch_instances: int = 100


DEFAULT_TRANSFER_LIMITS = TransferLimits()


@dataclass(frozen=True, slots=True)
class RemoteStudy:
    """A study as a node describes it (study level of a C-FIND or QIDO-RS answer)."""

    study_instance_uid: str
    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry of ``workstation pacs find --json``."""
        return {
            "study_instance_uid": self.study_instance_uid,
            "patient_name": self.patient_name,
            "patient_id": self.patient_id,
            "study_date": self.study_date,
            "study_time": self.study_time,
            "study_description": self.study_description,
            "accession_number": self.accession_number,
            "modalities": list(self.modalities),
            "n_series": self.n_series,
            "n_instances": self.n_instances,
        }


@dataclass(frozen=True, slots=True)
class RemoteSeries:
    """A series as a node describes it."""

    series_instance_uid: str
    study_instance_uid: str
    modality: str = ""
    series_description: str = ""
    series_number: int | None = None
    n_instances: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "series_instance_uid": self.series_instance_uid,
            "modality": self.modality,
            "series_description": self.series_description,
            "series_number": self.series_number,
            "n_instances": self.n_instances,
        }


@dataclass(frozen=True, slots=True)
class RemoteInstance:
    """One instance of a series (image level): what resuming a retrieval compares."""

    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    sop_class_uid: str = ""
    instance_number: int | None = None


@dataclass
class StoreReport:
    """What a :meth:`DataSource.store` did."""

    sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": [{"object": what, "reason": why} for what, why in self.failed],
            "cancelled": self.cancelled,
        }


@runtime_checkable
class InstanceSink(Protocol):
    """Where retrieved instances go, one complete DICOM Part 10 object at a time.

    ``put`` may block (a full queue slows the transfer down instead of filling memory) and
    may raise to stop the transfer (the library cannot be written, say).
    """

    def put(self, data: bytes) -> None: ...


#: What :meth:`DataSource.store` sends: files, encoded Part 10 bytes, or pydicom datasets.
Storable = Path | bytes | Any


@runtime_checkable
class DataSource(Protocol):
    """A place studies can be found in, retrieved from and sent to.

    Every call that goes over the network has a timeout and raises
    :class:`~workstation.pacs.errors.PacsError` (with a reason) on failure, never another
    exception type and never hangs. Sources are used from one thread at a time; open one per
    thread (they are cheap: connections are made per call or pooled inside).
    """

    #: The node's name as the user knows it (a configured name, or the inline spec).
    name: str

    def echo(self) -> float:
        """Check the node answers; the round trip in seconds."""
        ...

    def find_studies(self, query: StudyQuery) -> list[RemoteStudy]:
        """Studies matching ``query``, at most ``query.limit``."""
        ...

    def find_series(self, study_uid: str) -> list[RemoteSeries]:
        """The series of one study."""
        ...

    def find_instances(self, study_uid: str, series_uid: str) -> list[RemoteInstance]:
        """The instances of one series (their SOP Instance UIDs, classes and numbers)."""
        ...

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
        """Stream a study, a series, or given instances of a series into ``sink``.

        Returns the number of instances put into the sink. Cancelling stops between
        instances and returns normally (the count says how far it got).
        """
        ...

    def store(
        self,
        items: Sequence[Storable],
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> StoreReport:
        """Send DICOM objects to the node."""
        ...

    def close(self) -> None:
        """Release connections (the source is not used afterwards)."""
        ...


def match_wildcard(pattern: str, value: str, *, fold: bool) -> bool:
    """DICOM wildcard matching (``*`` any run, ``?`` one character), as a C-FIND SCP does.

    ``fold`` compares case-insensitively with ``^`` and space equal (person names).
    """
    if not pattern or pattern == "*":
        return True
    if fold:
        pattern, value = pattern.casefold().replace("^", " "), value.casefold().replace("^", " ")
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.strip()
    )
    return re.fullmatch(regex, value.strip(), flags=re.DOTALL) is not None


def bounded_int(value: object, *, upper: int = 10_000_000) -> int | None:
    """A non-negative count or number from a node's answer; None when absent or absurd."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= upper else None


def clean_text(value: object, limit: int = 256) -> str:
    """A display string from a node: control characters removed, length bounded."""
    if value is None:
        return ""
    text = str(value)
    text = "".join(c if c.isprintable() else " " for c in text[: limit * 2])
    return text.strip()[:limit]


def sop_classes_of(instances: Sequence[RemoteInstance]) -> list[str]:
    """The distinct valid SOP Class UIDs of ``instances``, in first-seen order."""
    seen: dict[str, None] = {}
    for instance in instances:
        if valid_uid(instance.sop_class_uid):
            seen.setdefault(instance.sop_class_uid, None)
    return list(seen)


def quote_for_log(uid: str) -> str:
    """A UID shortened for log lines (UIDs are no patient data, but may be long)."""
    return uid if len(uid) <= 24 else f"{uid[:10]}…{uid[-10:]}"


__all__ = [
    "Cancel",
    "DataSource",
    "InstanceSink",
    "Progress",
    "RemoteInstance",
    "RemoteSeries",
    "RemoteStudy",
    "Storable",
    "StoreReport",
    "StudyQuery",
    "TransferLimits",
    "check_uid",
    "match_wildcard",
    "valid_uid",
]
