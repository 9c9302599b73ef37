"""Summarise a py-spy ``--format raw`` profile: the functions with most samples, inclusive
and self, as a share of all samples (idle samples of the event loop included).

    .venv/bin/python -m bench.profile_summary PROFILE.txt [--top 30] [--match services/]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rpartition(" ")
    return stack.split(";"), int(count)


def summary(path: Path, top: int, match: str) -> None:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = frames(line)
        total += count
        for frame in set(stack):
            inclusive[frame] += count
        own[stack[-1]] += count
    print(f"{path.name}: {total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"-- {title}")
        shown = [(f, n) for f, n in counter.most_common() if match in f][:top]
        for frame, count in shown:
            print(f"{count / total * 100:6.1f}%  {frame}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="")
    args = parser.parse_args()
    summary(args.profile, args.top, args.match)
