"""Modality rescale (PS3.3 C.11.1) into the smallest exact dtype, applied once, in place.

The output type is chosen from the headers alone, so ``inspect`` can report it without decoding:
the range of stored values (Bits Stored, Pixel Representation — narrowed by Smallest/Largest
Image Pixel Value when every object declares them) mapped through each frame's slope and
intercept. Integral rescales give the smallest integer type holding that range; fractional ones
give float32 (float64 when the stored values have more than 24 significant bits).

Values follow pydicom's ``pixel_array`` + ``apply_modality_lut`` exactly: bits above Bits Stored
are cleared (unsigned) or sign-extended (signed), then ``stored × slope + intercept``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_UNSIGNED = (np.uint8, np.uint16, np.uint32, np.uint64)
_SIGNED = (np.int8, np.int16, np.int32, np.int64)


class HintViolated(Exception):  # noqa: N818 - internal signal: reload without the range hint
    """A frame holds values outside its declared Smallest/Largest Image Pixel Value."""


@dataclass(frozen=True, slots=True)
class StoredFormat:
    """How one object's grey values are stored."""

    bits_allocated: int
    bits_stored: int
    signed: bool
    smallest: int | None = None
    largest: int | None = None

    @property
    def dtype(self) -> np.dtype[np.generic]:
        return np.dtype(f"{'i' if self.signed else 'u'}{self.bits_allocated // 8}")

    @property
    def declared_range(self) -> tuple[int, int]:
        if self.signed:
            return -(1 << (self.bits_stored - 1)), (1 << (self.bits_stored - 1)) - 1
        return 0, (1 << self.bits_stored) - 1

    def value_range(self, use_hints: bool) -> tuple[int, int]:
        low, high = self.declared_range
        smallest, largest = self.smallest, self.largest
        if (
            use_hints
            and smallest is not None
            and largest is not None
            and low <= smallest <= largest <= high
        ):
            return smallest, largest
        return low, high


@dataclass(frozen=True, slots=True)
class Rescale:
    slope: float = 1.0
    intercept: float = 0.0

    @property
    def identity(self) -> bool:
        return self.slope == 1.0 and self.intercept == 0.0

    @property
    def integral(self) -> bool:
        return float(self.slope).is_integer() and float(self.intercept).is_integer()


def _smallest_integer(low: float, high: float) -> np.dtype[np.generic] | None:
    for candidate in _UNSIGNED if low >= 0 else _SIGNED:
        info = np.iinfo(candidate)
        if info.min <= low and high <= info.max:
            return np.dtype(candidate)
    return None


def output_dtype(
    frames: Iterable[tuple[StoredFormat, Rescale]], *, use_hints: bool = True
) -> np.dtype[np.generic]:
    """The smallest dtype that holds every rescaled value of these frames exactly."""
    low = high = None
    integral = True
    max_bits = 0
    for stored, rescale in frames:
        s_low, s_high = stored.value_range(use_hints)
        ends = (
            s_low * rescale.slope + rescale.intercept,
            s_high * rescale.slope + rescale.intercept,
        )
        low = min(ends) if low is None else min(low, *ends)
        high = max(ends) if high is None else max(high, *ends)
        integral = integral and rescale.integral
        max_bits = max(max_bits, stored.bits_stored)
    if low is None or high is None:
        raise ValueError("no frames to choose a dtype for")
    if integral:
        dtype = _smallest_integer(low, high)
        if dtype is not None:
            return dtype
    return np.dtype(np.float32 if max_bits <= 24 else np.float64)


def uses_hints(stored: StoredFormat) -> bool:
    """Whether :func:`output_dtype` narrowed this format's range with its declared extremes."""
    return stored.value_range(True) != stored.declared_range


def correct_unused_bits(values: npt.NDArray[np.integer], stored: StoredFormat) -> None:
    """Clear (unsigned) or sign-extend (signed) the bits above Bits Stored, in place."""
    spare = stored.bits_allocated - stored.bits_stored
    if spare <= 0:
        return
    if stored.signed:
        low, high = stored.declared_range
        if values.size and (int(values.min()) < low or int(values.max()) > high):
            np.left_shift(values, spare, out=values)
            np.right_shift(values, spare, out=values)
    elif values.size and int(values.max()) >> stored.bits_stored:
        np.bitwise_and(values, (1 << stored.bits_stored) - 1, out=values)


def check_hints(values: npt.NDArray[np.integer], stored: StoredFormat) -> None:
    """Raise :class:`HintViolated` if values fall outside the declared Smallest/Largest."""
    low, high = stored.value_range(True)
    if values.size and (int(values.min()) < low or int(values.max()) > high):
        raise HintViolated


def can_rescale_in_place(
    stored: StoredFormat, out: np.dtype[np.generic], use_hints: bool, rescale: Rescale
) -> bool:
    """True when the output can reuse the stored values' memory.

    The widths must match, and the stored values, their product with the slope and the final
    values must all fit the output type, since ``*= slope`` and ``+= intercept`` run in it.
    """
    if out.itemsize != stored.dtype.itemsize or out.kind not in "iu" or not rescale.integral:
        return False
    low, high = stored.value_range(use_hints)
    info = np.iinfo(out.type)  # type: ignore[type-var]
    scaled = (low * rescale.slope, high * rescale.slope)
    shifted = (scaled[0] + rescale.intercept, scaled[1] + rescale.intercept)
    return all(info.min <= value <= info.max for value in (low, high, *scaled, *shifted))


def rescale_into(
    values: npt.NDArray[np.generic], out: npt.NDArray[np.generic], rescale: Rescale
) -> None:
    """``out[...] = values × slope + intercept``; ``values`` may share ``out``'s memory.

    When they share memory the caller has checked :func:`can_rescale_in_place`, so the stored
    values are reinterpreted as the output type and changed where they lie.
    """
    if np.shares_memory(values, out):
        target = values.view(out.dtype)
        if rescale.slope != 1.0:
            target *= out.dtype.type(rescale.slope)
        if rescale.intercept != 0.0:
            target += out.dtype.type(rescale.intercept)
        return
    if out.dtype.kind in "iu":
        if rescale.identity:
            out[...] = values
            return
        wide = values.astype(np.int64)
        wide *= int(rescale.slope)
        wide += int(rescale.intercept)
        out[...] = wide
        return
    if rescale.identity:
        out[...] = values
        return
    exact = values.astype(np.float64)
    exact *= rescale.slope
    exact += rescale.intercept
    out[...] = exact
