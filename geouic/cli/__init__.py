"""The ``geouic`` command: a thin click group; each command lives in its own module.

Command modules are imported only when the command runs (or ``--help`` lists it), and they
import only click and the small method registry (:mod:`geouic.methods`) at module level, so
``geouic --help`` never imports torch or matplotlib. ``-v/-q`` work on the group and on every
command, and add up. SIGTERM is handled like Ctrl-C: temporary files are removed, exit 143.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from geouic.cli.options import terminate_as_interrupt, verbosity

__all__ = ["main", "run"]

#: command name -> module under geouic.cli holding a click command named ``cli``.
COMMANDS: dict[str, str] = {
    "info": "info",
    "classify": "classify",
    "predict": "predict",
    "train": "train",
    "assign-schema": "assign_schema",
    "accuracy": "accuracy",
    "sample-design": "sample_design",
    "stats": "stats",
    "merge": "merge",
    "sieve": "sieve",
    "majority": "majority",
    "polygonize": "polygonize",
    "batch": "batch",
    "qgis": "qgis",
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when it is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if importlib.util.find_spec(f"geouic.cli.{COMMANDS[name]}")]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMANDS.get(name)
        if module is None or importlib.util.find_spec(f"geouic.cli.{module}") is None:
            return None
        return importlib.import_module(f"geouic.cli.{module}").cli


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geouic", prog_name="geouic")
@verbosity
@click.pass_context
def main(ctx: click.Context) -> None:
    """Land-cover classification of multi-band remote-sensing imagery.

    \b
    geouic classify scene.tif --classes 12 -o classes.tif
    geouic predict scene.geouic other.tif -o other_classes.tif
    geouic info scene.tif

    -v/-q work here and on every command: geouic -v classify ... or geouic classify ... -v.
    """
    from geouic.raster import gdal_env

    ctx.with_resource(gdal_env())  # a small GDAL block cache for the whole command
    ctx.with_resource(terminate_as_interrupt())  # SIGTERM cleans up like Ctrl-C (exit 143)



#: Exit codes of an interrupted command (Ctrl-C: 128 + SIGINT, SIGTERM: 128 + SIGTERM).
INTERRUPTED_CODES = frozenset({130, 143})


def run() -> None:
    """The ``geouic`` executable: :func:`main`, leaving at once when interrupted.

    By the time an interrupted command's exit reaches here, its writers have removed their
    temporary files and the command's resources are closed; what remains is the interpreter's
    own teardown, which takes most of a second once torch is imported (measured 0.76 s for
    ``import torch`` alone) and joins any training thread still finishing its step. A user who
    pressed Ctrl-C should not wait for that, so the process ends with ``os._exit`` after
    flushing its streams and logs. Every other exit is the normal one.
    """
    try:
        main(prog_name="geouic")
    except SystemExit as exc:
        if exc.code in INTERRUPTED_CODES:
            import logging

            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(int(exc.code))
        raise
