"""Fixtures for the study database tests: a home folder in tmp_path and helpers to check it."""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from workstation import paths
from workstation.pacs import StudyDatabase, open_database

#: What every managed copy is named: hash folders and a hash file name, nothing else.
MANAGED_NAME = re.compile(r"[0-9a-f]{20}/[0-9a-f]{20}/[0-9a-f]{40}\.dcm")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    paths.set_home(folder)
    try:
        yield folder
    finally:
        paths.set_home(None)


@pytest.fixture
def db(home: Path) -> Iterator[StudyDatabase]:
    database = open_database()
    try:
        yield database
    finally:
        database.close()


def retag(files: list[Path], **attributes: Any) -> None:
    """Rewrite attributes of DICOM files (hostile values included: validation is off)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for file in files:
            ds = pydicom.dcmread(file)
            for keyword, value in attributes.items():
                setattr(ds, keyword, value)
                if keyword == "SOPInstanceUID":
                    ds.file_meta.MediaStorageSOPInstanceUID = value
            ds.save_as(file)


def storage_files(home: Path) -> set[str]:
    """Files under managed storage, relative to it (temporary copies included)."""
    root = home / "storage"
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def check_consistent(db: StudyDatabase) -> None:
    """Counts match rows, nothing is orphaned, and managed copies match their rows exactly."""
    connection = db.connection
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    mismatched = connection.execute(
        "SELECT series_uid FROM series s WHERE n_instances <> "
        "(SELECT count(*) FROM instances i WHERE i.series_uid = s.series_uid)"
    ).fetchall()
    assert mismatched == []
    assert connection.execute("SELECT count(*) FROM series WHERE n_instances = 0").fetchone() == (
        0,
    )
    assert connection.execute(
        "SELECT count(*) FROM studies st WHERE NOT EXISTS "
        "(SELECT 1 FROM series s WHERE s.study_uid = st.study_uid)"
    ).fetchone() == (0,)
    assert connection.execute(
        "SELECT count(*) FROM patients p WHERE NOT EXISTS "
        "(SELECT 1 FROM studies st WHERE st.patient = p.id)"
    ).fetchone() == (0,)
    managed = {row[0] for row in connection.execute("SELECT path FROM instances WHERE managed")}
    assert storage_files(db.path.parent) == managed


# --- a real Orthanc (tests/pacs/test_orthanc_*.py) -------------------------------------------

sys.path.insert(0, str(Path(__file__).parent))

from orthanc_server import HOST, OUR_AE, Orthanc, OrthancMissingError, free_port  # noqa: E402
from pacs_data import Study, write_catalogue  # noqa: E402


def make_orthanc(folder: Path, **options: Any) -> Orthanc:
    """An Orthanc (not started); a missing installation fails the test, never skips it."""
    try:
        return Orthanc(folder, **options)
    except OrthancMissingError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def scp_port() -> int:
    """The port our storage SCP uses in the tests (registered at the shared Orthanc)."""
    return free_port()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, scp_port: int) -> Iterator[Orthanc]:
    """One Orthanc for the session, holding :func:`catalogue`'s studies."""
    server = make_orthanc(
        tmp_path_factory.mktemp("orthanc"),
        aet="ORTHTEST",
        modalities={"workstation": (OUR_AE, HOST, scp_port)},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def catalogue(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Study]:
    studies = write_catalogue(tmp_path_factory.mktemp("catalogue"))
    orthanc.upload(path for study in studies.values() for path in study.files)
    return studies
