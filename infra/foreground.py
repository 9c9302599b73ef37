"""Run a stack in the foreground: Ctrl-C or SIGTERM stops it, and everything it started."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

import typer


class _Stop(Exception):
    """Ctrl-C or SIGTERM arrived."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@contextlib.contextmanager
def foreground(stop: Callable[[], None]) -> Iterator[None]:
    """Run the body until Ctrl-C/SIGTERM (or a start-up error, said plainly, exit 1), then
    ``stop()`` with further signals ignored, so a second Ctrl-C cannot leave children behind."""
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        yield
    except _Stop:
        typer.echo("stopping ...")
    except (RuntimeError, TimeoutError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop()
        typer.echo("stopped")
