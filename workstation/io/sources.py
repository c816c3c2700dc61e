"""Where the bytes of one DICOM object come from: a file, or a member of a zip archive.

Archive members are never written to disk, so their names never become paths
(the CVE-2022-2119 class of path traversal cannot arise).
"""

from __future__ import annotations

import io
import threading
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io.limits import DEFAULT_LIMITS, Limits


class Source(ABC):
    """A readable DICOM object."""

    #: How the object is named in reports: a path, or ``archive.zip!member``.
    display: str

    @abstractmethod
    def open(self) -> BinaryIO:
        """A seekable binary stream positioned at the first byte."""

    @abstractmethod
    def size(self) -> int:
        """Length in bytes."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display!r})"


class FileSource(Source):
    __slots__ = ("display", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.display = str(path)

    def open(self) -> BinaryIO:
        return self.path.open("rb")

    def size(self) -> int:
        return self.path.stat().st_size


class MemorySource(Source):
    """Bytes already in memory (an inflated dataset, a retrieved instance)."""

    __slots__ = ("data", "display")

    def __init__(self, data: bytes, display: str) -> None:
        self.data = data
        self.display = display

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)

    def size(self) -> int:
        return len(self.data)


class ZipArchive:
    """One zip file, opened once and shared by the sources of its members."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.limits = limits
        self._lock = threading.Lock()
        self._zip: zipfile.ZipFile | None = None

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise DicomFileError(ErrorCode.CORRUPT, f"unreadable zip archive: {exc}") from exc
        return self._zip

    def members(self) -> list[ZipMemberSource]:
        """Sources for every regular member, in archive order."""
        with self._lock:
            infos = self._archive().infolist()
        return [ZipMemberSource(self, info) for info in infos if not info.is_dir()]

    def read(self, info: zipfile.ZipInfo) -> bytes:
        """The member's bytes, refusing bombs before inflating them."""
        declared = info.file_size
        if declared > self.limits.max_inflated_bytes:
            raise DicomFileError(
                ErrorCode.TOO_LARGE, f"zip member declares {declared} bytes, over the limit"
            )
        if info.compress_size and declared > info.compress_size * self.limits.max_compression_ratio:
            raise DicomFileError(
                ErrorCode.TOO_LARGE,
                f"zip member inflates {declared // max(info.compress_size, 1)}× (zip bomb?)",
            )
        try:
            with self._lock, self._archive().open(info) as member:
                data = member.read(declared + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise DicomFileError(ErrorCode.CORRUPT, f"unreadable zip member: {exc}") from exc
        if len(data) != declared:
            raise DicomFileError(ErrorCode.CORRUPT, "zip member size differs from its header")
        return data

    def close(self) -> None:
        with self._lock:
            if self._zip is not None:
                self._zip.close()
                self._zip = None


class ZipMemberSource(Source):
    __slots__ = ("archive", "display", "info")

    def __init__(self, archive: ZipArchive, info: zipfile.ZipInfo) -> None:
        self.archive = archive
        self.info = info
        self.display = f"{archive.path}!{info.filename}"

    def open(self) -> BinaryIO:
        return io.BytesIO(self.archive.read(self.info))

    def size(self) -> int:
        return self.info.file_size
