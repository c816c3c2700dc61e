"""The collaboration panel: sign-in, the link to the server, conflicts, comments, shared cases.

Widgets only. The application fills it with plain values (:meth:`CollabPanel.set_account`,
:meth:`set_connection`, :meth:`set_pending`, :meth:`set_conflicts`, :meth:`set_comments`,
:meth:`set_shared`) and turns its signals into work on other threads; nothing here talks to a
server. The wording is for a reader between two cases: one line per fact, what is waiting,
what to do next, never a traceback.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: Connection states, as :class:`workstation.collab.protocol.ConnectionState` names them.
SIGNED_OUT, OFFLINE, CONNECTING, ONLINE, AUTH_EXPIRED = (
    "signed_out",
    "offline",
    "connecting",
    "online",
    "auth_expired",
)
GREEN, AMBER, RED, GREY = "#5cb85c", "#e0a030", "#e05a5a", "#6b7178"
#: (dot colour, what the line says) per state.
STATE_LINES = {
    ONLINE: (GREEN, "Online: changes are shared as you work"),
    CONNECTING: (AMBER, "Connecting…"),
    OFFLINE: (AMBER, "Offline: your work is kept here and sent when the server is back"),
    AUTH_EXPIRED: (RED, "Sign-in expired: sign in again (nothing is lost)"),
    SIGNED_OUT: (GREY, "Not signed in: your work is kept on this computer"),
}
_MUTED = "color: #8d949c;"
_ERROR = f"color: {RED};"
_ID = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class ConflictRow:
    """An annotation whose edit collided with a colleague's, as the panel lists it."""

    uuid: str
    title: str  # "‘liver’ (ellipse) · CT abdomen"
    #: One line per field that differs: "Label: mine ‘liver’ · theirs ‘hepatic lesion’".
    differences: tuple[str, ...]
    #: Why it is a conflict ("another reader changed the same fields", a server refusal).
    detail: str = ""
    #: False when the server has no version the reader may see (a refusal): only "Keep mine"
    #: makes sense, "Take theirs" then reads "Discard the conflict".
    has_theirs: bool = True


@dataclass(frozen=True)
class CommentRow:
    id: str
    author: str
    when: str  # "12 Mar 14:05"
    text: str
    #: The annotation it is about ("" for the whole study) and that annotation's label.
    annotation_uuid: str = ""
    about: str = ""
    #: "pending" (not on the server yet), "synced" or "rejected".
    status: str = "synced"


@dataclass(frozen=True)
class SharedRow:
    """A case shared with the reader."""

    id: str
    sender: str  # "Dr M. Jones (St Mary)"
    title: str  # the note, or the study as the sender named it
    when: str
    files: int
    size: str  # "12.4 MB"
    deidentified: bool
    ready: bool = True


@dataclass(frozen=True)
class ShareTargetRow:
    kind: str  # "user" | "site"
    name: str
    display: str
    site: str
    same_site: bool


def pending_text(count: int, state: str) -> str:
    """What the outbox holds, as a sentence."""
    if count == 0:
        if state == ONLINE:
            return "All changes saved on the server"
        return "Nothing waiting to be sent"
    noun = "change" if count == 1 else "changes"
    text = f"{count} {noun} waiting to be sent"
    if state in (SIGNED_OUT, AUTH_EXPIRED):
        text += ", kept here until you sign in"
    return text


def _dot(colour: str) -> str:
    return f"background: {colour}; border-radius: 5px; min-width: 10px; max-width: 10px;"


def _section(title: str, parent: QWidget) -> QLabel:
    label = QLabel(title, parent)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    label.setStyleSheet("color: #c7ccd2; padding-top: 6px;")
    return label


def _rule(parent: QWidget) -> QFrame:
    line = QFrame(parent)
    line.setFrameShape(QFrame.Shape.HLine)
    line.setStyleSheet("color: #262a30; background: #262a30; max-height: 1px; border: none;")
    return line


