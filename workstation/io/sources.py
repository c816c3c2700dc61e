"""Where the bytes of one DICOM object come from: a file, or a member of a zip archive.

Archive members are never written to disk, so their names never become paths
(the CVE-2022-2119 class of path traversal cannot arise).
"""

from __future__ import annotations

import os
import threading
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.io.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12


class Reader(ABC):
    """Positional reads from one object: no shared file position, no intermediate buffers."""

    @property
    @abstractmethod
    def size(self) -> int:
        """The object's length in bytes."""

    @abstractmethod
    def pread(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer only at the end of the object)."""

    @abstractmethod
    def readinto(self, offset: int, buffer: Buffer) -> int:
        """Fill ``buffer`` (any C-contiguous writable buffer, such as a numpy array) from
        ``offset``; the number of bytes read."""

    def read_all(self) -> bytes:
        return self.pread(0, self.size)

    def close(self) -> None:  # noqa: B027 - readers over memory hold nothing to release
        """Release what the reader holds."""

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


#: Binary mode matters on Windows only (the flag exists there alone).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


class FileReader(Reader):
    """A file opened once; ``os.pread``/``os.preadv`` where the platform has them."""

    __slots__ = ("_fd", "_size")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, _OPEN_FLAGS)
        self._size = -1

    @property
    def size(self) -> int:  # asked only when needed: reading pixels never needs it
        if self._size < 0:
            self._size = os.fstat(self._fd).st_size
        return self._size

    if hasattr(os, "pread") and hasattr(os, "preadv"):

        def pread(self, offset: int, n: int) -> bytes:
            return os.pread(self._fd, n, offset)

        def readinto(self, offset: int, buffer: Buffer) -> int:
            return os.preadv(self._fd, [buffer], offset)

    else:  # pragma: no cover - Windows

        def pread(self, offset: int, n: int) -> bytes:
            os.lseek(self._fd, offset, os.SEEK_SET)
            return os.read(self._fd, n)

        def readinto(self, offset: int, buffer: Buffer) -> int:
            os.lseek(self._fd, offset, os.SEEK_SET)
            with open(self._fd, "rb", buffering=0, closefd=False) as raw:
                return raw.readinto(buffer) or 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class MemoryReader(Reader):
    __slots__ = ("_data", "_size")

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._size = len(data)

    @property
    def size(self) -> int:
        return self._size

    def pread(self, offset: int, n: int) -> bytes:
        return bytes(self._data[offset : offset + n])

    def readinto(self, offset: int, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        chunk = self._data[offset : offset + len(view)]
        view[: len(chunk)] = chunk
        return len(chunk)

    def read_all(self) -> bytes:
        return self._data.tobytes()


class Source(ABC):
    """A readable DICOM object."""

    #: How the object is named in reports: a path, or ``archive.zip!member``.
    display: str

    @abstractmethod
    def reader(self) -> Reader:
        """Open the object for positional reads (use as a context manager)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display!r})"


class FileSource(Source):
    # The path is kept as the string it was found as: a folder scan makes thousands of
    # sources, and most are never asked for a Path.
    __slots__ = ("_path", "display")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = path if isinstance(path, Path) else None
        self.display = os.fspath(path)

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = Path(self.display)
        return self._path

    def reader(self) -> Reader:
        return FileReader(self.display)


class MemorySource(Source):
    """Bytes already in memory (an inflated dataset, a retrieved instance)."""

    __slots__ = ("data", "display")

    def __init__(self, data: bytes, display: str) -> None:
        self.data = data
        self.display = display

    def reader(self) -> Reader:
        return MemoryReader(self.data)


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

    def reader(self) -> Reader:
        return MemoryReader(self.archive.read(self.info))
