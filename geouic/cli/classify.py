"""``geouic classify``: fit an engine on a scene and write its class map."""

from __future__ import annotations

import click

from geouic.cli.options import (
    CliError, bands_opt, handle_errors, mem_limit_opt, output_opt, overwrite_opt, parse_bands,
    progress_callback, seed_opt, status, verbosity,
)

# Options that belong to one method only: option name -> (methods, estimator parameter).
METHOD_OPTIONS: dict[str, tuple[frozenset[str], str]] = {
    "max_iterations": (frozenset({"kmeans", "isodata", "fcm"}), "max_iter"),
    "min_classes": (frozenset({"isodata"}), "min_clusters"),
    "max_classes": (frozenset({"isodata"}), "max_clusters"),
    "convergence": (frozenset({"isodata"}), "convergence"),
    "min_class_size": (frozenset({"isodata"}), "min_class_size"),
    "max_std": (frozenset({"isodata"}), "max_std"),
    "min_distance": (frozenset({"isodata"}), "min_distance"),
    "max_merges": (frozenset({"isodata"}), "max_merges"),
    "sample_interval": (frozenset({"isodata"}), "sample_interval"),
    "fuzziness": (frozenset({"fcm"}), "m"),
    "reject": (frozenset({"mlc"}), "reject"),
    "priors": (frozenset({"mlc"}), "priors"),
    "epochs": (frozenset({"uic"}), "epochs"),
    "patch_size": (frozenset({"uic"}), "patch_size"),
    "batch_size": (frozenset({"uic"}), "batch_size"),
    "lr": (frozenset({"uic"}), "lr"),
    "device": (frozenset({"uic"}), "device"),
}


def method_params(method: str, given: dict) -> dict:
    """Estimator parameters from the method-specific options that were given."""
    params = {}
    for opt, value in given.items():
        if value is None or opt not in METHOD_OPTIONS:
            continue
        methods, param = METHOD_OPTIONS[opt]
        if method not in methods:
            flag = "--" + opt.replace("_", "-")
            raise CliError(f"{flag} applies to --method {'/'.join(sorted(methods))}, not {method}.")
        params[param] = value
    return params


