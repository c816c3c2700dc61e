"""``workstation server`` administration, and the migrations against the table definitions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from workstation.cli import main
from workstation.collab.server.database import Database
from workstation.collab.server.schema import metadata
from workstation.collab.server.testkit import Deployment


def run(
    arguments: list[str], capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> tuple[int, str, str]:
    import sys

    previous = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(arguments)
    finally:
        sys.stdin = previous
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sites_and_users_are_made_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'admin.sqlite'}"
    base = ["--home", str(tmp_path), "server", "--db", db]
    assert run([*base, "create-site", "St Mary"], capsys)[0] == 0
    code, _, err = run([*base, "create-site", "St Mary"], capsys)
    assert code == 2 and "exists already" in err and "\n" not in err.strip()
    code, out, _ = run(
        [*base, "create-user", "mary", "--site", "St Mary", "--role", "admin", "--password-stdin"],
        capsys,
        "a long password\n",
    )
    assert code == 0 and "mary" in out
    code, _, err = run(
        [*base, "create-user", "short", "--site", "St Mary", "--password-stdin"], capsys, "tiny\n"
    )
    assert code == 2 and "at least" in err
    code, _, err = run(
        [*base, "create-user", "x", "--site", "Nowhere", "--password-stdin"],
        capsys,
        "a long password\n",
    )
    assert code == 2 and "no site" in err
    code, out, _ = run([*base, "list-users", "--json"], capsys)
    [user] = json.loads(out)["users"]
    assert user["username"] == "mary" and user["role"] == "admin" and user["active"]
    assert (
        run([*base, "set-password", "mary", "--password-stdin"], capsys, "another long one\n")[0]
        == 0
    )
    assert run([*base, "disable-user", "mary"], capsys)[0] == 0
    code, out, _ = run([*base, "list-users", "--json"], capsys)
    assert not json.loads(out)["users"][0]["active"]
    code, out, _ = run([*base, "audit", "--json"], capsys)
    actions = [event["action"] for event in json.loads(out)["events"]]
    assert actions[:4] == [
        "admin_disable_user",
        "admin_set_password",
        "admin_create_user",
        "admin_create_site",
    ]
    code, out, _ = run([*base, "list-sites"], capsys)
    assert "St Mary" in out
    # Passwords never come from the command line; TLS needs both halves.
    code, _, err = run([*base, "create-user", "y", "--site", "St Mary"], capsys)
    assert code == 2 and "--password-stdin" in err
    code, _, err = run([*base, "--tls-cert", str(tmp_path / "x.pem")], capsys)
    assert code == 2 and "--tls-key" in err


def test_the_default_database_lives_in_the_home_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKSTATION_SERVER_DB", raising=False)
    code, out, _ = run(["--home", str(tmp_path), "server", "migrate"], capsys)
    assert code == 0 and "0001" in out
    assert (tmp_path / "server.sqlite").is_file()


def test_the_migrations_build_exactly_the_tables_the_code_uses(deployment: Deployment) -> None:
    database = Database(deployment.database_url)
    try:
        database.migrate()  # again: nothing to do
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == "0001"
            differences = compare_metadata(context, metadata)
        assert differences == []
    finally:
        database.dispose()
