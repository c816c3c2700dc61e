"""From database rows back to loadable stacks.

``workstation.io.scan`` takes paths; the database knows its objects one by one (a file, a zip
member, a managed copy), so these functions hand the engine :class:`Source` objects directly:
``scan_series`` reads their headers (no pixels) and assembles the stacks, which
``workstation.io.load_stack`` then fills::

    result = scan_series(db, series_uid)
    volume = load_stack(result.stacks[0])
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io.assemble import assemble
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.scan import Progress, ScanResult, read_headers
from workstation.io.sources import FileSource, Reader, Source, ZipArchive, ZipMemberSource
from workstation.pacs import storage
from workstation.pacs.database import StudyDatabase


class UnavailableSource(Source):
    """An object the database lists but that cannot be reached any more (moved, deleted).

    Reading it raises ``corrupt`` with the reason, so a scan reports it like any other bad
    file and loads the rest.
    """

    __slots__ = ("display", "reason")

    def __init__(self, display: str, reason: str) -> None:
        self.display = display
        self.reason = reason

    def reader(self) -> Reader:
        raise DicomFileError(ErrorCode.CORRUPT, self.reason)


def series_sources(
    db: StudyDatabase, series_uid: str, limits: Limits = DEFAULT_LIMITS
) -> list[Source]:
    """Where the instances of a series are, in Instance Number order (empty when unknown)."""
    rows = db.connection.execute(
        "SELECT path, member, managed FROM instances WHERE series_uid = ? "
        "ORDER BY instance_number IS NULL, instance_number, path, member",
        (series_uid,),
    ).fetchall()
    archives: dict[str, dict[str, ZipMemberSource] | str] = {}
    sources: list[Source] = []
    for path, member, managed in rows:
        if managed:
            try:
                sources.append(FileSource(storage.resolve(db.storage, path)))
            except ValueError as exc:
                sources.append(UnavailableSource(str(path), str(exc)))
        elif member is None:
            sources.append(FileSource(Path(path)))
        else:
            sources.append(_member_source(archives, path, member, limits))
    return sources


def _member_source(
    archives: dict[str, dict[str, ZipMemberSource] | str], path: str, member: str, limits: Limits
) -> Source:
    display = f"{path}!{member}"
    if path not in archives:
        try:
            members = ZipArchive(Path(path), limits).members()
            archives[path] = {source.info.filename: source for source in members}
        except DicomFileError as error:
            archives[path] = error.message
    found = archives[path]
    if isinstance(found, str):
        return UnavailableSource(display, found)
    if member not in found:
        return UnavailableSource(display, "the zip archive no longer holds this member")
    return found[member]


def scan_sources(
    sources: list[Source],
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ScanResult:
    """:func:`workstation.io.scan` for sources instead of paths (raises ``Cancelled`` too)."""
    headers, errors, non_image = read_headers(sources, limits, progress, cancel)
    tree, stacks = assemble(headers)
    return ScanResult(tree, stacks, errors, non_image, headers)


def scan_series(
    db: StudyDatabase,
    series_uid: str,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ScanResult:
    """The stacks of one series of the database, ready for ``load_stack``."""
    return scan_sources(series_sources(db, series_uid, limits), limits, progress, cancel)
