"""The collaboration panel against a real server: sign-in, live changes between two viewers,
the outbox while the server is down, conflicts, comments, sharing across sites, expiry.

Every viewer here is a real :class:`CollaborationBinding` (its own annotation store, scene,
panel, sync thread and websocket); the server runs on SQLite, in this process, except where it
must be killed for real (a child process). The OS keyring is replaced by one in memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid as uuid_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from workstation.app.collab_files import ShareFiles, collect_share_files
from workstation.app.collab_settings import CollabSettings, TokenVault
from workstation.app.collaboration import CollaborationBinding
from workstation.collab.client import ServerApi
from workstation.collab.server import admin
from workstation.collab.server.database import Database
from workstation.collab.server.testkit import (
    FAST_HASHER,
    PASSWORD,
    Deployment,
    ServerProcess,
    free_port,
    unique,
)
from workstation.collab.store import AnnotationStore
from workstation.collab.sync import Backoff, SyncEngine
from workstation.core.annotations import Annotation, AnnotationKind, ImageReference
from workstation.core.scene import ImageLayer, LayerInfo, Scene
from workstation.core.volume import Volume
from workstation.ui.collab_panel import (
    AMBER,
    AUTH_EXPIRED,
    GREEN,
    OFFLINE,
    ONLINE,
    RED,
    SIGNED_OUT,
    CollabPanel,
)

WAIT_MS = 20000
STUDY = "1.2.826.0.1.3680043.8.498.7001"


# --- fixtures ---------------------------------------------------------------------------------


class MemoryKeyring(KeyringBackend):
    """A keyring backend for tests: what the OS keyring would keep, in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise PasswordDeleteError("not kept")
        del self.entries[(service, username)]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("collab-server")
    deployment = Deployment.start(
        "sqlite", f"sqlite:///{folder / 'server.sqlite'}", folder / "files"
    )
    yield deployment
    deployment.stop()


def add_user(database: Database, site: str, prefix: str, display_name: str = "") -> str:
    name = unique(prefix)
    with database.write() as connection:
        admin.create_user(
            connection,
            name,
            PASSWORD,
            site=site,
            display_name=display_name,
            actor="test",
            hasher=FAST_HASHER,
        )
    return name


@pytest.fixture
def team(server: Deployment) -> SimpleNamespace:
    """Two radiologists of one hospital and one of another."""
    here, there = server.site("st-mary"), server.site("st-elsewhere")
    return SimpleNamespace(
        site=here,
        other_site=there,
        alice=add_user(server.database, here, "alice", "Dr A. Alvarez"),
        bob=add_user(server.database, here, "bob", "Dr B. Brown"),
        carol=add_user(server.database, there, "carol", "Dr C. Chen"),
    )


def study_scene(study: str = STUDY, description: str = "CT chest") -> Scene:
    """A scene with one (blank) series of ``study`` open and active."""
    scene = Scene()
    volume = Volume(np.zeros((4, 8, 8), np.int16), np.eye(4))
    info = LayerInfo(
        study_instance_uid=study,
        series_instance_uid=f"{study}.1",
        modality="CT",
        series_description=description,
    )
    scene.add_layer(ImageLayer(f"{study}.1#0", volume, info))
    return scene


def length(label: str, study: str = STUDY, mm: float = 42.0) -> Annotation:
    return Annotation(
        AnnotationKind.LENGTH,
        ImageReference(study, f"{study}.1", f"{study}.9"),
        points=((0.0, 0.0, 0.0), (mm, 0.0, 0.0)),
        plane_normal=(0.0, 0.0, 1.0),
        label=label,
        values={"length_mm": mm},
    )


@dataclass
class Viewer:
    """One workstation: store, scene, panel and binding."""

    store: AnnotationStore
    scene: Scene
    panel: CollabPanel
    binding: CollaborationBinding

    def sign_in(self, qtbot: Any, url: str, user: str, password: str = PASSWORD) -> None:
        self.panel.server_edit.setText(url)
        self.panel.user_edit.setText(user)
        self.panel.password_edit.setText(password)
        qtbot.mouseClick(self.panel.sign_in_button, Qt.MouseButton.LeftButton)

    def online(self) -> bool:
        return self.panel.state == ONLINE and self.store.outbox.count() == 0