def _muted(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setStyleSheet(_MUTED)
    return label


class CollabPanel(QWidget):
    """Sign-in, connection state and outbox, conflicts, comments, sharing."""

    sign_in_requested = Signal(str, str, str)  # server URL, user name, password
    sign_out_requested = Signal()
    sync_requested = Signal()
    resolve_requested = Signal(str, str)  # annotation UUID, "mine" | "theirs"
    comment_requested = Signal(str, str)  # text, annotation UUID ("" for the study)
    share_requested = Signal()
    download_requested = Signal(str)  # share id
    refresh_shared_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = SIGNED_OUT
        self._pending = 0
        self._signed_in = False
        self._account = ("", "", "")
        self._busy = False
        self._study_uid = ""
        self._selected_uuid = ""
        self._selected_label = ""
        self._conflicts: dict[str, ConflictRow] = {}
        self._comments: list[CommentRow] = []
        self._shared: dict[str, SharedRow] = {}

        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(4)
        self._build_account(body, layout)
        layout.addWidget(_rule(body))
        self._build_conflicts(body, layout)
        # Comments are read all day, shared cases now and then: one tab each keeps the panel
        # short enough for half a screen's height.
        self.tabs = QTabWidget(body)
        self.tabs.setDocumentMode(True)
        comments_page, sharing_page = QWidget(self.tabs), QWidget(self.tabs)
        self._build_comments(comments_page)
        self._build_sharing(sharing_page)
        self.tabs.addTab(comments_page, "Comments")
        self.tabs.addTab(sharing_page, "Sharing")
        layout.addWidget(self.tabs, 1)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.set_message("")
        self.set_keyring_note("")
        self.set_transfer("")
        self.set_account(None, "")
        self.set_connection(SIGNED_OUT)
        self.set_pending(0)
        self.set_conflicts([])
        self.set_study("", "")
        self.set_shared([])

    # --- building -----------------------------------------------------------------------------

    def _build_account(self, body: QWidget, layout: QVBoxLayout) -> None:
        self.account_label = QLabel("", body)
        self.account_label.setWordWrap(True)
        self.account_label.setTextFormat(Qt.TextFormat.RichText)
        self.sign_out_button = QPushButton("Sign out", body)
        self.sign_out_button.setToolTip(
            "Sign out on this computer; changes not yet sent stay here for the next sign-in"
        )
        account_row = QHBoxLayout()
        account_row.addWidget(self.account_label, 1)
        account_row.addWidget(self.sign_out_button, 0, Qt.AlignmentFlag.AlignTop)

        self.form = QWidget(body)
        self.server_edit = QLineEdit(self.form)
        self.server_edit.setPlaceholderText("https://collab.hospital.org")
        self.server_edit.setToolTip("The collaboration server of your hospital")
        self.user_edit = QLineEdit(self.form)
        self.user_edit.setPlaceholderText("user name")
        self.password_edit = QLineEdit(self.form)
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("password")
        self.sign_in_button = QPushButton("Sign in", self.form)
        self.sign_in_button.setDefault(True)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Server", self.server_edit)
        form.addRow("User", self.user_edit)
        form.addRow("Password", self.password_edit)
        sign_in_row = QHBoxLayout()
        sign_in_row.addStretch(1)
        sign_in_row.addWidget(self.sign_in_button)
        form_layout = QVBoxLayout(self.form)
        form_layout.setContentsMargins(0, 0, 0, 0)
        form_layout.addLayout(form)
        form_layout.addLayout(sign_in_row)

        self.state_dot = QLabel(body)
        self.state_dot.setFixedSize(10, 10)
        self.state_label = QLabel("", body)
        self.state_label.setWordWrap(True)
        state_row = QHBoxLayout()
        state_row.setSpacing(6)
        state_row.addWidget(self.state_dot, 0, Qt.AlignmentFlag.AlignVCenter)
        state_row.addWidget(self.state_label, 1)
        self.pending_label = QLabel("", body)
        self.pending_label.setWordWrap(True)
        self.sync_button = QPushButton("Sync now", body)
        self.sync_button.setToolTip("Send what is waiting and fetch colleagues' changes now")
        pending_row = QHBoxLayout()
        pending_row.addWidget(self.pending_label, 1)
        pending_row.addWidget(self.sync_button)
        self.message_label = QLabel("", body)
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet(_ERROR)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.keyring_label = _muted("", body)

        # The link first (what the dot says), then who is signed in or the form to sign in.
        layout.addLayout(state_row)
        layout.addLayout(account_row)
        layout.addWidget(self.form)
        layout.addLayout(pending_row)
        layout.addWidget(self.message_label)
        layout.addWidget(self.keyring_label)

        self.sign_in_button.clicked.connect(self._on_sign_in)
        self.password_edit.returnPressed.connect(self._on_sign_in)
        self.user_edit.returnPressed.connect(self.password_edit.setFocus)
        self.server_edit.returnPressed.connect(self.user_edit.setFocus)
        self.sign_out_button.clicked.connect(self.sign_out_requested.emit)
        self.sync_button.clicked.connect(self.sync_requested.emit)

    def _build_conflicts(self, body: QWidget, layout: QVBoxLayout) -> None:
        self.conflicts_box = QWidget(body)
        box = QVBoxLayout(self.conflicts_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(4)
        self.conflicts_title = _section("Conflicts to resolve", self.conflicts_box)
        self.conflicts_title.setStyleSheet(f"color: {AMBER}; padding-top: 6px;")
        self.conflict_list = QListWidget(self.conflicts_box)
        self.conflict_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.conflict_list.setMaximumHeight(90)
        self.conflict_detail = QLabel("", self.conflicts_box)
        self.conflict_detail.setWordWrap(True)
        self.conflict_detail.setTextFormat(Qt.TextFormat.RichText)
        self.keep_mine_button = QPushButton("Keep mine", self.conflicts_box)
        self.keep_mine_button.setToolTip("Your version wins; colleagues receive it")
        self.take_theirs_button = QPushButton("Take theirs", self.conflicts_box)
        self.take_theirs_button.setToolTip("The version on the server wins; yours is replaced")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.keep_mine_button)
        buttons.addWidget(self.take_theirs_button)
        box.addWidget(self.conflicts_title)
        box.addWidget(self.conflict_list)
        box.addWidget(self.conflict_detail)
        box.addLayout(buttons)
        box.addWidget(_rule(self.conflicts_box))
        layout.addWidget(self.conflicts_box)
        self.conflict_list.currentItemChanged.connect(lambda *_: self._show_conflict())
        self.keep_mine_button.clicked.connect(lambda: self._resolve("mine"))
        self.take_theirs_button.clicked.connect(lambda: self._resolve("theirs"))

    def _build_comments(self, page: QWidget) -> None:
        self.study_label = _muted("", page)
        self.scope_box = QComboBox(page)
        self.scope_box.setToolTip("Comment on the whole study or on the selected measurement")
        self.thread_view = QTextBrowser(page)
        self.thread_view.setOpenLinks(False)
        self.thread_view.setMinimumHeight(90)
        self.comment_edit = QPlainTextEdit(page)
        self.comment_edit.setPlaceholderText("Write a comment…")
        self.comment_edit.setFixedHeight(52)
        self.comment_edit.setTabChangesFocus(True)
        self.send_button = QPushButton("Send", page)
        self.send_button.setToolTip("Saved here at once; sent to colleagues when online")
        send_row = QHBoxLayout()
        send_row.addWidget(self.comment_edit, 1)
        send_row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        scope_row = QHBoxLayout()
        scope_row.addWidget(QLabel("About", page))
        scope_row.addWidget(self.scope_box, 1)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.study_label)
        layout.addLayout(scope_row)
        layout.addWidget(self.thread_view, 1)
        layout.addLayout(send_row)
        self.scope_box.currentIndexChanged.connect(lambda _i: self._render_thread())
        self.send_button.clicked.connect(self._on_send)
        self.comment_edit.textChanged.connect(self._update_send)

    def _build_sharing(self, page: QWidget) -> None:
        self.share_button = QPushButton("Share this study…", page)
        self.refresh_button = QPushButton("Refresh", page)
        self.refresh_button.setToolTip("Ask the server for cases shared with you")
        shared_row = QHBoxLayout()
        shared_row.addWidget(_section("Shared with me", page), 1)
        shared_row.addWidget(self.refresh_button)
        self.shared_tree = QTreeWidget(page)
        self.shared_tree.setColumnCount(3)
        self.shared_tree.setHeaderLabels(("Case", "From", "Files"))
        self.shared_tree.setRootIsDecorated(False)
        self.shared_tree.setMinimumHeight(70)
        header = self.shared_tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.shared_note = _muted("", page)
        self.download_button = QPushButton("Download && open", page)
        self.download_button.setToolTip("Fetch the case into the library and open it")
        self.transfer_progress = QProgressBar(page)
        self.transfer_progress.setRange(0, 100)
        self.transfer_message = QLabel("", page)
        self.transfer_message.setWordWrap(True)
        download_row = QHBoxLayout()
        download_row.addWidget(self.transfer_progress, 1)
        download_row.addStretch(0)
        download_row.addWidget(self.download_button)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.share_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(_rule(page))
        layout.addLayout(shared_row)
        layout.addWidget(self.shared_tree, 1)
        layout.addWidget(self.shared_note)
        layout.addLayout(download_row)
        layout.addWidget(self.transfer_message)
        self.share_button.clicked.connect(self.share_requested.emit)
        self.refresh_button.clicked.connect(self.refresh_shared_requested.emit)
        self.download_button.clicked.connect(self._on_download)
        self.shared_tree.itemSelectionChanged.connect(self._update_sharing)
        self.shared_tree.itemDoubleClicked.connect(lambda *_: self._on_download())

    # --- account and connection ---------------------------------------------------------------

    def set_account(self, who: str | None, server_url: str, *, site: str = "") -> None:
        """Signed in as ``who`` at ``server_url`` (None: show the sign-in form)."""
        self._signed_in = who is not None
        self._account = (who or "", server_url, site)
        self._render_account()
        self._update_form()
        self._update_sharing()

    def _render_account(self) -> None:
        who, server_url, site = self._account
        if not self._signed_in:
            self.account_label.setVisible(False)
            self.sign_out_button.setVisible(False)
            return
        lead = "Was signed in as" if self._state == AUTH_EXPIRED else "Signed in as"
        place = f" · {html.escape(site)}" if site else ""
        self.account_label.setText(
            f"{lead} <b>{html.escape(who)}</b>{place}"
            f"<br><span style='{_MUTED}'>at {html.escape(server_url)}</span>"
        )
        self.account_label.setVisible(True)
        self.sign_out_button.setVisible(True)

    def set_form(self, server_url: str, username: str) -> None:
        """Prefill the sign-in form (remembered or site default)."""
        if not self.server_edit.text():
            self.server_edit.setText(server_url)
        if not self.user_edit.text():
            self.user_edit.setText(username)

    def form_values(self) -> tuple[str, str]:
        return self.server_edit.text().strip(), self.user_edit.text().strip()

    def set_connection(self, state: str) -> None:
        """The link to the server (a ConnectionState value)."""
        self._state = state if state in STATE_LINES else SIGNED_OUT
        colour, text = STATE_LINES[self._state]
        self.state_dot.setStyleSheet(_dot(colour))
        self.state_dot.setToolTip(self._state.replace("_", " "))
        self.state_label.setText(text)
        self._render_account()
        self._update_form()
        self.set_pending(self._pending)
        self._update_sharing()

    @property
    def state(self) -> str:
        return self._state

    def set_pending(self, count: int) -> None:
        self._pending = count
        self.pending_label.setText(pending_text(count, self._state))
        colour = AMBER if count and self._state != ONLINE else ""
        self.pending_label.setStyleSheet(f"color: {colour};" if colour else "")
        self.sync_button.setVisible(self._signed_in and self._state != AUTH_EXPIRED)

    def set_message(self, text: str, *, error: bool = True) -> None:
        """One line under the state: the last error (red) or a note (grey)."""
        line = " ".join(text.split())
        self.message_label.setText(line)
        self.message_label.setToolTip(text if len(text) > 120 else "")
        self.message_label.setStyleSheet(_ERROR if error else _MUTED)
        self.message_label.setVisible(bool(line))

    def set_keyring_note(self, text: str) -> None:
        self.keyring_label.setText(text)
        self.keyring_label.setVisible(bool(text))

    def set_busy(self, busy: bool, text: str = "") -> None:
        """While signing in: the form is disabled and ``text`` says what happens."""
        self._busy = busy
        self.sign_in_button.setText("Signing in…" if busy else "Sign in")
        if busy:
            self.set_message(text, error=False)
        self._update_form()

    def clear_password(self) -> None:
        self.password_edit.clear()

    def _update_form(self) -> None:
        expired = self._state == AUTH_EXPIRED
        show_form = not self._signed_in or expired
        self.form.setVisible(show_form)
        for widget in (self.server_edit, self.user_edit, self.password_edit):
            widget.setEnabled(not self._busy)
        # The server of an expired sign-in stays the same; only the password is asked again.
        self.server_edit.setReadOnly(expired and self._signed_in)
        self.sign_in_button.setEnabled(not self._busy)
        self.sign_in_button.setText(
            "Signing in…" if self._busy else ("Sign in again" if expired else "Sign in")
        )

    def _on_sign_in(self) -> None:
        if self._busy:
            return
        url, user = self.form_values()
        password = self.password_edit.text()
        if not url or not user or not password:
            missing = [
                name
                for name, value in (("server", url), ("user name", user), ("password", password))
                if not value
            ]
            self.set_message("Enter the " + " and ".join(missing) + ".")
            return
        self.sign_in_requested.emit(url, user, password)

    # --- conflicts ----------------------------------------------------------------------------

    def set_conflicts(self, rows: list[ConflictRow]) -> None:
        current = self._selected_conflict()
        self._conflicts = {row.uuid: row for row in rows}
        self.conflict_list.blockSignals(True)
        self.conflict_list.clear()
        chosen = 0
        for index, row in enumerate(rows):
            item = QListWidgetItem(row.title, self.conflict_list)
            item.setData(_ID, row.uuid)
            item.setToolTip("\n".join((*row.differences, row.detail)))
            if row.uuid == current:
                chosen = index
        if rows:
            self.conflict_list.setCurrentRow(chosen)
        self.conflict_list.blockSignals(False)
        count = len(rows)
        self.conflicts_title.setText(
            "1 conflict to resolve" if count == 1 else f"{count} conflicts to resolve"
        )
        self.conflicts_box.setVisible(bool(rows))
        self._show_conflict()

    def conflict_titles(self) -> list[str]:
        return [row.title for row in self._conflicts.values()]

    def select_conflict(self, uuid: str) -> None:
        for index in range(self.conflict_list.count()):
            item = self.conflict_list.item(index)
            if item is not None and item.data(_ID) == uuid:
                self.conflict_list.setCurrentRow(index)
                return

    def _selected_conflict(self) -> str:
        item = self.conflict_list.currentItem()
        value = item.data(_ID) if item is not None else None
        return str(value) if value else ""

    def _show_conflict(self) -> None:
        row = self._conflicts.get(self._selected_conflict())
        self.keep_mine_button.setEnabled(row is not None)
        self.take_theirs_button.setEnabled(row is not None)
        if row is None:
            self.conflict_detail.setText("")
            return
        lines = [html.escape(line) for line in row.differences]
        if row.detail:
            lines.append(f"<span style='{_MUTED}'>{html.escape(row.detail)}</span>")
        self.conflict_detail.setText("<br>".join(lines))
        self.take_theirs_button.setText("Take theirs" if row.has_theirs else "Discard")
        self.take_theirs_button.setToolTip(
            "The version on the server wins; yours is replaced"
            if row.has_theirs
            else "Close the conflict and keep your version on this computer only"
        )

    def _resolve(self, choice: str) -> None:
        uuid = self._selected_conflict()
        if uuid:
            self.resolve_requested.emit(uuid, choice)

    # --- comments -----------------------------------------------------------------------------

    def set_study(self, study_uid: str, title: str) -> None:
        """The study comments are about (the active one); "" when none is open."""
        changed = study_uid != self._study_uid
        self._study_uid = study_uid
        self.study_label.setText(title if study_uid else "Open a study to see and add comments.")
        if changed:
            self.set_comments([])
        self._update_scope()
        self._render_thread()
        self._update_send()
        self._update_sharing()

    @property
    def study_uid(self) -> str:
        return self._study_uid

    def set_selected_annotation(self, uuid: str, label: str) -> None:
        """The annotation selected in the viewer ("" for none): the comment box offers it."""
        previous = self._selected_uuid
        self._selected_uuid, self._selected_label = uuid, label
        self._update_scope(select_annotation=bool(uuid) and uuid != previous)

    def _update_scope(self, *, select_annotation: bool = False) -> None:
        keep = self.scope_box.currentData() if not select_annotation else self._selected_uuid
        self.scope_box.blockSignals(True)
        self.scope_box.clear()
        self.scope_box.addItem("The whole study", "")
        if self._selected_uuid and self._study_uid:
            self.scope_box.addItem(f"Selected: {self._selected_label}", self._selected_uuid)
        index = self.scope_box.findData(keep if keep is not None else "")
        self.scope_box.setCurrentIndex(max(index, 0))
        self.scope_box.blockSignals(False)
        self.scope_box.setEnabled(bool(self._study_uid))
        self._render_thread()

    def comment_scope(self) -> str:
        """The annotation UUID comments now go to ("" for the study)."""
        value = self.scope_box.currentData()
        return str(value) if value else ""

    def set_comments(self, rows: list[CommentRow]) -> None:
        """The current study's comments, oldest first (those on its annotations included)."""
        self._comments = list(rows)
        self.tabs.setTabText(0, f"Comments ({len(rows)})" if rows else "Comments")
        self._render_thread()

    def comment_texts(self) -> list[str]:
        """The comments shown now (what the reader sees, in order)."""
        scope = self.comment_scope()
        return [row.text for row in self._visible_comments(scope)]

    def _visible_comments(self, scope: str) -> list[CommentRow]:
        if not scope:
            return self._comments
        return [row for row in self._comments if row.annotation_uuid == scope]

    def _render_thread(self) -> None:
        if not self._study_uid:
            self.thread_view.setHtml(f"<p style='{_MUTED}'>No study open.</p>")
            return
        rows = self._visible_comments(self.comment_scope())
        if not rows:
            empty = (
                "No comments on this measurement yet."
                if self.comment_scope()
                else ("No comments on this study yet.")
            )
            self.thread_view.setHtml(f"<p style='{_MUTED}'>{empty}</p>")
            return
        parts = []
        for row in rows:
            about = (
                f" <span style='{_MUTED}'>on ‘{html.escape(row.about)}’</span>"
                if row.about and not self.comment_scope()
                else ""
            )
            status = ""
            if row.status == "pending":
                status = f" <span style='color: {AMBER};'>· not sent yet</span>"
            elif row.status == "rejected":
                status = f" <span style='color: {RED};'>· refused by the server</span>"
            text = html.escape(row.text).replace("\n", "<br>")
            parts.append(
                "<div style='margin-bottom: 8px;'>"
                f"<b>{html.escape(row.author or 'me')}</b>"
                f" <span style='{_MUTED}'>{html.escape(row.when)}</span>{about}{status}"
                f"<br>{text}</div>"
            )
        self.thread_view.setHtml("".join(parts))
        bar = self.thread_view.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _update_send(self) -> None:
        has_text = bool(self.comment_edit.toPlainText().strip())
        self.send_button.setEnabled(bool(self._study_uid) and has_text)
        self.comment_edit.setEnabled(bool(self._study_uid))

    def _on_send(self) -> None:
        text = self.comment_edit.toPlainText().strip()
        if text and self._study_uid:
            self.comment_requested.emit(text, self.comment_scope())

    def clear_comment(self) -> None:
        self.comment_edit.clear()

    # --- sharing ------------------------------------------------------------------------------

    def set_shared(self, rows: list[SharedRow], note: str = "") -> None:
        """Cases shared with the reader, newest first; ``note`` when the list is empty or stale."""
        selected = self.selected_share()
        self._shared = {row.id: row for row in rows}
        self.shared_tree.clear()
        chosen: QTreeWidgetItem | None = None
        for row in rows:
            badge = " · de-identified" if row.deidentified else ""
            item = QTreeWidgetItem([row.title, row.sender, str(row.files)])
            item.setData(0, _ID, row.id)
            item.setToolTip(0, f"{row.title}\n{row.when} · {row.files} file(s), {row.size}{badge}")
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight)
            if not row.ready:
                item.setText(0, f"{row.title} (arriving…)")
                item.setDisabled(True)
                for column in range(3):
                    item.setForeground(column, QBrush(QColor(GREY)))
                item.setToolTip(0, "Still being uploaded by the sender")
            self.shared_tree.addTopLevelItem(item)
            if row.id == selected:
                chosen = item
        if chosen is not None:
            self.shared_tree.setCurrentItem(chosen)
        self.tabs.setTabText(1, f"Sharing ({len(rows)})" if rows else "Sharing")
        text = note or ("" if rows else "Nothing shared with you yet.")
        if rows and not note:
            text = "Double-click a case to download and open it."
        self.shared_note.setText(text)
        self._update_sharing()

    def shared_ids(self) -> list[str]:
        return list(self._shared)

    def select_share(self, share_id: str) -> None:
        for index in range(self.shared_tree.topLevelItemCount()):
            item = self.shared_tree.topLevelItem(index)
            if item is not None and item.data(0, _ID) == share_id:
                self.shared_tree.setCurrentItem(item)
                return

    def selected_share(self) -> str:
        item = self.shared_tree.currentItem()
        value = item.data(0, _ID) if item is not None else None
        return str(value) if value else ""

    def set_transfer(
        self, text: str, done: int = 0, total: int = 0, *, error: bool = False
    ) -> None:
        """A download's progress (``total`` 0 hides the bar) and its one-line outcome."""
        self.transfer_progress.setVisible(total > 0)
        if total > 0:
            self.transfer_progress.setRange(0, total)
            self.transfer_progress.setValue(done)
            self.transfer_progress.setFormat(f"{done} / {total} files")
        self.transfer_message.setText(text)
        self.transfer_message.setStyleSheet(_ERROR if error else _MUTED)
        self.transfer_message.setVisible(bool(text))
        self._update_sharing()

    def _update_sharing(self) -> None:
        online = self._signed_in and self._state == ONLINE
        downloading = self.transfer_progress.isVisible()
        self.share_button.setEnabled(online and bool(self._study_uid))
        self.share_button.setToolTip(
            "Share the open study with a colleague or another hospital (de-identified on this "
            "computer when it leaves your site)"
            if online
            else "Sign in and be online to share"
        )
        self.refresh_button.setEnabled(online)
        row = self._shared.get(self.selected_share())
        self.download_button.setEnabled(
            online and row is not None and row.ready and not downloading
        )

    def _on_download(self) -> None:
        share_id = self.selected_share()
        if share_id and self.download_button.isEnabled():
            self.download_requested.emit(share_id)


