"""The HTTP service's cost: requests per second through ``lifecycle serve`` against the same work
through the engine in-process, 16 concurrent clients, on SQLite and PostgreSQL, in the same run.

Two workloads, each over its own pool of assets (created and uploaded in-process first, UNACTIVED):

* ``show``: each client reads a random asset of a pool of 64. HTTP: ``GET
  /v1/{project_id}/digital-assets/{asset_id}`` (the SDK's ``show_asset``), signed; in-process:
  ``get_asset``.
* ``pair``: each client owns one asset and activates then deactivates it, a pair per iteration.
  HTTP: two ``PUT /v1/{project_id}/digital-assets/{asset_id}`` with ``asset_state`` ACTIVED then
  UNACTIVED (the SDK's ``update_digital_asset``: the move, then a read of the asset, which the
  SDK's response carries); in-process: ``activate`` and ``deactivate``.

Three sides, in the same run: the service as ``lifecycle serve`` in its own process (one uvicorn
worker, its sweeps on), as deployed; in-process, 16 threads sharing one ``Lifecycle`` (sync); and
in-process, 16 tasks sharing one ``AsyncLifecycle`` on one event loop, the facade the service
runs on, so that the HTTP layer's own cost (HTTP/async) is told apart from the async facade's
(async/sync). The HTTP clients are 16
threads, each with one keep-alive connection, signing every request SDK-HMAC-SHA256 with the
service's own signer (``lifecycle.server.signing.sign``, the SDK's algorithm) rather than the SDK
client, whose own per-request cost would be measured along with the service's. The machine's 2
cores are shared by the clients, the service and the database.

Rounds alternate (in-process, HTTP, …) after a warm-up of each; each round runs ``--seconds``; a
side's figure is its median round. The ratios recorded are HTTP requests/s over in-process calls/s,
against each in-process side (for ``pair``: pairs/s over pairs/s): what the HTTP layer keeps of
the engine's throughput.

Run: ``.venv/bin/python bench/server.py [--seconds S] [--rounds R] [--clients N] [--only sqlite|postgresql]
[--postgres-url URL] [--json PATH]``. PostgreSQL's lifecycle tables are dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from benchdb import database_options, each_backend, target, verdict
from sqlalchemy import Engine

from lifecycle.actors import System, Tenant
from lifecycle.aio import AsyncLifecycle
from lifecycle.definition import AssetType, FileCategory, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.server.signing import DATE_FORMAT, ReceivedRequest, sign

T = TypeVar("T")
SIDES = ("engine", "async", "http")
PROJECT = "bench-tenant"
TENANT = Tenant(PROJECT)
AK, SK = "BENCHAK000000000000001", "bench-secret"
SHOW_POOL = 64
MD5 = "OLjCwQk90P7Dg6nZrJQFFQ=="


def make_assets(lifecycle: Lifecycle, count: int, name: str) -> list[str]:
    ids = []
    for number in range(count):
        asset = lifecycle.create_asset(
            TENANT,
            NewAsset(f"{name} {number}", AssetType.IMAGE, [NewFile("a.png", 1000, MD5, FileCategory.MAIN)]),
        )
        lifecycle.confirm_upload(
            TENANT,
            asset.asset_id,
            asset.main_file.file_id,
            UploadResult.CREATED,
            file_size=1000,
            file_md5=MD5,
        )
        ids.append(asset.asset_id)
    return ids


class Service:
    """``lifecycle serve`` on a free port, until ``stop``."""

    def __init__(self, database_url: str, scratch: Path) -> None:
        keys = scratch / "keys.json"
        keys.write_text(json.dumps([{"ak": AK, "sk": SK, "project_id": PROJECT}]))
        command = [
            sys.executable, "-m", "lifecycle.cli", "--db", database_url, "serve", "--port", "0",
            "--access-keys", str(keys), "--uploads", str(scratch / "uploads"),
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - this Python, running the package's own script
            command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        if not line.startswith("serving on http://"):
            raise SystemExit(f"lifecycle serve did not start: {line}{self.process.stderr.read()}")
        self.host, port = line.split()[2].rstrip(";").removeprefix("http://").split(":")
        self.port = int(port)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=60)


class Client:
    """One keep-alive connection, every request signed."""

    def __init__(self, service: Service) -> None:
        self.host = f"{service.host}:{service.port}"
        self.connection = http.client.HTTPConnection(service.host, service.port, timeout=60)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {
            "content-type": "application/json",
            "host": self.host,
            "x-sdk-date": datetime.now(UTC).strftime(DATE_FORMAT),
        }
        unsigned = ReceivedRequest(method, path, "", list(headers.items()), data)
        self.connection.request(method, path, body=data, headers={**headers, **sign(unsigned, AK, SK)})
        response = self.connection.getresponse()
        response.read()
        return response.status


class AsyncSide:
    """An ``AsyncLifecycle`` on an event loop of its own thread; rounds of concurrent tasks."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.engine: AsyncLifecycle = self.run(self._open(database_url))

    @staticmethod
    async def _open(database_url: str) -> AsyncLifecycle:
        return AsyncLifecycle(database_url)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def round(
        self, clients: int, seconds: float, work: Callable[[int], Callable[[], Awaitable[int]]]
    ) -> float:
        async def timed() -> float:
            done = [0] * clients
            began = time.perf_counter()
            end = began + seconds

            async def loop(number: int) -> None:
                step = work(number)
                while time.perf_counter() < end:
                    done[number] += await step()

            await asyncio.gather(*(loop(number) for number in range(clients)))
            return sum(done) / (time.perf_counter() - began)

        return self.run(timed())

    def close(self) -> None:
        self.run(self.engine.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)


