"""``geouic assign-schema``: turn spectral classes into the land-cover classes of a schema."""

from __future__ import annotations

import click

from geouic.cli.options import (
    CliError, class_nodata_opt, co_opt, echo_warnings, handle_errors, mem_limit_opt, overwrite_opt, progress_callback,
    status, verbosity,
)


@click.command(short_help="Map spectral classes to land-cover classes of a schema.")
@click.argument("class_map", metavar="CLASS_MAP...", nargs=-1, required=True, type=click.Path())
@click.option("--reference", type=click.Path(), default=None,
              help="Reference polygons/points (any OGR vector, reprojected as needed) or a label raster.")
@click.option("--field", default=None, help="Class field of a vector reference (values = schema names or codes).")
@click.option("--mapping", type=click.Path(), default=None,
              help="Mapping file (YAML or CSV: class -> schema code or name) instead of --reference.")
@click.option("--schema", default=None, metavar="FILE|PRESET",
              help="Schema YAML file or preset (nlcd, worldcover, corine1). Default: the mapping's "
                   "embedded schema, or the reference's values with generated colours.")
@click.option("--method", type=click.Choice(["majority", "hungarian"], case_sensitive=False), default="majority",
              show_default=True, help="majority: many-to-one vote; hungarian: one-to-one matching.")
@click.option("--min-purity", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Classes whose chosen reference class holds a smaller share of their labelled pixels "
                   "are unassigned.")
@click.option("--unassigned-class", default=None, metavar="NAME",
              help="Schema class for unassigned spectral classes (default: a class of their own, "
                   "'unassigned', code 255 in uint8 maps; nodata stays 0).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file; for several class maps (with --mapping) a template such as {stem}_landcover.tif.")
@co_opt
@class_nodata_opt
@mem_limit_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(class_map, reference, field, mapping, schema, method, min_purity, unassigned_class, output,
        creation_options, nodata, mem_limit, overwrite):
    """Write a land-cover map from CLASS_MAP (e.g. from `geouic classify`) and reference data or a mapping.

    Besides the map (with the schema's colours, names and a QGIS .qml) it writes the mapping
    table <stem>.mapping.csv/.json (per class: pixels, labelled pixels, purity, assigned class,
    reference classes seen) and, when learned from references, <stem>.mapping.yaml, which
    re-applies the same mapping to other scenes classified with the same model.

    \b
    geouic assign-schema classes.tif --reference training.gpkg --field landcover --schema nlcd -o lc.tif
    geouic assign-schema classes.tif --reference training.gpkg --field class --method hungarian -o lc.tif
    geouic assign-schema other.tif --mapping lc.mapping.yaml -o other_lc.tif
    geouic assign-schema out/*_classes.tif --mapping lc.mapping.yaml -o out/{stem}_lc.tif
    """
    from geouic.api import assign_schema
    from geouic.assign import sidecar_paths
    from geouic.batch import output_paths
    from geouic.output import check_output
    from geouic.paths import check_distinct, thematic_files

    maps = list(class_map)
    if len(maps) > 1 and reference:
        raise CliError(f"--reference learns a mapping from one class map, not {len(maps)}; learn it on one, then "
                       "apply its .mapping.yaml to the others with --mapping.")
    outputs = output_paths(output, maps)
    for one, out in zip(maps, outputs):
        check_distinct({"output": [*thematic_files(out), *sidecar_paths(out).values()]},
                       {"class_map": one, "reference": reference, "mapping": mapping, "schema": schema})
        for path in thematic_files(out)[1 if len(maps) == 1 else 0:]:  # one map: its --overwrite rule
            check_output(path, overwrite=overwrite)

    if mapping and not reference:
        ctx = click.get_current_context()
        given = [f"--{name.replace('_', '-')}" for name in ("field", "method", "min_purity")
                 if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise CliError(f"{', '.join(given)} {verb} to --reference (learning a mapping), not to --mapping.")

    target = schema or ("the reference classes" if reference else "the mapping's schema")
    for one, out in zip(maps, outputs):
        status(f"Assigning the classes of {one} to {target}...")
        with echo_warnings(), progress_callback("Assigning") as update:
            result = assign_schema(one, output=out, reference=reference, mapping=mapping, schema=schema,
                                   field=field, method=method.lower(), min_purity=min_purity,
                                   unassigned_class=unassigned_class, mem_limit_mb=mem_limit,
                                   overwrite=overwrite, progress=update,
                                   creation_options=creation_options, nodata=nodata)
        click.echo(result.summary())
