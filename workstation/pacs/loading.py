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
from typing import Any

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io.assemble import assemble
from workstation.io.header import InstanceHeader
from workstation.io.header_codec import header_from_json
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


_ROWS = (
    "SELECT path, member, managed, size, mtime_ns, header FROM instances WHERE series_uid = ? "
    "ORDER BY instance_number IS NULL, instance_number, path, member"
)


def _located(
    db: StudyDatabase, series_uid: str, limits: Limits
) -> list[tuple[Source, tuple[Any, ...]]]:
    """Each instance of a series as a readable source, with its database row."""
    rows = db.connection.execute(_ROWS, (series_uid,)).fetchall()
    archives: dict[str, dict[str, ZipMemberSource] | str] = {}
    located: list[tuple[Source, tuple[Any, ...]]] = []
    for row in rows:
        path, member, managed = row[0], row[1], row[2]
        source: Source
        if managed:
            try:
                source = FileSource(storage.resolve(db.storage, path))
            except ValueError as exc:
                source = UnavailableSource(str(path), str(exc))
        elif member is None:
            source = FileSource(Path(path))
        else:
            source = _member_source(archives, path, member, limits)
        located.append((source, tuple(row)))
    return located


def series_sources(
    db: StudyDatabase, series_uid: str, limits: Limits = DEFAULT_LIMITS
) -> list[Source]:
    """Where the instances of a series are, in Instance Number order (empty when unknown)."""
    return [source for source, _ in _located(db, series_uid, limits)]


def _cached_header(source: Source, row: tuple[Any, ...]) -> InstanceHeader | None:
    """The header recorded at import, if the object is still the one that was read then."""
    _path, member, managed, size, mtime_ns, text = row
    if text is None or isinstance(source, UnavailableSource):
        return None
    if isinstance(source, FileSource):
        try:
            status = source.path.stat()
        except OSError:
            return None
        unchanged = status.st_size == size and (managed or status.st_mtime_ns == mtime_ns)
        if not unchanged:
            return None
    elif member is None:
        return None
    return header_from_json(text, source)


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
    """The stacks of one series of the database, ready for ``load_stack``.

    Headers recorded at import are used as they are for files that have not changed since
    (size and modification time), so a large series opens without reading its files first;
    the others are read again.
    """
    cached: list[InstanceHeader] = []
    stale: list[Source] = []
    for source, row in _located(db, series_uid, limits):
        header = _cached_header(source, row)
        if header is None:
            stale.append(source)
        else:
            cached.append(header)
    headers, errors, non_image = read_headers(stale, limits, progress, cancel)
    tree, stacks = assemble(cached + headers)
    return ScanResult(tree, stacks, errors, non_image, cached + headers)
