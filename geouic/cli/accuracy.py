"""``geouic accuracy``: assess a map against reference data and write a report folder."""

from __future__ import annotations

import click

from geouic.cli.options import (
    class_nodata_opt, echo_warnings, handle_errors, mem_limit_opt, output_folder_opt, overwrite_opt, progress_callback,
    status, verbosity,
)


@click.command(short_help="Assess a map against reference data; write a report folder.")
@click.argument("map_path", metavar="MAP", type=click.Path())
@click.option("-r", "--reference", required=True, type=click.Path(),
              help="Reference points or polygons (any OGR vector, with --field) or a label raster (0 = unlabelled).")
@click.option("--field", default=None, help="Class field of a vector reference.")
@click.option("--area-adjusted", is_flag=True,
              help="Add area-adjusted accuracy and class areas with 95 % intervals (Olofsson et al. 2014); "
                   "needs a stratified random point sample (see `geouic sample-design`).")
@click.option("--clusters", is_flag=True,
              help="MAP holds clusters without a legend: report NMI, ARI and Hungarian-matched accuracy.")
@output_folder_opt("Report folder to create.")
@click.option("--no-figures", is_flag=True, help="Skip the PNG figures (faster; the HTML then has tables only).")
@class_nodata_opt
@mem_limit_opt
@overwrite_opt
@verbosity
@handle_errors
@echo_warnings()
def cli(map_path, reference, field, area_adjusted, clusters, output, no_figures, nodata, mem_limit, overwrite):
    """Compare MAP (a class raster; 0 = unclassified) with reference data and write a report folder.

    The folder holds report.json, confusion.csv, PNG figures, report.html (self-contained) and
    report.md.

    \b
    geouic accuracy landcover.tif --reference validation_points.gpkg --field ref --area-adjusted -o report/
    geouic accuracy classes.tif --reference reference.tif --clusters -o report/
    """
    from geouic.api import accuracy
    from geouic.output import check_output
    from geouic.paths import check_distinct

    check_distinct({"output": output}, {"map_path": map_path, "reference": reference}, folders=["output"])
    check_output(output, overwrite=overwrite, folder=True)
    status(f"Assessing {map_path} against {reference}...")
    with progress_callback("Assessing") as update:
        report = accuracy(map_path, reference=reference, field=field, area_adjusted=area_adjusted,
                          clusters=clusters, output=output, figures=not no_figures, overwrite=overwrite,
                          mem_limit_mb=mem_limit, progress=update, nodata=nodata)
    click.echo(_summary(report, output))


def _summary(result, output) -> str:
    line = f"OA {result.overall_accuracy:.3f}, kappa {result.kappa:.3f}, n = {result.n_samples:,}"
    if result.area_adjusted is not None:
        oa = result.area_adjusted.overall_accuracy
        line += f"; area-adjusted OA {oa.estimate:.3f} \u00b1 {oa.ci95:.3f}"
    if result.clusters is not None:
        c = result.clusters
        line = (f"matched OA {c.matched_overall_accuracy:.3f}, majority OA {c.majority_overall_accuracy:.3f}, "
                f"NMI {c.nmi:.3f}, ARI {c.ari:.3f}, "
                f"n = {result.n_samples:,}")
    return f"{line} -> {output}"
