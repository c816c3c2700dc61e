"""The PACS tab and the transfer panel in the assembled application, against a real Orthanc.

Search by every filter, lazy series listing, echo, named failures (a dead node, a wrong AE
title), retrieve and open (the first series opens while the rest still arrives), cancel and
resume, sending through the Send flow, and our storage SCP receiving a C-STORE (dcmtk's
storescu) into the Studies browser, with the prefetch of priors it triggers.
"""

from __future__ import annotations

import datetime
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QInputDialog

PACS_TESTS = Path(__file__).resolve().parents[1] / "pacs"
sys.path.insert(0, str(PACS_TESTS))

from orthanc_server import HOST, OUR_AE, Orthanc, OrthancMissingError, free_port  # noqa: E402
from pacs_data import Study, write_catalogue, write_study  # noqa: E402
from tcp_proxy import TcpProxy  # noqa: E402

from workstation.testing.factories import SeriesSpec, write_series  # noqa: E402

WEB, DIMSE, SLOW, DEAD, WRONG_AE = (
    "Orthanc web",
    "Orthanc DIMSE",
    "Slow link",
    "Dead node",
    "Wrong AE",
)
#: The slow link's rate: a study of a few hundred small images takes seconds, not milliseconds.
SLOW_BYTES_PER_SECOND = 600_000
BIG_SERIES = (12, 240)  # slices of 64 × 64: a small first series, a long second one


class SlowProxy(TcpProxy):
    """A relay that passes at most ``rate`` bytes per second each way (a slow WAN link)."""

    def __init__(self, host: str, port: int, rate: float = SLOW_BYTES_PER_SECOND) -> None:
        self.rate = rate
        super().__init__(host, port)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._cut.is_set():
                data = source.recv(4096)
                if not data:
                    break
                target.sendall(data)
                time.sleep(len(data) / self.rate)
            if not self._cut.is_set():
                target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@dataclass
class Pacs:
    orthanc: Orthanc
    studies: dict[str, Study]
    scp_port: int
    slow_port: int


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    """An Orthanc holding the PACS tests' catalogue, a study of today and a big study."""
    scp_port = free_port()
    try:
        orthanc = Orthanc(
            tmp_path_factory.mktemp("orthanc"),
            aet="ORTHGUI",
            modalities={"workstation": (OUR_AE, HOST, scp_port)},
        )
    except OrthancMissingError as exc:
        pytest.fail(str(exc))
    orthanc.start()
    folder = tmp_path_factory.mktemp("catalogue")
    studies = write_catalogue(folder)
    today = datetime.date.today().strftime("%Y%m%d")
    studies["today"] = write_study(
        folder, Study("today", "PAT003", "Poe^Ann", today, "CT", "ACC-2000"), [3]
    )
    studies["big"] = write_study(
        folder,
        Study("big", "PAT004", "Big^Ben", "20240301", "CT", "ACC-3000"),
        list(BIG_SERIES),
        rows=64,
        columns=64,
    )
    orthanc.upload(path for study in studies.values() for path in study.files)
    proxy = SlowProxy(HOST, orthanc.http_port)
    try:
        yield Pacs(orthanc, studies, scp_port, proxy.port)
    finally:
        proxy.close()
        orthanc.stop()


