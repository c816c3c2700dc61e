"""Exit codes and the error type shared by the subcommands."""

from __future__ import annotations

from workstation.core.errors import WorkstationError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3  # the command ran, but some files could not be used
EXIT_INTERRUPTED = 130


class UsageError(WorkstationError):
    """The command line asks for something that cannot be done."""


def iso_date(text: str) -> str:
    """A DICOM DA (YYYYMMDD) as ISO 8601; anything else as it is."""
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text or "no date"
