"""numpy arrays in named shared memory blocks: how voxels cross into the worker without a pickle.

The host creates every block (the input volume, and each label map the worker asks for) and
unlinks it when the job ends, whatever happened to the worker; the worker only attaches. A
worker that dies cannot leak a block, and on Windows, where a block lives only while a handle
is open, the host's handle keeps it alive.
"""

from __future__ import annotations

import contextlib
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.inference.protocol import ArrayRef


class SharedArray:
    """An array backed by a shared memory block; ``array`` is a view of the block."""

    def __init__(
        self, block: shared_memory.SharedMemory, shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> None:
        self._block: shared_memory.SharedMemory | None = block
        self.shape = shape
        self.dtype = dtype
        self.name = block.name

    @classmethod
    def create(cls, shape: tuple[int, ...], dtype: npt.DTypeLike) -> SharedArray:
        kind = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * kind.itemsize
        block = shared_memory.SharedMemory(create=True, size=max(nbytes, 1))
        return cls(block, tuple(int(n) for n in shape), kind)

    @classmethod
    def copy_of(cls, array: npt.NDArray[Any]) -> SharedArray:
        """A new block holding a copy of ``array`` (C order)."""
        shared = cls.create(array.shape, array.dtype)
        np.copyto(shared.array, array, casting="no")
        return shared

    @classmethod
    def attach(cls, ref: ArrayRef) -> SharedArray:
        block = shared_memory.SharedMemory(name=ref.name, create=False)
        return cls(block, ref.shape, np.dtype(ref.dtype))

    @property
    def ref(self) -> ArrayRef:
        return ArrayRef(self.name, self.shape, self.dtype.str)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def array(self) -> npt.NDArray[Any]:
        if self._block is None:
            raise ValueError(f"shared block {self.name} is closed")
        return np.ndarray(self.shape, dtype=self.dtype, buffer=self._block.buf)

    def close(self) -> bool:
        """Unmap the block here; False while arrays still use it (it then stays mapped)."""
        block = self._block
        if block is None:
            return True
        try:
            block.close()
        except BufferError:
            # A view is still alive: keep the object, whose finaliser would fail the same way.
            _lingering.append(block)
            self._block = None
            return False
        self._block = None
        return True

    def unlink(self) -> None:
        """Remove the block's name and unmap it (the host's side, once the job is over)."""
        block = self._block
        if block is None:
            return
        with contextlib.suppress(FileNotFoundError):
            block.unlink()
        self.close()


#: Blocks whose mapping outlives them because an array still points into it.
_lingering: list[shared_memory.SharedMemory] = []
