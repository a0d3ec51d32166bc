"""``geouic predict``: apply a saved model to one or several scenes."""

from __future__ import annotations

import contextlib
import functools

import click

from geouic.cli._dask import dask_client, dask_opt
from geouic.cli.classify import echo_summary
from geouic.cli.options import (
    bands_opt, co_opt, cog_opt, extra_outputs, handle_errors, mem_limit_opt, nodata_opt, overwrite_opt,
    progress_callback, verbosity, workers_opt,
)


@click.command(short_help="Apply a saved model to one or several scenes.")
@click.argument("model", type=click.Path())
@click.argument("scene", metavar="SCENE...", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file; for several scenes a template such as out/{stem}_classes.tif.")
@bands_opt
@mem_limit_opt
@extra_outputs
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="UIC models: torch device.")
@cog_opt
@co_opt
@nodata_opt
@workers_opt
@dask_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(model: str, scene: tuple[str, ...], output: str, bands: list[str] | None, mem_limit: float,
        extras: dict[str, str], device: str | None, cog: bool, creation_options: tuple[str, ...],
        nodata: float | None, workers: int | None, dask_address: str | None, overwrite: bool) -> None:
    """Classify each SCENE with the fitted MODEL (from `classify --save-model` or `train`).

    The classes mean the same as in the scene(s) the model was trained on. The scene must
    have the bands the model was trained on (select them with --bands). With several scenes,
    -o (and --confidence, --entropy, --memberships) are templates: {stem}, {name}, {folder},
    {parent}, {ext}, {index}.

    \b
    geouic predict region.geouic d.tif -o d_classes.tif
    geouic predict region.geouic scenes/*.tif -o out/{stem}_classes.tif
    geouic predict region.geouic mosaic.vrt --dask tcp://127.0.0.1:8786 -o mosaic_classes.tif
    """
    from geouic.batch import output_paths
    from geouic.model import load_model
    from geouic.output import ThematicProfile, check_output
    from geouic.paths import check_distinct, thematic_files
    from geouic.pipeline import apply_engine
    from geouic.raster import open_raster

    scenes = list(scene)
    outputs = output_paths(output, scenes)
    extra_paths = {k: output_paths(v, scenes, option=f"--{k}") for k, v in extras.items()}
    per_scene = [{k: v[i] for k, v in extra_paths.items()} for i in range(len(scenes))]
    for one, out, extra in zip(scenes, outputs, per_scene):
        check_distinct({"output": thematic_files(out), **extra}, {"model": model, "scene": one})
        for path in [*map(str, thematic_files(out)), *extra.values()]:
            check_output(path, overwrite=overwrite)
    profile = ThematicProfile(cog=cog).with_options(creation_options)
    engine = load_model(model)
    if device and hasattr(engine, "set_device"):
        engine.set_device(device)
    with contextlib.ExitStack() as stack:
        apply = apply_engine
        if dask_address:  # window groups are tasks on the cluster; this process writes the maps
            from geouic.distributed import apply_engine_dask

            client = stack.enter_context(dask_client(dask_address, mem_limit=mem_limit)).client
            apply = functools.partial(apply_engine_dask, client, model=model, device=device, bands=bands,
                                      nodata=nodata)
        for one, out, extra in zip(scenes, outputs, per_scene):
            with open_raster(one, bands=bands, nodata=nodata) as source:
                engine.check_bands(source)
                with progress_callback("Classifying") as update:
                    result = apply(source, engine, out, extras=extra, mem_limit_mb=mem_limit, overwrite=overwrite,
                                   profile=profile, workers=workers, progress=update)
                echo_summary(result, engine, [source.path], save_model=None, overwrite=overwrite)
