"""``geouic predict``: apply a saved model to a scene."""

from __future__ import annotations

import click

from geouic.cli.options import bands_opt, handle_errors, mem_limit_opt, output_opt, overwrite_opt, parse_bands, verbosity


@click.command(short_help="Apply a saved model to a scene.")
@click.argument("model", type=click.Path())
@click.argument("scene", type=click.Path())
@output_opt
@bands_opt
@mem_limit_opt
@click.option("--confidence", type=click.Path(dir_okay=False), default=None, help="Also write per-pixel confidence.")
@click.option("--entropy", type=click.Path(dir_okay=False), default=None, help="Also write per-pixel entropy.")
@click.option("--memberships", type=click.Path(dir_okay=False), default=None, help="Also write class memberships.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="UIC models: torch device.")
@click.option("--cog", is_flag=True, help="Write a Cloud Optimized GeoTIFF.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Threads for prediction.")
@overwrite_opt
@verbosity
@handle_errors
def cli(model, scene, output, bands, mem_limit, confidence, entropy, memberships, device, cog, workers, overwrite):
    """Classify SCENE with the fitted MODEL (from `classify --save-model` or `train`).

    The classes mean the same as in the scene(s) the model was trained on. The scene must
    have the bands the model was trained on (select them with --bands).
    """
    from geouic.cli.classify import run_prediction
    from geouic.model import load_model
    from geouic.output import check_output
    from geouic.raster import open_raster

    extras = {k: v for k, v in (("confidence", confidence), ("entropy", entropy),
                                ("memberships", memberships)) if v}
    for path in [output, *extras.values()]:
        check_output(path, overwrite=overwrite)
    engine = load_model(model)
    if device and hasattr(engine, "set_device"):
        engine.set_device(device)
    with open_raster(scene, bands=parse_bands(bands)) as source:
        engine.check_bands(source)
        run_prediction(source, engine, output, extras=extras, mem_limit=mem_limit, overwrite=overwrite,
                       cog=cog, workers=workers)
