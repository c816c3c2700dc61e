"""Mutation fuzzing of the DICOM engine: valid files, damaged in the ways attackers and broken
writers damage them, must load or fail with a named error — never crash, never hang.

Run a long campaign with ``python -m workstation.testing.fuzz --cases 100000``.
"""

from __future__ import annotations

import argparse
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

from workstation.core.errors import DicomFileError
from workstation.io.assemble import assemble
from workstation.io.limits import Limits
from workstation.io.reader import NotAnImage, read_header
from workstation.io.scan import load_tolerant
from workstation.io.sources import MemorySource

#: Limits small enough that a mutated dimension trips them quickly, as a hostile file would.
FUZZ_LIMITS = Limits(
    max_object_bytes=64 << 20, max_stack_bytes=256 << 20, max_inflated_bytes=64 << 20
)

_INTERESTING_16 = (0, 1, 0x7FFF, 0x8000, 0xFFFF, 0xFFFE)
_INTERESTING_32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x10000000)
#: Little-endian tags whose values drive allocation and parsing.
_TARGET_TAGS = tuple(
    struct.pack("<HH", group, element)
    for group, element in (
        (0x0028, 0x0010),
        (0x0028, 0x0011),
        (0x0028, 0x0008),
        (0x0028, 0x0100),
        (0x0028, 0x0101),
        (0x0028, 0x0002),
        (0x0028, 0x0103),
        (0x7FE0, 0x0010),
        (0x0002, 0x0010),
        (0x5200, 0x9230),
        (0x0020, 0x0032),
        (0x0020, 0x0037),
        (0xFFFE, 0xE000),
        (0xFFFE, 0xE0DD),
    )
)


def _flip(data: bytearray, rng: Random) -> None:
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)


def _overwrite_word(data: bytearray, rng: Random) -> None:
    position = rng.randrange(max(1, len(data) - 4))
    if rng.random() < 0.5:
        data[position : position + 2] = struct.pack("<H", rng.choice(_INTERESTING_16))
    else:
        data[position : position + 4] = struct.pack("<L", rng.choice(_INTERESTING_32))


def _hit_tag(data: bytearray, rng: Random) -> None:
    """Rewrite the value or length right after an important tag."""
    tag = rng.choice(_TARGET_TAGS)
    hits: list[int] = []
    start = data.find(tag)
    while start >= 0 and len(hits) < 16:
        hits.append(start)
        start = data.find(tag, start + 1)
    if not hits:
        _overwrite_word(data, rng)
        return
    position = rng.choice(hits) + rng.choice((4, 6, 8))
    value = rng.choice(_INTERESTING_32 + tuple(rng.randrange(1 << 32) for _ in range(2)))
    width = rng.choice((2, 4))
    data[position : position + width] = struct.pack("<L", value)[:width]


def _truncate(data: bytearray, rng: Random) -> None:
    del data[rng.randrange(len(data)) :]


def _delete_chunk(data: bytearray, rng: Random) -> None:
    start = rng.randrange(len(data))
    del data[start : start + rng.randint(1, 64)]


def _insert_garbage(data: bytearray, rng: Random) -> None:
    start = rng.randrange(len(data))
    data[start:start] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))


def _duplicate_chunk(data: bytearray, rng: Random) -> None:
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(4, 256)]
    data[rng.randrange(len(data)) : 0] = chunk


def _swap_vr(data: bytearray, rng: Random) -> None:
    vrs = (b"OB", b"OW", b"SQ", b"UN", b"UT", b"US", b"XX", b"\0\0")
    for _ in range(8):
        position = rng.randrange(max(1, len(data) - 2))
        if data[position : position + 2].isalpha():
            data[position : position + 2] = rng.choice(vrs)
            return


MUTATORS: tuple[Callable[[bytearray, Random], None], ...] = (
    _flip,
    _overwrite_word,
    _hit_tag,
    _hit_tag,
    _truncate,
    _delete_chunk,
    _insert_garbage,
    _duplicate_chunk,
    _swap_vr,
)


def mutate(seed: bytes, rng: Random) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not data:
            break
        rng.choice(MUTATORS)(data, rng)
    return bytes(data)


class Hang(BaseException):  # the alarm: a BaseException passes every `except Exception`
    """Raised by the alarm when a case runs past its deadline."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(data: bytes, name: str = "case") -> str:
    """Scan and load one object from memory; the outcome as a short label.

    Raises whatever the engine raises that is not one of its named errors: that is a crash.
    """
    try:
        header = read_header(MemorySource(data, name), FUZZ_LIMITS)
    except NotAnImage:
        return "non_image"
    except DicomFileError as error:
        return f"error:{error.code.value}"
    _, stacks = assemble([header])
    outcome = "loaded"
    for stack in stacks:
        try:
            volume, _, errors = load_tolerant(stack, FUZZ_LIMITS)
        except DicomFileError as error:
            return f"load_error:{error.code.value}"
        if volume is None:
            outcome = f"load_error:{errors[0].code.value}" if errors else "load_error"
    return outcome


@dataclass
class FuzzReport:
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common(8))
        return (
            f"{self.cases} cases in {self.seconds:.1f} s: {len(self.crashes)} crashes, "
            f"{len(self.hangs)} hangs; outcomes: {top}"
        )


def fuzz(
    seeds: dict[str, bytes],
    cases: int,
    seed: int = 0,
    timeout: float = 5.0,
    keep_failures: Path | None = None,
) -> FuzzReport:
    """Mutate ``seeds`` ``cases`` times; record each outcome, crash and hang."""
    rng = Random(seed)
    names = sorted(seeds)
    report = FuzzReport()
    started = time.perf_counter()
    for index in range(cases):
        name = names[index % len(names)]
        data = mutate(seeds[name], rng)
        label = f"{index}:{name}"
        try:
            with _deadline(timeout), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report.outcomes[run_case(data, label)] += 1
        except Hang:
            report.hangs.append(label)
            _keep(keep_failures, label, data)
        except Exception as exc:  # noqa: BLE001 - every escaping exception is a finding
            report.crashes.append(
                f"{label}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
            )
            _keep(keep_failures, label, data)
        report.cases += 1
    report.seconds = time.perf_counter() - started
    return report


def _keep(folder: Path | None, label: str, data: bytes) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / (label.replace(":", "_").replace("/", "_") + ".dcm")).write_bytes(data)


def default_seeds(folder: Path) -> dict[str, bytes]:
    """Small valid objects in every transfer syntax and layout the engine reads."""
    from workstation.testing.seeds import write_seed_files

    return {
        path.relative_to(folder).as_posix(): path.read_bytes() for path in write_seed_files(folder)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="save crashing and hanging inputs here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        seeds = default_seeds(Path(folder))
        report = fuzz(seeds, args.cases, args.seed, keep_failures=args.keep)
    print(report.summary())
    for crash in report.crashes[:20]:
        print(crash)
    return 1 if report.crashes or report.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
