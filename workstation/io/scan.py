"""Scanning a path into a study tree with loadable stacks and a list of bad files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workstation.core.errors import DicomFileError, FileError
from workstation.core.study import StudyTree
from workstation.core.volume import Volume
from workstation.io.assemble import DicomStack, assemble
from workstation.io.discover import discover
from workstation.io.header import InstanceHeader
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.pixels import StackLoadError, load_stack
from workstation.io.reader import HeaderMemo, NotAnImage, read_header
from workstation.io.sources import Source

Progress = Callable[[int, int], None]


class Cancelled(Exception):  # noqa: N818 - the user's choice, not a failure
    """The scan was cancelled through its ``cancel`` callback."""


@dataclass
class ScanResult:
    """Everything found under the scanned paths."""

    tree: StudyTree
    stacks: list[DicomStack]
    errors: list[FileError]
    #: DICOM objects without an image (SR, DICOMDIR, presentation states...): not errors.
    non_image: int = 0
    headers: list[InstanceHeader] = field(default_factory=list, repr=False)


def scan(
    paths: str | Path | list[str | Path],
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ScanResult:
    """Index ``paths`` (files, folders, zip archives, DICOMDIR) without decoding any pixel."""
    items = paths if isinstance(paths, list) else [paths]
    sources: list[Source] = []
    errors: list[FileError] = []
    for item in items:
        found = discover(Path(item), limits)
        sources.extend(found.sources)
        errors.extend(found.errors)
    headers, header_errors, non_image = read_headers(sources, limits, progress, cancel)
    errors.extend(header_errors)
    tree, stacks = assemble(headers)
    return ScanResult(tree, stacks, errors, non_image, headers)


def read_headers(
    sources: list[Source],
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    memo: HeaderMemo | None = None,
) -> tuple[list[InstanceHeader], list[FileError], int]:
    """The headers of ``sources``, the errors of those that failed and the count of objects
    without an image. ``memo`` carries what earlier calls of the same thread learned about the
    objects' layouts (a stream of batches from one series); each call otherwise starts anew."""
    headers: list[InstanceHeader] = []
    errors: list[FileError] = []
    non_image = 0
    total = len(sources)
    if memo is None:
        memo = HeaderMemo()
    for done, source in enumerate(sources, start=1):
        if cancel is not None and cancel():
            raise Cancelled
        try:
            headers.append(read_header(source, limits, memo))
        except NotAnImage:
            non_image += 1
        except DicomFileError as error:
            errors.append(error.at(source.display))
        if progress is not None and (done % 64 == 0 or done == total):
            progress(done, total)
    return headers, errors, non_image


def load_tolerant(
    stack: DicomStack, limits: Limits = DEFAULT_LIMITS
) -> tuple[Volume | None, DicomStack, list[FileError]]:
    """Load a stack; objects that fail to decode are reported and the rest reassembled.

    Returns the volume (None when nothing usable is left), the stack it was loaded from (the
    reassembled one when objects were dropped, with its own warnings) and the errors.
    """
    errors: list[FileError] = []
    current = stack
    while True:
        try:
            return load_stack(current, limits), current, errors
        except StackLoadError as failure:
            errors.append(FileError(failure.source, failure.code, failure.message))
            remaining = list(
                {
                    id(ref.header): ref.header
                    for ref in current.frames
                    if ref.header.source.display != failure.source
                }.values()
            )
            if not remaining:
                return None, current, errors
            _, rebuilt = assemble(remaining)
            if not rebuilt:
                return None, current, errors
            largest = max(rebuilt, key=lambda s: len(s.frames))
            largest.index = stack.index
            current = largest
