"""``workstation pacs ...``: talk to PACS nodes from the command line.

NODE is a configured node's name, ``local`` (the library), or an inline spec:
``dicomweb:http://host:port/dicom-web`` or ``dimse:AET@host:port``. Our own AE title and
storage port come from ``--ae`` / ``--port``, else the settings (see ``docs/admin.md``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from workstation.cli.common import EXIT_OK, EXIT_PARTIAL, UsageError, iso_date
from workstation.core.errors import WorkstationError


def _settings(args: argparse.Namespace) -> Any:
    from workstation.pacs.nodes import load_settings

    settings = load_settings()
    try:
        return settings.with_local(getattr(args, "ae", None), getattr(args, "port", None))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _prompt(text: str) -> str | None:
    if not sys.stdin.isatty():
        return None
    return getpass.getpass(text)


def _source(args: argparse.Namespace, settings: Any, scp: Any = None) -> Any:
    from workstation.pacs.connect import open_source

    def on_retry(attempt: int, delay: float, error: Any) -> None:
        # On a terminal only: a script's stderr gets the one-line reason of a final failure,
        # which counts the attempts made.
        if sys.stderr.isatty():
            print(
                f"workstation: {error}; retrying in {delay:.1f} s (attempt {attempt})",
                file=sys.stderr,
            )

    return open_source(args.node, settings, prompt=_prompt, scp=scp, on_retry=on_retry)


class _Progress:
    """``done/total instances`` on one terminal line (nothing when stderr is not a tty)."""

    def __init__(self, stream: TextIO, unit: str) -> None:
        self.stream = stream
        self.unit = unit
        self.active = stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        self.stream.write(f"\r{done}/{total} {self.unit}")
        self.stream.flush()

    def end(self) -> None:
        if self.active:
            self.stream.write("\n")
            self.stream.flush()


def _dump(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


# --- echo ------------------------------------------------------------------------------------


def echo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    source = _source(args, settings)
    try:
        seconds = source.echo()
    finally:
        source.close()
    if args.json:
        _dump({"node": source.name, "ok": True, "milliseconds": round(seconds * 1000, 1)})
    else:
        print(f"{source.name}: ok ({seconds * 1000:.0f} ms)")
    return EXIT_OK


# --- find ------------------------------------------------------------------------------------


def find(args: argparse.Namespace) -> int:
    from workstation.pacs.source import StudyQuery

    settings = _settings(args)
    try:
        start, end = StudyQuery.parse_date_range(args.study_date) if args.study_date else ("", "")
        query = StudyQuery(
            patient_id=args.patient_id or "",
            patient_name=args.patient_name or "",
            study_date_from=start,
            study_date_to=end,
            modality=args.modality or "",
            accession_number=args.accession or "",
            limit=args.limit,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    source = _source(args, settings)
    try:
        studies = source.find_studies(query)
    finally:
        source.close()
    if args.json:
        _dump({"node": source.name, "studies": [study.to_json() for study in studies]})
        return EXIT_OK
    for study in studies:
        counts = (
            f"{study.n_series if study.n_series is not None else '?'} series, "
            f"{study.n_instances if study.n_instances is not None else '?'} instances"
        )
        print(
            f"{iso_date(study.study_date)}  {study.patient_name or '(no name)'} "
            f"({study.patient_id or 'no ID'})  {study.study_description or 'study'}  "
            f"[{', '.join(study.modalities) or '-'}]  {counts}  {study.study_instance_uid}"
        )
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} on {source.name}")
    return EXIT_OK


# --- retrieve --------------------------------------------------------------------------------


def retrieve(args: argparse.Namespace) -> int:
    from workstation.pacs.scp import StorageSCP
    from workstation.pacs.source import check_uid
    from workstation.pacs.sync import RetrievalError, retrieve_study

    try:
        check_uid(args.study_uid, "STUDY_UID")
        if args.series:
            check_uid(args.series, "--series")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    settings = _settings(args)
    node = _resolve(args, settings)
    scp = None
    if node is not None and node.kind == "dimse" and node.retrieve == "move":
        scp = StorageSCP(settings.ae_title, settings.port, host=settings.bind).start()
    progress = _Progress(sys.stderr, "instances")
    cancel = threading.Event()
    try:
        source = _source(args, settings, scp)
        try:
            report = retrieve_study(
                source,
                args.study_uid,
                args.series,
                progress=progress,
                cancel=cancel.is_set,
                on_retry=_resuming,
            )
        except RetrievalError as failure:
            progress.end()
            kept = failure.report.already_local + failure.report.added
            raise WorkstationError(
                f"{failure}; {kept} instance(s) of the study are in the library: "
                "run the command again to fetch the rest"
            ) from None
        finally:
            source.close()
    finally:
        if scp is not None:
            scp.stop()
    progress.end()
    if args.json:
        _dump(report.to_json())
    else:
        state = "Retrieved" if report.complete else "Retrieved part of"
        print(
            f"{state} study {report.study_instance_uid} from {report.node}: "
            f"{report.fetched} instance(s) transferred ({report.added} new), "
            f"{report.already_local} already in the library, {report.non_image} non-image "
            f"object(s) not fetched, {report.missing} missing; {report.seconds:.2f} s"
            + (f", {report.attempts} attempts" if report.attempts > 1 else "")
        )
        for error in report.errors:
            print(f"  x {error.path}: {error.code.value}: {error.message}")
    if report.missing or report.errors:
        return EXIT_PARTIAL
    return EXIT_OK


def _resuming(attempt: int, delay: float, error: Any) -> None:
    if sys.stderr.isatty():
        print(
            f"\nworkstation: {error}; resuming in {delay:.0f} s (attempt {attempt})",
            file=sys.stderr,
        )


def _resolve(args: argparse.Namespace, settings: Any) -> Any:
    from workstation.pacs.local import LOCAL_NAME

    if args.node == LOCAL_NAME and not any(n.name == LOCAL_NAME for n in settings.nodes):
        raise UsageError("retrieving from the local library into itself does nothing")
    return settings.resolve(args.node)


# --- send ------------------------------------------------------------------------------------


def send(args: argparse.Namespace) -> int:
    from workstation.pacs.sync import send_paths

    paths = [Path(p) for p in args.paths]
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    settings = _settings(args)
    progress = _Progress(sys.stderr, "objects")
    source = _source(args, settings)
    try:
        report = send_paths(source, paths, progress=progress)
    finally:
        source.close()
    progress.end()
    if args.json:
        _dump({"node": source.name, **report.to_json()})
    else:
        print(f"Sent {report.sent} object(s) to {source.name}, {len(report.failed)} failed.")
        for what, why in report.failed:
            print(f"  x {what}: {why}")
    if report.sent == 0 and report.failed:
        raise WorkstationError(f"nothing could be sent to {source.name}")
    return EXIT_PARTIAL if report.failed else EXIT_OK


# --- nodes, login, listen ------------------------------------------------------------------


def nodes(args: argparse.Namespace) -> int:
    from workstation.pacs.nodes import keyring_status

    settings = _settings(args)
    available, backend = keyring_status()
    if args.json:
        _dump(
            {
                "ae_title": settings.ae_title,
                "port": settings.port,
                "site_config": str(settings.site_path) if settings.site_path else None,
                "user_settings": str(settings.user_path) if settings.user_path else None,
                "keyring": {"available": available, "backend": backend},
                "nodes": [
                    {**node.to_json(), "origin": node.origin, "read_only": node.read_only}
                    for node in settings.nodes
                ],
                "warnings": list(settings.warnings),
            }
        )
        return EXIT_OK
    print(f"Our AE title {settings.ae_title}, storage port {settings.port}")
    print(f"Site configuration: {settings.site_path or 'none'}")
    print(f"User settings: {settings.user_path}")
    print(f"Keyring: {backend}")
    for node in settings.nodes:
        lock = " (site, read-only)" if node.read_only else ""
        auth = f", auth {node.auth}" if node.auth != "none" else ""
        print(f"  {node.name}: {node.kind} {node.address}{auth}{lock}")
    if not settings.nodes:
        print("  no nodes configured (inline: dicomweb:URL or dimse:AET@host:port)")
    for warning in settings.warnings:
        print(f"  ! {warning}", file=sys.stderr)
    return EXIT_OK


def login(args: argparse.Namespace) -> int:
    from workstation.pacs.nodes import store_secret

    settings = _settings(args)
    node = settings.resolve(args.node)
    if node.auth == "none":
        raise UsageError(f"node {node.name!r} uses no credentials")
    what = "password" if node.auth == "basic" else "token"
    if args.stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        secret = getpass.getpass(f"{what} for {node.name}: ")
    else:
        raise UsageError(f"give the {what} on a terminal, or with --stdin")
    if not secret:
        raise UsageError(f"an empty {what} is not stored")
    backend = store_secret(node, secret)
    print(f"{what} for {node.name} stored in the keyring ({backend})")
    return EXIT_OK


def listen(args: argparse.Namespace) -> int:
    from workstation.pacs.scp import StorageSCP

    settings = _settings(args)
    stop = threading.Event()
    count = {"n": 0}

    def received(n: int) -> None:
        count["n"] = n

    scp = StorageSCP(
        settings.ae_title, settings.port, host=args.bind or settings.bind, on_received=received
    )
    scp.start()
    print(
        f"Storage SCP {settings.ae_title} listening on {scp.host}:{scp.port}; Ctrl-C stops",
        flush=True,
    )
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        while not stop.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        scp.stop()
    print(f"{count['n']} instance(s) received")
    return EXIT_OK


# --- the parser ------------------------------------------------------------------------------


def _local_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--ae", default=default, help="our AE title (default: from the settings)")
    parser.add_argument(
        "--port",
        type=int,
        default=default,
        help="our storage SCP port (default: from the settings)",
    )


def pacs_args(parser: argparse.ArgumentParser) -> None:
    _local_options(parser, suppress=False)
    actions = parser.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    node_help = "a configured node, 'local', dicomweb:URL or dimse:AET@host:port"

    def add(name: str, help_text: str, runner: Any) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        _local_options(sub, suppress=True)
        sub.set_defaults(run=runner)
        return sub

    sub = add("echo", "check that a node answers (C-ECHO, or a minimal QIDO-RS query)", echo)
    sub.add_argument("node", metavar="NODE", help=node_help)
    sub.add_argument("--json", action="store_true", help="print the result as JSON")

    sub = add("find", "list a node's studies matching the filters", find)
    sub.add_argument("node", metavar="NODE", help=node_help)
    sub.add_argument("--patient-id", metavar="ID", help="Patient ID (* and ? are wildcards)")
    sub.add_argument(
        "--patient-name", metavar="NAME", help="Patient's Name (* and ? are wildcards)"
    )
    sub.add_argument(
        "--study-date", metavar="FROM-TO", help="YYYYMMDD-YYYYMMDD; either side may be empty"
    )
    sub.add_argument("--modality", metavar="M", help="a modality in the study (CT, MR...)")
    sub.add_argument("--accession", metavar="NUMBER", help="Accession Number")
    sub.add_argument("--limit", type=int, default=500, help="at most this many studies (500)")
    sub.add_argument("--json", action="store_true", help="print the stable JSON listing")

    sub = add(
        "retrieve", "fetch a study (or one series) into the local library; resumable", retrieve
    )
    sub.add_argument("node", metavar="NODE", help=node_help)
    sub.add_argument("study_uid", metavar="STUDY_UID")
    sub.add_argument("--series", metavar="UID", help="only this series")
    sub.add_argument("--json", action="store_true", help="print the JSON report")

    sub = add("send", "send DICOM files (results: SEG, SR; or studies) to a node", send)
    sub.add_argument("node", metavar="NODE", help=node_help)
    sub.add_argument("paths", metavar="PATH", nargs="+", help="files, folders or zip archives")
    sub.add_argument("--json", action="store_true", help="print the JSON report")

    sub = add("nodes", "list the configured nodes, our AE title and port, the keyring", nodes)
    sub.add_argument("--json", action="store_true", help="print as JSON")

    sub = add("login", "store a node's password or token in the OS keyring", login)
    sub.add_argument("node", metavar="NODE", help="a configured node")
    sub.add_argument("--stdin", action="store_true", help="read the secret from standard input")

    sub = add("listen", "run our storage SCP in the foreground (receive pushes)", listen)
    sub.add_argument("--bind", help="address to listen on (default: from the settings)")
    sub.add_argument("--seconds", type=float, help="stop after this long")


def pacs(args: argparse.Namespace) -> int:
    # ``pacs`` itself only dispatches; argparse set ``run`` to the action's function.
    raise UsageError("choose an action: echo, find, retrieve, send, nodes, login, listen")
