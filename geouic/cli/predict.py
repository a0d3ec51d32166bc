"""``geouic predict``: apply a saved model to a scene."""

from __future__ import annotations

import click

from geouic.cli.classify import echo_summary
from geouic.cli.options import (
    bands_opt, co_opt, cog_opt, extra_outputs, handle_errors, mem_limit_opt, nodata_opt, output_opt, overwrite_opt,
    progress_callback, verbosity, workers_opt,
)


@click.command(short_help="Apply a saved model to a scene.")
@click.argument("model", type=click.Path())
@click.argument("scene", type=click.Path())
@output_opt
@bands_opt
@mem_limit_opt
@extra_outputs
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="UIC models: torch device.")
@cog_opt
@co_opt
@nodata_opt
@workers_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(model: str, scene: str, output: str, bands: list[str] | None, mem_limit: float, extras: dict[str, str],
        device: str | None, cog: bool, creation_options: tuple[str, ...], nodata: float | None,
        workers: int | None, overwrite: bool) -> None:
    """Classify SCENE with the fitted MODEL (from `classify --save-model` or `train`).

    The classes mean the same as in the scene(s) the model was trained on. The scene must
    have the bands the model was trained on (select them with --bands).
    """
    from geouic.model import load_model
    from geouic.output import ThematicProfile, check_output
    from geouic.paths import check_distinct, thematic_files
    from geouic.pipeline import apply_engine
    from geouic.raster import open_raster

    check_distinct({"output": thematic_files(output), **extras}, {"model": model, "scene": scene})
    for path in [*map(str, thematic_files(output)), *extras.values()]:
        check_output(path, overwrite=overwrite)
    profile = ThematicProfile(cog=cog).with_options(creation_options)
    engine = load_model(model)
    if device and hasattr(engine, "set_device"):
        engine.set_device(device)
    with open_raster(scene, bands=bands, nodata=nodata) as source:
        engine.check_bands(source)
        with progress_callback("Classifying") as update:
            result = apply_engine(source, engine, output, extras=extras, mem_limit_mb=mem_limit, overwrite=overwrite,
                                  profile=profile, workers=workers, progress=update)
        echo_summary(result, engine, [source.path], save_model=None, overwrite=overwrite)
