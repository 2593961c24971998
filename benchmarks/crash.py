"""SIGKILL the annotation server under load, and an import midway: is anything lost?

Server trial: ``labelloop serve`` runs as a subprocess on a free loopback port; a few client
threads claim and submit answers; at a random moment the server gets SIGKILL. Then:
SQLite's ``PRAGMA integrity_check`` must say ok, the restarted server must answer the
clients' first requests without a 5xx, and every answer the server acknowledged (2xx) must
be stored with the label that was sent.

Import trial: ``labelloop import`` of a large JSONL file gets SIGKILL once it has started
writing; the project must then hold none of the file's items or all of them, and importing
the file again must leave exactly all of them.

Run ``python benchmarks/crash.py --trials 20`` (add ``--postgres URL`` for PostgreSQL too);
the results are appended to ``benchmarks/results/crash.md``. ``tests/reliability/test_crash.py``
runs a few trials of the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "crash.md"
LABELS = ("ham", "spam")
API = "/api/v1"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("LABELLOOP_SECRET", secrets.token_urlsafe(36))
    env["HF_HUB_OFFLINE"] = "1"
    return env


def cli(*args: str) -> list[str]:
    """The command line of ``labelloop ARGS`` with this checkout's source."""
    return [sys.executable, "-c", "from labelloop.cli.app import main; main()", *args]


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    """A project folder with items and annotators holding API tokens."""

    folder: Path
    db: str | None
    project_id: int
    tokens: dict[int, str]  # user id -> token


