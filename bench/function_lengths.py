"""The longest functions of the packages, measured with ``ast`` (lines from def to last line).

Run: .venv/bin/python bench/function_lengths.py [--top N] [paths...]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

DEFAULT_PATHS = ("contracts", "services", "infra")


def lengths(paths: list[str]) -> list[tuple[int, str]]:
    """(lines, "file:line name") for every function and method under ``paths``."""
    found: list[tuple[int, str]] = []
    for root in paths:
        for path in sorted(Path(root).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    size = (node.end_lineno or node.lineno) - node.lineno + 1
                    found.append((size, f"{path}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    found = lengths(args.paths)
    sizes = sorted(size for size, _ in found)
    print(f"{len(found)} functions, median {sizes[len(sizes) // 2]} lines")
    for size, where in found[: args.top]:
        print(f"{size:4d}  {where}")


if __name__ == "__main__":
    main()