@pytest.fixture
def viewers(
    qtbot: Any,
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Viewer]]:
    """``make()`` → a viewer; settings come from the test's home folder unless given."""
    monkeypatch.delenv("WORKSTATION_SITE_CONFIG", raising=False)
    made: list[Viewer] = []

    def make(
        scene: Scene | None = None,
        *,
        settings: CollabSettings | None = None,
        store_path: Path | None = None,
        share_files: Callable[[str], ShareFiles] | None = None,
        open_files: Callable[[list[Path]], None] | None = None,
        live: bool = True,
        poll_interval_s: float = 60.0,
    ) -> Viewer:
        store = AnnotationStore(store_path or tmp_path / f"viewer-{len(made)}.sqlite")
        scene = scene or study_scene()
        store.attach(scene)
        panel = CollabPanel()
        qtbot.addWidget(panel)
        panel.resize(380, 900)
        panel.show()
        binding = CollaborationBinding(
            panel,
            store,
            scene,
            study_titles=lambda: {STUDY: "Synthetic · 2024-03-12 · CT chest"},
            share_files=share_files,
            open_files=open_files,
            settings=settings,
            vault=TokenVault(),
            # A long poll interval: what arrives quickly arrived through the websocket.
            options={
                "backoff": Backoff(0.05, 0.4),
                "poll_interval_s": poll_interval_s,
                "live": live,
            },
        )
        binding.start()
        qtbot.waitUntil(lambda: binding.is_ready, timeout=WAIT_MS)
        viewer = Viewer(store, scene, panel, binding)
        made.append(viewer)
        return viewer

    yield make
    for viewer in made:
        viewer.binding.shutdown()
        viewer.store.close()


def server_labels(api: ServerApi, study: str = STUDY) -> dict[str, str]:
    return {a["uuid"]: a["label"] for a in api.annotations(study)}


# --- sign-in ----------------------------------------------------------------------------------


def test_sign_in_shows_who_where_and_the_state_and_a_wrong_password_says_so(
    qtbot: Any, server: Deployment, team: SimpleNamespace, viewers: Any, home: Path
) -> None:
    viewer = viewers()
    panel = viewer.panel
    assert panel.state == SIGNED_OUT
    assert not panel.form.isHidden()
    assert panel.pending_label.text() == "Nothing waiting to be sent"
    assert not panel.share_button.isEnabled()

    viewer.sign_in(qtbot, server.url, team.alice, "not the password")
    qtbot.waitUntil(lambda: "Wrong user name or password" in panel.message_label.text())
    assert panel.state == SIGNED_OUT
    assert not panel.form.isHidden()
    assert "Traceback" not in panel.message_label.text()

    unreachable = f"http://127.0.0.1:{free_port()}"
    viewer.sign_in(qtbot, unreachable, team.alice)
    qtbot.waitUntil(lambda: panel.message_label.text().startswith("Cannot reach"))
    assert "\n" not in panel.message_label.text()
    assert panel.state == SIGNED_OUT  # a failed sign-in is no session

    viewer.sign_in(qtbot, server.url, team.alice)
    qtbot.waitUntil(lambda: panel.state == ONLINE, timeout=WAIT_MS)
    assert panel.form.isHidden()
    account = panel.account_label.text()
    assert "Dr A. Alvarez" in account and team.alice in account and server.url in account
    assert GREEN in panel.state_dot.styleSheet()
    assert panel.pending_label.text() == "All changes saved on the server"
    assert panel.password_edit.text() == ""
    assert panel.message_label.text() == ""
    assert viewer.binding.reader_name() == "Dr A. Alvarez"
    assert panel.share_button.isEnabled()  # a study is open and the server is there

    # The server and user are remembered; the token is in the keyring, never in a file.
    token = viewer.binding.collaboration.token  # type: ignore[union-attr]
    settings_text = (home / "settings.json").read_text()
    assert json.loads(settings_text)["collaboration"] == {
        "server_url": server.url,
        "username": team.alice,
        "display_name": "Dr A. Alvarez",
    }
    assert token and token not in settings_text
    assert panel.keyring_label.text() == ""

    # The next start resumes the session from the keyring, without the password.
    viewer.binding.shutdown()
    again = viewers(store_path=viewer.store.path)
    qtbot.waitUntil(lambda: again.panel.state == ONLINE, timeout=WAIT_MS)
    assert "Dr A. Alvarez" in again.panel.account_label.text()

    # Signing out forgets the token and shows the form again.
    qtbot.mouseClick(again.panel.sign_out_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: again.panel.state == SIGNED_OUT, timeout=WAIT_MS)
    assert not again.panel.form.isHidden()
    assert TokenVault().load(server.url, team.alice) is None
    assert again.binding.reader_name() is None


