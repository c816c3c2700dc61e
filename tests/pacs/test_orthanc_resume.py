"""Orthanc killed (SIGKILL) in the middle of a 400-instance retrieval, then restarted on the same
storage: the resumed retrieval fetches only the rest; no duplicate, no partial file, all decode."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MANAGED_NAME, check_consistent, make_orthanc, storage_files
from orthanc_server import HOST, Orthanc
from pacs_data import Study, assert_study_in_library, dimse_source, write_study
from tcp_proxy import TcpProxy

from workstation.io import load_stack
from workstation.pacs import open_database, scan_series
from workstation.pacs.dicomweb import DicomWebSource
from workstation.pacs.errors import PacsReason
from workstation.pacs.nodes import parse_node_spec
from workstation.pacs.retry import RetryPolicy
from workstation.pacs.source import DataSource
from workstation.pacs.sync import RetrievalError, retrieve_study

N_INSTANCES = 400
KILL_AT = 100
#: One quick retry while the server is down (it fails too), then the retrieval gives up.
ONE_RETRY = RetryPolicy(attempts=2, initial_delay=0.2)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, Study]]:
    """An Orthanc of its own (it gets killed) holding one study of 400 slices of 64²."""
    server = make_orthanc(tmp_path_factory.mktemp("killed"), aet="KILLME")
    server.start()
    study = write_study(
        tmp_path_factory.mktemp("big"),
        Study("big", "PAT400", "Big^Series", "20240201", "CT", "ACC-400"),
        [N_INSTANCES],
        rows=64,
        columns=64,
    )
    server.upload(study.files)
    try:
        yield server, study
    finally:
        server.kill()


def wado_source(orthanc: Orthanc, port: int | None = None) -> DataSource:
    """WADO-RS to ``orthanc`` (through a relay listening on ``port`` when given)."""
    url = orthanc.dicomweb_url if port is None else f"http://{HOST}:{port}/dicom-web"
    transport = httpx.HTTPTransport(
        socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024)]
    )
    return DicomWebSource(parse_node_spec(f"dicomweb:{url}"), retry=ONE_RETRY, transport=transport)


@pytest.mark.parametrize("method", ("wado-rs", "c-get"))
def test_killed_server_then_resume(method: str, big: tuple[Orthanc, Study], home: Path) -> None:
    orthanc, study = big
    if orthanc.process is None:
        orthanc.start()
    # On loopback Orthanc can push a whole small series into the kernel's socket buffers long
    # before we read it, and a killed process's buffered data is still delivered: the link is
    # therefore cut with the kill (WADO-RS goes through a relay), so the stream really ends
    # where the server died, as it does over a real network.
    proxy = TcpProxy(HOST, orthanc.http_port) if method == "wado-rs" else None
    source = wado_source(orthanc, proxy.port) if proxy else dimse_source(orthanc)

    def kill_midway(done: int, total: int) -> None:
        if done == KILL_AT:
            orthanc.kill()
            if proxy is not None:
                proxy.cut()

    with pytest.raises(RetrievalError) as failed:
        retrieve_study(source, study.uid, progress=kill_midway, retry=ONE_RETRY)
    error = failed.value
    assert error.reason in (PacsReason.UNREACHABLE, PacsReason.INTERRUPTED)
    assert error.attempts == 2
    kept = error.report.added
    assert KILL_AT <= kept < N_INSTANCES, kept

    # What arrived is whole: every file decodes, nothing half-written, no temporary file left.
    with open_database() as db:
        (series,) = study.series
        result = scan_series(db, series.series_instance_uid)
        assert result.errors == [] and len(result.headers) == kept
        for stack in result.stacks:
            load_stack(stack)
        check_consistent(db)
    assert all(MANAGED_NAME.fullmatch(name) for name in storage_files(home))

    orthanc.restart()  # same storage, same ports
    source.close()
    source = wado_source(orthanc) if method == "wado-rs" else dimse_source(orthanc)
    report = retrieve_study(source, study.uid, retry=ONE_RETRY)
    assert report.complete
    assert (report.already_local, report.fetched, report.added) == (
        kept,
        N_INSTANCES - kept,
        N_INSTANCES - kept,
    )
    with open_database() as db:
        assert_study_in_library(db, study)  # all 400, each decoding to the truth
        assert db.connection.execute("SELECT count(*) FROM instances").fetchone() == (N_INSTANCES,)
        check_consistent(db)
    assert len(storage_files(home)) == N_INSTANCES
    source.close()
