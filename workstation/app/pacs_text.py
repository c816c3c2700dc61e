"""What the PACS panels say: failures in a reader's words, outcomes, whose study, where to
configure nodes. Plain functions of the PACS layer's records (no widgets)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from workstation.core.study import format_date, format_patient_name
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.nodes import Node, PacsSettings
from workstation.pacs.source import RemoteStudy, StoreReport
from workstation.pacs.sync import RetrieveReport

#: Each reason in a reader's words, with what to check (the administrator guide's table).
_REASONS: dict[PacsReason, tuple[str, str]] = {
    PacsReason.UNREACHABLE: (
        "Not reachable",
        "Check the host name and port, the network and firewalls, and that the PACS runs.",
    ),
    PacsReason.TIMEOUT: (
        "No answer in time",
        "The node is slow or a firewall drops packets silently; raise the node's timeout.",
    ),
    PacsReason.REFUSED: (
        "Refused",
        "The node rejected the association, or the port does not speak DICOM.",
    ),
    PacsReason.AE_TITLE: (
        "Wrong AE title",
        "Check the node's called AE title, and that our AE title is registered at the node.",
    ),
    PacsReason.UNAUTHORIZED: (
        "Not authorized",
        "Check the user name and password or token (workstation pacs login) and the rights.",
    ),
    PacsReason.NOT_FOUND: (
        "Not found",
        "Check the DICOMweb base URL, or the study is no longer on the node.",
    ),
    PacsReason.INTERRUPTED: (
        "Connection lost",
        "What arrived is kept; resuming fetches only the rest.",
    ),
    PacsReason.SERVER: (
        "Server error",
        "The node reported a failure (see its logs); for C-MOVE, is our AE title registered "
        "as a destination with our host and port?",
    ),
    PacsReason.PROTOCOL: (
        "Unexpected answer",
        "The node's answer is malformed or larger than accepted.",
    ),
    PacsReason.TLS: (
        "Secure connection failed",
        "Check the certificates: ca_bundle, the server name, the client certificate.",
    ),
    PacsReason.CONFIGURATION: ("Configuration", "Check the node entry and our own settings."),
}


def describe_error(error: BaseException) -> tuple[str, str]:
    """A failure as one line for the reader, and a hint for whoever fixes it (a tooltip)."""
    if isinstance(error, PacsError):
        headline, hint = _REASONS.get(error.reason, (error.reason.value, ""))
        tries = f" (after {error.attempts} attempts)" if error.attempts > 1 else ""
        return (
            f"{headline}: {error.message}{tries}",
            f"Reason: {error.reason.value}. {hint} See the administrator guide (docs/admin.md).",
        )
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    if name == "FilingError":
        return f"The local library cannot be written: {text}", "Check the disk and its space."
    return (f"{name}: {text}" if text else name), ""


def study_subject(study: RemoteStudy | None) -> str:
    """Whose study: "DOE, Jane · 2024-01-15 · CT abdomen" (shown, never logged)."""
    if study is None:
        return ""
    parts = [
        format_patient_name(study.patient_name),
        format_date(study.study_date),
        study.study_description,
    ]
    return " · ".join(p for p in parts if p)


def retrieve_outcome(report: RetrieveReport) -> tuple[str, bool]:
    """A finished retrieval in a few words, and whether something is amiss."""
    parts = [f"{report.fetched} received"]
    if report.already_local:
        parts.append(f"{report.already_local} already local")
    if report.non_image:
        parts.append(f"{report.non_image} non-image not kept")
    if report.missing:
        parts.append(f"{report.missing} still missing")
    if report.errors:
        parts.append(f"{len(report.errors)} unusable ({report.errors[0].message})")
    if report.attempts > 1:
        parts.append(f"{report.attempts} attempts")
    return f"{', '.join(parts)} · {report.seconds:.1f} s", bool(report.missing or report.errors)


def send_outcome(report: StoreReport) -> tuple[str, bool]:
    text = f"{report.sent} sent"
    if report.failed:
        what, why = report.failed[0]
        text += f", {len(report.failed)} not sent ({Path(str(what)).name}: {why})"
    return f"{text} · {report.seconds:.1f} s", bool(report.failed)


def node_detail(node: Node) -> str:
    """How a node is reached, for the picker's tooltip."""
    kind = "DICOMweb" if node.kind == "dicomweb" else f"DIMSE (C-{node.retrieve.upper()})"
    origin = {"site": "site configuration", "user": "your settings"}.get(node.origin, node.origin)
    text = f"{kind} · {node.address} · from the {origin}"
    return f"{node.description}\n{text}" if node.description else text


def site_config_hint(settings: PacsSettings) -> str:
    """Where the site configuration is (or would be) read from (called off the GUI thread)."""
    if settings.site_path is not None:
        return str(settings.site_path)
    try:
        from platformdirs import site_config_path

        folder = site_config_path("workstation", appauthor=False, multipath=False)
    except Exception:  # noqa: BLE001 - only a hint in a message
        return "site.toml in the system's configuration folder"
    return str(folder / "site.toml")


def empty_text(settings: PacsSettings, site_hint: str) -> str:
    """What the PACS tab says while no node is configured: where IT and the user add them."""
    user = escape(str(settings.user_path)) if settings.user_path else "settings.json"
    problems = ""
    if settings.warnings:
        problems = (
            "<p style='color:#e07b7b'>Problems found:<br>"
            + "<br>".join(escape(w) for w in settings.warnings[:5])
            + "</p>"
        )
    return (
        "<p><b>No PACS node is configured.</b></p>"
        "<p>IT lists the nodes every user sees in the <b>site configuration</b>:<br>"
        f"<code>{escape(site_hint)}</code><br>"
        "(or the file named by <code>WORKSTATION_SITE_CONFIG</code>).</p>"
        '<p>Your own nodes go in the <code>"pacs"</code> → <code>"nodes"</code> list of '
        f"your <b>settings</b>:<br><code>{user}</code></p>"
        "<p>The administrator guide (<code>docs/admin.md</code>) shows both with examples; "
        "<code>workstation pacs nodes</code> lists what was read. Restart the workstation "
        "after a change.</p>" + problems
    )
