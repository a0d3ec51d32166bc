"""Options shared by commands, logging set-up and the error boundary of the CLI.

Library messages name Python parameters (``n_classes=1 is invalid``); :func:`handle_errors`
shows them with the command's flags (``--classes 1 is invalid``). A flag whose destination is
the parameter's own name is found on the command itself; :data:`PARAM_FLAGS` lists the
parameters that a flag of another name sets. This is the one place that mapping lives.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from geouic.errors import rename_params
from geouic.methods import DEFAULT_SAMPLE_SIZE, NORMALIZATIONS, REGISTRY, get_method, methods_taking

if TYPE_CHECKING:
    from geouic.engine import Engine
    from geouic.raster import RasterSource

__all__ = [
    "CliError",
    "OUTPUT_PARAMS",
    "Terminated",
    "DEFAULT_CLASSES",
    "ENGINE_OPTIONS",
    "EngineArgs",
    "EngineOption",
    "PARAM_FLAGS",
    "PROGRESS_INTERVAL_S",
    "ProgressLines",
    "bands_opt",
    "cog_opt",
    "echo_warnings",
    "engine_options",
    "extra_outputs",
    "flag_names",
    "handle_errors",
    "is_quiet",
    "mem_limit_opt",
    "output_folder_opt",
    "output_opt",
    "overwrite_opt",
    "parse_bands",
    "progress_callback",
    "progress_phases",
    "seed_opt",
    "status",
    "terminate_as_interrupt",
    "verbosity",
    "workers_opt",
]

F = TypeVar("F", bound=Callable[..., Any])

class CliError(click.ClickException):
    """A user error: one line on stderr, exit code 2."""

    exit_code = 2


def flag_names(ctx: click.Context | None) -> dict[str, str]:
    """Python parameter -> flag (or an argument's metavar), for ``ctx``'s command and its parents."""
    names: dict[str, str] = {}
    flags: set[str] = set()
    while ctx is not None:
        for param in ctx.command.params:
            if isinstance(param, click.Option) and param.name:
                longest = max(param.opts, key=len)
                names.setdefault(param.name, longest)
                if param.is_flag and not param.secondary_opts:
                    names.setdefault(f"{param.name}=True", longest)
                flags.update(param.opts)
            elif isinstance(param, click.Argument) and param.name:
                names.setdefault(param.name, (param.metavar or param.name.upper()).strip("[]."))
        ctx = ctx.parent
    names.update({p: f for p, f in PARAM_FLAGS.items() if f in flags})
    return names


#: Parameters of the commands that name files they write (for messages about a full disk).
OUTPUT_PARAMS: tuple[str, ...] = ("output", "save_model", "confidence", "entropy", "memberships")
#: errno values and message fragments (GDAL, SQLite/OGR, libtiff) that mean "the disk is full".
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_DISK_FULL_TEXT = ("no space left on device", "disk is full", "disk full", "free disk space available",
                   "quota exceeded", "file too large")


def _disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the disk is full."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in _DISK_FULL_ERRNOS:
            return True
        if any(t in str(cur).lower() for t in _DISK_FULL_TEXT):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _no_room(paths: list[str]) -> bool:
    """Whether the file system of any of ``paths`` has (almost) no free space left."""
    import os

    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        try:
            st = os.statvfs(folder)
        except OSError:
            continue
        if st.f_bavail * st.f_frsize < _LOW_SPACE_BYTES:
            return True
    return False


#: Libraries whose exceptions are I/O errors (GDAL through rasterio, OGR through pyogrio).
_IO_LIBRARIES = frozenset({"rasterio", "pyogrio", "fiona", "safetensors"})
#: Free space below which a failed write is put down to a full disk.
_LOW_SPACE_BYTES = 64 * 1024


def _outputs(ctx: click.Context | None) -> list[str]:
    """The output paths the running command was given."""
    params = ctx.params if ctx else {}
    return [str(params[name]) for name in OUTPUT_PARAMS if params.get(name)]


def _interrupted(signum: int) -> None:
    name = "Terminated" if signum == signal.SIGTERM else "Interrupted"
    click.echo(f"{name}; no output was written.", err=True)
    sys.exit(128 + signum)


def handle_errors(func: F) -> F:
    """Turn geouic and I/O errors into one line and exit code 2 (a traceback is a bug).

    A full disk is named as such with the outputs and the fix, whatever library raised it
    (OSError ENOSPC, GDAL, SQLite through OGR); running out of memory names the options that
    size the work; Ctrl-C exits with 130 and SIGTERM (see :func:`terminate_as_interrupt`)
    with 143, after the writers have removed their temporary files.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from geouic.errors import GeouicError

        ctx = click.get_current_context(silent=True)
        try:
            return func(*args, **kwargs)
        except GeouicError as exc:
            raise CliError(exc.message_for(flag_names(ctx))) from None
        except Terminated as exc:
            _interrupted(exc.signum)
        except KeyboardInterrupt:
            _interrupted(signal.SIGINT)
        except MemoryError:
            raise CliError("out of memory; lower --mem-limit, --sample-size or --patch-size/--batch-size "
                           "(UIC), or run on a machine with more memory.") from None
        except Exception as exc:  # rasterio/GDAL/OGR/OS errors that slipped past validation
            io_error = isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _IO_LIBRARIES
            outputs = _outputs(ctx)
            if _disk_full(exc) or (io_error and _no_room(outputs)):
                where = ", ".join(outputs) or "the output"
                raise CliError(f"no space left on the device to write {where}; free some space there or "
                               "choose an output on another disk (no partial output was kept).") from None
            if io_error:
                raise CliError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
            raise

    return wrapper  # type: ignore[return-value]


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, so writers clean up as on Ctrl-C.

    A ``KeyboardInterrupt`` subclass, because that is what every ``except BaseException`` /
    ``finally`` cleanup in the library already handles (temporary files removed).
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM during clean-up kills at once
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (restored afterwards).

    Does nothing outside the main thread (signal handlers can only be set there).
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------------- verbosity
def _verbosity_counts(ctx: click.Context) -> dict[tuple[str, str], int]:
    state = ctx.ensure_object(dict)
    counts: dict[tuple[str, str], int] = state.setdefault("verbosity", {})
    return counts


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Add this context's -v/-q to the others' (group and command) and set the log level."""
    if value is None or ctx.resilient_parsing or param.name is None:
        return value
    counts = _verbosity_counts(ctx)
    counts[(ctx.command_path, param.name)] = value
    verbose = sum(v for (_, name), v in counts.items() if name == "verbose")
    quiet = sum(v for (_, name), v in counts.items() if name == "quiet")
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("geouic").setLevel(max(logging.DEBUG, min(logging.CRITICAL, level)))
    return value


def verbosity(func: F) -> F:
    """``-v`` (more, repeatable) and ``-q`` (less) logging, on the group or on a command.

    Counts add up: ``geouic -v classify ... -v`` is ``-vv``.
    """
    func = click.option("-q", "--quiet", count=True, expose_value=False, callback=_set_verbosity,
                        help="Less output (repeat for even less).")(func)
    func = click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity,
                        help="More log output (-vv for debug).")(func)
    return func


def is_quiet() -> bool:
    """True when -q was given, on the group or on the command."""
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(dict) if ctx else None
    counts = (state or {}).get("verbosity", {})
    return any(v for (_, name), v in counts.items() if name == "quiet")


@contextlib.contextmanager
def echo_warnings() -> Iterator[None]:
    """Show library warnings as one ``Warning: ...`` line each on stderr (no source lines).

    Usable as a context manager or a decorator (``@echo_warnings()``). Deprecation warnings
    concern developers, not users: they are logged at debug level.
    """
    import warnings

    from geouic.errors import GeouicError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
                    logging.getLogger("geouic.cli").debug("%s: %s", w.category.__name__, w.message)
                else:
                    message = w.message
                    if isinstance(message, GeouicError):  # a ParameterWarning: name the flags
                        text = message.message_for(flag_names(click.get_current_context(silent=True)))
                    else:
                        text = _flagged(str(message))
                    click.echo(f"Warning: {text}", err=True)


def _flagged(message: str) -> str:
    """``name=value`` in a plain library warning shown as ``--flag value`` for the command's options.

    A :class:`~geouic.errors.ParameterWarning` lists the parameters it names; other warnings
    do not, so only the unmistakable ``name=value`` form is rewritten, and only for parameters
    the command has a flag for.
    """
    import re

    names = flag_names(click.get_current_context(silent=True))
    params = [m for m in dict.fromkeys(re.findall(r"(?<![\w.\-/\\])(\w+)=", message))
              if names.get(m, "").startswith("-")]
    return rename_params(message, params, {p: names[p] for p in params}) if params else message


def status(message: str) -> None:
    """Print a progress message on stderr, unless -q was given."""
    if not is_quiet():
        click.echo(message, err=True)


def _show_progress() -> bool:
    """Bars only on a terminal and without -q."""
    return not is_quiet() and sys.stderr.isatty()


def _show_lines() -> bool:
    """Plain progress lines when stderr is not a terminal (a log, a pipe), without -q."""
    return not is_quiet() and not sys.stderr.isatty()


#: Seconds between two progress lines in a log (not a terminal); the environment variable
#: ``GEOUIC_PROGRESS_INTERVAL`` sets another period (0: every update, ``inf``: none).
PROGRESS_INTERVAL_S = 10.0
#: A pass's first line comes once it has run this long (or the period, if shorter), so
#: passes shorter than a second print nothing.
PROGRESS_FIRST_S = 1.0


def _progress_interval() -> float:
    import os

    try:
        value = float(os.environ.get("GEOUIC_PROGRESS_INTERVAL", PROGRESS_INTERVAL_S))
    except ValueError:
        return PROGRESS_INTERVAL_S
    return value if value >= 0 else PROGRESS_INTERVAL_S


class ProgressLines:
    """Progress as plain lines for logs: ``Sieving: 12/40 (30%)``, one per period at most.

    One instance serves every phase of a command (:func:`progress_phases`); a phase that printed
    a line ends with a line of its total and time when the next phase starts or the command
    ends. Updates may come from several threads; lines never interleave.

    Parameters
    ----------
    labels : sequence of str
        One label per phase.
    interval : float
        Seconds between two lines of a phase.
    first : float
        Seconds a phase runs before its first line (capped at ``interval``).
    clock : callable, default=time.monotonic
    echo : callable, default=click.echo to stderr
    """

    def __init__(self, labels: tuple[str, ...] | list[str], *, interval: float, first: float = PROGRESS_FIRST_S,
                 clock: Callable[[], float] | None = None, echo: Callable[[str], None] | None = None) -> None:
        import threading
        import time

        self.labels = list(labels)
        self.interval, self.first = interval, min(first, interval)
        self.clock = clock or time.monotonic
        self.echo = echo or (lambda line: click.echo(line, err=True))
        self._lock = threading.Lock()
        self._phase: int | None = None
        self._done = self._total = 0
        self._note: str | None = None
        self._start = self._last = 0.0
        self._printed = False

    def update_for(self, phase: int) -> Callable[..., None]:
        """The ``update(advance, total, note=None)`` of one phase."""
        def update(advance: int, total: int, note: str | None = None) -> None:
            with self._lock:
                now = self.clock()
                if self._phase != phase:
                    self._finish(now)
                    self._phase, self._done, self._start, self._printed, self._note = phase, 0, now, False, None
                self._done += int(advance)
                self._total = max(int(total), self._done)
                self._note = note or self._note
                wait = self.interval if self._printed else self.first
                if now - (self._last if self._printed else self._start) >= wait and self._done < self._total:
                    self.echo(self._text())
                    self._last, self._printed = now, True

        return update

    def _text(self, elapsed: float | None = None) -> str:
        label = self.labels[self._phase or 0] + (f" ({self._note})" if self._note else "")
        share = self._done / self._total if self._total else 1.0
        tail = f", {elapsed:.1f} s" if elapsed is not None else ""
        return f"{label}: {self._done}/{self._total} ({share:.0%}){tail}"

    def _finish(self, now: float) -> None:
        if self._phase is not None and self._printed:
            self.echo(self._text(now - self._start))
        self._printed = False

    def close(self) -> None:
        """End the last phase (its closing line, if it printed any)."""
        with self._lock:
            self._finish(self.clock())
            self._phase = None


def progress_callback(label: str) -> contextlib.AbstractContextManager[Callable[..., None]]:
    """A context manager yielding ``update(advance, total, note=None)`` for a library's ``progress=``.

    The library tells how many steps its call runs (``total``: windows, or training epochs);
    the bar is sized from that, never by the CLI counting. A bar on a terminal, periodic lines
    elsewhere (see :func:`progress_phases`); it appears at the first update, so work done
    before shows no empty bar.
    ``note`` (training: member, epoch and NMI) is shown after the label.
    """
    return _single(progress_phases(label))


@contextlib.contextmanager
def _single(phases: contextlib.AbstractContextManager[tuple[Callable[..., None], ...]]
            ) -> Iterator[Callable[..., None]]:
    with phases as (update,):
        yield update


@contextlib.contextmanager
def progress_phases(*labels: str) -> Iterator[tuple[Callable[..., None], ...]]:
    """One ``update(advance, total, note=None)`` per phase (e.g. "Training", then "Classifying").

    Bars are shown one at a time: the first update of a phase closes the bar of the phase
    before it, so a command whose one library call trains and then predicts shows two
    clean bars in turn. When stderr is not a terminal (a log file, a pipe, a batch job), the
    same updates print plain lines instead (:class:`ProgressLines`): the first once a phase has
    run a second, then one every :data:`PROGRESS_INTERVAL_S` seconds, and a closing line.
    """
    if not _show_progress():
        interval = _progress_interval()
        if not _show_lines() or interval == float("inf"):
            yield tuple((lambda advance, total, note=None: None) for _ in labels)
            return
        lines = ProgressLines(labels, interval=interval)
        try:
            yield tuple(lines.update_for(i) for i in range(len(labels)))
        finally:
            lines.close()
        return
    with contextlib.ExitStack() as outer:
        state: dict[str, Any] = {"phase": None, "stack": None, "bar": None}

        def make(phase: int, label: str) -> Callable[..., None]:
            def update(advance: int, total: int, note: str | None = None) -> None:
                if state["phase"] != phase:
                    if state["stack"] is not None:
                        state["stack"].close()
                    stack = contextlib.ExitStack()
                    outer.callback(stack.close)
                    bar = stack.enter_context(click.progressbar(length=total, label=label, file=sys.stderr))
                    state.update(phase=phase, stack=stack, bar=bar)
                bar = state["bar"]
                bar.length = total
                if note:
                    bar.label = f"{label} ({note})"
                bar.update(advance)

            return update

        yield tuple(make(i, label) for i, label in enumerate(labels))


# ---------------------------------------------------------------------------- shared options
def parse_bands(text: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """``"1,2,nir"`` -> ``["1", "2", "nir"]``; None (or nothing) stays None; a list is kept."""
    if not text:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    return [t.strip() for t in items if t.strip()] or None


def _bands_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    return parse_bands(value)


output_opt = click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                          help="Output file.")


def output_folder_opt(help: str = "Output folder (created if missing).") -> Callable[[F], F]:
    """``-o/--output`` naming a folder (reports, statistics), with the command's own help."""
    return click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help=help)