def test_without_a_keyring_the_panel_says_the_sign_in_is_not_kept(
    qtbot: Any, server: Deployment, team: SimpleNamespace, viewers: Any, home: Path
) -> None:
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    viewer = viewers()
    assert "sign in again after a restart" in viewer.panel.keyring_label.text()
    viewer.sign_in(qtbot, server.url, team.alice)
    qtbot.waitUntil(lambda: viewer.panel.state == ONLINE, timeout=WAIT_MS)
    token = viewer.binding.collaboration.token  # type: ignore[union-attr]
    assert token
    for path in home.rglob("*"):  # nowhere on disk, in any file the app keeps
        if path.is_file() and path.suffix in (".json", ".txt", ".ini", ".toml"):
            assert token not in path.read_text(errors="replace")


# --- live changes -----------------------------------------------------------------------------


def test_an_annotation_drawn_in_one_viewer_appears_live_in_the_other(
    qtbot: Any, server: Deployment, team: SimpleNamespace, viewers: Any
) -> None:
    alice, bob = viewers(), viewers()
    alice.sign_in(qtbot, server.url, team.alice)
    bob.sign_in(qtbot, server.url, team.bob)
    qtbot.waitUntil(
        lambda: alice.panel.state == ONLINE and bob.panel.state == ONLINE, timeout=WAIT_MS
    )
    qtbot.waitUntil(lambda: bob.binding.collaboration.live_connected, timeout=WAIT_MS)  # type: ignore[union-attr]
    shown: list[Annotation] = []
    bob.scene.events.annotation_changed.connect(shown.append)

    drawn = length("aortic root")
    alice.scene.add_annotation(drawn)
    qtbot.waitUntil(lambda: drawn.uuid in bob.scene.annotations, timeout=WAIT_MS)
    assert bob.scene.annotations[drawn.uuid].label == "aortic root"
    assert [a.uuid for a in shown] == [drawn.uuid]  # the views heard of it (they observe this)
    qtbot.waitUntil(lambda: alice.panel.pending_label.text() == "All changes saved on the server")

    # Bob renames it; Alice's open viewer follows, and nobody sends it back as a new edit.
    bob.scene.edit_annotation(bob.scene.annotations[drawn.uuid], label="aortic root 34 mm")
    qtbot.waitUntil(
        lambda: alice.scene.annotations[drawn.uuid].label == "aortic root 34 mm", timeout=WAIT_MS
    )
    qtbot.waitUntil(lambda: alice.online() and bob.online(), timeout=WAIT_MS)


# --- the outbox while the server is down ------------------------------------------------------


def test_the_pending_count_grows_while_the_server_is_down_and_empties_after_restart(
    qtbot: Any, tmp_path: Path, viewers: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'down.sqlite'}"
    process = ServerProcess(url, tmp_path / "files", home=tmp_path).start()
    try:
        database = Database(url)
        site = unique("site")
        with database.write() as connection:
            admin.create_site(connection, site)
        user = add_user(database, site, "reader", "Dr R. Reader")
        viewer = viewers()
        panel = viewer.panel
        viewer.sign_in(qtbot, process.url, user)
        qtbot.waitUntil(lambda: panel.state == ONLINE, timeout=WAIT_MS)

        process.kill()
        for index in range(3):
            viewer.scene.add_annotation(length(f"node {index}", mm=10.0 + index))
        qtbot.waitUntil(lambda: panel.state == OFFLINE, timeout=WAIT_MS)
        assert panel.pending_label.text() == "3 changes waiting to be sent"
        assert AMBER in panel.state_dot.styleSheet()
        assert panel.message_label.text() == "Cannot reach the server: the connection was refused."
        assert viewer.store.outbox.count() == 3  # saved here, whatever the network does

        # The app restarts while the server is still down: the kept sign-in resumes offline,
        # the window does not wait, and AI reviews still carry the reader's name.
        viewer.binding.shutdown()
        viewer = viewers(store_path=viewer.store.path)
        panel = viewer.panel
        qtbot.waitUntil(lambda: panel.state == OFFLINE, timeout=WAIT_MS)
        assert panel.pending_label.text() == "3 changes waiting to be sent"
        assert "Dr R. Reader" in panel.account_label.text()
        assert viewer.binding.reader_name() == "Dr R. Reader"

        process.start()
        qtbot.waitUntil(
            lambda: panel.pending_label.text() == "All changes saved on the server",
            timeout=WAIT_MS,
        )
        assert panel.state == ONLINE
        assert panel.message_label.text() == ""
        with database.write() as connection:
            token = admin.token_for(connection, user, 60)
        api = ServerApi(process.url, token=token)
        try:
            assert sorted(server_labels(api).values()) == ["node 0", "node 1", "node 2"]
        finally:
            api.close()
    finally:
        process.stop()