def run_round(clients: int, seconds: float, work: Callable[[int], Callable[[], int]]) -> float:
    """``clients`` threads each calling its ``work(number)`` for ``seconds``: calls per second."""
    done = [0] * clients
    stop = threading.Event()
    start = threading.Barrier(clients + 1)

    def loop(number: int) -> None:
        step = work(number)
        start.wait()
        while not stop.is_set():
            done[number] += step()

    threads = [threading.Thread(target=loop, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - began)


def measure(database: Engine, args: argparse.Namespace) -> dict[str, Any]:
    url = database.url.render_as_string(hide_password=False)
    lifecycle = Lifecycle(database)
    pools = {
        "show": {side: make_assets(lifecycle, SHOW_POOL, f"show {side}") for side in SIDES},
        "pair": {side: make_assets(lifecycle, args.clients, f"pair {side}") for side in SIDES},
    }
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-server-") as scratch:
        service = Service(url, Path(scratch))
        in_loop = AsyncSide(url)
        try:
            results = {
                name: rounds(name, lifecycle, in_loop, service, pools[name], args)
                for name in ("show", "pair")
            }
        finally:
            in_loop.close()
            service.stop()
    report = lifecycle.verify_audit(System())
    lifecycle.close()
    return {**results, "clients": args.clients, "audit_clean": report.clean}


def rounds(
    workload: str,
    lifecycle: Lifecycle,
    in_loop: AsyncSide,
    service: Service,
    pool: dict[str, list[str]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    def engine_work(number: int) -> Callable[[], int]:
        pick = random.Random(number)
        if workload == "show":
            ids = pool["engine"]
            return lambda: (lifecycle.get_asset(TENANT, pick.choice(ids)), 1)[1]
        own = pool["engine"][number]

        def pair() -> int:
            lifecycle.activate(TENANT, own)
            lifecycle.deactivate(TENANT, own)
            return 1

        return pair

    def async_work(number: int) -> Callable[[], Awaitable[int]]:
        pick = random.Random(number)
        engine = in_loop.engine
        if workload == "show":
            ids = pool["async"]

            async def show() -> int:
                await engine.get_asset(TENANT, pick.choice(ids))
                return 1

            return show
        own = pool["async"][number]

        async def pair() -> int:
            await engine.activate(TENANT, own)
            await engine.deactivate(TENANT, own)
            return 1

        return pair

    def http_work(number: int) -> Callable[[], int]:
        pick = random.Random(number)
        client = Client(service)
        base = f"/v1/{PROJECT}/digital-assets"
        if workload == "show":
            ids = pool["http"]

            def show() -> int:
                status = client.request("GET", f"{base}/{pick.choice(ids)}")
                assert status == 200, status
                return 1

            return show
        own = pool["http"][number]

        def pair() -> int:
            for state in ("ACTIVED", "UNACTIVED"):
                status = client.request("PUT", f"{base}/{own}", {"asset_state": state})
                assert status == 200, status
            return 1

        return pair

    sides: dict[str, Callable[[float], float]] = {
        "engine": lambda seconds: run_round(args.clients, seconds, engine_work),
        "async": lambda seconds: in_loop.round(args.clients, seconds, async_work),
        "http": lambda seconds: run_round(args.clients, seconds, http_work),
    }
    for run in sides.values():
        run(args.warmup)
    figures: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side, run in sides.items():
            figures[side].append(run(args.seconds))
    rate = {side: statistics.median(figures[side]) for side in sides}
    unit = "pairs/s" if workload == "pair" else "requests/s"
    print(
        f"  {workload:<5} {args.clients} clients ({unit}): in-process sync {rate['engine']:8.1f},"
        f" async {rate['async']:8.1f}, HTTP {rate['http']:8.1f}"
        f"  (HTTP/sync {rate['http'] / rate['engine']:.2f}x, HTTP/async {rate['http'] / rate['async']:.2f}x)"
    )
    return {
        "unit": unit,
        **{f"{side}_per_s": round(rate[side], 1) for side in sides},
        **{f"{side}_rounds": [round(x, 1) for x in figures[side]] for side in sides},
        "ratio": rate["http"] / rate["engine"],
        "ratio_async": rate["http"] / rate["async"],
    }


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    clients = result["clients"]
    return [
        target(f"show_asset HTTP/in-process sync, {clients} clients", backend, result["show"]["ratio"]),
        target(
            f"show_asset HTTP/in-process async, {clients} clients", backend, result["show"]["ratio_async"]
        ),
        target(f"activate+deactivate HTTP/sync, {clients} clients", backend, result["pair"]["ratio"]),
        target(f"activate+deactivate HTTP/async, {clients} clients", backend, result["pair"]["ratio_async"]),
    ]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients on each side")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a round")
    parser.add_argument("--warmup", type=float, default=1.0, help="length of each side's warm-up round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side and workload")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one backend only")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--clients, --rounds and --seconds must be positive")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    results = each_backend(
        args,
        "server.db",
        lambda database: measure(database, args),
        targets=targets,
        pool_size=args.clients,
        max_overflow=0,
    )
    print()
    for backend, result in results.items():
        for entry in targets(backend, result):
            print(f"{backend:<11} {entry['measure']:<48} {entry['ratio']:>6.2f}x   {verdict(entry)}")
        print(f"{backend:<11} audit clean after the run: {result['audit_clean']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