overwrite_opt = click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
bands_opt = click.option("--bands", default=None, metavar="LIST", callback=_bands_callback,
                         help="Bands to use: 1-based indexes or descriptions, comma-separated "
                              "(default: all but alpha).")
#: Largest seed (numpy and torch take 32-bit seeds).
MAX_SEED = 2**32 - 1
seed_opt = click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
                        help="Random seed (sampling, initialisation, training).")
mem_limit_opt = click.option("--mem-limit", type=click.FloatRange(min=1), default=64, show_default=True,
                             metavar="MB",
                             help="Working-memory budget of the processing windows (and of UIC training), in MB.")
cog_opt = click.option("--cog", is_flag=True, help="Write a Cloud Optimized GeoTIFF.")
co_opt = click.option("--co", "creation_options", multiple=True, metavar="KEY=VALUE",
                      help="GDAL creation option of the output GeoTIFF, repeatable (as in rio), e.g. "
                           "--co COMPRESS=ZSTD --co ZSTD_LEVEL=9; checked against the driver's option list "
                           "(the COG driver's with --cog).")
nodata_opt = click.option("--nodata", type=float, default=None, metavar="VALUE",
                          help="Declare the value of the input's empty pixels when the file has no nodata tag "
                               "(e.g. a black collar: --nodata 0); masked on integer and float bands.")