# --- conflicts --------------------------------------------------------------------------------


def test_conflicts_are_shown_with_what_differs_and_resolved_from_the_panel(
    qtbot: Any, server: Deployment, team: SimpleNamespace, viewers: Any, tmp_path: Path
) -> None:
    # Alice pulls only when she pushes (no websocket, no polling): her edits race Bob's.
    alice = viewers(live=False, poll_interval_s=3600)
    alice.sign_in(qtbot, server.url, team.alice)
    qtbot.waitUntil(lambda: alice.panel.state == ONLINE, timeout=WAIT_MS)
    kept, taken = length("liver"), length("spleen", mm=80.0)
    alice.scene.add_annotation(kept)
    alice.scene.add_annotation(taken)
    qtbot.waitUntil(alice.online, timeout=WAIT_MS)

    bob_store = AnnotationStore(tmp_path / "bob.sqlite")
    bob = SyncEngine(bob_store, server.api(team.bob), cursor_key="c")
    try:
        bob.sync()
        renamed = bob_store.get(kept.uuid)
        assert renamed is not None
        bob_store.save(renamed.edited(label="hepatic lesion", author=team.bob))
        moved = bob_store.get(taken.uuid)
        assert moved is not None
        bob_store.save(
            moved.edited(points=((0.0, 0.0, 0.0), (95.0, 0.0, 0.0)), values={"length_mm": 95.0})
        )
        bob.sync()

        alice.scene.edit_annotation(alice.scene.annotations[kept.uuid], label="liver segment 4")
        alice.scene.edit_annotation(
            alice.scene.annotations[taken.uuid],
            points=((0.0, 0.0, 0.0), (81.0, 0.0, 0.0)),
            values={"length_mm": 81.0},
        )
        panel = alice.panel
        qtbot.waitUntil(lambda: len(panel.conflict_titles()) == 2, timeout=WAIT_MS)
        assert not panel.conflicts_box.isHidden()
        assert panel.conflicts_title.text() == "2 conflicts to resolve"

        panel.select_conflict(kept.uuid)
        detail = panel.conflict_detail.text()
        assert "Label: mine ‘liver segment 4’ · theirs ‘hepatic lesion’" in detail
        # Who made theirs, by the name colleagues know them by (from the server's directory).
        qtbot.waitUntil(lambda: "Theirs by Dr B. Brown" in panel.conflict_detail.text())
        qtbot.mouseClick(panel.keep_mine_button, Qt.MouseButton.LeftButton)
        assert panel.conflict_titles() == ["‘spleen’ (length)"]

        panel.select_conflict(taken.uuid)
        assert "Geometry: mine 81.0 mm · theirs 95.0 mm" in panel.conflict_detail.text()
        qtbot.mouseClick(panel.take_theirs_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: alice.scene.annotations[taken.uuid].values["length_mm"] == 95.0,
            timeout=WAIT_MS,
        )
        assert panel.conflicts_box.isHidden()
        assert alice.scene.annotations[kept.uuid].label == "liver segment 4"

        qtbot.waitUntil(alice.online, timeout=WAIT_MS)
        bob.sync()
        assert bob_store.get(kept.uuid).label == "liver segment 4"  # type: ignore[union-attr]
        assert bob_store.get(taken.uuid).values["length_mm"] == 95.0  # type: ignore[union-attr]
    finally:
        bob_store.close()


# --- comments ---------------------------------------------------------------------------------


