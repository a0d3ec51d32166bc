"""Options shared by commands, logging set-up and the error boundary of the CLI.

Library messages name Python parameters (``n_classes=1 is invalid``); :func:`handle_errors`
shows them with the command's flags (``--classes 1 is invalid``). A flag whose destination is
the parameter's own name is found on the command itself; :data:`PARAM_FLAGS` lists the
parameters that a flag of another name sets. This is the one place that mapping lives.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from geouic.methods import DEFAULT_SAMPLE_SIZE, NORMALIZATIONS, REGISTRY, get_method, methods_taking

if TYPE_CHECKING:
    from geouic.engine import Engine
    from geouic.raster import RasterSource

__all__ = [
    "CliError",
    "DEFAULT_CLASSES",
    "ENGINE_OPTIONS",
    "EngineArgs",
    "EngineOption",
    "PARAM_FLAGS",
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
    "seed_opt",
    "status",
    "verbosity",
    "workers_opt",
]

F = TypeVar("F", bound=Callable[..., Any])

class CliError(click.ClickException):
    """A user error: one line on stderr, exit code 2."""

    exit_code = 2


def flag_names(ctx: click.Context | None) -> dict[str, str]:
    """Python parameter -> flag, for the options of ``ctx``'s command and its parents."""
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
        ctx = ctx.parent
    names.update({p: f for p, f in PARAM_FLAGS.items() if f in flags})
    return names


def handle_errors(func: F) -> F:
    """Turn geouic and I/O errors into one line and exit code 2 (a traceback is a bug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from geouic.errors import GeouicError

        try:
            return func(*args, **kwargs)
        except GeouicError as exc:
            raise CliError(exc.message_for(flag_names(click.get_current_context(silent=True)))) from None
        except KeyboardInterrupt:
            click.echo("Interrupted; no output was written.", err=True)
            sys.exit(130)
        except Exception as exc:  # rasterio/GDAL/OS errors that slipped past validation
            import rasterio.errors

            if isinstance(exc, (rasterio.errors.RasterioError, OSError)):
                raise CliError(f"{type(exc).__name__}: {exc}") from None
            raise

    return wrapper  # type: ignore[return-value]


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
    """Print a progress message on stderr, unless -q was given."""
    if not is_quiet():
        click.echo(message, err=True)


def _show_progress() -> bool:
    """Bars only on a terminal and without -q."""
    return not is_quiet() and sys.stderr.isatty()


def progress_callback(label: str) -> contextlib.AbstractContextManager[Callable[[int, int], None]]:
    """A context manager yielding ``update(advance, total)`` for a library pass's ``progress=``.

    The library tells how many windows its call runs (``total``); the bar is sized from that,
    never by the CLI counting windows. A bar on a terminal, nothing elsewhere; it appears at the
    first update, so work done before (fitting) shows no empty bar.
    """
    if not _show_progress():
        return contextlib.nullcontext(lambda advance, total: None)

    @contextlib.contextmanager
    def bar() -> Iterator[Callable[[int, int], None]]:
        with contextlib.ExitStack() as stack:
            state: dict[str, Any] = {}

            def update(advance: int, total: int) -> None:
                if "bar" not in state:
                    state["bar"] = stack.enter_context(click.progressbar(length=total, label=label, file=sys.stderr))
                state["bar"].length = total
                state["bar"].update(advance)

            yield update

    return bar()


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
seed_opt = click.option("--seed", type=int, default=0, show_default=True,
                        help="Random seed (sampling, initialisation, training).")
mem_limit_opt = click.option("--mem-limit", type=click.FloatRange(min=1), default=64, show_default=True,
                             metavar="MB", help="Working-memory budget of the processing windows, in MB.")
cog_opt = click.option("--cog", is_flag=True, help="Write a Cloud Optimized GeoTIFF.")
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
    EngineOption("reject", "reject", float, "Chi-square probability P; pixels beyond it are unclassified (0)."),
    EngineOption("priors", "priors", click.Choice(["equal", "sample"]), "Class priors."),
    EngineOption("epochs", "epochs", int, "Training epochs (default: sized from the scene)."),
    EngineOption("patch_size", "patch_size", int, "Training patch size in pixels."),
    EngineOption("batch_size", "batch_size", int, "Patches per batch."),
    EngineOption("lr", "lr", float, "Learning rate."),
    EngineOption("device", "device", click.Choice(["auto", "cpu", "cuda"]), "Torch device."),
)

#: Library parameter -> CLI flag, where the flag's destination has another name.
PARAM_FLAGS: Mapping[str, str] = {
    "n_clusters": "--classes",
    "random_state": "--seed",
    "mem_limit_mb": "--mem-limit",
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
