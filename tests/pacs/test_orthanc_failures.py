"""Named errors, never a traceback or a hang: dead nodes, silent nodes, wrong AE titles, bad
credentials, unknown move destinations."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import make_orthanc
from orthanc_server import HOST, OUR_AE, Orthanc, free_port
from pacs_data import FAST_RETRY, Study, dimse_source

from workstation.pacs.connect import open_source
from workstation.pacs.dicomweb import DicomWebSource
from workstation.pacs.dimse import DimseSource
from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.filing import LibraryFiler, LibrarySink
from workstation.pacs.nodes import PacsSettings, parse_node_spec
from workstation.pacs.scp import StorageSCP
from workstation.pacs.source import StudyQuery


def cli(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "workstation", "--home", str(home), "pacs", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def failure(call: object) -> tuple[PacsError, float]:
    started = time.monotonic()
    with pytest.raises(PacsError) as caught:
        call()  # type: ignore[operator]
    return caught.value, time.monotonic() - started


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
                held.append(connection)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_dead_node_is_unreachable_quickly(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    web = DicomWebSource(
        parse_node_spec(f"dicomweb:http://{HOST}:{port}/dicom-web"), retry=FAST_RETRY
    )
    error, seconds = failure(web.echo)
    assert error.reason == PacsReason.UNREACHABLE and error.attempts == 2 and seconds < 5
    error, _ = failure(lambda: web.find_studies(StudyQuery(patient_id="X")))
    assert error.reason == PacsReason.UNREACHABLE
    dimse = DimseSource(
        parse_node_spec(f"dimse:NOBODY@{HOST}:{port}"), ae_title=OUR_AE, retry=FAST_RETRY
    )
    error, seconds = failure(dimse.echo)
    assert error.reason == PacsReason.UNREACHABLE and seconds < 5
    assert str(error).startswith(f"dimse:NOBODY@{HOST}:{port}: unreachable: ")

    result = cli("echo", f"dimse:NOBODY@{HOST}:{port}", home=tmp_path / "home")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_silent_node_times_out(silent_server: int) -> None:
    web_node = replace(
        parse_node_spec(f"dicomweb:http://{HOST}:{silent_server}/dicom-web"), timeout=1.0
    )
    error, seconds = failure(DicomWebSource(web_node, retry=FAST_RETRY).echo)
    assert error.reason == PacsReason.TIMEOUT and seconds < 6
    dimse_node = replace(parse_node_spec(f"dimse:SILENT@{HOST}:{silent_server}"), timeout=1.0)
    error, seconds = failure(DimseSource(dimse_node, ae_title=OUR_AE, retry=FAST_RETRY).echo)
    assert error.reason == PacsReason.TIMEOUT and seconds < 6


def test_not_a_dicom_node(orthanc: Orthanc) -> None:
    # The HTTP port speaks no DICOM; a wrong base URL has no QIDO-RS.
    wrong_port = DimseSource(
        parse_node_spec(f"dimse:{orthanc.aet}@{HOST}:{orthanc.http_port}"),
        ae_title=OUR_AE,
        retry=FAST_RETRY,
    )
    error, seconds = failure(wrong_port.echo)
    assert error.reason in (PacsReason.REFUSED, PacsReason.PROTOCOL, PacsReason.INTERRUPTED)
    assert seconds < 35
    wrong_path = DicomWebSource(
        parse_node_spec(f"dicomweb:{orthanc.url}/no-dicom-web"), retry=FAST_RETRY
    )
    error, _ = failure(wrong_path.echo)
    assert error.reason == PacsReason.NOT_FOUND


def test_wrong_called_ae_title(orthanc: Orthanc, tmp_path: Path) -> None:
    node = parse_node_spec(f"dimse:NOT-ORTHANC@{HOST}:{orthanc.dicom_port}")
    error, _ = failure(DimseSource(node, ae_title=OUR_AE, retry=FAST_RETRY).echo)
    assert error.reason == PacsReason.AE_TITLE
    assert "'NOT-ORTHANC'" in error.message
    assert error.attempts == 1  # not retried: it will not get better
    result = cli("echo", node.name, home=tmp_path / "home")
    assert result.returncode == 1 and "wrong_ae_title" in result.stderr


def test_move_to_an_unregistered_destination(
    orthanc: Orthanc, catalogue: dict[str, Study], home: Path
) -> None:
    with StorageSCP("UNREGISTERED", free_port(), host=HOST) as scp:
        source = dimse_source(orthanc, move=True, scp=scp, ae="UNREGISTERED")
        with LibraryFiler() as filer:
            error, _ = failure(
                lambda: source.retrieve(catalogue["other"].uid, sink=LibrarySink(filer))
            )
    # Orthanc answers 0xC000 ("unable to process") rather than 0xA801 ("move destination
    # unknown"): either way the message points at the registration.
    assert error.reason in (PacsReason.AE_TITLE, PacsReason.SERVER)
    assert "move destination" in error.message and "'UNREGISTERED'" in error.message


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    server = make_orthanc(tmp_path_factory.mktemp("secured"), users={"alice": "s3cret-pw"})
    server.start()
    try:
        yield server
    finally:
        server.kill()  # throwaway storage: no need for a clean shutdown


def test_basic_auth(secured: Orthanc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = replace(
        parse_node_spec(secured.dicomweb_spec), name="secured", auth="basic", username="alice"
    )
    error, _ = failure(DicomWebSource(node, secret="wrong", retry=FAST_RETRY).echo)
    assert error.reason == PacsReason.UNAUTHORIZED and "refused" in error.message
    assert error.attempts == 1
    anonymous = parse_node_spec(secured.dicomweb_spec)
    error, _ = failure(DicomWebSource(anonymous, retry=FAST_RETRY).echo)
    assert error.reason == PacsReason.UNAUTHORIZED and "requires credentials" in error.message

    # No secret anywhere (and no keyring on this machine): a clear message, no prompt, no file.
    monkeypatch.delenv("WORKSTATION_PACS_PASSWORD", raising=False)
    monkeypatch.delenv("WORKSTATION_PACS_PASSWORD_SECURED", raising=False)
    settings = PacsSettings(nodes=(node,))
    error, _ = failure(lambda: open_source("secured", settings))
    assert error.reason == PacsReason.UNAUTHORIZED
    assert "WORKSTATION_PACS_PASSWORD_SECURED" in error.message

    monkeypatch.setenv("WORKSTATION_PACS_PASSWORD_SECURED", "s3cret-pw")
    source = open_source("secured", settings)
    try:
        assert source.echo() < 5
    finally:
        source.close()

    # The command line, with the node in the user settings and the password in the environment.
    home = tmp_path / "home"
    home.mkdir()
    node_entry = {
        "name": "secured",
        "kind": "dicomweb",
        "url": secured.dicomweb_url,
        "auth": "basic",
        "username": "alice",
    }
    (home / "settings.json").write_text(json.dumps({"pacs": {"nodes": [node_entry]}}))
    good = cli("echo", "secured", home=home, env={"WORKSTATION_PACS_PASSWORD_SECURED": "s3cret-pw"})
    assert good.returncode == 0, good.stderr
    bad = cli("echo", "secured", home=home, env={"WORKSTATION_PACS_PASSWORD_SECURED": "nope"})
    assert bad.returncode == 1 and "unauthorized" in bad.stderr and bad.stderr.count("\n") == 1
    assert "s3cret" not in (home / "settings.json").read_text()
