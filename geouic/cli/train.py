"""``geouic train``: fit an engine on one or several scenes and save the model."""

from __future__ import annotations

from typing import Any

import click

from geouic.cli.options import (
    CliError, EngineArgs, bands_opt, engine_options, handle_errors, mem_limit_opt, nodata_opt, overwrite_opt,
    progress_callback, status, verbosity,
)


@click.command(short_help="Train a model on one or several scenes and save it.")
@click.argument("scenes", nargs=-1, required=True, type=click.Path())
@engine_options
@bands_opt
@click.option("--save-model", "-o", "save_model", required=True, type=click.Path(dir_okay=False),
              help="Model file to write (apply it with `geouic predict`).")
@nodata_opt
@mem_limit_opt
@overwrite_opt
@verbosity
@handle_errors
def cli(scenes: tuple[str, ...], engine_args: EngineArgs, bands: list[str] | None, save_model: str,
        nodata: float | None, mem_limit: float, overwrite: bool) -> None:
    """Train on SCENES (rasters with the same bands) and save the model to --save-model.

    Patches (or pixels, for pixel-wise methods) are drawn from every scene, so a class means
    the same in all of them and in any scene the model is later applied to.

    \b
    geouic train a.tif b.tif c.tif --classes 16 --save-model region.geouic
    geouic predict region.geouic d.tif -o d_classes.tif
    """
    import time

    from geouic.api import train
    from geouic.output import check_output
    from geouic.paths import check_distinct

    check_distinct({"save_model": save_model}, {"scenes": scenes, "training": engine_args.training})
    check_output(save_model, overwrite=overwrite)
    engine = engine_args.make()

    def opened(sources: Any, engine: Any) -> None:
        first = sources[0]
        for src in sources[1:]:
            if src.count != first.count:
                raise CliError(
                    f"{src.path} has {src.count} bands ({', '.join(src.band_names)}) but {first.path} has "
                    f"{first.count} ({', '.join(first.band_names)}); every scene needs the same bands (--bands)."
                )
        pixels = sum(s.width * s.height for s in sources)
        status(f"Training {engine.method} on {len(sources)} scene(s), {pixels:,} pixels, {sources[0].count} bands...")
        started.append(time.perf_counter())  # the fit starts now (the scenes are open)

    started: list[float] = []
    with progress_callback("Training") as update:
        train(list(scenes), engine=engine, bands=bands, nodata=nodata, training=engine_args.training,
              field=engine_args.field, save_model=save_model, overwrite=overwrite, progress=update, on_open=opened,
              mem_limit_mb=mem_limit)
    seconds = time.perf_counter() - started[0]
    click.echo(f"{engine.method}: {engine.n_classes_} classes from {len(scenes)} scene(s), "
               f"fit {seconds:.1f} s -> {save_model}")
