"""Mutation fuzzing: thousands of damaged files, zero crashes, zero hangs.

A longer campaign runs with ``python -m workstation.testing.fuzz --cases 100000``.
"""

from __future__ import annotations

from collections import Counter

from workstation.testing.fuzz import default_seeds, fuzz, run_case

CASES = 4000


def test_seeds_are_valid_and_cover_the_encodings(tmp_path) -> None:
    seeds = default_seeds(tmp_path)
    outcomes = Counter(run_case(data, name) for name, data in seeds.items())
    assert outcomes == {"loaded": len(seeds)}, outcomes
    assert len(seeds) >= 11


def test_mutated_files_never_crash_or_hang(tmp_path) -> None:
    report = fuzz(
        default_seeds(tmp_path),
        CASES,
        seed=20261128,
        timeout=10.0,
        keep_failures=tmp_path / "failures",
    )
    assert report.cases == CASES
    assert not report.crashes, "\n".join(report.crashes[:5])
    assert not report.hangs, report.hangs[:5]
    # The mutations must reach every outcome, or the fuzzer is not exercising the engine.
    assert report.outcomes["loaded"] > CASES // 20
    assert {"error:truncated", "error:corrupt", "error:not_dicom"} <= set(report.outcomes)
