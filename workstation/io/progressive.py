"""Loading a stack so that the first image shows at once and the rest fills in behind it.

:class:`ProgressiveLoad` allocates the stack's array once, fills the slice the reader wants to
see first, then the others outwards from it in small batches (so the neighbours of what is on
screen come next), reporting each batch. The array is the one the viewer displays: no copy is
made when loading ends. Objects that fail are reported and leave their slices unfilled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.core.errors import DicomFileError, ErrorCode, FileError
from workstation.core.volume import StackKind, Volume
from workstation.io.assemble import DicomStack, stack_dtype
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.pixels import StackLoadError, fill_slots
from workstation.io.rescale import HintViolated

#: Slices per batch: large enough to amortise the work, small enough to show progress often.
BATCH = 16


def outward_order(count: int, first: int) -> Iterator[int]:
    """``first``, then its neighbours alternately further away: first, first+1, first-1, ..."""
    yield first
    for distance in range(1, count):
        for index in (first + distance, first - distance):
            if 0 <= index < count:
                yield index


class ProgressiveLoad:
    """One stack being loaded into its final array."""

    def __init__(self, stack: DicomStack, limits: Limits = DEFAULT_LIMITS) -> None:
        if stack.nbytes > limits.max_stack_bytes:
            raise DicomFileError(
                ErrorCode.TOO_LARGE,
                f"stack needs {stack.nbytes / 2**30:.1f} GiB, over the "
                f"{limits.max_stack_bytes / 2**30:.1f} GiB limit",
            )
        self.stack = stack
        self.limits = limits
        self.array: npt.NDArray[Any] = np.zeros(stack.shape, dtype=np.dtype(stack.dtype))
        self.loaded = np.zeros(len(stack.frames), dtype=bool)
        self.errors: list[FileError] = []
        self._use_hints = stack.hinted

    @property
    def volume(self) -> Volume:
        """The (possibly still filling) array with its geometry."""
        return Volume(
            array=self.array,
            affine=self.stack.affine.copy(),
            kind=self.stack.kind,
            phase_times_ms=self.stack.phase_times_ms,
        )

    def _slots(self) -> npt.NDArray[Any]:
        frame_shape = (
            self.array.shape[-3:] if self.stack.kind is StackKind.RGB else self.array.shape[-2:]
        )
        return self.array.reshape((-1, *frame_shape))

    def load(self, indices: list[int]) -> list[int]:
        """Fill the given slices (array order); the ones that are now loaded.

        Slices of an object that cannot be decoded stay empty (zero) and the failure is added
        to :attr:`errors` once per object.
        """
        wanted = [i for i in indices if not self.loaded[i]]
        if not wanted:
            return []
        try:
            failed = fill_slots(self.stack, self._slots(), wanted, self._use_hints, self.limits)
        except HintViolated:
            self._widen()
            failed = fill_slots(self.stack, self._slots(), wanted, False, self.limits)
        done = []
        for index in wanted:
            source = self.stack.frames[index].header.source.display
            if source in failed:
                if all(e.path != source for e in self.errors):
                    error = failed[source]
                    self.errors.append(FileError(source, error.code, error.message))
            else:
                self.loaded[index] = True
                done.append(index)
        return done

    def _widen(self) -> None:
        """Smallest/Largest Image Pixel Value lied: move to the full declared range's dtype."""
        dtype = stack_dtype(self.stack, use_hints=False)
        widened = self.array.astype(dtype)
        self.array = widened
        self._use_hints = False
        self.stack.dtype, self.stack.hinted = str(dtype), False

    def run(
        self,
        first: int = 0,
        on_batch: Callable[[list[int]], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> bool:
        """Load every slice, ``first`` and its neighbours first; False if cancelled."""
        pending: list[int] = []
        for index in outward_order(len(self.stack.frames), first):
            if self.loaded[index]:
                continue
            pending.append(index)
            if len(pending) >= BATCH:
                if cancel is not None and cancel():
                    return False
                self._report(self.load(pending), on_batch)
                pending = []
        if pending:
            self._report(self.load(pending), on_batch)
        return True

    @staticmethod
    def _report(done: list[int], on_batch: Callable[[list[int]], None] | None) -> None:
        if done and on_batch is not None:
            on_batch(done)


__all__ = ["ProgressiveLoad", "StackLoadError", "outward_order"]
