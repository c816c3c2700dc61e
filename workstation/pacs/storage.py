"""Managed storage: copies of imported objects, in folders and files named by hashes.

Nothing read from a file (UIDs, descriptions, names) ever becomes part of a path: a UID such as
``../../etc/x`` or a description ``../x`` would otherwise write outside the storage folder (the
CVE-2022-2119 class). The layout is ``<study hash>/<series hash>/<SOP Instance UID hash>.dcm``,
each hash the SHA-1 of the UID (hexadecimal; the folders use its first 20 digits), so a
study's files sit together and the same instance always lands on the same name.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

from workstation.io.sources import FileSource, MemorySource, Source

_FOLDER_DIGITS = 20
_RELATIVE = re.compile(r"[0-9a-f]{20}/[0-9a-f]{20}/[0-9a-f]{40}\.dcm")


def _digest(uid: str) -> str:
    return hashlib.sha1(uid.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()


def relative_path(study_uid: str, series_uid: str, sop_instance_uid: str) -> str:
    """Where the managed copy of an instance goes, relative to the storage folder."""
    return (
        f"{_digest(study_uid)[:_FOLDER_DIGITS]}/{_digest(series_uid)[:_FOLDER_DIGITS]}/"
        f"{_digest(sop_instance_uid)}.dcm"
    )


def resolve(root: Path, relative: str) -> Path:
    """The file a stored relative path names; refuses anything but the hash layout.

    Raises
    ------
    ValueError
        When ``relative`` is not of the form :func:`relative_path` makes (a tampered
        database cannot make the application read or delete outside its storage).
    """
    if not _RELATIVE.fullmatch(relative):
        raise ValueError(f"not a managed storage path: {relative!r}")
    return root.joinpath(*relative.split("/"))


def write_copy(source: Source, target: Path) -> os.stat_result:
    """Copy the object of ``source`` to ``target`` atomically; the copy's status (size, time).

    The bytes go to a temporary file beside the target first and are renamed over it, so a
    crash or a full disk never leaves a half-written copy under the final name (a crash may
    leave the temporary ``.<name>.<pid>-<thread>.part``: no row names it, so it is never
    listed or loaded). Bytes already in memory (a retrieved instance) are written as they
    are, without a copy.
    """
    if isinstance(source, FileSource):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = _partial(target)
        try:
            shutil.copyfile(source.path, partial)
            status = partial.stat()
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return status
    if type(source) is MemorySource:  # a subclass may read its bytes otherwise
        return write_bytes(source.data, target)
    with source.reader() as reader:
        data = reader.read_all()
    return write_bytes(data, target)


def write_bytes(data: bytes, target: Path) -> os.stat_result:
    """Write ``data`` to ``target`` atomically (temporary file, then renamed); its status.

    The hash folders are made only when the first write into them finds them missing.
    """
    partial = os.fspath(_partial(target))
    try:
        try:
            fd = os.open(partial, _WRITE_FLAGS, 0o666)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(partial, _WRITE_FLAGS, 0o666)
        try:
            view = memoryview(data)
            written = 0
            while written < len(view):
                count = os.write(fd, view[written:])
                if count <= 0:
                    raise OSError(errno.ENOSPC, "no byte could be written", partial)
                written += count
            status = os.fstat(fd)
        finally:
            os.close(fd)
        os.replace(partial, target)  # noqa: PTH105 - the path is a str here
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)  # noqa: PTH108 - the path is a str here
        raise
    return status


_WRITE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
)


def _partial(target: Path) -> Path:
    """The temporary name a copy is written to before it is renamed over ``target``."""
    return target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.part")


def remove_copies(root: Path, relatives: Iterable[str]) -> int:
    """Delete managed copies and the folders they leave empty; the number of files removed.

    Files already gone are not an error; other failures are left for the next clean-up
    (the rows are gone already, so a leftover file is never shown or loaded).
    """
    files = []
    for relative in relatives:
        try:
            files.append(resolve(root, relative))
        except ValueError:
            continue
    return remove_files(root, files)


def remove_files(root: Path, files: Iterable[Path]) -> int:
    """Delete files under ``root`` and the hash folders they leave empty."""
    removed = 0
    folders: set[Path] = set()
    for path in files:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError:
            continue
        folders.add(path.parent)
    for folder in sorted(folders | {f.parent for f in folders}, key=lambda p: -len(p.parts)):
        if folder != root and folder.is_relative_to(root):
            with contextlib.suppress(OSError):  # not empty: other instances remain
                folder.rmdir()
    return removed
