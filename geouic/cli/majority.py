"""``geouic majority``: majority filter of a class map (ArcGIS Majority Filter, GRASS r.neighbors mode)."""

from __future__ import annotations

import click

from geouic.cli.options import (
    co_opt,
    echo_warnings,
    handle_errors,
    mem_limit_opt,
    nodata_opt,
    output_opt,
    overwrite_opt,
    progress_callback,
    status,
    verbosity,
)


@click.command(short_help="Majority filter of a class map.")
@click.argument("class_map", metavar="CLASS_MAP", type=click.Path())
@click.option("--size", type=int, default=None,
              help="Odd square window including the pixel (3, 5, ...). Default: 3 unless --neighbors is given.")
@click.option("--neighbors", type=click.Choice(["4", "8"]), default=None,
              help="Vote among the 4 or 8 neighbours only (ArcGIS FOUR / EIGHT) instead of a square window.")
@click.option("--threshold", type=click.Choice(["majority", "half"]), default="majority", show_default=True,
              help="Votes the winner needs: more than half (majority) or at least half (half) of the kernel.")
@output_opt
@click.option("--overviews/--no-overviews", default=True, show_default=True,
              help="Build internal overviews (mode resampling) for fast display.")
@co_opt
@nodata_opt
@mem_limit_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(class_map, size, neighbors, threshold, output, overviews, creation_options, nodata, mem_limit,
        overwrite):
    """Replace each pixel of CLASS_MAP by the most frequent class around it.

    The class replaces the pixel when it has enough votes (--threshold); nodata pixels stay
    nodata and do not vote.

    Windows are read with a halo, so the result does not depend on --mem-limit. The output keeps
    the colours, class names, .qml style and provenance tags of CLASS_MAP.

    \b
    geouic majority landcover.tif --size 3 --threshold half -o smooth.tif
    geouic majority landcover.tif --neighbors 8 -o smooth.tif
    """
    from geouic.postprocess import majority_filter

    if size is None and neighbors is None:
        size = 3
    from geouic.paths import check_distinct

    check_distinct({"output": output}, {"class_map": class_map})  # before any word is printed
    status(f"Majority filter of {class_map}...")
    with echo_warnings(), progress_callback("Filtering") as progress:
        result = majority_filter(class_map, output, size=size, neighbors=int(neighbors) if neighbors else None,
                                 threshold=threshold, mem_limit_mb=mem_limit, overviews=overviews,
                                 overwrite=overwrite, nodata=nodata, creation_options=creation_options,
                                 progress=progress)
    click.echo(result.summary())
