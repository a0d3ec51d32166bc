"""Options shared by commands, logging set-up and the error boundary of the CLI."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

__all__ = [
    "CliError",
    "handle_errors",
    "verbosity",
    "output_opt",
    "overwrite_opt",
    "bands_opt",
    "seed_opt",
    "mem_limit_opt",
    "parse_bands",
    "progress_callback",
    "status",
    "echo_warnings",
]


class CliError(click.ClickException):
    """A user error: one line on stderr, exit code 2."""

    exit_code = 2


def handle_errors(func: Callable) -> Callable:
    """Turn geouic and I/O errors into one line and exit code 2 (a traceback is a bug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from geouic.errors import GeouicError

        try:
            return func(*args, **kwargs)
        except GeouicError as exc:
            raise CliError(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted; no output was written.", err=True)
            sys.exit(130)
        except Exception as exc:  # rasterio/GDAL/OS errors that slipped past validation
            import rasterio.errors

            if isinstance(exc, (rasterio.errors.RasterioError, OSError)):
                raise CliError(f"{type(exc).__name__}: {exc}") from None
            raise

    return wrapper


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value is None or ctx.resilient_parsing:
        return value
    state = ctx.ensure_object(dict)
    state[param.name] = value
    level = logging.WARNING - 10 * state.get("verbose", 0) + 10 * state.get("quiet", 0)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("geouic").setLevel(max(logging.DEBUG, min(logging.CRITICAL, level)))
    return value


def verbosity(func: Callable) -> Callable:
    """``-v`` (more, repeatable) and ``-q`` (less) logging."""
    func = click.option("-q", "--quiet", count=True, expose_value=False, callback=_set_verbosity,
                        help="Less output (repeat for even less).")(func)
    func = click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity,
                        help="More log output (-vv for debug).")(func)
    return func


def is_quiet() -> bool:
    """True when -q was given."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_object(dict) and ctx.find_object(dict).get("quiet"))


@contextlib.contextmanager
def echo_warnings() -> Iterator[None]:
    """Show library warnings as one ``Warning: ...`` line each on stderr (no source lines).

    Usable as a context manager or a decorator (``@echo_warnings()``). Deprecation warnings
    concern developers, not users: they are logged at debug level.
    """
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
                    logging.getLogger("geouic.cli").debug("%s: %s", w.category.__name__, w.message)
                else:
                    click.echo(f"Warning: {w.message}", err=True)


def status(message: str) -> None:
    """A progress message on stderr, unless -q was given."""
    if not is_quiet():
        click.echo(message, err=True)


output_opt = click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                          help="Output file.")
overwrite_opt = click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
bands_opt = click.option("--bands", default=None, metavar="LIST",
                         help="Bands to use: 1-based indexes or descriptions, comma-separated (default: all but alpha).")
seed_opt = click.option("--seed", type=int, default=0, show_default=True,
                        help="Random seed (sampling, initialisation, training).")
mem_limit_opt = click.option("--mem-limit", type=click.FloatRange(min=1), default=64, show_default=True,
                             metavar="MB", help="Working-memory budget of the processing windows, in MB.")


def parse_bands(text: str | None) -> list[str] | None:
    """``"1,2,nir"`` -> ``["1", "2", "nir"]``; None stays None."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _show_progress() -> bool:
    """Bars only on a terminal and without -q."""
    return not is_quiet() and sys.stderr.isatty()


def progress_callback(label: str):
    """A context manager yielding ``update(advance, total)`` for a library pass's ``progress=``.

    The library tells how many windows its call runs (``total``); the bar is sized from that,
    never by the CLI counting windows. A bar on a terminal, nothing elsewhere.
    """
    import contextlib

    if not _show_progress():
        return contextlib.nullcontext(lambda advance, total: None)

    @contextlib.contextmanager
    def bar():
        with contextlib.ExitStack() as stack:
            state: dict = {}

            def update(advance: int, total: int) -> None:
                if "bar" not in state:
                    state["bar"] = stack.enter_context(click.progressbar(length=total, label=label, file=sys.stderr))
                state["bar"].length = total
                state["bar"].update(advance)

            yield update

    return bar()
