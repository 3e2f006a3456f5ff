"""Many kiosks on one server (issue 34): concurrent clients against `facedb serve`
over a synthetic gallery (benchmarks/synth.py, realistic; the shared faces' real
embeddings are its first people), verifying with images (kiosk keys) or with
embeddings computed at the edge (device keys). Throughput, p50/p99, 5xx, and whether
every accepted attempt was recorded exactly once (cooldown 0: every accept is a row;
the rows' event ids must be exactly those the answers say were logged).

    python -m benchmarks.load_test --size 100000 --clients 20,50,100 --seconds 20 \\
        --workers 2 --keep benchmarks/cache/galleries --json benchmarks/results/load_100k.json
    python -m benchmarks.load_test --gallery isotropic --size 100000 --exact 500 \\
        --clients 0 --keep benchmarks/cache/galleries
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text

from benchmarks.common import FACES, WEIGHTS, cpu_model, percentile
from benchmarks.galleries import gallery_database, kept_gallery, prewarm
from benchmarks.synth import Gallery, real_embeddings
from benchmarks.two_stage import decide, exact
from facedb import access
from facedb.config import Settings
from facedb.service import FaceService

STARTUP_S = 180


@dataclass(frozen=True)
class Answer:
    status: int
    ms: float
    logged: bool
    accepted: bool
    event_id: str | None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _celeba_images(per_identity: int = 1) -> list[Path]:
    """One photo of each CelebA identity of the shared faces (all are in the gallery)."""
    seen: dict[str, int] = {}
    chosen = []
    with (FACES / "manifest.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            who = row["identity"]
            if row["path"].startswith("celeba/") and seen.get(who, 0) < per_identity:
                seen[who] = seen.get(who, 0) + 1
                chosen.append(FACES / row["path"])
    return chosen


class Server:
    def __init__(self, url: str, home: Path, workers: int) -> None:
        self.port = _free_port()
        self.log = (home / "serve.log").open("w")
        env = {
            **os.environ,
            "FACEDB_DATABASE_URL": url,
            "FACEDB_HOME": str(home),
            "FACEDB_WEIGHTS": str(WEIGHTS),
            "FACEDB_COOLDOWN": "0",
            "FACEDB_EVIDENCE": "off",
            # Capacity is measured, not the per-key limit (60 a minute by default).
            "FACEDB_VERIFY_RATE_LIMIT": "0",
        }
        command = ["serve", "--port", str(self.port), "--workers", str(workers)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facedb.cli", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"facedb serve exited; see {home / 'serve.log'}")
            try:
                if httpx.get(f"{self.base}/v1/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise SystemExit("facedb serve did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _drive(
    clients: int, seconds: float, request: Callable[[httpx.Client, int], httpx.Response]
) -> list[Answer]:
    """``clients`` threads, each sending requests one after another for ``seconds``."""
    answers: list[Answer] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        with httpx.Client(timeout=120) as http:
            i = index
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                response = request(http, i)
                ms = (time.perf_counter() - t0) * 1000
                body = response.json() if response.status_code == 200 else {}
                with lock:
                    answers.append(
                        Answer(
                            response.status_code,
                            ms,
                            bool(body.get("logged")),
                            body.get("decision") == "accepted",
                            body.get("event_id"),
                        )
                    )
                i += clients

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _summary(answers: list[Answer], seconds: float, rows: dict[str, int]) -> dict[str, Any]:
    ok = [a for a in answers if a.status == 200]
    logged = [a.event_id for a in ok if a.logged and a.event_id]
    accepted = [a.event_id for a in ok if a.accepted and a.event_id]
    return {
        "requests": len(answers),
        "per_second": len(answers) / seconds,
        "p50_ms": percentile([a.ms for a in answers], 50),
        "p99_ms": percentile([a.ms for a in answers], 99),
        "status": {
            str(s): sum(a.status == s for a in answers) for s in {a.status for a in answers}
        },
        "server_errors": sum(a.status >= 500 for a in answers),
        "accepted": sum(a.accepted for a in ok),
        "accepted_not_logged": sum(a.accepted and not a.logged for a in ok),
        "rows": len(rows),
        "looks": sum(rows.values()),
        # Each logged answer is a row of its own, each other answer naming a row one
        # more look on it (a kiosk's presence joins a repeated look to the row it
        # continues); no row answers nobody; a 422 (no usable face) is no row.
        "recorded_once": set(accepted) <= set(rows)
        and set(rows) == set(logged)
        and len(set(logged)) == len(logged)
        and sum(rows.values()) == sum(a.event_id in rows for a in ok),
    }


def _rows(engine: Any, device: str) -> dict[str, int]:
    """The device's attendance rows: event id -> looks (a kiosk's repeated look at the
    same person joins the row it continues, as one more look)."""
    with engine.connect() as conn:
        return {
            str(r[0]): int(r[1])
            for r in conn.execute(
                text("SELECT event_id, looks FROM attendance WHERE device = :d"), {"d": device}
            )
        }


def _warm(base: str, service: FaceService, model: str, probe: Any, image: str) -> None:
    """A few verifications of each kind before the timed runs: the first decisions of a
    worker load its models and the gallery's calibration (a minute at 100,000 faces),
    which the timed runs would otherwise wait for."""
    token = access.create_key(service, f"warm-{time.strftime('%H%M%S')}", "kiosk").token
    device = access.create_key(service, f"warm-device-{time.strftime('%H%M%S')}", "device")
    with httpx.Client(timeout=600) as http:
        for _ in range(4):
            http.post(
                f"{base}/v1/verify",
                headers={"Authorization": f"Bearer {device.token}"},
                json={"embedding": np.asarray(probe, dtype=float).tolist(), "model": model},
            )
            http.post(
                f"{base}/v1/verify",
                headers={"Authorization": f"Bearer {token}"},
                json={"images": [image]},
            )


def _exact_check(base: str, token: str, model: str, g: Gallery, n: int) -> dict[str, Any]:
    """Sends ``n`` genuine and ``n`` impostor embeddings to POST /v1/verify one at a time
    and compares each answer's decision (and person) with exact search's, in numpy, at
    the threshold the answer states."""
    probes = np.concatenate([g.genuine_probes[:n], g.impostor_probes[:n]]).astype(np.float32)
    truth, _ = exact(g, probes)
    margin = Settings.load({}).margin
    differ = [0, 0]
    with httpx.Client(timeout=120) as http:
        for i, (probe, matches) in enumerate(zip(probes, truth, strict=True)):
            body = {"embedding": probe.tolist(), "model": model}
            response = http.post(
                f"{base}/v1/verify", headers={"Authorization": f"Bearer {token}"}, json=body
            )
            if response.status_code != 200:
                raise SystemExit(f"POST /v1/verify: {response.status_code} {response.text}")
            answer = response.json()
            person = answer.get("person")
            got = (answer["decision"], int(person.split("-")[1]) if person else -1)
            differ[i >= n] += got != decide(matches, float(answer["threshold"]), margin)
    return {"probes": n, "differ_genuine": differ[0], "differ_impostor": differ[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="faces in the gallery")
    parser.add_argument("--clients", default="20", help="concurrent clients, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="per run")
    parser.add_argument("--workers", type=int, default=2, help="facedb serve --workers")
    parser.add_argument("--modes", default="embedding,images")
    parser.add_argument("--gallery", default="realistic", choices=("realistic", "isotropic"))
    parser.add_argument(
        "--exact",
        type=int,
        default=0,
        help="first send this many genuine and as many impostor embeddings one at a time "
        "and compare each answer with exact search's decision at the threshold it states",
    )
    parser.add_argument("--keep", type=Path, default=None, help="as benchmarks.two_stage")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    real = real_embeddings()
    g = kept_gallery(args.gallery, args.size, 500, args.keep)
    named = [v for v, who in zip(real.vectors, real.identity, strict=True) if who]
    probes = [*named[:250], *g.impostor_probes[:250]]  # enrolled people and strangers
    images = [base64.b64encode(p.read_bytes()).decode() for p in _celeba_images()]
    result: dict[str, Any] = {
        "gallery": args.gallery,
        "size": args.size,
        "workers": args.workers,
        "seconds": args.seconds,
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores ({cpu_model()})",
        "runs": [],
    }
    run_tag = time.strftime("%H%M%S")  # a kept gallery is used again: new key names
    with gallery_database(args.gallery, args.size, g, args.keep) as (database, built):
        result.update(built)
        result["prewarm_s"] = prewarm(database.engine)
        home = Path(tempfile.mkdtemp(prefix="facedb-load-"))
        settings = Settings.load({"database_url": database.libpq_url, "home": str(home)})
        service = FaceService(settings)
        model = settings.embedder
        server = Server(database.libpq_url, home, args.workers)
        try:
            if args.exact:
                token = access.create_key(service, f"exact-{run_tag}", "device").token
                result["exact"] = _exact_check(server.base, token, model, g, args.exact)
                print(json.dumps(result["exact"]), file=sys.stderr)
            _warm(server.base, service, model, probes[0], images[0])
            for clients in (int(c) for c in args.clients.split(",") if int(c) > 0):
                for mode in args.modes.split(","):
                    role = "device" if mode == "embedding" else "kiosk"
                    name = f"{mode}-{clients}-{run_tag}"
                    token = access.create_key(service, name, role).token
                    auth = {"Authorization": f"Bearer {token}"}

                    def request(http: httpx.Client, i: int, mode: str = mode) -> httpx.Response:
                        url = f"{server.base}/v1/verify"
                        if mode == "embedding":
                            vector = np.asarray(probes[i % len(probes)], dtype=float)
                            body = {"embedding": vector.tolist(), "model": model}
                            return http.post(url, headers=auth, json=body)  # noqa: B023
                        body = {"images": [images[i % len(images)]]}
                        return http.post(url, headers=auth, json=body)  # noqa: B023

                    answers = _drive(clients, args.seconds, request)
                    run = {
                        "mode": mode,
                        "clients": clients,
                        **_summary(answers, args.seconds, _rows(database.engine, name)),
                    }
                    print(json.dumps(run), file=sys.stderr)
                    result["runs"].append(run)
        finally:
            server.stop()
            service.close()
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