class_nodata_opt = click.option("--nodata", type=float, default=None, metavar="VALUE",
                                help="Declare a 'no class' value of the class map when the file has no nodata "
                                     "tag (read as 0, like nodata).")
workers_opt = click.option("--workers", type=click.IntRange(min=1), default=None,
                           help="Threads for prediction (default: free cores).")

#: Per-pixel extras: option name -> help.
_EXTRAS = {
    "confidence": "Also write per-pixel confidence (float32).",
    "entropy": "Also write per-pixel class entropy (float32; fcm, mlc, uic).",
    "memberships": "Also write class memberships/probabilities, one float32 band per class (fcm, mlc, uic).",
}


def extra_outputs(func: F) -> F:
    """``--confidence/--entropy/--memberships FILE``, passed on as one ``extras`` dict."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["extras"] = {name: path for name in _EXTRAS if (path := kwargs.pop(name)) is not None}
        return func(*args, **kwargs)

    for name in reversed(list(_EXTRAS)):
        wrapper = click.option(f"--{name}", type=click.Path(dir_okay=False), default=None,
                               help=_EXTRAS[name])(wrapper)
    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------- engine options
#: Classes when --classes is not given, for the methods that take it.
DEFAULT_CLASSES = 12


@dataclass(frozen=True)
class EngineOption:
    """A CLI option that sets one method parameter; the methods it applies to come from the registry.

    Parameters
    ----------
    name : str
        Click destination (``max_iterations`` for ``--max-iterations``).
    param : str
        The library parameter it sets (``max_iter``).
    type : click type
    help : str
    """

    name: str
    param: str
    type: Any
    help: str

    @property
    def flag(self) -> str:
        """The option as typed: ``--max-iterations``."""
        return "--" + self.name.replace("_", "-")

    @property
    def methods(self) -> list[str]:
        """Methods that take the parameter."""
        return methods_taking(self.param)

    def option(self) -> Callable[[F], F]:
        """The click option, its help prefixed with the methods it applies to."""
        return click.option(self.flag, self.name, type=self.type, default=None,
                            help=f"{', '.join(self.methods)}: {self.help}")


ENGINE_OPTIONS: tuple[EngineOption, ...] = (
    EngineOption("max_iterations", "max_iter", int, "Maximum iterations."),
    EngineOption("min_classes", "min_clusters", int, "Fewest classes (default K/2)."),
    EngineOption("max_classes", "max_clusters", int,
                 "Most classes (default K, as in ArcGIS/ERDAS; 2K allows more splits)."),
    EngineOption("convergence", "convergence", float,
                 "Fraction of pixels unchanged that stops iterating (default 0.98)."),
    EngineOption("min_class_size", "min_class_size", int, "Smallest class in pixels (default 20)."),
    EngineOption("max_std", "max_std", float, "Std (z units) above which a class splits."),
    EngineOption("min_distance", "min_distance", float, "Centre distance (z units) below which classes merge."),
    EngineOption("max_merges", "max_merges", int, "Merges per iteration (default 2)."),
    EngineOption("sample_interval", "sample_interval", int, "Use every n-th sampled pixel."),
    EngineOption("fuzziness", "m", float, "Fuzziness exponent m > 1 (default 2)."),
    EngineOption("reject", "reject", click.FloatRange(0, 1, min_open=True, max_open=True),
                 "Chi-square probability P in (0, 1); pixels beyond it are unclassified (0)."),
    EngineOption("priors", "priors", click.Choice(["equal", "sample"]), "Class priors."),
    EngineOption("epochs", "epochs", click.IntRange(1, 10_000),
                 "Most distillation epochs per network (default 12; stops at 95 % agreement)."),
    EngineOption("patch_size", "patch_size", click.IntRange(8, 256), "Training patch size in pixels (8-256)."),
    EngineOption("batch_size", "batch_size", click.IntRange(1, 1024), "Patches per batch (1-1024)."),
    EngineOption("lr", "lr", click.FloatRange(0, 1, min_open=True, max_open=True), "Learning rate in (0, 1)."),
    EngineOption("device", "device", click.Choice(["auto", "cpu", "cuda"]), "Torch device."),
)

#: Library parameter -> CLI flag, where the flag's destination has another name.
PARAM_FLAGS: Mapping[str, str] = {
    "n_clusters": "--classes",
    "random_state": "--seed",
    "mem_limit_mb": "--mem-limit",
    "groups": "--merge",
    **{opt.param: opt.flag for opt in ENGINE_OPTIONS if opt.param != opt.name},
}


@dataclass(frozen=True)
class EngineArgs:
    """The engine the options ask for; :meth:`make` builds it through the registry."""

    method: str
    n_classes: int | None = None
    seed: int | None = 0
    sample_size: int = DEFAULT_SAMPLE_SIZE
    normalize: str = "zscore"
    params: Mapping[str, Any] = field(default_factory=dict)
    training: str | None = None
    field: str | None = None

    def make(self) -> Engine:
        """The unfitted engine (see :func:`geouic.engine.make_engine`)."""
        from geouic.engine import make_engine

        n_classes = self.n_classes
        if n_classes is None and get_method(self.method).takes("n_classes"):
            n_classes = DEFAULT_CLASSES
        return make_engine(self.method, n_classes=n_classes, seed=self.seed, sample_size=self.sample_size,
                           normalize=self.normalize, **self.params)

    def open_training(self, source: RasterSource) -> Any:
        """Training data for supervised methods, on the scene's grid (None for the others)."""
        supervised = "/".join(n for n, s in REGISTRY.items() if s.supervised)
        if not get_method(self.method).supervised:
            if self.training or self.field:
                raise CliError(f"--training/--field apply to --method {supervised}, not {self.method}.")
            return None
        if not self.training:
            raise CliError(f"--method {self.method} needs --training (polygons, points or a class raster).")
        from geouic.reference import Grid, open_reference

        return open_reference(self.training, Grid.from_dataset(source.dataset), field=self.field)


