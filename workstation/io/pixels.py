"""Filling a stack's array: the direct read for native pixels, pydicom for everything else.

The output array is allocated once, in its final dtype. Native little/big endian grey frames
are read straight from the file into their slot (``readinto``) and rescaled in place; compressed,
colour and unusual objects are decoded by pydicom frame by frame into the same array. Both give
exactly pydicom's ``pixel_array`` + ``apply_modality_lut`` values (checked by property tests).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.core.errors import DicomFileError, ErrorCode
from workstation.core.volume import StackKind, Volume
from workstation.io import syntax
from workstation.io.assemble import DicomStack, stack_dtype
from workstation.io.decode import decode_object
from workstation.io.frames import FrameRef, stored_format
from workstation.io.header import PIXEL_DATA, InstanceHeader
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.reader import inflate_dataset
from workstation.io.rescale import (
    HintViolated,
    Rescale,
    StoredFormat,
    can_rescale_in_place,
    check_hints,
    correct_unused_bits,
    rescale_into,
    uses_hints,
)
from workstation.io.sources import MemoryReader, Reader

Progress = Callable[[int, int], None]


class StackLoadError(DicomFileError):
    """One object of a stack could not be decoded; names it so the rest can be reloaded."""

    def __init__(self, source: str, error: DicomFileError) -> None:
        super().__init__(error.code, error.message)
        self.source = source


def load_stack(
    stack: DicomStack,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Volume:
    """The voxels of ``stack`` as a :class:`Volume` in LPS.

    Raises
    ------
    StackLoadError
        When one of its objects cannot be decoded (``source`` names it).
    DicomFileError
        ``too_large`` when the stack exceeds ``limits.max_stack_bytes``.
    """
    if stack.nbytes > limits.max_stack_bytes:
        raise DicomFileError(
            ErrorCode.TOO_LARGE,
            f"stack needs {stack.nbytes / 2**30:.1f} GiB, over the "
            f"{limits.max_stack_bytes / 2**30:.1f} GiB limit",
        )
    try:
        array = _fill(stack, np.dtype(stack.dtype), stack.hinted, limits, progress)
    except HintViolated:
        # Smallest/Largest Image Pixel Value lied: use the full declared range instead.
        dtype = stack_dtype(stack, use_hints=False)
        array = _fill(stack, dtype, False, limits, progress)
        stack.dtype, stack.hinted = str(dtype), False  # the stack now describes what was loaded
    return Volume(
        array=array,
        affine=stack.affine.copy(),
        kind=stack.kind,
        phase_times_ms=stack.phase_times_ms,
    )


def load_frame(stack: DicomStack, index: int, limits: Limits = DEFAULT_LIMITS) -> npt.NDArray[Any]:
    """One frame of ``stack`` (slice ``index`` in array order, phase-major for cine).

    What a viewer shows at once while the rest of the stack loads: one read, one rescale, in
    the stack's dtype (widened, like :func:`load_stack`, if declared extremes prove wrong).
    """
    ref = stack.frames[index]
    frame_shape = stack.shape[-3:] if stack.kind is StackKind.RGB else stack.shape[-2:]
    members = [(0, ref)]
    try:
        slots = np.empty((1, *frame_shape), dtype=np.dtype(stack.dtype))
        _fill_object(members, slots, stack.hinted, limits, {})
    except HintViolated:
        slots = np.empty((1, *frame_shape), dtype=stack_dtype(stack, use_hints=False))
        _fill_object(members, slots, False, limits, {})
    frame: npt.NDArray[Any] = slots[0]
    return frame


def _fill(
    stack: DicomStack,
    dtype: np.dtype[Any],
    use_hints: bool,
    limits: Limits,
    progress: Progress | None,
) -> npt.NDArray[Any]:
    array = np.empty(stack.shape, dtype=dtype)
    frame_shape = array.shape[-3:] if stack.kind is StackKind.RGB else array.shape[-2:]
    slots = array.reshape((-1, *frame_shape))
    _fill_groups(
        _by_object(stack, range(len(stack.frames))), slots, use_hints, limits, progress=progress
    )
    return array


def _by_object(stack: DicomStack, indices: Iterable[int]) -> list[list[tuple[int, FrameRef]]]:
    """The given slots grouped by the object holding their frames (one open per object)."""
    by_object: dict[int, list[tuple[int, FrameRef]]] = {}
    for slot in indices:
        ref = stack.frames[slot]
        by_object.setdefault(id(ref.header), []).append((slot, ref))
    return list(by_object.values())


def _fill_groups(
    objects: list[list[tuple[int, FrameRef]]],
    slots: npt.NDArray[Any],
    use_hints: bool,
    limits: Limits,
    *,
    progress: Progress | None = None,
    failures: dict[str, DicomFileError] | None = None,
) -> None:
    """Fill the slots of each object; with ``failures``, collect failing objects and go on."""
    counter = None if progress is None else _ProgressCounter(sum(map(len, objects)), progress)
    lock = threading.Lock()
    plans: Plans = {}  # shared by the threads: a plan is the same whoever works it out

    def fill_objects(chunk: list[list[tuple[int, FrameRef]]]) -> None:
        for members in chunk:
            try:
                _fill_object(members, slots, use_hints, limits, plans)
            except StackLoadError as error:
                if failures is None:
                    raise
                with lock:
                    failures[error.source] = error
            if counter is not None:
                counter.add(len(members))

    workers = _worker_count(len(objects))
    if workers == 1:
        fill_objects(objects)
        return
    # File reads and numpy's loops release the GIL: a few threads keep every core busy, this
    # one among them.
    chunks = [objects[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers - 1, thread_name_prefix="load") as pool:
        futures = [pool.submit(fill_objects, chunk) for chunk in chunks[1:]]
        fill_objects(chunks[0])
        for future in futures:
            future.result()


def fill_slots(
    stack: DicomStack,
    slots: npt.NDArray[Any],
    indices: list[int],
    use_hints: bool,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, DicomFileError]:
    """Fill the slots ``indices`` of a frame-major array; the objects that failed, by source.

    Raises :class:`~workstation.io.rescale.HintViolated` when declared extremes prove wrong
    (the caller widens the dtype and fills again).
    """
    failures: dict[str, DicomFileError] = {}
    _fill_groups(_by_object(stack, indices), slots, use_hints, limits, failures=failures)
    return failures


def _worker_count(n_objects: int) -> int:
    if n_objects < 16:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


class _ProgressCounter:
    def __init__(self, total: int, progress: Progress) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done += n
            self.progress(self.done, self.total)


def _fill_object(
    members: list[tuple[int, FrameRef]],
    slots: npt.NDArray[Any],
    use_hints: bool,
    limits: Limits,
    plans: Plans,
) -> None:
    header = members[0][1].header
    try:
        ts = syntax.lookup(header.transfer_syntax)
        if ts is not None and _direct_read_possible(header, ts):
            _read_native(header, members, slots, use_hints, limits, ts=ts, plans=plans)
        else:
            decode_object(header, members, slots, use_hints, limits)
    except HintViolated:
        raise
    except DicomFileError as error:
        raise StackLoadError(header.source.display, error) from error
    except Exception as exc:
        # Decoders and pydicom's lazy value conversion raise many types on damaged data.
        failure = DicomFileError(ErrorCode.CORRUPT, f"pixel data cannot be decoded: {exc}")
        raise StackLoadError(header.source.display, failure) from exc


def _direct_read_possible(header: InstanceHeader, ts: syntax.TransferSyntax) -> bool:
    pixel = header.pixel
    return (
        ts.native
        and (header.fast or ts.deflated)
        and pixel is not None
        and pixel.tag == PIXEL_DATA
        and pixel.offset >= 0
        and header.samples_per_pixel == 1
        and header.bits_allocated in (8, 16, 32)
        and header.photometric in ("MONOCHROME1", "MONOCHROME2")
        and not header.has_modality_lut
    )


def _object_reader(header: InstanceHeader, ts: syntax.TransferSyntax, limits: Limits) -> Reader:
    if ts.deflated:
        with header.source.reader() as reader:
            return MemoryReader(inflate_dataset(reader.read_all(), limits))
    return header.source.reader()


#: ``np.maximum.reduce``, called directly: ``values.max()`` adds a Python-level wrapper.
_largest = np.maximum.reduce


@dataclass(frozen=True, slots=True)
class _NativePlan:
    """How the frames of objects stored alike are read and finished (worked out once)."""

    stored: StoredFormat
    #: the stored values' dtype (read as the file holds them, swapped after when needed)
    dtype: np.dtype[Any]
    swap: bool
    verify: bool
    #: the stored values are read into the output slot and rescaled where they lie
    in_place: bool
    #: in place with the identity rescale: the values read are the output
    plain: bool
    #: bits above Bits Stored may be set and must be cleared or sign-extended
    spare_bits: bool

    def finish(self, values: npt.NDArray[Any], target: npt.NDArray[Any], rescale: Rescale) -> None:
        """Turn the stored values just read into the output values in ``target``."""
        if self.swap:
            values.byteswap(inplace=True)
        if self.spare_bits:
            stored = self.stored
            # The usual case, unsigned values within Bits Stored, costs one reduction.
            if stored.signed or _largest(values, axis=None) >> stored.bits_stored:
                correct_unused_bits(values, stored)
        if self.verify:
            check_hints(values, self.stored)
        if not self.plain:
            rescale_into(values, target, rescale)


#: Plans by (transfer syntax, stored format, output dtype, hints used, rescale).
Plans = dict[tuple[Any, ...], _NativePlan]


def _native_plan(
    header: InstanceHeader,
    ref: FrameRef,
    out: np.dtype[Any],
    use_hints: bool,
    *,
    ts: syntax.TransferSyntax,
    plans: Plans,
) -> _NativePlan:
    rescale = ref.rescale
    key = (
        header.transfer_syntax,
        header.bits_allocated,
        header.bits_stored,
        header.pixel_representation,
        header.smallest_value,
        header.largest_value,
        out,
        use_hints,
        rescale.slope,  # the numbers, not the dataclass: its hash is computed in Python
        rescale.intercept,
    )
    plan = plans.get(key)
    if plan is None:
        stored = stored_format(header)
        swap = not ts.little_endian and stored.dtype.itemsize > 1
        in_place = can_rescale_in_place(stored, out, use_hints, rescale)
        plan = plans[key] = _NativePlan(
            stored,
            stored.dtype,
            swap,
            verify=use_hints and uses_hints(stored),
            in_place=in_place,
            plain=in_place and rescale.identity,
            spare_bits=stored.bits_stored < stored.bits_allocated,
        )
    return plan


def _read_native(
    header: InstanceHeader,
    members: list[tuple[int, FrameRef]],
    slots: npt.NDArray[Any],
    use_hints: bool,
    limits: Limits,
    *,
    ts: syntax.TransferSyntax,
    plans: Plans,
) -> None:
    """Read native frames straight into their slots: one positional read per frame."""
    assert header.pixel is not None
    frame_bytes = header.frame_bytes
    start = header.pixel.offset
    scratch = None
    with _object_reader(header, ts, limits) as reader:
        for slot, ref in members:
            plan = _native_plan(header, ref, slots.dtype, use_hints, ts=ts, plans=plans)
            target = slots[slot]
            if plan.in_place:
                values = target.view(plan.dtype)
            else:
                if scratch is None:
                    scratch = np.empty(slots.shape[1:], dtype=plan.dtype)
                values = scratch
            if reader.readinto(start + ref.frame * frame_bytes, values) != frame_bytes:
                raise DicomFileError(ErrorCode.TRUNCATED, "pixel data ends early")
            plan.finish(values, target, ref.rescale)
