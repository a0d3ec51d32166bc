"""``geouic classify``: fit an engine on a scene and write its class map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from geouic.cli.options import (
    EngineArgs, bands_opt, co_opt, cog_opt, engine_options, extra_outputs, handle_errors, mem_limit_opt, output_opt,
    nodata_opt, overwrite_opt, progress_phases, status, verbosity, workers_opt,
)

save_model_opt = click.option("--save-model", type=click.Path(dir_okay=False), default=None,
                              help="Also save the fitted model (apply it elsewhere with `geouic predict`).")


@click.command(short_help="Classify a scene into a thematic map.")
@click.argument("scene", type=click.Path())
@output_opt
@engine_options
@bands_opt
@mem_limit_opt
@save_model_opt
@extra_outputs
@cog_opt
@co_opt
@nodata_opt
@workers_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(scene: str, output: str, engine_args: EngineArgs, bands: list[str] | None, mem_limit: float,
        save_model: str | None, extras: dict[str, str], cog: bool, creation_options: tuple[str, ...],
        nodata: float | None, workers: int | None, overwrite: bool) -> None:
    """Classify SCENE (any GDAL raster) into a thematic GeoTIFF of classes 1..K (0 = nodata).

    \b
    geouic classify scene.tif --classes 12 -o classes.tif
    geouic classify scene.tif --classes 12 --method isodata --min-class-size 20 -o classes.tif
    geouic classify scene.tif --classes 8 --method fcm --memberships m.tif -o classes.tif
    geouic classify scene.tif --method mlc --training polygons.gpkg --field class --reject 0.99 -o lc.tif
    geouic classify scene.tif --method mlc --training classes.tif -o hybrid.tif
    """
    from geouic.api import classify
    from geouic.output import check_output
    from geouic.paths import check_distinct, thematic_files

    check_distinct({"output": thematic_files(output), **extras, "save_model": save_model},
                   {"scene": scene, "training": engine_args.training})
    for path in [*map(str, thematic_files(output)), *extras.values(), *([save_model] if save_model else [])]:
        check_output(path, overwrite=overwrite)
    engine = engine_args.make()

    def opened(source: Any, engine: Any) -> None:
        status(f"Fitting {engine.method} on {source.path} ({source.width}x{source.height}, {source.count} bands)...")

    with progress_phases("Training", "Classifying") as (fit_update, update):
        result = classify(scene, engine=engine, output=output, bands=bands, nodata=nodata,
                          training=engine_args.training, field=engine_args.field, confidence=extras.get("confidence"),
                          entropy=extras.get("entropy"), memberships=extras.get("memberships"), mem_limit_mb=mem_limit,
                          overwrite=overwrite, cog=cog, creation_options=creation_options, workers=workers,
                          progress=update, fit_progress=fit_update, on_open=opened)
    echo_summary(result, engine, [scene], save_model=save_model, overwrite=overwrite)


def echo_summary(result: Any, engine: Any, scenes: Sequence[object], *, save_model: str | None,
                 overwrite: bool) -> None:
    """Save the model when asked and print the summary line (shared with ``predict``)."""
    line = result.summary()
    if save_model:
        from geouic.model import save_model as _save

        _save(engine, save_model, overwrite=overwrite, extra={"trained_on": [str(s) for s in scenes]})
        line += f"; model -> {save_model}"
    click.echo(line)
