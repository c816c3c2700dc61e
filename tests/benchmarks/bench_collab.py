"""Collaboration server benchmark: operations accepted per second, push-to-notified latency.

Run on demand (not collected by pytest)::

    .venv/bin/python tests/benchmarks/bench_collab.py                 # SQLite, full
    .venv/bin/python tests/benchmarks/bench_collab.py --quick         # a smoke run
    .venv/bin/python tests/benchmarks/bench_collab.py --db postgresql+psycopg://postgres@127.0.0.1/test

With a PostgreSQL URL the benchmark creates a fresh database on that server (the URL's
database is only used to connect) and drops it at the end.

One server **process** (``workstation server``, uvicorn) serves a fresh database; the load
comes from this process over loopback HTTP, as workstations would send it.

- **Throughput**: ``--clients`` threads push ``--ops`` operations in batches of ``--batch``
  (new annotations and edits of them, each edit naming its base). Reported: operations
  acknowledged per second. Baseline measured in the same run: the same rows written
  straight into SQLite (``executemany``, one transaction per batch), the floor any server
  on that disk must stand on. Target: ≥ 2,000 operations/s on SQLite.
- **Latency**: ``--listeners`` websockets (one user each, same site) stay connected while one
  workstation pushes single operations; for every push and listener, the time from sending
  the push to that listener receiving the notification. Reported: p50/p99/max. Baseline:
  the HTTP round trip of ``/health`` in the same run. Target: p99 ≤ 100 ms with 50 clients.

Speed is never asserted; the script prints figures, ratios and targets (``--json OUT`` for
the samples).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from workstation.collab.server import admin
from workstation.collab.server.database import Database
from workstation.collab.server.testkit import FAST_HASHER, PASSWORD, ServerProcess, unique


def _annotation(study: str, number: int, label: str) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "kind": "length",
        "reference": {
            "study_instance_uid": study,
            "series_instance_uid": f"{study}.1",
            "frame_of_reference_uid": f"{study}.9",
            "sop_instance_uid": f"{study}.1.{number % 200 + 1}",
            "frame_number": None,
        },
        "points_lps_mm": [[0.0, 0.0, float(number)], [10.0, 5.0, float(number)]],
        "plane_normal": [0.0, 0.0, 1.0],
        "label": label,
        "text": "",
        "segment": None,
        "author": "bench",
        "created": "2025-01-01T00:00:00.000+00:00",
        "updated": "2025-01-01T00:00:00.000+00:00",
        "version": 1,
        "deleted": False,
        "values": {"length_mm": 11.18},
        "value_unit": "",
    }


def operations(count: int, study: str, edits_per_annotation: int = 3) -> list[dict[str, Any]]:
    """``count`` operations: annotations created, then edited, each edit based on the last."""
    out: list[dict[str, Any]] = []
    number = 0
    while len(out) < count:
        document = _annotation(study, number, f"finding {number}")
        previous = None
        for version in range(1, edits_per_annotation + 2):
            if len(out) >= count:
                break
            document = dict(document, version=version, label=f"finding {number} v{version}")
            op_id = str(uuid.uuid4())
            out.append(
                {
                    "op_id": op_id,
                    "kind": "annotation",
                    "base_revision": previous,
                    "annotation": document,
                }
            )
            previous = op_id
        number += 1
    return out


@contextlib.contextmanager
def fresh_database(url: str | None) -> Iterator[str | None]:
    """For a PostgreSQL URL, a new database on that server (dropped afterwards)."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"bench_collab_{uuid.uuid4().hex[:10]}"
    admin_info = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_info, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_info, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def raw_sqlite_floor(ops: list[dict[str, Any]], batch: int, folder: Path) -> float:
    """Operations/s when the same rows go straight into SQLite (WAL, synchronous=FULL)."""
    connection = sqlite3.connect(folder / "floor.sqlite", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute(
        "CREATE TABLE changes (sequence INTEGER PRIMARY KEY, uuid TEXT, revision TEXT UNIQUE, "
        "document TEXT)"
    )
    connection.execute("CREATE TABLE operations (op_id TEXT PRIMARY KEY, status TEXT)")
    started = time.perf_counter()
    sequence = 0
    for start in range(0, len(ops), batch):
        chunk = ops[start : start + batch]
        connection.execute("BEGIN IMMEDIATE")
        rows = []
        for op in chunk:
            sequence += 1
            rows.append(
                (sequence, op["annotation"]["uuid"], op["op_id"], json.dumps(op["annotation"]))
            )
        connection.executemany("INSERT INTO changes VALUES (?, ?, ?, ?)", rows)
        connection.executemany(
            "INSERT INTO operations VALUES (?, 'applied')", [(op["op_id"],) for op in chunk]
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return len(ops) / elapsed


def throughput(url: str, tokens: list[str], args: argparse.Namespace) -> dict[str, Any]:
    per_client = args.ops // len(tokens)
    loads = [
        operations(per_client, f"1.2.826.0.1.3680043.8.498.{i + 500}") for i in range(len(tokens))
    ]
    results: list[dict[str, Any]] = [{} for _ in tokens]
    barrier = threading.Barrier(len(tokens) + 1)

    def client(index: int) -> None:
        ops = loads[index]
        applied = 0
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens[index]}"}, timeout=60
        ) as http:
            barrier.wait()
            for start in range(0, len(ops), args.batch):
                body = {
                    "client_id": f"bench-{index}",
                    "operations": ops[start : start + args.batch],
                }
                response = http.post("/api/v1/sync/push", json=body)
                response.raise_for_status()
                applied += sum(r["status"] == "applied" for r in response.json()["results"])
        results[index] = {"applied": applied, "sent": len(ops)}

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    applied = sum(r["applied"] for r in results)
    sent = sum(r["sent"] for r in results)
    return {
        "operations": sent,
        "applied": applied,
        "seconds": elapsed,
        "ops_per_s": applied / elapsed,
        "all_ops": [op for load in loads for op in load],
    }