def _site_config(
    path: Path, pacs: Pacs, *, nodes: bool = True, prefetch: bool = False, port: int = 0
) -> Path:
    """A site configuration as IT deploys it (JSON: the inference settings read it too)."""
    orthanc = pacs.orthanc
    section: dict[str, Any] = {
        "ae_title": OUR_AE,
        "port": port or pacs.scp_port,
        "bind": HOST,
        "scp_enabled": True,
        "nodes": [],
    }
    if nodes:
        dimse = {"kind": "dimse", "host": HOST, "timeout": 10}
        section["nodes"] = [
            {"name": WEB, "kind": "dicomweb", "url": orthanc.dicomweb_url},
            {"name": DIMSE, **dimse, "ae_title": orthanc.aet, "port": orthanc.dicom_port},
            {"name": SLOW, "kind": "dicomweb", "url": f"http://{HOST}:{pacs.slow_port}/dicom-web"},
            {"name": DEAD, **dimse, "ae_title": "NOBODY", "port": free_port()},
            {"name": WRONG_AE, **dimse, "ae_title": "NOT_ORTHANC", "port": orthanc.dicom_port},
        ]
    if prefetch:
        section["prefetch"] = {"enabled": True, "node": WEB, "priors": 2, "same_modality": True}
    path.write_text(json.dumps({"pacs": section}, indent=2))
    return path


@dataclass
class App:
    window: Any
    services: Any
    binding: Any
    browser: Any
    transfers: Any


def _start_app(qtbot, monkeypatch, site: Path) -> App:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WORKSTATION_SITE_CONFIG", str(site))
    from workstation.app.composition import build_main_window

    window, services = build_main_window()
    qtbot.addWidget(window)
    window.resize(1500, 950)
    window.show()
    qtbot.waitUntil(services.late_panels_added.is_set, timeout=20000)
    binding = services.pacs
    assert binding is not None
    qtbot.waitUntil(lambda: binding.ready, timeout=20000)
    return App(window, services, binding, binding.browser, binding.transfers)


@pytest.fixture
def app(qtbot, home, monkeypatch, tmp_path, pacs) -> Iterator[App]:  # type: ignore[no-untyped-def]
    started = _start_app(qtbot, monkeypatch, _site_config(tmp_path / "site.json", pacs))
    yield started
    started.services.shutdown()


# --- helpers -------------------------------------------------------------------------------------


