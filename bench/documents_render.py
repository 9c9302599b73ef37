"""Render a key sheet of N students (default 500) and print how long it took.

    .venv/bin/python -m bench.documents_render [--students 500] [--processes 2] [--pdf out.pdf]

Renders the way the service does: parts in ``--processes`` worker processes (0: one thread
of this process), joined into one PDF. The pool is started and warmed first, as the service
does at start-up, so the figure is the time a request waits. Prints wall time, CPU time of
the workers, pages and size. Writes the PDF only when ``--pdf`` is given (for the PNGs in
docs/; the service never writes one).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader

from contracts.apikeys import generate_key, key_hint
from contracts.documents import KeyCard, KeySheetRequest
from contracts.events import Renewal
from services.documents.adapters.pool import make_render
from services.documents.domain.parsing import DocumentKind

FIRST = [
    "Noah",
    "Emma",
    "Daan",
    "Julia",
    "Sem",
    "Mila",
    "Lucas",
    "Tess",
    "Finn",
    "Sara",
    "Levi",
    "Zoë",
    "Bram",
    "Anna",
    "Milan",
    "Fleur",
    "Jesse",
    "Lotte",
    "Thijs",
    "Yara",
]
LAST = [
    "de Vries",
    "Jansen",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Dijk",
    "El Amrani",
]


def sample_request(students: int, language: str = "en") -> KeySheetRequest:
    """A realistic group sheet: Dutch school, weekly $10 budget, one school year."""
    cards = []
    for index in range(students):
        key = generate_key()
        name = f"{FIRST[index % len(FIRST)]} {LAST[(index * 7) % len(LAST)]}"
        cards.append(KeyCard(name=name, key=key, key_hint=key_hint(key)))
    return KeySheetRequest(
        language="nl" if language == "nl" else "en",
        school_name="Het Baken College",
        time_zone="Europe/Amsterdam",
        group_name="4 VWO b",
        issued_at=datetime(2026, 9, 1, 7, 30, tzinfo=UTC),
        budget_micro_usd=10_000_000,
        renewal=Renewal.WEEKLY,
        valid_from=datetime(2026, 8, 31, 22, 0, tzinfo=UTC),
        valid_until=datetime(2027, 7, 16, 21, 59, tzinfo=UTC),
        base_url="https://coding.hetbaken.nl/v1",
        model="qwen3-coder",
        cards=tuple(cards),
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def main(
    students: int, processes: int, rounds: int, pdf_path: Path | None, lang: str
) -> None:
    request = sample_request(students, lang)
    render = make_render(processes)
    started = time.perf_counter()
    await render.warm()
    print(f"warm-up ({processes} processes): {time.perf_counter() - started:.2f} s")
    pdf = b""
    for _ in range(rounds):
        cpu, started = time.process_time(), time.perf_counter()
        pdf = await render.pdf(request, DocumentKind.SHEET)
        wall = time.perf_counter() - started
        print(f"{students} students: {wall:.2f} s wall, CPU {time.process_time() - cpu:.2f} s here")
    render.close()  # workers exit here, so their CPU time is counted below
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    print(f"workers' CPU over all rounds: {_children_cpu():.2f} s")
    print(f"{pages} pages, {len(pdf):,} bytes ({len(pdf) / 2**20:.2f} MiB of the 8 MiB NATS limit)")
    if pdf_path is not None:
        pdf_path.write_bytes(pdf)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--language", choices=["en", "nl"], default="en")
    parser.add_argument("--pdf", type=Path, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.students, args.processes, args.rounds, args.pdf, args.language))