def make_world(folder: Path, *, db: str | None = None, items: int = 400,
               annotators: int = 4) -> World:
    """Create a text project (overlap 1) with ``items`` items and ``annotators`` users."""
    from argon2 import PasswordHasher

    from labelloop.core.records import ItemRecord
    from labelloop.services.project import Project
    from labelloop.services.users import Users

    p = Project.create(folder, task="text-classification", labels=list(LABELS), db=db,
                       settings={"overlap": 1})
    with p:
        p.store.import_records(p.id, [ItemRecord(data={"text": f"comment {i} on the video"})
                                      for i in range(items)])
        users = Users(p.store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        tokens = {}
        for i in range(annotators):
            user, _ = users.add(f"annotator{i}", "annotator", secrets.token_urlsafe(16))
            tokens[user.id or 0] = users.create_token(user.id or 0, "crash")
        return World(folder, db, p.id, tokens)


class Server:
    """``labelloop serve`` in a subprocess on a free loopback port."""

    def __init__(self, world: World, *, ready_s: float = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            cli("serve", str(world.folder), "--host", "127.0.0.1", "--port", str(self.port)),
            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + ready_s
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"labelloop serve exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(f"{self.url}{API}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"labelloop serve did not answer within {ready_s} s")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stderr:
            self.proc.stderr.close()


@dataclass
class CrashResult:
    """What one server trial saw."""

    killed_after_s: float
    acknowledged: int
    stored: int
    lost: list[tuple[int, int]] = field(default_factory=list)  # (user id, item id)
    errors_before_kill: int = 0  # 5xx answers under load
    errors_after_restart: list[str] = field(default_factory=list)
    integrity: str = ""

    @property
    def ok(self) -> bool:
        return (not self.lost and self.errors_before_kill == 0
                and not self.errors_after_restart and self.integrity in ("ok", "n/a"))


def _annotate(url: str, world: World, uid: int, rng: random.Random, stop: threading.Event,
              acks: list[tuple[int, int, int]], errors: list[int]) -> None:
    """Claim and answer until ``stop`` or the server goes away; log acknowledged answers."""
    headers = {"Authorization": f"Bearer {world.tokens[uid]}"}
    base = f"{url}{API}/projects/{world.project_id}"
    with httpx.Client(headers=headers, timeout=10) as client:
        while not stop.is_set():
            try:
                r = client.post(f"{base}/queue/next")
                if r.status_code >= 500:
                    errors.append(r.status_code)
                    continue
                task = r.json().get("task") if r.status_code == 200 else None
                if task is None:
                    return
                item = int(task["item"]["id"])
                label = rng.randrange(len(LABELS))
                r = client.put(f"{base}/items/{item}/annotation",
                               json={"label": LABELS[label]})
                if 200 <= r.status_code < 300:
                    acks.append((uid, item, label))
                elif r.status_code >= 500:
                    errors.append(r.status_code)
            except httpx.HTTPError:
                return  # killed: whatever was not acknowledged may be lost


def _first_requests(url: str, world: World) -> list[str]:
    """Every annotator's first calls after the restart; the 5xx among them."""
    bad = []
    base = f"{url}{API}/projects/{world.project_id}"
    for token in world.tokens.values():
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            calls = [("GET", f"{url}{API}/me", None), ("POST", f"{base}/queue/next", None)]
            for method, path, body in calls:
                r = client.request(method, path, json=body)
                if r.status_code >= 500:
                    bad.append(f"{method} {path}: {r.status_code}")
                if path.endswith("/queue/next") and r.status_code == 200 and r.json()["task"]:
                    item = r.json()["task"]["item"]["id"]
                    r = client.put(f"{base}/items/{item}/annotation", json={"label": "ham"})
                    if r.status_code >= 500:
                        bad.append(f"PUT annotation after restart: {r.status_code}")
    return bad


def sqlite_integrity(folder: Path) -> str:
    """``PRAGMA integrity_check`` of the project's SQLite file (what a restart recovers)."""
    with sqlite3.connect(folder / "labelloop.db") as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def stored_labels(world: World) -> dict[tuple[int, int], int | None]:
    """(user id, item id) -> stored label of every annotator's answers."""
    from labelloop.services.project import Project

    out: dict[tuple[int, int], int | None] = {}
    with Project.open(world.folder) as p:
        for uid in world.tokens:
            sid = p.store.user_source_id(p.id, uid)
            if sid is None:
                continue
            for a in p.store.annotations(p.id, source_ids=[sid]):
                out[(uid, a.item_id)] = a.label
    return out


def crash_trial(world: World, *, seconds: float, rng: random.Random) -> CrashResult:
    """One server trial: load, SIGKILL at a random moment after the first acknowledged
    answer, checks, restart, checks."""
    server = Server(world)
    stop = threading.Event()
    acks: list[tuple[int, int, int]] = []
    errors: list[int] = []
    threads = [threading.Thread(target=_annotate, daemon=True,
                                args=(server.url, world, uid, random.Random(rng.random()),
                                      stop, acks, errors)) for uid in world.tokens]
    for t in threads:
        t.start()
    # the random moment counts from the first acknowledged answer: on a loaded machine the
    # first answers can take longer than the whole window, and a kill before any answer
    # tests nothing
    waited = time.monotonic() + 60
    while not acks and not errors and time.monotonic() < waited:
        time.sleep(0.02)
    killed_after = rng.uniform(0.2, seconds)
    time.sleep(killed_after)
    server.kill()
    stop.set()
    for t in threads:
        t.join(15)
    result = CrashResult(killed_after, len(acks), 0, errors_before_kill=len(errors))
    result.integrity = "n/a" if world.db else sqlite_integrity(world.folder)
    server = Server(world)
    try:
        result.errors_after_restart = _first_requests(server.url, world)
    finally:
        server.stop()
    stored = stored_labels(world)
    for uid, item, label in acks:
        if stored.get((uid, item)) != label:
            result.lost.append((uid, item))
    result.stored = len(acks) - len(result.lost)
    return result


@dataclass
class ImportResult:
    """What one interrupted import left."""

    rows: int
    killed: bool  # False: the import finished before the signal
    items_after_kill: int
    items_after_retry: int

    @property
    def ok(self) -> bool:
        return self.items_after_kill in (0, self.rows) and self.items_after_retry == self.rows


def write_jsonl(path: Path, rows: int) -> Path:
    """A JSONL file of ``rows`` distinct texts."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            fh.write(json.dumps({"text": f"imported row {i}: " + "lorem ipsum " * 8}) + "\n")
    return path


def _count(folder: Path) -> int:
    from labelloop.services.project import Project

    with Project.open(folder) as p:
        return p.store.count_items(p.id)


def _writing(folder: Path, db: str | None, started: float) -> bool:
    """Whether the import has begun writing (SQLite: its WAL grows; else after 1 s)."""
    if db is not None:
        return time.monotonic() - started > 1.0
    wal = folder / "labelloop.db-wal"
    return wal.exists() and wal.stat().st_size > 64 * 1024


def import_trial(folder: Path, data: Path, rows: int, *, db: str | None = None,
                 rng: random.Random, limit_s: float = 120) -> ImportResult:
    """Import ``data`` and SIGKILL it at a random moment after it starts writing."""
    from labelloop.services.project import Project

    Project.create(folder, task="text-classification", labels=list(LABELS), db=db).close()
    before = _count(folder)
    proc = subprocess.Popen(cli("import", str(data), "-p", str(folder)), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    deadline = started + limit_s
    while proc.poll() is None and not _writing(folder, db, started):
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the import did not start writing in time")
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    after_kill = _count(folder) - before
    retry = subprocess.run(cli("import", str(data), "-p", str(folder)), env=_env(),
                           capture_output=True, timeout=limit_s, check=False)
    if retry.returncode != 0:
        raise RuntimeError(f"the second import failed: {retry.stderr.decode()[-500:]}")
    return ImportResult(rows, killed, after_kill, _count(folder) - before)


def _postgres_folder_db(url: str, name: str) -> str:
    """A fresh schema in the PostgreSQL database ``url`` for one trial."""
    import psycopg

    raw = url.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{name}"


def _append(text: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text("# SIGKILL and interrupted imports (benchmarks/crash.py)\n\n"
                           "Each server trial kills `labelloop serve` under load at a random "
                           "moment and restarts it; each import trial kills `labelloop "
                           "import` once it writes.\n", encoding="utf-8")
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(text)
    print(text, flush=True)


def run_backend(name: str, url: str | None, tmp: Path, data: Path,
                args: argparse.Namespace, rng: random.Random) -> str:
    """All trials on one database; the markdown rows of their results."""
    results = []
    for t in range(args.trials):
        db = None if url is None else _postgres_folder_db(url, f"crash_{t}_{secrets.token_hex(3)}")
        results.append(crash_trial(make_world(tmp / f"{name}-s{t}", db=db),
                                   seconds=args.seconds, rng=rng))
        r = results[-1]
        print(f"{name} trial {t}: killed after {r.killed_after_s:.2f} s, {r.acknowledged} "
              f"acknowledged, lost {len(r.lost)}, 5xx {r.errors_before_kill}, after restart "
              f"{r.errors_after_restart}, integrity {r.integrity}", flush=True)
    imps = []
    for t in range(args.import_trials):
        db = None if url is None else _postgres_folder_db(url, f"imp_{t}_{secrets.token_hex(3)}")
        imps.append(import_trial(tmp / f"{name}-i{t}", data, args.rows, db=db, rng=rng))
        print(f"{name} import {t}: {imps[-1]}", flush=True)
    return "\n".join([
        "| database | trials | acknowledged | lost | 5xx under load | 5xx after restart "
        "| integrity not ok | all ok |", "|---|---|---|---|---|---|---|---|",
        f"| {name} | {len(results)} | {sum(r.acknowledged for r in results)} "
        f"| {sum(len(r.lost) for r in results)} | {sum(r.errors_before_kill for r in results)} "
        f"| {sum(len(r.errors_after_restart) for r in results)} "
        f"| {sum(r.integrity not in ('ok', 'n/a') for r in results)} "
        f"| {sum(r.ok for r in results)}/{len(results)} |", "",
        "| database | import trials (killed midway) | rows | partial imports "
        "| retry not complete |", "|---|---|---|---|---|",
        f"| {name} | {len(imps)} ({sum(i.killed for i in imps)}) | {args.rows} "
        f"| {sum(i.items_after_kill not in (0, i.rows) for i in imps)} "
        f"| {sum(i.items_after_retry != i.rows for i in imps)} |", ""])


def main() -> None:
    """Run the trials; append a results table per database to benchmarks/results/crash.md."""
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=4.0, help="longest load before SIGKILL")
    ap.add_argument("--import-trials", type=int, default=5)
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--postgres", help="also run on this PostgreSQL URL")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if args.postgres:
        backends.append(("PostgreSQL", args.postgres))
    with tempfile.TemporaryDirectory() as tmp:
        data = write_jsonl(Path(tmp) / "big.jsonl", args.rows)
        for name, url in backends:
            table = run_backend(name, url, Path(tmp), data, args, rng)
            _append(f"\n## {name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, seed {args.seed}, "
                    f"{args.trials} trials, {os.cpu_count()} CPU(s)\n\n{table}")


if __name__ == "__main__":
    main()
