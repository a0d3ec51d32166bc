"""``geouic merge``: join classes of a class map, by list or along the dendrogram of class means."""

from __future__ import annotations

import click

from geouic.cli.options import (
    CliError, bands_opt, co_opt, echo_warnings, handle_errors, mem_limit_opt, nodata_opt, output_opt, overwrite_opt,
    parse_bands, progress_callback, status, verbosity,
)


def parse_groups(values: tuple[str, ...]) -> list[list[int]] | None:
    """``("3,7", "4,5")`` -> ``[[3, 7], [4, 5]]``."""
    groups = []
    for text in values:
        try:
            groups.append([int(t) for t in text.replace(" ", "").split(",") if t])
        except ValueError:
            raise CliError(f"--merge {text}: list class codes separated by commas, e.g. --merge 3,7.") from None
    return groups or None


@click.command(short_help="Merge classes of a class map.")
@click.argument("class_map", metavar="CLASS_MAP", type=click.Path())
@click.option("--merge", "merge_", multiple=True, metavar="A,B[,...]",
              help="Classes to join into one (repeatable): --merge 3,7 --merge 4,5.")
@click.option("--to", "to", type=int, default=None,
              help="Merge down to this many classes along the Ward dendrogram of the class means.")
@click.option("--scene", type=click.Path(), default=None, help="With --to: the image to compute class means from.")
@click.option("--stats", "stats", type=click.Path(), default=None,
              help="With --to: a stats.json from `geouic stats` instead of --scene.")
@bands_opt
@click.option("--keep-codes", is_flag=True,
              help="Keep each merged class's largest member's code (default: renumber 1..N).")
@output_opt
@co_opt
@nodata_opt
@mem_limit_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(class_map, merge_, to, scene, stats, bands, keep_codes, output, creation_options, nodata, mem_limit,
        overwrite):
    """Join classes of CLASS_MAP and write the merged map with colours, names, .qml and <stem>.merge.csv.

    A merged class keeps the colour and name of its largest member ("class 3+7" when the
    names were generic); classes are renumbered 1..N unless --keep-codes is given. The
    "unassigned" class of assign-schema keeps its code, name and colour either way, and --to
    never joins it to another class.

    \b
    geouic merge classes.tif --merge 3,7 --merge 4,5 -o merged.tif
    geouic merge classes.tif --to 8 --scene scene.tif -o merged.tif
    geouic merge classes.tif --to 8 --stats stats/stats.json -o merged.tif
    """
    from pathlib import Path

    from geouic.classstats import merge_classes
    from geouic.output import check_output
    from geouic.paths import check_distinct, thematic_files

    stem = Path(output).with_suffix("")
    check_distinct({"output": [*thematic_files(output), stem.with_name(stem.name + ".merge.csv")]},
                   {"class_map": class_map, "scene": scene, "stats": stats})
    for path in thematic_files(output)[1:]:  # the map's style and names follow the map's --overwrite rule
        check_output(path, overwrite=overwrite)
    groups = parse_groups(merge_)
    status(f"Merging classes of {class_map}...")
    with echo_warnings(), progress_callback("Merging") as update:
        result = merge_classes(class_map, output, groups=groups, to=to, scene=scene, stats=stats,
                               keep_codes=keep_codes, bands=parse_bands(bands), mem_limit_mb=mem_limit,
                               overwrite=overwrite, creation_options=creation_options, nodata=nodata,
                               progress=update)
    click.echo(result.summary())
