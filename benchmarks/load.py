"""Load benchmark: simulated annotators against a real ``labelloop serve`` on loopback.

Each run creates a fresh project (SQLite in a temporary folder, or a fresh PostgreSQL schema
that is dropped afterwards), imports ``--items`` text items, adds ``--annotators`` accounts
with API tokens, starts ``labelloop serve`` on 127.0.0.1 in a subprocess, lets one
annotator work alone for a few seconds (the service time without queueing), then lets one
thread per annotator loop ``POST queue/next`` -> ``PUT annotation`` until ``--seconds``
have passed (each loop is also bounded in count). Afterwards it reads the database and
compares what the server acknowledged with what is stored, and the most human answers plus
open claims any item has with the overlap.

Run it from the repository root (``--src`` picks the source tree the server runs, so the
same script measures an older checkout)::

    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/load.py --db sqlite --items 20000
    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/load.py --db postgres --items 20000

Every figure of one invocation comes from one run; ``--json`` appends it as a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOST = "127.0.0.1"  # loopback only, never another address
MAX_LOOPS = 100_000  # per annotator: a bound besides the clock
SOLO_S = 5.0  # one annotator alone first: the service time without queueing


@dataclass
class Result:
    """Every figure of one run."""

    db: str
    items: int
    annotators: int
    seconds: float
    overlap: int
    think_s: float = 0.0
    import_s: float = 0.0
    solo_next_ms: dict[str, float] = field(default_factory=dict)
    next_ms: dict[str, float] = field(default_factory=dict)
    submits: int = 0
    submits_per_s: float = 0.0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0
    stored: int = 0
    acknowledged_missing: int = 0
    max_taken: int = 0
    load_before: str = ""
    load_after: str = ""
    serve_args: str = ""


# -- setup (runs in a child process on the source tree under test) ------------------------
def _setup(folder: Path, db: str | None, n_items: int, n_users: int, overlap: int) -> None:
    """Create the project, import items, add annotators; print tokens as JSON."""
    from labelloop.core.records import ItemRecord
    from labelloop.services.project import Project
    from labelloop.services.users import Users

    p = Project.create(folder, task="text-classification", labels=["a", "b"], db=db,
                       name="load", settings={"overlap": overlap, "honeypot_rate": 0.0})
    t0 = time.perf_counter()
    batch = 100_000
    for start in range(0, n_items, batch):
        recs = [ItemRecord(data={"text": f"item {i} of the load benchmark"})
                for i in range(start, min(n_items, start + batch))]
        p.store.import_records(p.id, recs)
    import_s = time.perf_counter() - t0
    users = Users(p.store)
    users.ensure_admin()
    tokens = []
    for i in range(n_users):
        u, _ = users.add(f"annotator{i:03d}", "annotator", "load-benchmark-password")
        tokens.append(users.create_token(u.id or 0, "load"))
    p.close()
    print(json.dumps({"tokens": tokens, "project_id": p.id, "import_s": import_s}))


# -- orchestration ------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _uptime() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split(" ")[:3])


@contextmanager
def _database(kind: str, folder: Path) -> Any:
    """A fresh database URL (None: the project's own SQLite file); dropped afterwards."""
    if kind == "sqlite":
        yield None, f"sqlite:///{folder / 'labelloop.db'}"
        return
    import psycopg

    schema = f"load_{uuid.uuid4().hex[:10]}"
    raw = PG_URL.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        yield url, url
    finally:
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _serve(folder: Path, src: Path, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(src), "LABELLOOP_SECRET": "x" * 16 + uuid.uuid4().hex,
           "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", "from labelloop.cli.app import app; app()", "serve",
           str(folder), "--host", HOST, "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://{HOST}:{port}/api/v1/openapi.json", timeout=2)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise RuntimeError(f"server exited: {err}") from None
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


def _annotate(base: str, token: str, pid: int, deadline: float, think: float,
              out: dict[str, Any], lock: threading.Lock) -> None:
    """One annotator: next -> submit (-> think) until the deadline or the queue is done."""
    rng = random.Random(token)
    lat: list[float] = []
    acked: list[int] = []
    errors: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
        for _ in range(MAX_LOOPS):
            if time.monotonic() >= deadline:
                break
            try:
                t0 = time.perf_counter()
                r = c.post(f"/api/v1/projects/{pid}/queue/next")
                lat.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors[f"next {r.status_code}"] = errors.get(f"next {r.status_code}", 0) + 1
                    continue
                task = r.json()["task"]
                if task is None:
                    break
                item_id = task["item"]["id"]
                r = c.put(f"/api/v1/projects/{pid}/items/{item_id}/annotation",
                          json={"label": "a", "seconds": 1.0})
                if think:
                    time.sleep(min(rng.expovariate(1 / think), 10 * think))
                if r.status_code == 200:
                    acked.append(item_id)
                else:
                    errors[f"submit {r.status_code}"] = errors.get(f"submit {r.status_code}", 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    with lock:
        out["lat"].extend(lat)
        out["acked"].append((token, acked))
        for k, v in errors.items():
            out["errors"][k] = out["errors"].get(k, 0) + v


def _quantiles(lat: list[float]) -> dict[str, float]:
    if len(lat) < 2:
        return {}
    q = statistics.quantiles(sorted(lat), n=100, method="inclusive")
    return {"p50": round(q[49] * 1000, 1), "p95": round(q[94] * 1000, 1),
            "p99": round(q[98] * 1000, 1), "n": len(lat)}


def _verify(url: str, res: Result, acked: list[tuple[str, list[int]]],
            names: dict[str, str]) -> None:
    """Compare acknowledged answers with stored ones; the most any item is taken."""
    eng = create_engine(url)
    with eng.connect() as conn:
        stored = {(str(n), int(i)) for n, i in conn.execute(text(
            "SELECT u.name, a.item_id FROM annotations a JOIN sources s ON s.id = a.source_id "
            "JOIN users u ON u.id = s.user_id WHERE s.kind = 'human'"))}
        res.max_taken = int(conn.execute(text(
            "SELECT coalesce(max(n), 0) FROM (SELECT item_id, count(*) AS n FROM ("
            " SELECT a.item_id FROM annotations a JOIN sources s ON s.id = a.source_id"
            " WHERE s.kind = 'human' UNION ALL"
            " SELECT item_id FROM assignments WHERE state = 'claimed') t GROUP BY item_id) c"
        )).scalar() or 0)
    eng.dispose()
    want = {(names[tok], i) for tok, ids in acked for i in ids}
    res.acknowledged = len(want)
    res.stored = len(stored)
    res.acknowledged_missing = len(want - stored)


def run(args: argparse.Namespace) -> Result:
    """One complete run: setup, serve, load, stop, verify."""
    res = Result(args.db, args.items, args.annotators, args.seconds, args.overlap, args.think,
                 serve_args=args.serve_args)
    src = Path(args.src).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="labelloop-load-"))
    folder = tmp / "project"
    try:
        with _database(args.db, folder) as (db, url):
            env = {**os.environ, "PYTHONPATH": str(src)}
            cmd = [sys.executable, __file__, "_setup", str(folder), db or "",
                   str(args.items), str(args.annotators), str(args.overlap)]
            setup = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True,
                                              text=True).stdout.strip().splitlines()[-1])
            res.import_s = round(setup["import_s"], 1)
            print(f"imported {args.items} items in {res.import_s} s", file=sys.stderr)
            port = _free_port()
            server = _serve(folder, src, port, args.serve_args.split())
            try:
                out: dict[str, Any] = {"lat": [], "acked": [], "errors": {}}
                lock = threading.Lock()
                solo: dict[str, Any] = {"lat": [], "acked": [], "errors": {}}
                _annotate(f"http://{HOST}:{port}", setup["tokens"][0], setup["project_id"],
                          time.monotonic() + SOLO_S, 0.0, solo, lock)  # one user alone
                res.solo_next_ms = _quantiles(solo["lat"])
                out["acked"].extend(solo["acked"])  # verified with the rest
                res.load_before = _uptime()
                deadline = time.monotonic() + args.seconds
                t0 = time.monotonic()
                threads = [threading.Thread(
                    target=_annotate, args=(f"http://{HOST}:{port}", tok, setup["project_id"],
                                            deadline, args.think, out, lock), daemon=True)
                    for tok in setup["tokens"]]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(args.seconds + 60)
                elapsed = time.monotonic() - t0
                res.load_after = _uptime()
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(20)
                except subprocess.TimeoutExpired:
                    server.kill()
            res.next_ms = _quantiles(out["lat"])
            res.error_kinds = {**solo["errors"], **out["errors"]}
            res.errors = sum(res.error_kinds.values())
            res.submits = sum(len(ids) for _, ids in out["acked"][1:])  # [0]: the solo run
            res.submits_per_s = round(res.submits / elapsed, 1)
            names = {tok: f"annotator{i:03d}" for i, tok in enumerate(setup["tokens"])}
            _verify(url, res, out["acked"], names)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def main() -> None:
    """Parse arguments and run (or, internally, set a project up)."""
    if len(sys.argv) > 1 and sys.argv[1] == "_setup":
        folder, db, n, users, overlap = sys.argv[2:7]
        _setup(Path(folder), db or None, int(n), int(users), int(overlap))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--annotators", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--overlap", type=int, default=1)
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean pause of an annotator after each submit, seconds (0: none)")
    ap.add_argument("--src", default=str(ROOT / "src"), help="source tree the server runs")
    ap.add_argument("--serve-args", default="", help="extra options of labelloop serve")
    ap.add_argument("--json", type=Path, help="append the result as one JSON line here")
    args = ap.parse_args()
    res = run(args)
    line = json.dumps(asdict(res))
    print(line)
    if args.json:
        with args.json.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