def test_comments_on_the_study_and_on_a_measurement_reach_the_other_reader(
    qtbot: Any, server: Deployment, team: SimpleNamespace, viewers: Any
) -> None:
    alice, bob = viewers(), viewers()
    alice.sign_in(qtbot, server.url, team.alice)
    bob.sign_in(qtbot, server.url, team.bob)
    qtbot.waitUntil(
        lambda: alice.panel.state == ONLINE and bob.panel.state == ONLINE, timeout=WAIT_MS
    )
    assert alice.panel.study_uid == STUDY
    assert "No comments on this study yet." in alice.panel.thread_view.toPlainText()

    alice.panel.comment_edit.setPlainText("Compare with the CT of March, please.")
    qtbot.mouseClick(alice.panel.send_button, Qt.MouseButton.LeftButton)
    assert alice.panel.comment_texts() == ["Compare with the CT of March, please."]
    assert alice.panel.comment_edit.toPlainText() == ""
    qtbot.waitUntil(
        lambda: bob.panel.comment_texts() == ["Compare with the CT of March, please."],
        timeout=WAIT_MS,
    )
    qtbot.waitUntil(lambda: "Dr A. Alvarez" in bob.panel.thread_view.toPlainText())
    qtbot.waitUntil(lambda: "not sent yet" not in alice.panel.thread_view.toPlainText())

    # Bob selects a measurement: the comment box offers it, and his comment is about it.
    nodule = length("nodule RUL", mm=8.0)
    alice.scene.add_annotation(nodule)
    qtbot.waitUntil(lambda: nodule.uuid in bob.scene.annotations, timeout=WAIT_MS)
    bob.scene.select(nodule.uuid)
    assert bob.panel.comment_scope() == nodule.uuid
    assert bob.panel.scope_box.currentText() == "Selected: nodule RUL"
    assert bob.panel.comment_texts() == []
    bob.panel.comment_edit.setPlainText("Solid, 8 mm: follow-up in 3 months.")
    qtbot.mouseClick(bob.panel.send_button, Qt.MouseButton.LeftButton)
    assert bob.panel.comment_texts() == ["Solid, 8 mm: follow-up in 3 months."]

    qtbot.waitUntil(lambda: len(alice.panel.comment_texts()) == 2, timeout=WAIT_MS)
    assert "on ‘nodule RUL’" in alice.panel.thread_view.toPlainText()
    alice.scene.select(nodule.uuid)
    assert alice.panel.comment_texts() == ["Solid, 8 mm: follow-up in 3 months."]
    alice.panel.scope_box.setCurrentIndex(0)  # back to the whole study
    assert len(alice.panel.comment_texts()) == 2


# --- sharing ----------------------------------------------------------------------------------


