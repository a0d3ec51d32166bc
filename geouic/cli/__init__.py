"""The ``geouic`` command: a thin click group; each command lives in its own module.

Command modules are imported only when the command runs (or ``--help`` lists it), and they
import only click and the small method registry (:mod:`geouic.methods`) at module level, so
``geouic --help`` never imports torch or matplotlib. ``-v/-q`` work on the group and on every
command, and add up. SIGTERM is handled like Ctrl-C: temporary files are removed, exit 143.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from geouic.cli.options import terminate_as_interrupt, verbosity

__all__ = ["main"]

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

