"""Helpers for engine tests: scan a folder and load its single stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.core.volume import Volume
from workstation.io import DicomStack, ScanResult, load_stack, scan


def only_stack(result: ScanResult) -> DicomStack:
    assert not result.errors, result.errors
    assert len(result.stacks) == 1, [(s.kind, s.shape) for s in result.stacks]
    return result.stacks[0]


@pytest.fixture
def load_one():
    """Scan ``path`` and load its one stack: ``(stack, volume)``."""

    def load(path: Path) -> tuple[DicomStack, Volume]:
        stack = only_stack(scan(path))
        return stack, load_stack(stack)

    return load


def warning_codes(stack: DicomStack) -> set[str]:
    return {warning.code.value for warning in stack.warnings}
