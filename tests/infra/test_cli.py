"""`aischool <service> ...` loads that service only: its process carries no other's libraries."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from infra.cli import _add_services
_add_services(["aischool", *sys.argv[1:]])
print(sorted(m for m in ("weasyprint", "psycopg", "faststream") if m in sys.modules))
"""


def loaded(*argv: str) -> str:
    run = subprocess.run([sys.executable, "-c", CHECK, *argv], capture_output=True, check=True)
    return run.stdout.decode().strip()


def test_a_gateway_command_loads_no_other_services_libraries() -> None:
    assert loaded("gateway", "serve") == "[]"


def test_help_loads_every_service() -> None:
    assert loaded("--help") == "['faststream', 'psycopg', 'weasyprint']"
