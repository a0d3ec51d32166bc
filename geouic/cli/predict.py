"""``geouic predict``: apply a saved model to a scene."""

from __future__ import annotations

import click

from geouic.cli.options import bands_opt, handle_errors, mem_limit_opt, overwrite_opt, parse_bands, verbosity


@click.command(short_help="Apply a saved model to one or several scenes.")
@click.argument("model", type=click.Path())
@click.argument("scene", metavar="SCENE...", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file; for several scenes a template such as out/{stem}_classes.tif.")
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
    """Classify each SCENE with the fitted MODEL (from `classify --save-model` or `train`).

    The classes mean the same as in the scene(s) the model was trained on. The scene must
    have the bands the model was trained on (select them with --bands). With several scenes,
    -o (and --confidence, --entropy, --memberships) are templates: {stem}, {name}, {folder},
    {parent}, {ext}, {index}.

    \b
    geouic predict region.geouic d.tif -o d_classes.tif
    geouic predict region.geouic scenes/*.tif -o out/{stem}_classes.tif
    """
    from geouic.batch import output_paths
    from geouic.cli.classify import run_prediction
    from geouic.model import load_model
    from geouic.output import check_output
    from geouic.raster import open_raster

    scenes = list(scene)
    extras = {k: v for k, v in (("confidence", confidence), ("entropy", entropy),
                                ("memberships", memberships)) if v}
    outputs = output_paths(output, scenes)
    extra_paths = {k: output_paths(v, scenes, option=f"--{k}") for k, v in extras.items()}
    for path in [*outputs, *(p for paths in extra_paths.values() for p in paths)]:
        check_output(path, overwrite=overwrite)
    engine = load_model(model)
    if device and hasattr(engine, "set_device"):
        engine.set_device(device)
    for i, (path, out) in enumerate(zip(scenes, outputs)):
        with open_raster(path, bands=parse_bands(bands)) as source:
            engine.check_bands(source)
            run_prediction(source, engine, out, extras={k: v[i] for k, v in extra_paths.items()},
                           mem_limit=mem_limit, overwrite=overwrite, cog=cog, workers=workers)
