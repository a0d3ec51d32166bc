"""``geouic info``: describe a raster, a class map or a model file."""

from __future__ import annotations

import json

import click

from geouic.cli.options import handle_errors, verbosity


@click.command(short_help="Describe a raster, class map or model file.")
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--stats/--no-stats", default=True, show_default=True,
              help="Per-band statistics from a sample of valid pixels.")
@verbosity
@handle_errors
def cli(path, as_json, stats):
    """Print size, bands, data type, nodata, CRS, valid pixels and band statistics of PATH.

    For a geouic class map it also prints the legend and provenance; for a model file
    (.geouic) the method, classes, bands and training parameters.
    """
    from geouic.info import describe

    info = describe(path, stats=stats)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
    else:
        click.echo(_text(info))


def _text(info: dict, indent: str = "") -> str:
    lines = []
    for key, value in info.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            lines.append(f"{indent}{key}:")
            for k, v in value.items():
                inner = ", ".join(f"{a}={b}" for a, b in v.items())
                lines.append(f"{indent}  {k}: {inner}")
        elif isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(_text(value, indent + "  "))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{indent}{key}:")
            for v in value:
                lines.append(f"{indent}  - " + ", ".join(f"{a}={b}" for a, b in v.items()))
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines)
