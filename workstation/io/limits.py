"""Bounds applied to untrusted input before anything is allocated or inflated.

Declared lengths and dimensions in a DICOM file are attacker-controlled (pydicom #71/#76,
nibabel #1307, Orthanc CVE-2026-5437..5445): every size is checked against these limits and
against the bytes actually present before memory is reserved for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

GIB = 1 << 30


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX, or not reported
        return 16 * GIB


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what one file, one archive member and one stack may make us allocate."""

    #: Decoded pixels of one DICOM object (all frames).
    max_object_bytes: int = 4 * GIB
    #: Rows × Columns of one frame (a 16k × 16k whole-slide tile is the largest seen in practice).
    max_frame_pixels: int = 16384 * 16384
    #: Frames in one object.
    max_frames: int = 100_000
    #: A whole loaded stack; defaults to three quarters of the machine's memory.
    max_stack_bytes: int = (_physical_memory() * 3) // 4
    #: An inflated deflate dataset or zip member.
    max_inflated_bytes: int = 2 * GIB
    #: Inflated over compressed size beyond which a zip member is refused (zip bombs).
    max_compression_ratio: int = 1000
    #: Nesting of sequences inside sequences.
    max_sequence_depth: int = 24
    #: Files one scan visits.
    max_files: int = 1_000_000


DEFAULT_LIMITS = Limits()