def _result_file(folder: Path, study: str, text: str) -> Path:
    """A small SR of ``study``, as the AI store keeps one (identifying data included)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-0042"
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.TextValue = text
    ds.ContentSequence = Sequence([item])
    path = folder / f"{uuid_module.uuid4().hex}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_a_study_shared_with_another_hospital_arrives_de_identified_and_opens(
    qtbot: Any,
    server: Deployment,
    team: SimpleNamespace,
    viewers: Any,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workstation.app.composition import build_main_window
    from workstation.app.workstation import Workstation
    from workstation.testing.factories import write_series
    from workstation.testing.spec import SeriesSpec

    # Alice's hospital: a CT opened from disk, an accepted AI result and a rejected one.
    written = write_series(
        tmp_path / "ct",
        SeriesSpec(n_slices=3, rows=16, columns=16, patient_name="Doe^Jane", patient_id="MRN-0042"),
    )
    scene = Scene()
    opened = Workstation(scene)
    assert opened.open_paths([tmp_path / "ct"])
    study = scene.active_layer.info.study_instance_uid  # type: ignore[union-attr]
    accepted = _result_file(tmp_path, study, "AI: 12 mm nodule")
    rejected = _result_file(tmp_path, study, "AI: rejected finding")
    results = [
        SimpleNamespace(
            files=[accepted], review=SimpleNamespace(state=SimpleNamespace(value="accepted"))
        ),
        SimpleNamespace(
            files=[rejected], review=SimpleNamespace(state=SimpleNamespace(value="rejected"))
        ),
    ]
    services = SimpleNamespace(
        database=None,
        workstation=opened,
        scene=scene,
        experts=SimpleNamespace(store=SimpleNamespace(for_study=lambda _uid: results)),
    )
    alice = viewers(scene, share_files=lambda uid: collect_share_files(services, uid))  # type: ignore[arg-type]

    # Carol's hospital: the real main window, the server from the site configuration.
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps({"collaboration": {"server_url": server.url}}))
    monkeypatch.setenv("WORKSTATION_SITE_CONFIG", str(site_file))
    window, carol = build_main_window()
    qtbot.addWidget(window)
    window.show()  # the panel is built just after the window's first paint
    qtbot.waitUntil(carol.late_panels_added.is_set, timeout=WAIT_MS)
    try:
        binding = carol.collaboration
        assert binding is not None
        qtbot.waitUntil(lambda: binding.is_ready, timeout=WAIT_MS)
        assert binding.panel.server_edit.text() == server.url  # the site default
        binding.panel.user_edit.setText(team.carol)
        binding.panel.password_edit.setText(PASSWORD)
        qtbot.mouseClick(binding.panel.sign_in_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: binding.panel.state == ONLINE, timeout=WAIT_MS)
        assert carol.reader_name() == "Dr C. Chen"  # AI reviews carry the signed-in name
        assert binding.panel.shared_ids() == []

        alice.scene.add_annotation(length("nodule", study=study, mm=12.0))
        alice.sign_in(qtbot, server.url, team.alice)
        qtbot.waitUntil(alice.online, timeout=WAIT_MS)
        qtbot.mouseClick(alice.panel.share_button, Qt.MouseButton.LeftButton)
        dialog = alice.binding.dialog
        assert dialog is not None
        qtbot.waitUntil(lambda: dialog.choose("user", team.carol), timeout=WAIT_MS)
        assert "de-identified on this computer" in dialog.privacy_label.text()
        dialog.note_edit.setPlainText("Second opinion on the RUL nodule")
        qtbot.mouseClick(dialog.share_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT_MS)
        expected = len(written.paths) + 1  # the images and the accepted AI result
        assert dialog.status_label.text() == (
            f"Shared with {team.carol} as a de-identified copy: {expected} file(s)."
        )

        # Carol hears of it (websocket), downloads it, and it opens in her viewer.
        panel = binding.panel

        def listed() -> bool:
            item = panel.shared_tree.topLevelItem(0)
            return item is not None and item.text(2) == str(expected) and not item.isDisabled()

        qtbot.waitUntil(listed, timeout=WAIT_MS)
        assert len(panel.shared_ids()) == 1
        item = panel.shared_tree.topLevelItem(0)
        assert item is not None and item.text(0) == "Second opinion on the RUL nodule"
        qtbot.waitUntil(lambda: "Dr A. Alvarez" in panel.shared_tree.topLevelItem(0).text(1))
        panel.select_share(panel.shared_ids()[0])
        qtbot.mouseClick(panel.download_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(carol.scene.layers), timeout=WAIT_MS)
        layer = next(iter(carol.scene.layers.values()))
        assert layer.info.patient_name == "ANONYMOUS"
        assert layer.info.patient_id != "MRN-0042"
        assert layer.info.study_instance_uid != study
        assert panel.transfer_message.text().startswith(f"Downloaded {expected} file(s)")
        # The copy's annotation came with it, with its UIDs remapped to the copy.
        qtbot.waitUntil(
            lambda: any(
                a.label == "nodule"
                and a.reference.study_instance_uid == layer.info.study_instance_uid
                for a in carol.scene.annotations.values()
            ),
            timeout=WAIT_MS,
        )
        # In the library too, and nothing identifying was downloaded.
        for path in (home / "shared").rglob("*.dcm"):
            assert b"Doe^Jane" not in path.read_bytes() and b"MRN-0042" not in path.read_bytes()
    finally:
        carol.shutdown()
    assert binding.collaboration is not None
    assert binding.collaboration._thread is None  # the sync thread stopped with the app


# --- expiry and revocation --------------------------------------------------------------------


def test_a_revoked_sign_in_asks_to_sign_in_again_and_loses_nothing(
    qtbot: Any, server: Deployment, team: SimpleNamespace, viewers: Any
) -> None:
    viewer = viewers()
    panel = viewer.panel
    viewer.sign_in(qtbot, server.url, team.alice)
    qtbot.waitUntil(lambda: panel.state == ONLINE, timeout=WAIT_MS)
    new_password = "another horse battery staple"
    with server.database.write() as connection:  # IT resets the password: signed out everywhere
        admin.set_password(connection, team.alice, new_password, hasher=FAST_HASHER)

    drawn = length("written after the reset")
    viewer.scene.add_annotation(drawn)
    qtbot.waitUntil(lambda: panel.state == AUTH_EXPIRED, timeout=WAIT_MS)
    assert "sign in again" in panel.state_label.text()
    assert RED in panel.state_dot.styleSheet()
    assert not panel.form.isHidden() and panel.sign_in_button.text() == "Sign in again"
    assert panel.server_edit.isReadOnly() and panel.user_edit.text() == team.alice
    assert panel.pending_label.text() == "1 change waiting to be sent, kept here until you sign in"
    assert viewer.store.outbox.count() == 1

    panel.password_edit.setText(new_password)
    qtbot.mouseClick(panel.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(viewer.online, timeout=WAIT_MS)
    assert panel.pending_label.text() == "All changes saved on the server"
    assert server_labels(server.api(team.bob))[drawn.uuid] == "written after the reset"


def test_an_expired_kept_sign_in_at_start_asks_to_sign_in_again(
    qtbot: Any,
    server: Deployment,
    team: SimpleNamespace,
    viewers: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    with server.database.write() as connection:
        expired = admin.token_for(connection, team.alice, -1.0)
    TokenVault().save(server.url, team.alice, expired)
    viewer = viewers(settings=CollabSettings(server_url=server.url, username=team.alice))
    assert viewer.panel.state == AUTH_EXPIRED
    assert "Sign-in expired" in viewer.panel.state_label.text()
    assert not viewer.panel.form.isHidden()
    assert TokenVault().load(server.url, team.alice) is None  # the dead token is not kept
    viewer.panel.password_edit.setText(PASSWORD)
    qtbot.mouseClick(viewer.panel.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: viewer.panel.state == ONLINE, timeout=WAIT_MS)


# --- app start --------------------------------------------------------------------------------


def test_the_window_module_does_not_load_the_network_stack() -> None:
    """Building the window must not pay for httpx/websockets/fastapi/sqlalchemy (≈0.5 s)."""
    code = (
        "import sys, workstation.app.composition, workstation.app.collaboration;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'httpx', 'websockets', 'fastapi', 'sqlalchemy', 'keyring'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


# --- the real window --------------------------------------------------------------------------


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    import os
    import shutil
    import time

    executable = shutil.which("Xvfb")
    if executable is None:
        pytest.fail("Xvfb is not installed (apt-get install xvfb); this test must run")
    number = 150 + os.getpid() % 50
    display = subprocess.Popen(
        [executable, f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # Xvfb gives no sign of readiness; the child would fail to connect
    try:
        yield f":{number}"
    finally:
        display.terminate()
        display.wait(timeout=10)


def test_the_panel_in_the_main_window_on_a_real_display(xvfb_display: str, tmp_path: Path) -> None:
    """The reading room with the panel: signed in, a comment thread, the server gone and two
    changes waiting (docs/screenshots/collaboration-panel.png is made this way)."""
    import os

    from PySide6.QtGui import QImage

    folder = Path(os.environ.get("WORKSTATION_SCREENSHOTS", tmp_path))
    output = folder / "collaboration-panel.png"
    output.parent.mkdir(parents=True, exist_ok=True)
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("QT_QPA_PLATFORM", "VTK_DEFAULT_OPENGL_WINDOW", "WORKSTATION_SITE_CONFIG")
    }
    environment.update(DISPLAY=xvfb_display, WORKSTATION_HOME=str(tmp_path / "home"))
    script = Path(__file__).parent / "screenshot_collab_panel.py"
    result = subprocess.run(
        [sys.executable, str(script), str(output)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    image = QImage(str(output))
    assert (image.width(), image.height()) == (1600, 1000)
    # The right-hand column shows the panel: the amber dot of the offline state is there.
    amber = QColor(AMBER)
    found = any(
        _close(image.pixelColor(x, y), amber) for x in range(1180, 1220) for y in range(90, 200)
    )
    assert found, "no amber state dot in the Collaboration panel"


def _close(colour: QColor, reference: QColor, tolerance: int = 24) -> bool:
    return (
        abs(colour.red() - reference.red()) <= tolerance
        and abs(colour.green() - reference.green()) <= tolerance
        and abs(colour.blue() - reference.blue()) <= tolerance
    )