class ShareDialog(QDialog):
    """Pick a colleague or a site, add a note, watch the upload (and cancel it)."""

    share_requested = Signal(str, str, str)  # kind ("user" | "site"), name, note
    cancel_requested = Signal()

    def __init__(self, study_title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Share study")
        self.setMinimumWidth(440)
        self._running = False
        self._targets: list[ShareTargetRow] = []
        title = QLabel(study_title, self)
        title.setWordWrap(True)
        font = QFont(title.font())
        font.setBold(True)
        title.setFont(font)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Find a colleague or a hospital")
        self.filter_edit.setClearButtonEnabled(True)
        self.target_tree = QTreeWidget(self)
        self.target_tree.setHeaderHidden(True)
        self.target_tree.setColumnCount(1)
        self.target_tree.setMinimumHeight(180)
        self.privacy_label = _muted("", self)
        self.note_edit = QPlainTextEdit(self)
        self.note_edit.setPlaceholderText("A note for the recipient (optional)")
        self.note_edit.setMaximumHeight(60)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        self.status_label = QLabel("Loading the directory…", self)
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet(_MUTED)
        self.share_button = QPushButton("Share", self)
        self.share_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.share_button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.target_tree, 1)
        layout.addWidget(self.privacy_label)
        layout.addWidget(self.note_edit)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        self.filter_edit.textChanged.connect(self._fill)
        self.target_tree.currentItemChanged.connect(lambda *_: self._update())
        self.target_tree.itemDoubleClicked.connect(lambda *_: self._on_share())
        self.share_button.clicked.connect(self._on_share)
        self.cancel_button.clicked.connect(self._on_cancel)
        self._update()

    def set_targets(self, rows: list[ShareTargetRow]) -> None:
        self._targets = list(rows)
        self.status_label.setText("" if rows else "Nobody to share with on this server.")
        self.status_label.setStyleSheet(_MUTED)
        self._fill()

    def _fill(self) -> None:
        needle = self.filter_edit.text().strip().casefold()
        self.target_tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        font = QFont(self.target_tree.font())
        font.setBold(True)
        for row in self._targets:
            haystack = f"{row.display} {row.name} {row.site}".casefold()
            if needle and needle not in haystack:
                continue
            if row.kind == "site":
                group_name = "Other hospitals (everyone at the site)"
            elif row.same_site:
                group_name = "Colleagues at your site"
            else:
                group_name = f"At {row.site}"
            group = groups.get(group_name)
            if group is None:
                group = QTreeWidgetItem([group_name])
                group.setFont(0, font)
                group.setFlags(group.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                self.target_tree.addTopLevelItem(group)
                group.setExpanded(True)
                groups[group_name] = group
            shown = (
                row.display
                if row.kind == "site" or row.display == row.name
                else (f"{row.display} ({row.name})")
            )
            item = QTreeWidgetItem([shown])
            item.setData(0, _ID, (row.kind, row.name, row.same_site))
            group.addChild(item)
        self._update()

    def choose(self, kind: str, name: str) -> bool:
        """Select a target (tests and keyboard users); False when it is not listed."""
        for index in range(self.target_tree.topLevelItemCount()):
            group = self.target_tree.topLevelItem(index)
            if group is None:
                continue
            for child_index in range(group.childCount()):
                child = group.child(child_index)
                data = child.data(0, _ID) if child is not None else None
                if child is not None and data and data[0] == kind and data[1] == name:
                    self.target_tree.setCurrentItem(child)
                    return True
        return False

    def _chosen(self) -> tuple[str, str, bool] | None:
        item = self.target_tree.currentItem()
        data = item.data(0, _ID) if item is not None else None
        return (str(data[0]), str(data[1]), bool(data[2])) if data else None

    def _update(self) -> None:
        chosen = self._chosen()
        self.share_button.setEnabled(chosen is not None and not self._running)
        self.target_tree.setEnabled(not self._running)
        self.filter_edit.setEnabled(not self._running)
        self.note_edit.setEnabled(not self._running)
        self.cancel_button.setText("Stop" if self._running else "Cancel")
        if chosen is None:
            self.privacy_label.setText("")
        elif chosen[2]:
            self.privacy_label.setText(
                "Within your site: the study is shared as it is, with its annotations."
            )
        else:
            self.privacy_label.setText(
                "Another hospital: the images, AI results and annotations are de-identified "
                "on this computer before anything leaves (DICOM PS3.15 Basic Profile: names, "
                "IDs, dates and UIDs are replaced)."
            )

    def _on_share(self) -> None:
        chosen = self._chosen()
        if chosen is None or self._running:
            return
        self.share_requested.emit(chosen[0], chosen[1], self.note_edit.toPlainText().strip())

    def _on_cancel(self) -> None:
        if self._running:
            self.cancel_requested.emit()
            self.status_label.setText("Stopping after the current file…")
        else:
            self.reject()

    # --- progress -----------------------------------------------------------------------------

    def set_running(self, text: str) -> None:
        self._running = True
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)  # busy until the first file is sent
        self.status_label.setStyleSheet(_MUTED)
        self.status_label.setText(text)
        self._update()

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} / {total} files sent")
        self.status_label.setText("Uploading…")

    def set_finished(self, text: str, *, error: bool = False) -> None:
        self._running = False
        self.progress.setVisible(False)
        self.status_label.setStyleSheet(_ERROR if error else _MUTED)
        self.status_label.setText(text)
        self._update()
        if not error:
            self.cancel_button.setText("Close")

    @property
    def running(self) -> bool:
        return self._running
