"""Files of shared cases on the server's disk, streamed in and out, size-bounded.

Layout: ``ROOT/<share id>/<file id>``; both ids are UUIDs the server made, so no path ever
contains a name a client chose (DCMTK's CVE-2022-2119/2120 were path traversals through
such names). A file arrives in ``<file id>.part`` and is renamed once complete, with its
SHA-256 computed on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid as uuid_module
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from workstation.core.errors import WorkstationError

#: Characters allowed in a file name shown to users (the original name, sanitized).
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_WRITE_CHUNK = 1 << 20


class TooLargeError(WorkstationError):
    """An upload exceeds the size allowed."""


def check_name(name: str) -> str:
    """``name`` if it is a plain file name (letters, digits, ``._-``); ``ValueError`` else."""
    if not _SAFE_NAME.match(name) or name in (".", ".."):
        raise ValueError(
            "file names hold 1..128 letters, digits, '.', '_' or '-' and start with a "
            "letter or digit"
        )
    return name


def _check_id(value: str) -> str:
    return str(uuid_module.UUID(value))


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, share_id: str, file_id: str) -> Path:
        return self.root / _check_id(share_id) / _check_id(file_id)

    async def receive(
        self, share_id: str, file_id: str, chunks: AsyncIterator[bytes], limit: int
    ) -> tuple[int, str]:
        """Write the stream to the file; (size, sha256). ``TooLargeError`` past ``limit`` bytes."""
        target = self.path(share_id, file_id)
        partial = target.with_name(f"{target.name}.part")
        await anyio.to_thread.run_sync(lambda: target.parent.mkdir(parents=True, exist_ok=True))
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        handle = await anyio.to_thread.run_sync(partial.open, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLargeError(f"the file exceeds {limit} bytes")
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= _WRITE_CHUNK:
                    data = bytes(buffer)
                    buffer.clear()
                    await anyio.to_thread.run_sync(handle.write, data)
            if buffer:
                await anyio.to_thread.run_sync(handle.write, bytes(buffer))

            def finish() -> None:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                partial.replace(target)

            await anyio.to_thread.run_sync(finish)
        except BaseException:
            handle.close()
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        return size, digest.hexdigest()

    def remove(self, share_id: str, file_id: str) -> None:
        with contextlib.suppress(OSError):
            self.path(share_id, file_id).unlink()

    def remove_share(self, share_id: str) -> None:
        shutil.rmtree(self.root / _check_id(share_id), ignore_errors=True)
