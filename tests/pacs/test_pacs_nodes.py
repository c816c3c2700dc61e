"""Node settings: the site configuration and user settings merged, secrets never in files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from workstation.pacs.errors import PacsError, PacsReason
from workstation.pacs.nodes import (
    DEFAULT_AE_TITLE,
    Node,
    keyring_status,
    load_settings,
    parse_node_spec,
    remove_user_node,
    save_local_identity,
    save_user_node,
    secret_for,
    store_secret,
)

SITE = """
# Deployed by IT.
[pacs]
ae_title = "RAD01"
port = 11113

[[pacs.nodes]]
name = "pacs"
kind = "dimse"
ae_title = "HOSPITAL_PACS"
host = "pacs.example.org"
port = 104
retrieve = "move"

[[pacs.nodes]]
name = "vna"
kind = "dicomweb"
url = "https://vna.example.org/dicom-web/"
auth = "bearer"
tls = { verify = true, ca_bundle = "/etc/ssl/hospital-ca.pem" }

[[pacs.nodes]]
name = "leaky"
kind = "dicomweb"
url = "https://x.example.org/dicom-web"
auth = "basic"
username = "u"
password = "in-a-file"

[pacs.prefetch]
enabled = true
node = "pacs"
priors = 3
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    monkeypatch.setenv("WORKSTATION_SITE_CONFIG", str(path))
    return path


def test_site_and_user_settings_merge(site: Path, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.json").write_text(
        json.dumps(
            {
                "viewer": {"layout": "2x2"},
                "pacs": {
                    "port": 12000,
                    "nodes": [
                        {"name": "pacs", "kind": "dicomweb", "url": "http://evil.example.org/x"},
                        {
                            "name": "mine",
                            "kind": "dimse",
                            "ae_title": "DESK",
                            "host": "10.0.0.5",
                            "port": 4242,
                        },
                        {"name": "broken", "kind": "dimse", "host": "h", "port": 99999},
                    ],
                },
            }
        )
    )
    settings = load_settings()
    assert settings.site_path == site
    assert (settings.ae_title, settings.port) == ("RAD01", 12000)  # user port wins
    assert [n.name for n in settings.nodes] == ["pacs", "vna", "mine"]
    pacs, vna, mine = settings.nodes
    assert pacs.read_only and pacs.kind == "dimse" and pacs.retrieve == "move"
    assert vna.url == "https://vna.example.org/dicom-web" and vna.tls.ca_bundle == Path(
        "/etc/ssl/hospital-ca.pem"
    )
    assert not mine.read_only
    warnings = "\n".join(settings.warnings)
    assert "secrets are never read from settings files" in warnings  # 'leaky' skipped
    assert "'pacs' ignored: the site configuration defines it" in warnings
    assert "broken" in warnings
    assert settings.prefetch.enabled and settings.prefetch.priors == 3
    assert settings.with_local("OTHER", 104).ae_title == "OTHER"

    # The user edits their own nodes, never the site's; other keys of the file survive.
    save_user_node(Node(name="extra", kind="dicomweb", url="http://127.0.0.1:1/dicom-web"))
    assert remove_user_node("mine")
    with pytest.raises(PacsError) as caught:
        remove_user_node("pacs")
    assert caught.value.reason == PacsReason.CONFIGURATION
    with pytest.raises(PacsError):
        save_user_node(Node(name="vna", kind="dicomweb", url="http://127.0.0.1:1/x"))
    save_local_identity(ae_title="DESK7")
    document = json.loads((home / "settings.json").read_text())
    assert document["viewer"] == {"layout": "2x2"}
    assert [n["name"] for n in document["pacs"]["nodes"]] == ["pacs", "broken", "extra"]
    assert load_settings().ae_title == "DESK7"


def test_no_site_configuration(home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKSTATION_SITE_CONFIG", str(tmp_path / "missing.toml"))
    settings = load_settings()
    assert (settings.ae_title, settings.nodes) == (DEFAULT_AE_TITLE, ())
    assert settings.warnings == ()


def test_inline_specs() -> None:
    web = parse_node_spec("dicomweb:http://127.0.0.1:8042/dicom-web")
    assert (web.kind, web.url, web.origin) == (
        "dicomweb",
        "http://127.0.0.1:8042/dicom-web",
        "inline",
    )
    dimse = parse_node_spec("dimse:ORTHANC@127.0.0.1:4242")
    assert (dimse.ae_title, dimse.host, dimse.port) == ("ORTHANC", "127.0.0.1", 4242)
    assert parse_node_spec("dimse:AE@[::1]:104").host == "::1"
    for bad in (
        "dimse:ORTHANC@host",
        "dimse:WAY-TOO-LONG-AE-TITLE@h:1",
        "dimse:A@h:70000",
        "dicomweb:ftp://x/y",
        "dicomweb:http://user:pw@host/dicom-web",
        "pacs.example.org",
        "dimse:A\\B@h:1",
    ):
        with pytest.raises(PacsError) as caught:
            parse_node_spec(bad)
        assert caught.value.reason == PacsReason.CONFIGURATION


class MemoryKeyring(KeyringBackend):
    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


NODE = Node(
    name="vna",
    kind="dicomweb",
    url="https://vna.example.org/dicom-web",
    auth="basic",
    username="alice",
)


def test_secrets_in_the_keyring(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.delenv("WORKSTATION_PACS_PASSWORD", raising=False)
    monkeypatch.delenv("WORKSTATION_PACS_PASSWORD_VNA", raising=False)
    assert keyring_status()[0]
    store_secret(NODE, "pw-1")
    assert memory_keyring.store == {("workstation-pacs", "vna:alice"): "pw-1"}
    assert secret_for(NODE) == "pw-1"
    monkeypatch.setenv("WORKSTATION_PACS_PASSWORD_VNA", "from-env")
    assert secret_for(NODE) == "from-env"  # the environment overrides (scripts, CI)
    assert not list(home.rglob("*")) or "pw-1" not in "".join(
        p.read_text(errors="ignore") for p in home.rglob("*") if p.is_file()
    )


def test_without_a_keyring_nothing_is_written(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    monkeypatch.delenv("WORKSTATION_PACS_PASSWORD", raising=False)
    monkeypatch.delenv("WORKSTATION_PACS_PASSWORD_VNA", raising=False)
    try:
        available, why = keyring_status()
        assert not available and "Secret Service" in why
        with pytest.raises(PacsError) as caught:
            store_secret(NODE, "pw")
        assert caught.value.reason == PacsReason.CONFIGURATION
        assert "never written to a file" in caught.value.message
        with pytest.raises(PacsError) as caught:
            secret_for(NODE)
        assert caught.value.reason == PacsReason.UNAUTHORIZED
        assert "no OS keyring" in caught.value.message
        assert secret_for(NODE, prompt=lambda text: "typed") == "typed"
    finally:
        keyring.set_keyring(previous)
    assert not home.exists() or not any(p.is_file() for p in home.rglob("*"))
