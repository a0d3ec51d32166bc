"""``geouic polygonize``: class map to polygons (GeoPackage or any OGR format) with code, name, area."""

from __future__ import annotations

import click

from geouic.cli.options import (
    echo_warnings,
    handle_errors,
    nodata_opt,
    overwrite_opt,
    progress_callback,
    status,
    verbosity,
)


@click.command(short_help="Polygons of the patches (or classes) of a class map.")
@click.argument("class_map", metavar="CLASS_MAP", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Vector file; the format follows the extension (.gpkg, .shp, .geojson, .fgb).")
@click.option("--dissolve", is_flag=True, help="One (multi)polygon per class instead of one polygon per patch.")
@click.option("--simplify", type=float, default=None, metavar="TOL",
              help="Simplify borders by TOL map units (e.g. metres); neighbours keep a common border.")
@click.option("--connectivity", type=click.Choice(["4", "8"]), default="4", show_default=True,
              help="Pixels touching by an edge (4) or also by a corner (8) form one patch.")
@nodata_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(class_map, output, dissolve, simplify, connectivity, nodata, overwrite):
    """Write one feature per connected patch of CLASS_MAP, or one per class with --dissolve.

    Fields: code, name, area_ha, pixels (and patches with --dissolve).

    area_ha is the raster area (on the ellipsoid for geographic CRSs), so class totals equal the
    map's; the CRS is kept; GeoPackages carry the provenance tags in their layer metadata.
    The raster is read line by line and the polygons are written in batches, so memory does not
    grow with the output, except with --dissolve or --simplify (they need every polygon at once).

    \b
    geouic polygonize landcover.tif -o landcover.gpkg
    geouic polygonize landcover.tif --dissolve --simplify 15 -o classes.gpkg
    """
    from geouic.postprocess import polygonize

    from geouic.paths import check_distinct

    check_distinct({"output": output}, {"class_map": class_map})  # before any word is printed
    status(f"Polygonizing {class_map}...")
    with echo_warnings(), progress_callback("Polygonizing") as progress:
        result = polygonize(class_map, output, dissolve=dissolve, simplify=simplify, connectivity=int(connectivity),
                            overwrite=overwrite, nodata=nodata, progress=progress)
    click.echo(result.summary())