def _method_params(method: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Library parameters from the method options given; an option for another method is an error."""
    params = {}
    for opt in ENGINE_OPTIONS:
        value = given.get(opt.name)
        if value is None:
            continue
        if method not in opt.methods:
            raise CliError(f"{opt.flag} applies to --method {'/'.join(sorted(opt.methods))}, not {method}.")
        params[opt.param] = value
    return params


def engine_options(func: F) -> F:
    """Options that choose and tune the engine, passed on as one ``engine_args`` (:class:`EngineArgs`)."""
    names = ("method", "n_classes", "seed", "sample_size", "normalize", "training", "field")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in names}
        given = {opt.name: kwargs.pop(opt.name) for opt in ENGINE_OPTIONS}
        method = values.pop("method").lower()
        kwargs["engine_args"] = EngineArgs(method=method, params=_method_params(method, given), **values)
        return func(*args, **kwargs)

    opts = [
        click.option("--method", type=click.Choice(list(REGISTRY), case_sensitive=False), default="uic",
                     show_default=True, help="Classification engine."),
        click.option("-k", "--classes", "n_classes", type=int, default=None,
                     help=f"Number of classes K (2-65535; {', '.join(methods_taking('n_classes'))}). "
                          f"[default: {DEFAULT_CLASSES}]"),
        seed_opt,
        click.option("--sample-size", type=click.IntRange(min=100), default=DEFAULT_SAMPLE_SIZE,
                     show_default=True, help="Pixels sampled to fit the method."),
        click.option("--normalize", type=click.Choice(NORMALIZATIONS), default="zscore",
                     show_default=True, help="Per-band normalisation from valid pixels."),
        *(opt.option() for opt in ENGINE_OPTIONS),
        click.option("--training", type=click.Path(), default=None,
                     help="mlc: training polygons/points (any OGR vector) or a class raster on the same grid."),
        click.option("--field", default=None, help="mlc: class field of the training vector."),
    ]
    for opt in reversed(opts):
        wrapper = opt(wrapper)
    return wrapper  # type: ignore[return-value]
