"""``workstation server``: run the collaboration server, and administer it.

::

    workstation server [--db URL] [--host H] [--port N] [--tls-cert F --tls-key F]
    workstation server create-site NAME
    workstation server create-user USER --site NAME [--role radiologist|admin] [--password-stdin]
    workstation server set-password USER [--password-stdin]
    workstation server disable-user USER | enable-user USER
    workstation server list-sites [--json] | list-users [--site NAME] [--json]
    workstation server audit [--limit N] [--json]
    workstation server migrate

The database is ``--db`` (``sqlite:///FILE`` or ``postgresql+psycopg://USER@HOST/DB``), else
``$WORKSTATION_SERVER_DB``, else ``server.sqlite`` in the workstation home folder. Passwords
are never taken from the command line (other users could read them in the process list):
``--password-stdin`` reads one line, otherwise the command asks on the terminal.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from workstation import paths
from workstation.cli.common import EXIT_OK, UsageError

DB_ENVIRONMENT = "WORKSTATION_SERVER_DB"


def _database_url(args: argparse.Namespace) -> str:
    url = getattr(args, "db", None) or os.environ.get(DB_ENVIRONMENT)
    if url:
        return str(url)
    from workstation.collab.server import sqlite_url

    return sqlite_url(paths.home() / "server.sqlite")


def _database(args: argparse.Namespace) -> Any:
    from workstation.collab.server import Database

    database = Database(_database_url(args))
    database.migrate()
    return database


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UsageError("no password on standard input")
        return line
    if not sys.stdin.isatty():
        raise UsageError("give the password on standard input with --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def server(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None)
    if action is not None:
        return int(action(args))
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from workstation.collab.server import ServerConfig
    from workstation.collab.server.runner import Listen, serve

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("TLS needs both --tls-cert and --tls-key")
    for option in (args.tls_cert, args.tls_key):
        if option is not None and not Path(option).is_file():
            raise UsageError(f"{option}: no such file")
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a port number")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config = ServerConfig(
        database_url=_database_url(args),
        storage_dir=Path(args.storage) if args.storage else paths.home() / "server-files",
        token_ttl_s=args.token_hours * 3600.0,
        max_file_bytes=args.max_file_mb << 20,
        max_share_bytes=args.max_share_mb << 20,
    )
    listen = Listen(args.host, args.port, args.tls_cert, args.tls_key)
    print(
        f"workstation server: {listen.scheme}://{args.host}:{args.port} "
        f"(OpenAPI at /docs); stop with Ctrl+C",
        file=sys.stderr,
    )
    serve(config, listen)
    return EXIT_OK


def _admin_error(error: Exception) -> UsageError:
    return UsageError(str(error))


def _create_site(args: argparse.Namespace) -> int:
    from workstation.collab.server.admin import AdminError, create_site

    database = _database(args)
    try:
        with database.write() as connection:
            site = create_site(connection, args.name)
    except AdminError as error:
        raise _admin_error(error) from error
    finally:
        database.dispose()
    print(f"site {site.name!r} created (id {site.id})")
    return EXIT_OK


def _create_user(args: argparse.Namespace) -> int:
    from workstation.collab.server.admin import AdminError, create_user

    password = _password(args)
    database = _database(args)
    try:
        with database.write() as connection:
            user = create_user(
                connection,
                args.username,
                password,
                site=args.site,
                role=args.role,
                display_name=args.display_name or "",
            )
    except AdminError as error:
        raise _admin_error(error) from error
    finally:
        database.dispose()
    print(f"user {user.username!r} ({user.role}) created at site {user.site_name!r}")
    return EXIT_OK


def _set_password(args: argparse.Namespace) -> int:
    from workstation.collab.server.admin import AdminError, set_password

    password = _password(args)
    database = _database(args)
    try:
        with database.write() as connection:
            set_password(connection, args.username, password)
    except AdminError as error:
        raise _admin_error(error) from error
    finally:
        database.dispose()
    print(f"password of {args.username!r} changed; their sessions are signed out")
    return EXIT_OK


def _set_active(active: bool) -> Any:
    def run(args: argparse.Namespace) -> int:
        from workstation.collab.server.admin import AdminError, set_active

        database = _database(args)
        try:
            with database.write() as connection:
                set_active(connection, args.username, active)
        except AdminError as error:
            raise _admin_error(error) from error
        finally:
            database.dispose()
        print(f"user {args.username!r} {'enabled' if active else 'disabled'}")
        return EXIT_OK

    return run


def _list_sites(args: argparse.Namespace) -> int:
    from workstation.collab.server.admin import list_sites

    database = _database(args)
    try:
        with database.read() as connection:
            sites = list_sites(connection)
    finally:
        database.dispose()
    if args.json:
        json.dump({"sites": [{"id": s.id, "name": s.name} for s in sites]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for site in sites:
            print(f"{site.id:>5}  {site.name}")
    return EXIT_OK


def _list_users(args: argparse.Namespace) -> int:
    from workstation.collab.server.admin import AdminError, list_users, site_by_name

    database = _database(args)
    try:
        with database.read() as connection:
            site_id = site_by_name(connection, args.site).id if args.site else None
            users = list_users(connection, site_id=site_id)
    except AdminError as error:
        raise _admin_error(error) from error
    finally:
        database.dispose()
    if args.json:
        json.dump({"users": [u.to_json() for u in users]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for user in users:
            state = "" if user.active else "  (disabled)"
            print(f"{user.username:<24} {user.role:<12} {user.site_name}{state}")
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    from workstation.collab.server import audit

    database = _database(args)
    try:
        with database.read() as connection:
            events = audit.events(connection, limit=args.limit)
    finally:
        database.dispose()
    if args.json:
        json.dump({"events": events}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from datetime import UTC, datetime

        for event in events:
            when = datetime.fromtimestamp(event["at"], UTC).isoformat(timespec="seconds")
            print(
                f"{when}  {event['username'] or '-':<16} {event['action']:<20} "
                f"{event['outcome']:<8} {event['object_type']} {event['object_id']}"
            )
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    database = _database(args)
    revision = database.current_revision()
    database.dispose()
    print(f"database at revision {revision}")
    return EXIT_OK


def server_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///FILE or postgresql+psycopg://USER@HOST/DB "
        f"(default: ${DB_ENVIRONMENT}, else server.sqlite in the home folder)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8470, help="port to listen on (8470)")
    parser.add_argument("--tls-cert", type=Path, metavar="FILE", help="PEM certificate (chain)")
    parser.add_argument("--tls-key", type=Path, metavar="FILE", help="PEM private key")
    parser.add_argument("--storage", metavar="DIR", help="folder for shared case files")
    parser.add_argument(
        "--token-hours", type=float, default=12.0, help="lifetime of a sign-in (12 h)"
    )
    parser.add_argument(
        "--max-file-mb", type=int, default=2048, help="largest shared file, MiB (2048)"
    )
    parser.add_argument(
        "--max-share-mb", type=int, default=51200, help="largest shared case, MiB (51200)"
    )
    actions = parser.add_subparsers(dest="server_command", metavar="ADMIN_COMMAND")
    db_option = argparse.ArgumentParser(add_help=False)
    db_option.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help="database URL")

    def add(name: str, help_text: str, action: Any) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text, parents=[db_option])
        sub.set_defaults(action=action)
        return sub

    sub = add("create-site", "create a site (hospital)", _create_site)
    sub.add_argument("name")
    sub = add("create-user", "create a user of a site", _create_user)
    sub.add_argument("username")
    sub.add_argument("--site", required=True, help="the site's name")
    sub.add_argument("--role", choices=("radiologist", "admin"), default="radiologist")
    sub.add_argument("--display-name", help="name shown to colleagues")
    sub.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub = add("set-password", "change a user's password (signs them out)", _set_password)
    sub.add_argument("username")
    sub.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub = add("disable-user", "disable a user (signs them out)", _set_active(False))
    sub.add_argument("username")
    sub = add("enable-user", "enable a disabled user", _set_active(True))
    sub.add_argument("username")
    sub = add("list-sites", "list the sites", _list_sites)
    sub.add_argument("--json", action="store_true")
    sub = add("list-users", "list the users", _list_users)
    sub.add_argument("--site", help="only this site's users")
    sub.add_argument("--json", action="store_true")
    sub = add("audit", "show the latest audit events", _audit)
    sub.add_argument("--limit", type=int, default=100)
    sub.add_argument("--json", action="store_true")
    add("migrate", "create or upgrade the database schema, then exit", _migrate)
