"""Group keys for N students: the whole call, and the key sheet alone, from the real services.

    .venv/bin/python -m bench.documents_group_keys --students 500 --rounds 3 [--busy 2]

Starts an embedded NATS and PostgreSQL, and the keys and documents services as processes
(``aischool keys serve``, ``aischool documents serve``, logs at WARNING). Each round times
``POST /groups/{id}/keys`` for a new group of N linked students, as the Coding page calls it
(the keys, the sheet rendered by the documents service over NATS, the events appended), and
then a sheet of N cards asked of the documents service directly over NATS (the sheet alone).
With ``--busy K`` the same rounds run again while K processes spin on the CPU: the "other
work" a shared machine has. Prints wall times, the services' CPU time and the PDF's size and
pages; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from pypdf import PdfReader

from bench.documents_render import sample_request
from bench.process_cpu import cpu_seconds
from contracts.documents import STATUS_HEADER, STATUS_OK
from contracts.streams import RENDER_KEY_SHEET
from infra.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from infra.messaging import connect
from infra.supervisor import Stack

SCHOOL = {"school_id": "bench", "name": "Het Baken College", "time_zone": "Europe/Amsterdam"}


def directory(students: int, groups: int) -> dict[str, object]:
    """One school, ``groups`` groups of ``students`` linked students each."""
    users: list[dict[str, object]] = []
    classes: list[dict[str, object]] = []
    for g in range(groups):
        ids = [f"g{g}-s{n}" for n in range(students)]
        users += [
            {"user_id": user_id, "role": "student", "given_name": "Student"}
            | {"family_name": user_id, "school_ids": ["bench"], "account": f"{user_id}@x.example"}
            for user_id in ids
        ]
        classes.append(
            {"group_id": f"g{g}", "school_id": "bench", "name": f"Class {g}", "student_ids": ids}
        )
    return {"schools": [SCHOOL], "users": users, "groups": classes}


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy(processes: int) -> Iterator[None]:
    """``processes`` processes spinning on the CPU while the block runs."""
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(processes)]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join()


class Bench:
    def __init__(self, stack: Stack, nats_url: str, token: str) -> None:
        self.stack, self.nats_url = stack, nats_url
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{stack.ports['keys']}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        self.next_group = 0

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(p.pid) for name, p in self.stack.processes.items()}

    def group_keys(self, students: int) -> None:
        group, self.next_group = f"g{self.next_group}", self.next_group + 1
        cpu, started = self.cpu(), time.perf_counter()
        reply = self.http.post(
            f"/groups/{group}/keys", json={"budget_usd": "10.00", "renewal": "weekly"}
        )
        wall = time.perf_counter() - started
        used = {name: seconds - cpu[name] for name, seconds in self.cpu().items()}
        assert reply.status_code == 201, reply.text[:300]
        body = reply.json()
        pdf = base64.b64decode(body["sheet_pdf_base64"])
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        print(
            f"  POST /groups/{group}/keys: {len(body['issued'])} keys, {wall:.2f} s wall;"
            f" CPU keys {used['keys']:.2f} s, documents {used['documents']:.2f} s;"
            f" {pages} pages, {len(pdf) / 2**20:.2f} MiB"
        )

    async def sheet_alone(self, students: int) -> None:
        nc = await connect(self.nats_url, "bench-sheet")
        try:
            payload = sample_request(students).model_dump_json().encode()
            cpu, started = self.cpu(), time.perf_counter()
            reply = await nc.request(RENDER_KEY_SHEET, payload, timeout=120)
            wall = time.perf_counter() - started
            used = self.cpu()["documents"] - cpu["documents"]
        finally:
            await nc.close()
        assert (reply.headers or {}).get(STATUS_HEADER) == STATUS_OK, reply.data[:300]
        print(f"  sheet alone ({students} cards): {wall:.2f} s wall; CPU documents {used:.2f} s")


def start(root: Path, processes: int | None) -> tuple[Stack, EmbeddedNats, EmbeddedPostgres]:
    nats, postgres = EmbeddedNats(root / "nats"), EmbeddedPostgres(root / "pg" / "data")
    nats.start()
    postgres.start()
    os.environ.setdefault("AISCHOOL_LOG_LEVEL", "WARNING")
    if processes is not None:
        os.environ["AISCHOOL_RENDER_PROCESSES"] = str(processes)
    stack = Stack(root / "data", nats_url=nats.url, database_url=postgres.create_database("b"))
    stack.data_dir.mkdir(parents=True)
    (stack.data_dir / "logs").mkdir()
    stack.ports = {name: free_port() for name in ("gateway", "keys", "ledger", "documents")}
    try:
        # Only the two services of the call: no gateway or ledger taking CPU meanwhile.
        for name in ("keys", "documents"):
            stack.start_service(name)
            wait_ready(stack.ports[name])
    except BaseException:
        stack.stop()
        nats.stop()
        postgres.stop()
        raise
    return stack, nats, postgres


def wait_ready(port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} not ready after {timeout} s")


def main(args: argparse.Namespace) -> None:
    rounds_per_set = args.rounds + 1  # one warm-up call per set
    groups = rounds_per_set * (2 if args.busy else 1)
    with tempfile.TemporaryDirectory(prefix="bench-group-keys-") as folder:
        stack, nats, postgres = start(Path(folder), args.processes)
        try:
            bench = Bench(stack, nats.url, stack.bootstrap_admin() or "")
            for _ in range(100):  # the new token reaches the keys read model in a moment
                reply = bench.http.post("/directory", json=directory(args.students, groups))
                if reply.status_code != 401:
                    break
                time.sleep(0.1)
            assert reply.status_code == 200, reply.text[:300]
            print(f"{args.students} students a group; load average {os.getloadavg()[0]:.1f}")
            sets = [("quiet", 0)] + (
                [(f"{args.busy} busy processes", args.busy)] if args.busy else []
            )
            for label, spinners in sets:
                with busy(spinners):
                    print(f"{label} (load average {os.getloadavg()[0]:.1f}); warm-up first:")
                    for _ in range(rounds_per_set):
                        bench.group_keys(args.students)
                        asyncio.run(bench.sheet_alone(args.students))
            bench.http.close()
        finally:
            stack.stop()
            nats.stop()
            postgres.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--processes", type=int, default=None, help="AISCHOOL_RENDER_PROCESSES (default: 2)"
    )
    parser.add_argument(
        "--only-busy", action="store_true", help="skip the rounds without spinning processes"
    )
    parser.add_argument("--busy", type=int, default=0, help="also run with K spinning processes")
    main(parser.parse_args())
