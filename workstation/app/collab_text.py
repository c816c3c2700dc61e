"""What the collaboration panel says: errors as one line, times, sizes, conflicts.

Plain functions from the collaboration service's values to the panel's words; no Qt, no
network. The wording is for a reader between two cases.
"""

from __future__ import annotations

import datetime
import logging
import re
from typing import TYPE_CHECKING

from workstation.core.annotations import Annotation
from workstation.core.errors import WorkstationError
from workstation.ui.collab_panel import ConflictRow
from workstation.ui.measurements_panel import describe_values

if TYPE_CHECKING:
    from workstation.collab.outbox import Conflict

log = logging.getLogger(__name__)


class ShareStoppedError(Exception):
    """The reader stopped a share; raised from its progress callback."""


def one_line(text: str, limit: int = 200) -> str:
    """``text`` as one line of at most ``limit`` characters, starting with a capital."""
    line = " ".join(str(text).split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line[:1].upper() + line[1:]


#: What the network layer says, as a reader would say it (first match wins).
_NETWORK_REASONS = (
    ("certificate verify failed", "its certificate is not trusted (ask IT for the CA bundle)"),
    ("connection refused", "the connection was refused"),
    ("timed out", "it did not answer in time"),
    ("name or service not known", "no server has that name"),
    ("nodename nor servname", "no server has that name"),
    ("getaddrinfo failed", "no server has that name"),
    ("network is unreachable", "the network is unreachable"),
)


def network_problem(text: str) -> str:
    """A transport failure ("cannot reach URL: [Errno 111] Connection refused") as one short
    sentence: "Cannot reach the server: the connection was refused."
    Answers from the server itself (5xx, 429) are kept as they are."""
    lowered = text.lower()
    if not lowered.startswith(("cannot reach", "download interrupted")):
        return one_line(text)
    for needle, reason in _NETWORK_REASONS:
        if needle in lowered:
            return f"Cannot reach the server: {reason}."
    detail = text.split(": ", 1)[1] if ": " in text else text
    detail = re.sub(r"\[Errno -?\d+\]\s*", "", detail)
    return one_line(f"Cannot reach the server: {detail}")


def describe_error(exc: BaseException) -> str:
    """What went wrong, for the panel: one line, never a traceback."""
    from workstation.collab import client

    if isinstance(exc, client.SignInError):
        return one_line(f"{exc}.")
    if isinstance(exc, client.AuthExpiredError):
        return "Your sign-in has expired: sign in again (nothing is lost)."
    if isinstance(exc, client.ServerUnavailableError):
        return network_problem(str(exc))
    if isinstance(exc, client.RequestRefusedError):
        return one_line(f"The server refused: {exc}")
    if isinstance(exc, ShareStoppedError):
        return "Stopped: nothing was shared."
    if isinstance(exc, (WorkstationError, ValueError, OSError, KeyError)):
        return one_line(str(exc) or type(exc).__name__)
    log.error("collaboration task failed", exc_info=exc)
    return one_line(f"Unexpected problem ({type(exc).__name__}): {exc}")


def when(iso: str) -> str:
    """An ISO time as a reader reads it, in local time: "14:05" today, "12 Mar 14:05"."""
    try:
        moment = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso[:16]
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    today = datetime.date.today()
    if moment.date() == today:
        return moment.strftime("%H:%M")
    if moment.year == today.year:
        return moment.strftime("%d %b %H:%M")
    return moment.strftime("%d %b %Y")


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def name_of(annotation: Annotation) -> str:
    return annotation.label or annotation.text[:30] or annotation.kind.value


def _quoted(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return f"‘{text[:limit]}…’" if len(text) > limit else f"‘{text}’"


def conflict_row(conflict: Conflict, people: dict[str, str] | None = None) -> ConflictRow:
    """What differs between the reader's version and the server's, field group by group.

    ``people`` maps user names to display names ("Dr B. Brown").
    """
    mine, theirs = conflict.mine, conflict.theirs
    title = f"{_quoted(name_of(mine))} ({mine.kind.value})"
    if conflict.reason.value == "rejected":
        return ConflictRow(
            conflict.uuid,
            title,
            ("The server did not accept your change.",),
            one_line(conflict.detail),
            has_theirs=theirs is not None,
        )
    lines: list[str] = []
    other = theirs
    for group in conflict.fields or ("geometry",):
        if other is None:
            break
        if group == "label":
            lines.append(f"Label: mine {_quoted(mine.label)} · theirs {_quoted(other.label)}")
        elif group == "text":
            lines.append(f"Note: mine {_quoted(mine.text)} · theirs {_quoted(other.text)}")
        elif group == "deleted":
            lines.append(
                "Deleted by you; a colleague edited it"
                if mine.deleted
                else "Deleted by a colleague; you edited it"
            )
        elif group == "geometry":
            a, b = describe_values(mine), describe_values(other)
            if a and b and a != b:
                lines.append(f"Geometry: mine {a} · theirs {b}")
            else:
                lines.append("Geometry: drawn differently (points moved)")
    if other is None:
        lines.append("The server has no version you may see.")
    by = ""
    if other is not None and other.author:
        by = f"Theirs by {(people or {}).get(other.author, other.author)}, {when(other.updated)}"
    return ConflictRow(conflict.uuid, title, tuple(lines), by, has_theirs=other is not None)
