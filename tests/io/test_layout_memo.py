"""Remembered layouts never change what a header read gives — only how fast it is given.

Every object is read twice: alone (the full walk) and through a memo that has already seen
objects of the same size and layout (the replay). Header fields, pixel location and errors
must be identical: for series as the factories write them, for series whose values change
length from file to file (in the meta group, in the dataset, in a sequence), and for
thousands of mutants — same size or not — whose damaged bytes may sit in an element header,
a length, a value or the meta group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from random import Random
from typing import Any

import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from workstation.core.errors import DicomFileError
from workstation.io.reader import HeaderMemo, NotAnImage, read_header
from workstation.io.scan import read_headers
from workstation.io.sources import FileSource, MemorySource, Source
from workstation.testing.factories import SeriesSpec, write_series
from workstation.testing.fuzz import FUZZ_LIMITS, default_seeds

_NOT_COMPARED = {"source"}
#: pydicom, reading the mutants the walker refuses, warns about the damaged values it meets.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _outcome(source: Source, memo: HeaderMemo | None) -> Any:
    try:
        header = read_header(source, FUZZ_LIMITS, memo)
    except NotAnImage:
        return "non_image"
    except DicomFileError as error:
        return f"error:{error.code.value}"
    return {f.name: getattr(header, f.name) for f in fields(header) if f.name not in _NOT_COMPARED}


#: The walker's three encodings (explicit/implicit VR, little/big endian).
_IN_EACH_ENCODING = pytest.mark.parametrize(
    "transfer_syntax",
    [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian],
    ids=lambda uid: uid.name,
)


def _assert_same_with_and_without(sources: list[Source]) -> HeaderMemo:
    memo = HeaderMemo()
    for source in sources:
        assert _outcome(source, memo) == _outcome(source, None), source.display
    return memo


@_IN_EACH_ENCODING
def test_a_series_is_replayed_and_reads_as_walked(tmp_path, transfer_syntax) -> None:
    spec = SeriesSpec(
        rows=16,
        columns=12,
        n_slices=6,
        phases=3,
        transfer_syntax=transfer_syntax,
        write_smallest_largest=True,
        shuffle=True,
    )
    written = write_series(tmp_path, spec)
    memo = _assert_same_with_and_without([FileSource(p) for p in written.paths])
    # The series' objects share layouts: most of them were checked, not walked.
    assert memo.layouts.replayed >= len(written.paths) // 2
    assert memo.layouts.walked + memo.layouts.replayed == len(written.paths)


def test_names_in_a_character_set_follow_each_object(tmp_path) -> None:
    """Values that change how others read (Specific Character Set) are never reused wrongly."""
    spec = SeriesSpec(rows=4, columns=4, n_slices=1, specific_character_set="ISO_IR 100")
    (original,) = write_series(tmp_path, spec).paths
    # Names of the same byte length in two character sets: one layout for all four copies.
    variants = [("ISO_IR 100", "Müller^Jörg"), ("ISO_IR 144", "Иванов^Петр")] * 2
    paths = []
    for index, (charset, name) in enumerate(variants):
        dataset = pydicom.dcmread(original)
        dataset.SpecificCharacterSet = charset
        dataset.PatientName = name
        dataset.InstanceNumber = index + 1
        paths.append(tmp_path / f"copy{index}.dcm")
        dataset.save_as(paths[-1])
    assert len({path.stat().st_size for path in paths}) == 1
    sources = [FileSource(p) for p in paths]
    memo = _assert_same_with_and_without(sources)
    assert memo.layouts.replayed == 3
    names = [header.patient_name for header in read_headers(sources)[0]]
    assert names == [name for _, name in variants]


def _mutants(data: bytes, rng: Random, count: int) -> list[bytes]:
    """Same-size copies with a few bytes overwritten before the pixel data."""
    pixel = data.rfind(b"\xe0\x7f\x10\x00")
    limit = pixel + 12 if pixel > 0 else min(len(data), 4096)
    found = []
    for _ in range(count):
        mutant = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 4))):
            position = rng.randrange(128, limit)
            mutant[position] = rng.choice((0, 0xFF, rng.randrange(256), mutant[position] ^ 1))
        found.append(bytes(mutant))
    return found


def _assert_mutants_read_alike(
    seeds: dict[str, bytes], mutate: Callable[[bytes], list[bytes]]
) -> int:
    """Every mutant of every seed reads alike with and without a memo that learnt the seed;
    the number of mutants checked."""
    checked = 0
    for name, data in seeds.items():
        memo = HeaderMemo()
        # The memo learns the seed's layout first, so that every mutant is tried against it.
        _outcome(MemorySource(data, name), memo)
        for index, mutant in enumerate(mutate(data)):
            source = MemorySource(mutant, f"{name}#{index}")
            assert _outcome(source, memo) == _outcome(source, None), source.display
            checked += 1
    return checked


def test_same_size_mutants_read_alike_with_and_without_the_memo(tmp_path) -> None:
    rng = Random(20261129)
    checked = _assert_mutants_read_alike(
        default_seeds(tmp_path), lambda data: _mutants(data, rng, 150)
    )
    assert checked >= 1500


def test_a_file_read_into_a_layout_of_its_size_but_not_its_shape_is_walked(tmp_path) -> None:
    """Two objects of one size whose elements differ: the second must not be replayed."""
    spec = SeriesSpec(rows=4, columns=4, n_slices=1, series_description="AB")
    (original,) = write_series(tmp_path, spec).paths
    first, second = tmp_path / "first.dcm", tmp_path / "second.dcm"
    dataset = pydicom.dcmread(original)
    del dataset.StudyID
    dataset.save_as(first)
    del dataset.SeriesDescription  # 8 + 2 bytes fewer ...
    dataset.StudyID = "12"  # ... and 8 + 2 bytes more, at another place
    dataset.save_as(second)
    assert first.stat().st_size == second.stat().st_size
    memo = _assert_same_with_and_without([FileSource(first), FileSource(second)])
    assert (memo.layouts.walked, memo.layouts.replayed) == (2, 0)
    assert read_header(FileSource(second), memo=memo).series_description == ""


def _save(dataset: pydicom.Dataset, path: Path, uid: str) -> Path:
    dataset.SOPInstanceUID = uid
    dataset.file_meta.MediaStorageSOPInstanceUID = uid
    dataset.save_as(path, enforce_file_format=True)
    return path


@_IN_EACH_ENCODING
def test_values_of_other_lengths_read_alike(tmp_path, transfer_syntax) -> None:
    """UIDs (in the meta group and the dataset), positions, numbers and a defined-length
    sequence whose lengths vary between files: files of one size and shape replay each other,
    the others are walked, and every header reads as walked."""
    from pydicom.sequence import Sequence

    spec = SeriesSpec(rows=4, columns=4, n_slices=1, transfer_syntax=transfer_syntax)
    (original,) = write_series(tmp_path / "seed", spec).paths
    rng = Random(7)
    paths = []
    for index in range(40):
        dataset = pydicom.dcmread(original)
        dataset.InstanceNumber = rng.choice((1, 12, 345, 67890)) + index
        dataset.ImagePositionPatient = [rng.choice((-1.5, 12.25, -123.125)), 0, index * 0.5]
        dataset.SliceLocation = str(index * 0.5)
        dataset.TriggerTime = rng.choice(("0", "33.3", "1066.66"))
        dataset.SeriesDescription = "x" * rng.randrange(1, 20)
        item = pydicom.Dataset()
        item.CodeMeaning = "y" * rng.randrange(1, 30)
        dataset.ProcedureCodeSequence = Sequence([item])
        dataset["ProcedureCodeSequence"].is_undefined_length = False
        uid = "1.2.3." + "4" * rng.randrange(1, 30) + f".{index}"
        paths.append(_save(dataset, tmp_path / f"f{index}.dcm", uid))
    assert len({path.stat().st_size for path in paths}) > 5
    memo = _assert_same_with_and_without([FileSource(p) for p in paths] * 2)
    assert memo.layouts.replayed >= 40  # the second round replays every layout of the first
    assert memo.layouts.walked + memo.layouts.replayed == 80


def test_a_value_emptied_or_filled_reads_alike(tmp_path) -> None:
    """Kept values of length zero in one file and not in the next, at the same file size."""
    spec = SeriesSpec(rows=4, columns=4, n_slices=1)
    (original,) = write_series(tmp_path / "seed", spec).paths
    paths = []
    for index, (description, accession) in enumerate([("", "ABCD"), ("AB", "AB"), ("ABCD", "")]):
        dataset = pydicom.dcmread(original)
        dataset.SeriesDescription = description
        dataset.AccessionNumber = accession
        paths.append(_save(dataset, tmp_path / f"f{index}.dcm", f"1.2.3.{index}"))
    assert len({path.stat().st_size for path in paths}) == 1
    _assert_same_with_and_without([FileSource(p) for p in paths] * 2)


def _resized_mutants(data: bytes, rng: Random, count: int) -> list[bytes]:
    """Copies with bytes inserted or removed before the pixel data — sometimes with the
    element length that covers them mended, so that the object stays valid."""
    pixel = data.rfind(b"\xe0\x7f\x10\x00")
    limit = pixel if pixel > 0 else min(len(data), 4096)
    found = []
    for _ in range(count):
        mutant = bytearray(data)
        position = rng.randrange(132, limit)
        if rng.random() < 0.5:
            mutant[position:position] = bytes(rng.choice((1, 2, 4)))
        else:
            del mutant[position : position + rng.choice((1, 2, 4))]
        if rng.random() < 0.5:  # and damage a byte elsewhere
            spot = rng.randrange(128, min(len(mutant), limit))
            mutant[spot] = rng.randrange(256)
        found.append(bytes(mutant))
    return found


def _grown_values(data: bytes, rng: Random, count: int) -> list[bytes]:
    """Valid copies whose explicit VR little endian short values grow or shrink by two bytes
    (the length mended), found by looking for element headers with a printable VR."""
    pixel = data.rfind(b"\xe0\x7f\x10\x00")
    limit = pixel if pixel > 0 else len(data)
    spots = [
        at
        for at in range(132, limit - 8)
        if data[at + 4 : at + 6] in (b"LO", b"SH", b"DS", b"IS", b"UI", b"CS")
        and at + 8 + int.from_bytes(data[at + 6 : at + 8], "little") <= limit
    ]
    found = []
    for _ in range(count if spots else 0):
        mutant = bytearray(data)
        for at in sorted(rng.sample(spots, min(len(spots), rng.choice((1, 2, 3)))), reverse=True):
            length = int.from_bytes(mutant[at + 6 : at + 8], "little")
            if length >= 2 and rng.random() < 0.5:
                del mutant[at + 8 : at + 10]
                length -= 2
            else:
                mutant[at + 8 : at + 8] = b"1 "
                length += 2
            mutant[at + 6 : at + 8] = length.to_bytes(2, "little")
        found.append(bytes(mutant))
    return found


def test_resized_mutants_read_alike_with_and_without_the_memo(tmp_path) -> None:
    rng = Random(20261130)
    checked = _assert_mutants_read_alike(
        default_seeds(tmp_path),
        lambda data: _resized_mutants(data, rng, 120) + _grown_values(data, rng, 60),
    )
    assert checked >= 1500


def test_a_memo_serves_one_set_of_wanted_tags() -> None:
    from workstation.io.layouts import LayoutMemo

    memo = LayoutMemo()
    memo.serve({1: None})
    with pytest.raises(ValueError):
        memo.serve({1: None})


def test_values_cached_for_one_byte_order_are_not_used_for_the_other(tmp_path: Path) -> None:
    little = write_series(tmp_path / "le", SeriesSpec(rows=4, columns=4, n_slices=2))
    big = write_series(
        tmp_path / "be",
        SeriesSpec(rows=4, columns=4, n_slices=2, transfer_syntax=ExplicitVRBigEndian),
    )
    sources = [FileSource(p) for p in (*little.paths, *big.paths)]
    _assert_same_with_and_without(sources)