def _search(qtbot, app: App, node: str, **fields: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Fill the fields, press Enter in the patient ID field, return the listed study UIDs."""
    browser = app.browser
    browser.set_node(node)
    browser.clear_fields()
    for name, value in fields.items():
        if name == "modality":
            browser.modality.setCurrentText(value)
        elif name == "dates":
            browser.set_date_range(value)
        else:
            getattr(browser, name).setText(value)
    browser.show_message("")
    from PySide6.QtTest import QTest

    QTest.keyClick(browser.patient_id, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: browser.message.text() and "Searching" not in browser.message.text())
    assert " on " in browser.message.text(), browser.message.text()
    return set(browser.study_uids())


def _uids(pacs: Pacs, *keys: str) -> set[str]:
    return {pacs.studies[key].uid for key in keys}


def _study_item(app: App, study_uid: str):  # type: ignore[no-untyped-def]
    tree = app.browser.tree
    for index in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(index)
        if item.data(0, Qt.ItemDataRole.UserRole) == study_uid:
            return item
    raise AssertionError(f"study {study_uid} not listed")


def _library_studies(app: App) -> set[str]:
    tree = app.services.browser.tree
    return {
        str(tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole + 1))
        for i in range(tree.topLevelItemCount())
    }


def _held(app: App, study_uid: str) -> int:
    row = app.services.database.connection.execute(
        "SELECT coalesce(sum(n_instances), 0) FROM series WHERE study_uid = ?", (study_uid,)
    ).fetchone()
    return int(row[0])


def _prefetch_titles(app: App) -> list[str]:
    """The Transfers panel's prefetch rows: the search for priors and one row per prior."""
    return [row.title for row in app.transfers.rows() if row.title.startswith("Prefetch prior")]


def _orthanc_has(orthanc: Orthanc, study_uid: str) -> int:
    """Instances Orthanc holds of a study."""
    with httpx.Client(base_url=orthanc.url, timeout=10.0) as client:
        found = client.post("/tools/lookup", content=study_uid.encode()).json()
        ids = [entry["ID"] for entry in found if entry.get("Type") == "Study"]
        if not ids:
            return 0
        return len(client.get(f"/studies/{ids[0]}/instances").json())


# --- tests ---------------------------------------------------------------------------------------


def test_no_node_configured_says_where_to_configure(
    qtbot, home, monkeypatch, tmp_path, pacs
) -> None:
    site = _site_config(tmp_path / "site.json", pacs, nodes=False)
    started = _start_app(qtbot, monkeypatch, site)
    try:
        browser = started.browser
        assert not browser.has_nodes
        text = browser.empty_label.text()
        assert "No PACS node is configured" in text
        assert str(site) in text  # the site configuration file IT edits
        assert "settings.json" in text and str(home) in text  # the user's own settings
        assert "docs/admin.md" in text
        # Nothing to send to: the AI panel's Send button stays hidden, the menu entry off.
        assert started.services.ai_binding.panel.send_button.isHidden()
        assert not started.window.actions_by_name["send_study"].isEnabled()
    finally:
        started.services.shutdown()


@pytest.mark.parametrize("node", [WEB, DIMSE])
def test_search_by_each_filter(qtbot, app: App, pacs: Pacs, node: str) -> None:
    everything = set(pacs.studies)
    assert _search(qtbot, app, node) == _uids(pacs, *everything)
    jane = ("current", "prior1", "prior2", "prior3", "mr")
    assert _search(qtbot, app, node, patient_name="Doe*") == _uids(pacs, *jane)
    assert _search(qtbot, app, node, patient_id="PAT002") == _uids(pacs, "other")
    assert _search(qtbot, app, node, accession="ACC-0950") == _uids(pacs, "mr")
    assert _search(qtbot, app, node, modality="MR") == _uids(pacs, "mr")
    assert _search(qtbot, app, node, dates="Today") == _uids(pacs, "today")
    assert _search(qtbot, app, node, dates="Last 7 days") == _uids(pacs, "today")
    app.browser.clear_fields()
    app.browser.set_date_range("Between…", QDate(2023, 1, 1), QDate(2023, 12, 31))
    app.browser.search()
    qtbot.waitUntil(lambda: "Searching" not in app.browser.message.text())
    assert set(app.browser.study_uids()) == _uids(pacs, "prior1", "mr")
    # Filters combine; a filter matching nothing gives an empty list, not an error.
    assert _search(qtbot, app, node, patient_id="PAT001", modality="CT") == _uids(
        pacs, "current", "prior1", "prior2", "prior3"
    )
    # Newest first, whatever order the node answers in.
    tree = app.browser.tree
    dates = [tree.topLevelItem(i).text(2) for i in range(tree.topLevelItemCount())]
    assert dates == sorted(dates, reverse=True) and len(dates) == 4
    assert _search(qtbot, app, node, patient_id="NOBODY") == set()
    assert app.browser.message.text() == f"0 studies on {node}"

    # The columns a radiologist reads.
    _search(qtbot, app, node, accession="ACC-1001")
    item = _study_item(app, pacs.studies["current"].uid)
    assert item.text(0) == "Doe, Jane"
    assert item.text(1) == "PAT001"
    assert item.text(2) == "2024-01-15"
    assert item.text(3) == "CT"
    assert item.text(4) == "current study"
    assert item.text(5) == "ACC-1001"
    assert item.text(6) == "2 / 10"
    assert item.text(7) == ""  # not in the library


def test_a_bad_filter_is_refused_with_the_reason(qtbot, app: App) -> None:
    app.browser.set_node(WEB)
    app.browser.patient_id.setText("back\\slash")
    app.browser.search()
    assert "Not searched" in app.browser.message.text()
    assert "backslash" in app.browser.message.text()


def test_expanding_a_study_lists_its_series(qtbot, app: App, pacs: Pacs) -> None:
    _search(qtbot, app, DIMSE, patient_id="PAT001", modality="CT", dates="Any date")
    item = _study_item(app, pacs.studies["current"].uid)
    assert item.child(0).text(0) == "Listing the series…"  # nothing asked before expanding
    item.setExpanded(True)
    qtbot.waitUntil(lambda: item.child(0).data(0, Qt.ItemDataRole.UserRole + 1) == "series")
    rows = [(item.child(i).text(0), item.child(i).text(6)) for i in range(item.childCount())]
    assert rows == [("#1", "6 img."), ("#2", "4 img.")]
    assert item.child(0).text(4) == "current series 1"
    assert app.browser.series_uids(pacs.studies["current"].uid) == [
        s.series_instance_uid for s in pacs.studies["current"].series
    ]


def test_echo_shows_the_round_trip_or_the_reason(qtbot, app: App) -> None:
    browser = app.browser
    for node in (WEB, DIMSE):
        browser.set_node(node)
        browser.echo_button.click()
        qtbot.waitUntil(browser.echo_button.isEnabled, timeout=15000)
        assert browser.echo_label.text().startswith(f"{node}: OK · "), browser.echo_label.text()
        assert browser.echo_label.text().endswith(" ms")
    browser.set_node(WRONG_AE)
    browser.echo_button.click()
    qtbot.waitUntil(browser.echo_button.isEnabled, timeout=15000)
    assert browser.echo_label.text().startswith("Wrong AE title: "), browser.echo_label.text()
    assert "wrong_ae_title" in browser.echo_label.toolTip()


def test_a_dead_node_gives_one_clear_line(qtbot, app: App) -> None:
    browser = app.browser
    browser.set_node(DEAD)
    browser.search()
    qtbot.waitUntil(lambda: browser.message.toolTip() != "", timeout=20000)  # retries done
    text = browser.message.text()
    assert "cannot connect" in text and "\n" not in text and "Traceback" not in text
    assert "unreachable" in browser.message.toolTip()  # the reason the admin guide lists
    assert "red" in browser.message.styleSheet() or "#e07b7b" in browser.message.styleSheet()
    browser.echo_button.click()
    qtbot.waitUntil(browser.echo_button.isEnabled, timeout=15000)
    assert browser.echo_label.text().startswith("Not reachable: ")
    # The application carries on: another node answers at once.
    assert _search(qtbot, app, WEB, patient_id="PAT002")


def _wait_job(qtbot, app: App, state: str, timeout: int = 30000):  # type: ignore[no-untyped-def]
    def found() -> bool:
        rows = app.transfers.rows()
        return bool(rows) and rows[0].state == state

    qtbot.waitUntil(found, timeout=timeout)
    return app.transfers.rows()[0]


def test_retrieve_and_open_shows_progress_and_opens_the_first_series_early(
    qtbot, app: App, pacs: Pacs
) -> None:
    study = pacs.studies["big"]
    first, second = study.series
    opened_at: list[tuple[str, int, int]] = []

    def on_opened(layer_ids: list[str]) -> None:
        job = app.binding.queue.jobs()[-1]
        for layer_id in layer_ids:
            series = app.services.scene.layers[layer_id].info.series_instance_uid
            opened_at.append((series, job.done, job.total))

    app.services.workstation.opened.connect(on_opened)
    _search(qtbot, app, SLOW, patient_id="PAT004")
    item = _study_item(app, study.uid)
    app.browser.tree.itemDoubleClicked.emit(item, 0)  # double-click: retrieve and open

    # A card in the transfer panel with the patient, progress and done/total.
    qtbot.waitUntil(lambda: bool(app.transfers.rows()))
    row = app.transfers.rows()[0]
    assert row.kind == "retrieve" and "Big, Ben" in row.subject
    card = app.transfers.card(row.id)
    qtbot.waitUntil(lambda: app.transfers.rows()[0].done > 0, timeout=20000)
    total = sum(BIG_SERIES)
    assert app.transfers.rows()[0].total == total
    assert card.progress.maximum() == total
    assert card.button.text() == "Cancel"

    # The first series opens while the second is still on its way.
    qtbot.waitUntil(lambda: bool(opened_at), timeout=30000)
    series, done, _total = opened_at[0]
    assert series == first.series_instance_uid
    assert done < total, "the study opened only once everything had arrived"
    layer = next(iter(app.services.scene.layers.values()))
    assert layer.info.series_instance_uid == first.series_instance_uid
    assert app.window.grid.active.layer_id == layer.id

    finished = _wait_job(qtbot, app, "finished", timeout=60000)
    assert (finished.done, finished.total) == (total, total)
    assert finished.message.startswith(f"{total} received")
    assert card.progress.format() == f"{total} / {total}"
    assert card.button.isHidden()
    # The library has it all, the Studies browser lists it, the PACS tab marks it local.
    assert _held(app, study.uid) == total
    qtbot.waitUntil(lambda: study.uid in _library_studies(app), timeout=5000)
    assert _study_item(app, study.uid).text(7) == "● local"
    assert [uid for uid, _, _ in opened_at] == [first.series_instance_uid]
    assert second.series_instance_uid not in {
        layer.info.series_instance_uid for layer in app.services.scene.layers.values()
    }


def test_cancel_then_resume_fetches_only_the_rest(qtbot, app: App, pacs: Pacs) -> None:
    study = pacs.studies["big"]
    total = sum(BIG_SERIES)
    _search(qtbot, app, SLOW, patient_id="PAT004")
    app.browser.tree.setCurrentItem(_study_item(app, study.uid))
    app.browser.retrieve_button.click()
    qtbot.waitUntil(lambda: bool(app.transfers.rows()))
    row = app.transfers.rows()[0]
    card = app.transfers.card(row.id)
    qtbot.waitUntil(lambda: app.transfers.rows()[0].done >= 80, timeout=30000)
    card.button.click()  # Cancel
    cancelled = _wait_job(qtbot, app, "cancelled")
    assert cancelled.done < total
    assert "Resume" in cancelled.message
    assert card.button.text() == "Resume" and card.button.isVisible()
    kept = _held(app, study.uid)
    assert 0 < kept < total
    assert app.services.scene.layers == {}  # Retrieve alone opens nothing

    card.button.click()  # Resume: a new job that fetches only what is missing
    qtbot.waitUntil(lambda: app.transfers.rows()[0].id != row.id)
    assert app.transfers.card(row.id) is None
    resumed = _wait_job(qtbot, app, "finished", timeout=60000)
    assert f"{kept} already local" in resumed.message, resumed.message
    assert resumed.message.startswith(f"{total - kept} received")
    assert _held(app, study.uid) == total
    # Finished transfers can be cleared.
    app.transfers.clear_button.click()
    assert app.transfers.rows() == []


def test_send_through_the_send_flow_reaches_the_pacs(
    qtbot, app: App, pacs: Pacs, tmp_path: Path, monkeypatch
) -> None:
    asked: list[list[str]] = []

    def choose(_parent, _title, _label, items, *_args):  # type: ignore[no-untyped-def]
        asked.append(list(items))
        return DIMSE, True

    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(choose))
    # The AI panel's Send button is offered once nodes are configured.
    ai = app.services.ai_binding
    assert not ai.panel.send_button.isHidden()
    written = write_series(
        tmp_path / "result", SeriesSpec(n_slices=3, series_description="Sent", uid_seed="sent")
    )
    study_uid = written.study_instance_uid
    assert _orthanc_has(pacs.orthanc, study_uid) == 0
    ai.send(list(written.paths))  # what the panel's Send does with the result's files
    assert asked and WEB in asked[0] and DIMSE in asked[0]
    row = _wait_job(qtbot, app, "finished")
    assert row.kind == "send" and row.message.startswith("3 sent")
    assert _orthanc_has(pacs.orthanc, study_uid) == 3

    # File ▸ Send study to PACS… sends the study on screen.
    other = write_series(
        tmp_path / "study", SeriesSpec(n_slices=4, series_description="Mine", uid_seed="mine")
    )
    app.services.open_paths([tmp_path / "study"])
    qtbot.waitUntil(lambda: bool(app.services.scene.active_layer), timeout=10000)
    action = app.window.actions_by_name["send_study"]
    assert action.isEnabled()
    action.trigger()
    row = _wait_job(qtbot, app, "finished")
    assert row.message.startswith("4 sent")
    assert _orthanc_has(pacs.orthanc, other.study_instance_uid) == 4


