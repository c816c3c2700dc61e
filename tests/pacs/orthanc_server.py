"""A real Orthanc for the PACS tests and the benchmark: started from a generated configuration.

Orthanc runs as a child process with the DICOMweb plugin, its own storage folder, free
loopback ports, a known AE title (``DicomCheckCalledAet`` on, so a wrong called AE title is
rejected), a modality entry for our storage SCP (so C-MOVE works), and optional HTTP basic-auth
users. It is stopped (or killed) by PID, never by name. A missing Orthanc fails loudly.

``TCP_NODELAY=1`` is set in its environment: DCMTK (Orthanc's DICOM layer) leaves Nagle's
algorithm on otherwise, which adds a delayed-ACK wait (~40 ms) to every DIMSE exchange.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
HOST = "127.0.0.1"
#: Our AE title in the tests (the shared Orthanc knows it as a C-MOVE destination).
OUR_AE = "WSTEST"


def free_port() -> int:
    """A free TCP port on the loopback interface (chosen by the kernel: an unusual one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class OrthancMissingError(RuntimeError):
    pass


@dataclass
class Orthanc:
    """One Orthanc server on loopback ports, with its storage in ``folder``."""

    folder: Path
    aet: str = "ORTHANC"
    users: dict[str, str] = field(default_factory=dict)
    #: name → (AE title, host, port) entries of DicomModalities (C-MOVE destinations).
    modalities: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    http_port: int = 0
    dicom_port: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        if not ORTHANC.exists() or not DICOMWEB_PLUGIN.exists():
            raise OrthancMissingError(
                f"Orthanc ({ORTHANC}) with the DICOMweb plugin ({DICOMWEB_PLUGIN}) is needed: "
                "apt-get install orthanc orthanc-dicomweb"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.http_port = self.http_port or free_port()
        self.dicom_port = self.dicom_port or free_port()

    # --- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def dicomweb_spec(self) -> str:
        return f"dicomweb:{self.dicomweb_url}"

    @property
    def dimse_spec(self) -> str:
        return f"dimse:{self.aet}@{HOST}:{self.dicom_port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "orthanc.log"

    # --- life cycle ------------------------------------------------------------------------

    def config(self) -> dict[str, object]:
        storage = self.folder / "storage"
        return {
            "Name": "workstation-tests",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "DicomCheckCalledAet": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomModalities": {name: list(entry) for name, entry in self.modalities.items()},
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "SaveJobs": False,
            "StableAge": 1,
            "HttpThreadsCount": 8,
            "DicomThreadsCount": 4,
            "DicomScuTimeout": 10,
            "DicomScpTimeout": 30,
            "HttpCompressionEnabled": True,
            "KeepAlive": True,
            "TcpNoDelay": True,
            "SyncStorageArea": False,
            "MallocArenaMax": 2,
            **self.extra,
        }

    def start(self, timeout: float = 30.0) -> Orthanc:
        config_path = self.folder / "orthanc.json"
        config_path.write_text(json.dumps(self.config(), indent=2))
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [str(ORTHANC), str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "TCP_NODELAY": "1"},
                cwd=self.folder,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited with {self.process.returncode} at start:\n{self.log_tail()}"
                )
            if self._http_ready() and self._dicom_ready():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"Orthanc did not start within {timeout} s:\n{self.log_tail()}")

    def _http_ready(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/system", auth=self.auth, timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _dicom_ready(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            return probe.connect_ex((HOST, self.dicom_port)) == 0

    @property
    def auth(self) -> tuple[str, str] | None:
        if not self.users:
            return None
        user, password = next(iter(self.users.items()))
        return (user, password)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM by PID, then SIGKILL if it lingers; waits for the process to be gone."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL by PID (a crash), waiting until it is gone."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        self.process = None

    def restart(self) -> Orthanc:
        """Start again on the same storage and ports (after :meth:`kill` or :meth:`stop`)."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    # --- content ---------------------------------------------------------------------------

    def upload(self, files: Iterable[Path]) -> int:
        """Store files through the REST API; the number stored."""
        count = 0
        with httpx.Client(base_url=self.url, auth=self.auth, timeout=30.0) as client:
            for path in files:
                response = client.post("/instances", content=Path(path).read_bytes())
                response.raise_for_status()
                count += 1
        return count

    def instance_count(self) -> int:
        response = httpx.get(f"{self.url}/statistics", auth=self.auth, timeout=10.0)
        response.raise_for_status()
        return int(response.json()["CountInstances"])

    def delete_study(self, study_uid: str) -> None:
        with httpx.Client(base_url=self.url, auth=self.auth, timeout=30.0) as client:
            found = client.post("/tools/lookup", content=study_uid.encode()).json()
            for entry in found:
                if entry.get("Type") == "Study":
                    client.delete(f"/studies/{entry['ID']}").raise_for_status()

    def push_study(self, study_uid: str, modality: str) -> None:
        """Have Orthanc send a study to a registered modality (C-STORE), as a routing rule would."""
        with httpx.Client(base_url=self.url, auth=self.auth, timeout=60.0) as client:
            found = client.post("/tools/lookup", content=study_uid.encode()).json()
            ids = [entry["ID"] for entry in found if entry.get("Type") == "Study"]
            response = client.post(
                f"/modalities/{modality}/store", json={"Resources": ids, "Synchronous": True}
            )
            response.raise_for_status()