def engine_options(func):
    """Options that choose and tune the engine (shared with ``geouic train``)."""
    from geouic.engine import METHODS

    opts = [
        click.option("--method", type=click.Choice(METHODS, case_sensitive=False), default="uic",
                     show_default=True, help="Classification engine."),
        click.option("-k", "--classes", "n_classes", type=int, default=None,
                     help="Number of classes K (2-65535; clustering methods). [default: 12]"),
        bands_opt, seed_opt,
        click.option("--sample-size", type=click.IntRange(min=100), default=100_000, show_default=True,
                     help="Pixels sampled to fit clustering methods."),
        click.option("--normalize", type=click.Choice(["zscore", "robust", "none"]), default="zscore",
                     show_default=True, help="Per-band normalisation from valid pixels."),
        click.option("--max-iterations", type=int, default=None, help="Maximum iterations (kmeans, isodata, fcm)."),
        click.option("--min-classes", type=int, default=None, help="ISODATA: fewest classes (default K/2)."),
        click.option("--max-classes", type=int, default=None, help="ISODATA: most classes (default K, as in ArcGIS/ERDAS; 2K allows more splits)."),
        click.option("--convergence", type=float, default=None,
                     help="ISODATA: fraction of pixels unchanged that stops iterating (default 0.98)."),
        click.option("--min-class-size", type=int, default=None, help="ISODATA: smallest class in pixels (default 20)."),
        click.option("--max-std", type=float, default=None, help="ISODATA: std (z units) above which a class splits."),
        click.option("--min-distance", type=float, default=None, help="ISODATA: centre distance (z units) below which classes merge."),
        click.option("--max-merges", type=int, default=None, help="ISODATA: merges per iteration (default 2)."),
        click.option("--sample-interval", type=int, default=None, help="ISODATA: use every n-th sampled pixel."),
        click.option("--fuzziness", type=float, default=None, help="FCM: fuzziness exponent m > 1 (default 2)."),
        click.option("--training", type=click.Path(), default=None,
                     help="MLC: training polygons/points (any OGR vector) or a class raster on the same grid."),
        click.option("--field", default=None, help="MLC: class field of the training vector."),
        click.option("--reject", type=float, default=None,
                     help="MLC: chi-square probability P; pixels beyond it are unclassified (0)."),
        click.option("--priors", type=click.Choice(["equal", "sample"]), default=None, help="MLC: class priors."),
        click.option("--epochs", type=int, default=None, help="UIC: training epochs (default: sized from the scene)."),
        click.option("--patch-size", type=int, default=None, help="UIC: training patch size in pixels."),
        click.option("--batch-size", type=int, default=None, help="UIC: patches per batch."),
        click.option("--lr", type=float, default=None, help="UIC: learning rate."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="UIC: torch device."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def build_engine(method: str, n_classes, seed, sample_size, normalize, params: dict):
    """The engine for the options given."""
    from geouic.engine import SUPERVISED, make_engine

    method = method.lower()
    if method not in SUPERVISED and n_classes is None:
        n_classes = 12
    return make_engine(method, n_classes=n_classes, seed=seed, sample_size=sample_size,
                       normalize=normalize, **params)


def open_training(source, path: str | None, field: str | None, method: str):
    """Training data for supervised methods, on the scene's grid."""
    from geouic.engine import SUPERVISED

    if method not in SUPERVISED:
        if path or field:
            raise CliError(f"--training/--field apply to --method mlc, not {method}.")
        return None
    if not path:
        raise CliError("--method mlc needs --training (polygons, points or a class raster).")
    from geouic.reference import Grid, open_reference

    return open_reference(path, Grid.from_dataset(source.dataset), field=field)


@click.command(short_help="Classify a scene into a thematic map.")
@click.argument("scene", type=click.Path())
@output_opt
@engine_options
@mem_limit_opt
@click.option("--save-model", type=click.Path(dir_okay=False), default=None,
              help="Also save the fitted model (apply it elsewhere with `geouic predict`).")
@click.option("--confidence", type=click.Path(dir_okay=False), default=None,
              help="Also write per-pixel confidence (float32).")
@click.option("--entropy", type=click.Path(dir_okay=False), default=None,
              help="Also write per-pixel class entropy (float32; fcm, mlc, uic).")
@click.option("--memberships", type=click.Path(dir_okay=False), default=None,
              help="Also write class memberships/probabilities, one float32 band per class (fcm, mlc, uic).")
@click.option("--cog", is_flag=True, help="Write a Cloud Optimized GeoTIFF.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Threads for prediction (default: free cores).")
@overwrite_opt
@verbosity
@handle_errors
def cli(scene, output, method, n_classes, bands, seed, sample_size, normalize, training, field,
        mem_limit, save_model, confidence, entropy, memberships, cog, workers, overwrite, **given):
    """Classify SCENE (any GDAL raster) into a thematic GeoTIFF of classes 1..K (0 = nodata).

    \b
    geouic classify scene.tif --classes 12 -o classes.tif
    geouic classify scene.tif --classes 12 --method isodata --min-class-size 20 -o classes.tif
    geouic classify scene.tif --classes 8 --method fcm --memberships m.tif -o classes.tif
    geouic classify scene.tif --method mlc --training polygons.gpkg --field class --reject 0.99 -o lc.tif
    geouic classify scene.tif --method mlc --training classes.tif -o hybrid.tif
    """
    import time

    from geouic.output import check_output
    from geouic.raster import open_raster

    method = method.lower()
    params = method_params(method, given)
    extras = {k: v for k, v in (("confidence", confidence), ("entropy", entropy),
                                ("memberships", memberships)) if v}
    for path in [output, *extras.values(), *([save_model] if save_model else [])]:
        check_output(path, overwrite=overwrite)
    engine = build_engine(method, n_classes, seed, sample_size, normalize, params)
    with open_raster(scene, bands=parse_bands(bands)) as source:
        ref = open_training(source, training, field, method)
        status(f"Fitting {method} on {source.path} ({source.width}x{source.height}, {source.count} bands)...")
        t0 = time.perf_counter()
        engine.fit([source], training=ref)
        run_prediction(source, engine, output, extras=extras, mem_limit=mem_limit, overwrite=overwrite,
                       cog=cog, workers=workers, save_model=save_model,
                       fit_seconds=time.perf_counter() - t0)


def run_prediction(source, engine, output, *, extras, mem_limit, overwrite, cog, workers, save_model=None,
                   fit_seconds=None):
    """Predict, write, save the model, and print the summary line (shared with `predict`)."""
    from geouic.output import ThematicProfile
    from geouic.pipeline import apply_engine

    with progress_callback("Classifying") as update:
        result = apply_engine(source, engine, output, extras=extras, mem_limit_mb=mem_limit,
                              overwrite=overwrite, profile=ThematicProfile(cog=cog), workers=workers,
                              progress=update)
    result.fit_seconds = fit_seconds or 0.0
    if save_model:
        from geouic.model import save_model as _save

        _save(engine, save_model, overwrite=overwrite, extra={"trained_on": [str(source.path)]})
    line = result.summary()
    if save_model:
        line += f"; model -> {save_model}"
    click.echo(line)
    return result
