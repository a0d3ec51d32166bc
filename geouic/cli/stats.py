"""``geouic stats``: per-class pixels, areas, band statistics and plots of a class map."""

from __future__ import annotations

import click

from geouic.cli.options import (
    bands_opt, echo_warnings, handle_errors, mem_limit_opt, output_folder_opt, overwrite_opt, parse_bands,
    progress_callback, status, verbosity,
)


@click.command(short_help="Per-class areas, band statistics, signatures and dendrogram.")
@click.argument("class_map", metavar="CLASS_MAP", type=click.Path())
@click.argument("scene", metavar="[SCENE]", type=click.Path(), required=False)
@output_folder_opt("Output folder (created if missing) for stats.csv, stats.json, signatures.png, "
                   "dendrogram.png.")
@bands_opt
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write the two PNG plots.")
@click.option("--nodata", type=float, default=None, metavar="VALUE",
              help="Declare a 'no class' value of CLASS_MAP when the file has no nodata tag (read as 0: not counted).")
@mem_limit_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(class_map, scene, output, bands, plots, nodata, mem_limit, overwrite):
    """Statistics of every class of CLASS_MAP, with band means and standard deviations from SCENE.

    Per class: pixel count, area in hectares (on the ellipsoid for geographic CRSs) and, with
    SCENE (the image on the same grid), the mean and standard deviation of each band. Written
    as stats.csv and stats.json, a spectral-signature plot (signatures.png) and a Ward
    dendrogram of the z-scored class means (dendrogram.png), which `geouic merge --to` cuts.

    \b
    geouic stats classes.tif scene.tif -o stats/
    geouic stats landcover.tif -o areas/          # pixels and areas only
    """
    from geouic.classstats import class_statistics, write_stats
    from geouic.paths import check_distinct

    check_distinct({"output": output}, {"class_map": class_map, "scene": scene}, folders=["output"])
    status(f"Computing class statistics of {class_map}{' over ' + scene if scene else ''}...")
    with echo_warnings(), progress_callback("Statistics") as update:
        stats = class_statistics(class_map, scene, bands=parse_bands(bands), mem_limit_mb=mem_limit,
                                 progress=update, map_nodata=nodata)
        files = write_stats(stats, output, overwrite=overwrite, plots=plots)
    click.echo(f"{len(stats.codes)} classes, {int(stats.pixels.sum()):,} pixels, {stats.area_ha.sum():,.1f} ha "
               f"-> {', '.join(str(f) for f in files)}")
