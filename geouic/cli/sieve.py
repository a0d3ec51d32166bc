"""``geouic sieve``: dissolve patches below a minimum mapping unit into their longest-border neighbour."""

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


@click.command(short_help="Sieve a class map to a minimum mapping unit.")
@click.argument("class_map", metavar="CLASS_MAP", type=click.Path())
@click.option("--mmu", required=True, metavar="SIZE",
              help="Minimum mapping unit with its unit: pixels (20px) or hectares (0.5ha).")
@click.option("--connectivity", type=click.Choice(["4", "8"]), default="4", show_default=True,
              help="Pixels touching by an edge (4) or also by a corner (8) form one patch.")
@output_opt
@click.option("--overviews/--no-overviews", default=True, show_default=True,
              help="Build internal overviews (mode resampling) for fast display.")
@co_opt
@nodata_opt
@mem_limit_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(class_map, mmu, connectivity, output, overviews, creation_options, nodata, mem_limit,
        overwrite):
    """Dissolve the patches of CLASS_MAP smaller than --mmu into their longest-border neighbour.

    Patches are dissolved smallest first, each into the class it shares the longest border
    with; nodata never grows and is never filled.

    The output keeps the colours, class names, .qml style and provenance tags of CLASS_MAP
    (the step and its parameters are added to GEOUIC_STEPS). Exact across windows: the result
    does not depend on --mem-limit.

    \b
    geouic sieve landcover.tif --mmu 0.5ha -o landcover_mmu.tif
    geouic sieve classes.tif --mmu 20px --connectivity 8 -o classes_mmu.tif
    """
    from geouic.postprocess import sieve

    from geouic.paths import check_distinct

    check_distinct({"output": output}, {"class_map": class_map})  # before any word is printed
    status(f"Sieving {class_map} to {mmu}...")
    with echo_warnings(), progress_callback("Sieving") as progress:
        result = sieve(class_map, output, mmu=mmu, connectivity=int(connectivity), mem_limit_mb=mem_limit,
                       overviews=overviews, overwrite=overwrite, nodata=nodata,
                       creation_options=creation_options, progress=progress)
    click.echo(result.summary())