async def latency(
    url: str, tokens: list[str], pusher_token: str, args: argparse.Namespace
) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://") + "/api/v1/sync/live"
    received: list[dict[int, float]] = [{} for _ in tokens]
    ready = [asyncio.Event() for _ in tokens]
    stop = asyncio.Event()

    async def listen(index: int) -> None:
        async with connect(
            ws_url, additional_headers={"Authorization": f"Bearer {tokens[index]}"}, proxy=None
        ) as websocket:
            ready[index].set()
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(websocket.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.perf_counter()
                notice = json.loads(message)
                if notice.get("type") == "changes":
                    received[index].setdefault(int(notice["sequence"]), now)

    listeners = [asyncio.create_task(listen(i)) for i in range(len(tokens))]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 30)
    sent: dict[int, float] = {}
    round_trips: list[float] = []
    health: list[float] = []
    study = "1.2.826.0.1.3680043.8.498.999"
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {pusher_token}"}, timeout=30
    ) as http:
        for _ in range(20):
            started = time.perf_counter()
            await http.get("/api/v1/health")
            health.append(time.perf_counter() - started)
        for op in operations(args.pushes, study, edits_per_annotation=0):
            started = time.perf_counter()
            response = await http.post(
                "/api/v1/sync/push", json={"client_id": "pusher", "operations": [op]}
            )
            round_trips.append(time.perf_counter() - started)
            sent[int(response.json()["results"][0]["sequence"])] = started
            await asyncio.sleep(args.interval)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*listeners, return_exceptions=True)
    samples: list[float] = []
    missed = 0
    for per_listener in received:
        ordered = sorted(per_listener.items())
        for sequence, when_sent in sent.items():
            # The first notice naming this sequence or a later one (notices may coalesce).
            arrival = next((t for s, t in ordered if s >= sequence), None)
            if arrival is None:
                missed += 1
            else:
                samples.append(arrival - when_sent)
    return {
        "listeners": len(tokens),
        "pushes": len(sent),
        "samples_ms": [s * 1000 for s in samples],
        "missed": missed,
        "p50_ms": percentile(samples, 0.5) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "max_ms": max(samples) * 1000 if samples else float("nan"),
        "push_round_trip_p50_ms": percentile(round_trips, 0.5) * 1000,
        "push_round_trip_p99_ms": percentile(round_trips, 0.99) * 1000,
        "health_round_trip_p99_ms": percentile(health, 0.99) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--ops", type=int, default=20_000, help="operations to push (20000)")
    parser.add_argument("--batch", type=int, default=250, help="operations per push (250)")
    parser.add_argument("--clients", type=int, default=4, help="pushing threads (4)")
    parser.add_argument("--listeners", type=int, default=50, help="websocket clients (50)")
    parser.add_argument("--pushes", type=int, default=200, help="pushes timed for latency (200)")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between pushes")
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke run")
    parser.add_argument("--json", type=Path, help="write figures and samples here")
    args = parser.parse_args(argv)
    if args.quick:
        args.ops, args.pushes, args.listeners = 2000, 30, 10
    with (
        tempfile.TemporaryDirectory(prefix="bench-collab-") as tmp,
        fresh_database(args.db) as url_,
    ):
        folder = Path(tmp)
        url = url_ or f"sqlite:///{folder / 'server.sqlite'}"
        database = Database(url)
        database.migrate()
        site = unique("bench-site")
        with database.write() as connection:
            admin.create_site(connection, site, actor="bench")
            names = [
                admin.create_user(
                    connection,
                    unique("bench"),
                    PASSWORD,
                    site=site,
                    hasher=FAST_HASHER,
                    actor="bench",
                ).username
                for _ in range(max(args.clients, args.listeners) + 1)
            ]
            tokens = [admin.token_for(connection, name, 7200) for name in names]
        database.dispose()
        server = ServerProcess(url, folder / "files", home=folder).start()
        try:
            print(f"server: one process, {Database(url).describe()}", file=sys.stderr)
            pushed = throughput(server.url, tokens[: args.clients], args)
            floor = raw_sqlite_floor(pushed.pop("all_ops"), args.batch, folder)
            live = asyncio.run(latency(server.url, tokens[1 : args.listeners + 1], tokens[0], args))
        finally:
            server.stop()
    figures = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "database": "postgresql" if args.db and args.db.startswith("postgresql") else "sqlite",
        "clients": args.clients,
        "batch": args.batch,
        "throughput": pushed,
        "raw_sqlite_floor_ops_per_s": floor,
        "latency": live,
        "targets": {"ops_per_s": 2000, "p99_ms": 100},
    }
    rate = pushed["ops_per_s"]
    print(
        f"throughput: {rate:,.0f} operations/s accepted ({pushed['applied']}/{pushed['operations']}"
        f" applied in {pushed['seconds']:.2f} s, {args.clients} clients, batches of "
        f"{args.batch}); raw SQLite floor {floor:,.0f}/s → {rate / floor:.2f}× the floor; "
        f"target ≥ 2,000/s: {'met' if rate >= 2000 else 'NOT met'}"
    )
    print(
        f"latency, push → notified, {live['listeners']} clients × {live['pushes']} pushes: "
        f"p50 {live['p50_ms']:.1f} ms, p99 {live['p99_ms']:.1f} ms, max {live['max_ms']:.1f} ms "
        f"({live['missed']} missed; the push's own round trip p50 "
        f"{live['push_round_trip_p50_ms']:.1f} ms, p99 {live['push_round_trip_p99_ms']:.1f} ms); "
        f"/health round trip p99 "
        f"{live['health_round_trip_p99_ms']:.1f} ms → p99 is "
        f"{live['p99_ms'] / max(live['health_round_trip_p99_ms'], 1e-6):.1f}× it; "
        f"target p99 ≤ 100 ms: {'met' if live['p99_ms'] <= 100 else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