def _push(pacs: Pacs, study: Study) -> None:
    """A modality or PACS sends a study to our storage SCP (dcmtk's storescu)."""
    storescu = shutil.which("storescu")
    if storescu is None:
        pytest.fail("storescu is not installed (apt-get install dcmtk); this test must run")
    result = subprocess.run(
        [storescu, "-aec", OUR_AE, "-aet", "MODALITY", HOST, str(pacs.scp_port)]
        + [str(p) for p in study.files],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_storage_scp_files_pushed_studies_into_the_studies_browser(
    qtbot, app: App, pacs: Pacs
) -> None:
    assert app.transfers.receiver.full_text() == f"Receiving as {OUR_AE} on port {pacs.scp_port}"
    pushed = pacs.studies["other"]
    assert pushed.uid not in _library_studies(app)
    _push(pacs, pushed)
    # The Studies browser lists the pushed study without anyone asking.
    qtbot.waitUntil(lambda: pushed.uid in _library_studies(app), timeout=15000)
    assert _held(app, pushed.uid) == len(pushed.files)
    assert app.transfers.rows() == []  # nothing was retrieved: it came by itself
    assert "Received images of 1 series" in app.window.statusBar().currentMessage()


def test_a_pushed_study_prefetches_its_priors(qtbot, home, monkeypatch, tmp_path, pacs) -> None:
    site = _site_config(tmp_path / "site.json", pacs, prefetch=True)
    started = _start_app(qtbot, monkeypatch, site)
    try:
        current = pacs.studies["current"]
        _push(pacs, current)
        qtbot.waitUntil(lambda: current.uid in _library_studies(started), timeout=15000)
        # Its arrival prefetched the two most recent CT priors, shown in the transfer panel.
        priors = _uids(pacs, "prior1", "prior2")
        qtbot.waitUntil(lambda: priors <= _library_studies(started), timeout=30000)
        # A job's row reaches the panel on the GUI thread, possibly after its files are filed.
        qtbot.waitUntil(lambda: len(_prefetch_titles(started)) == 3, timeout=10000)
        titles = _prefetch_titles(started)
        assert f"Prefetch priors from {WEB}" in titles, titles
        assert sum(t.startswith("Prefetch prior ") for t in titles) == 2, titles
        assert pacs.studies["prior3"].uid not in _library_studies(started)
    finally:
        started.services.shutdown()


def test_opening_a_study_prefetches_its_priors(qtbot, home, monkeypatch, tmp_path, pacs) -> None:
    started = _start_app(
        qtbot, monkeypatch, _site_config(tmp_path / "site.json", pacs, prefetch=True)
    )
    try:
        current = pacs.studies["current"]
        _search(qtbot, started, DIMSE, accession="ACC-1001")
        started.browser.tree.setCurrentItem(_study_item(started, current.uid))
        started.browser.open_button.click()  # Retrieve & open
        qtbot.waitUntil(lambda: bool(started.services.scene.layers), timeout=20000)
        # Opening it queued the retrieval of the two most recent CT priors from the rules' node.
        priors = _uids(pacs, "prior1", "prior2")
        qtbot.waitUntil(lambda: priors <= _library_studies(started), timeout=30000)
        # A job's row reaches the panel on the GUI thread, possibly after its files are filed.
        qtbot.waitUntil(lambda: len(_prefetch_titles(started)) == 3, timeout=10000)
        titles = _prefetch_titles(started)
        assert f"Prefetch priors from {WEB}" in titles, titles
        assert sum(t.startswith("Prefetch prior ") for t in titles) == 2, titles
        assert pacs.studies["prior3"].uid not in _library_studies(started)
        assert pacs.studies["mr"].uid not in _library_studies(started)  # another modality
    finally:
        started.services.shutdown()


def test_a_port_in_use_is_a_message_and_the_app_works(
    qtbot, home, monkeypatch, tmp_path, pacs
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen(1)
        port = int(taken.getsockname()[1])
        site = _site_config(tmp_path / "site.json", pacs, port=port)
        started = _start_app(qtbot, monkeypatch, site)
        try:
            receiver = started.transfers.receiver
            assert receiver.full_text().startswith("Not receiving: ")
            assert str(port) in receiver.full_text()
            assert "#e07b7b" in receiver.styleSheet()
            assert _search(qtbot, started, WEB, patient_id="PAT002")
        finally:
            started.services.shutdown()


def test_credentials_are_asked_once_and_kept_for_the_session(
    qtbot, home, monkeypatch, tmp_path, pacs
) -> None:
    guarded = Orthanc(tmp_path / "guarded", aet="GUARDED", users={"reader": "s3cret"})
    guarded.start()
    try:
        guarded.upload(pacs.studies["other"].files)
        site = tmp_path / "site.json"
        node = {"name": "Guarded", "kind": "dicomweb", "url": guarded.dicomweb_url}
        node |= {"auth": "basic", "username": "reader"}
        site.write_text(json.dumps({"pacs": {"scp_enabled": False, "nodes": [node]}}))
        for variable in ("WORKSTATION_PACS_PASSWORD", "WORKSTATION_PACS_PASSWORD_GUARDED"):
            monkeypatch.delenv(variable, raising=False)
        monkeypatch.setattr("workstation.pacs.nodes.keyring_status", lambda: (False, "none"))
        answers = ["wrong", "s3cret"]
        prompts: list[str] = []

        def ask(_parent, _title, label, *_args):  # type: ignore[no-untyped-def]
            prompts.append(label)
            return answers.pop(0), True

        monkeypatch.setattr(QInputDialog, "getText", staticmethod(ask))
        started = _start_app(qtbot, monkeypatch, site)
        try:
            assert started.transfers.receiver.full_text().startswith("Not receiving: ")
            browser = started.browser
            browser.search()  # no password anywhere: asked; a wrong one: asked again
            qtbot.waitUntil(lambda: "Searching" not in browser.message.text(), timeout=20000)
            assert browser.message.text().startswith("Not authorized: "), browser.message.text()
            assert len(prompts) == 1 and "reader@Guarded" in prompts[0]
            browser.search()
            qtbot.waitUntil(lambda: "Searching" not in browser.message.text(), timeout=20000)
            assert browser.message.text() == "1 study on Guarded", browser.message.text()
            assert len(prompts) == 2
            browser.search()  # kept for the session: not asked again
            qtbot.waitUntil(lambda: "Searching" not in browser.message.text(), timeout=20000)
            assert len(prompts) == 2 and browser.study_uids() == [pacs.studies["other"].uid]
        finally:
            started.services.shutdown()
    finally:
        guarded.stop()


def test_the_gui_thread_never_waits_for_a_node(qtbot, app: App) -> None:
    """A search of a node that never answers returns at once; the window keeps painting."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(4)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        from dataclasses import replace

        from workstation.pacs.nodes import parse_node_spec

        silent = parse_node_spec(f"dimse:SILENT@{HOST}:{listener.getsockname()[1]}")
        settings = app.binding.settings
        app.binding.settings = replace(
            settings, nodes=(*settings.nodes, replace(silent, name="Silent", timeout=2.0))
        )
        started = time.monotonic()
        app.binding.search("Silent", app.browser.filters())
        assert time.monotonic() - started < 0.5
        app.browser.set_node(WEB)
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()
