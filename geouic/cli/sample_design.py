"""``geouic sample-design``: stratified random validation points on a class map."""

from __future__ import annotations

import click

from geouic.cli.options import (
    CliError, echo_warnings, handle_errors, mem_limit_opt, nodata_opt, overwrite_opt, progress_callback, seed_opt,
    verbosity,
)


def parse_expected_ua(text: str) -> float | dict[int, float]:
    """``"0.8"`` -> 0.8 for every class; ``"1:0.7,2:0.9"`` -> per class (the others 0.8)."""
    try:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if len(parts) == 1 and ":" not in parts[0]:
            return float(parts[0])
        return {int(code): float(value) for code, value in (p.split(":", 1) for p in parts)}
    except ValueError:
        raise CliError(f"--expected-ua {text!r} is not understood; give one value such as 0.8, or "
                       "code:value pairs such as '1:0.7,2:0.9'.") from None


@click.command(short_help="Stratified random validation points on a class map.")
@click.argument("map_path", metavar="MAP", type=click.Path())
@click.option("-n", "--n", "n", type=click.IntRange(min=1), default=None,
              help="Sample size (omit it to size the sample from --target-se).")
@click.option("--allocation", type=click.Choice(["proportional", "equal", "olofsson"]), default="olofsson",
              show_default=True,
              help="proportional to area, equal per class, or olofsson: at least --min-per-class per class, "
                   "the rest proportional.")
@click.option("--min-per-class", type=click.IntRange(min=1), default=50, show_default=True,
              help="Minimum points per class of the olofsson allocation.")
@click.option("--target-se", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Target standard error of overall accuracy (e.g. 0.01): n from Cochran's formula.")
@click.option("--expected-ua", default="0.8", show_default=True, metavar="UA|CODE:UA,...",
              help="Expected user's accuracy for sizing: one value, or per class ('1:0.7,2:0.9').")
@seed_opt
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output GeoPackage (fields stratum and an empty ref).")
@nodata_opt
@mem_limit_opt
@overwrite_opt
@verbosity
@handle_errors
@echo_warnings()
def cli(map_path, n, allocation, min_per_class, target_se, expected_ua, seed, output, nodata, mem_limit,
        overwrite):
    """Draw stratified random points on MAP for the analyst to label.

    Strata are MAP's classes (0 and nodata are skipped). The points, at pixel centres in the
    map's CRS, go to a GeoPackage whose empty `ref` field the analyst fills in; then run
    `geouic accuracy MAP --reference points.gpkg --field ref --area-adjusted`.

    \b
    geouic sample-design landcover.tif --n 600 --allocation olofsson -o validation_points.gpkg
    geouic sample-design landcover.tif --target-se 0.01 --expected-ua 0.8 -o validation_points.gpkg
    """
    from geouic.design import stratified_sample, write_sample
    from geouic.output import check_output
    from geouic.paths import check_distinct

    if n is None and target_se is None:
        raise CliError("give --n (the sample size) or --target-se (to size it by Cochran's formula).")
    if n is not None and target_se is not None:
        raise CliError("--n and --target-se exclude each other: --target-se computes n.")
    check_distinct({"output": output}, {"map_path": map_path})
    check_output(output, overwrite=overwrite)
    with progress_callback("Sampling") as update:
        sample = stratified_sample(map_path, n=n, allocation=allocation, target_se=target_se,
                                   expected_ua=parse_expected_ua(expected_ua), min_per_class=min_per_class,
                                   seed=seed, mem_limit_mb=mem_limit, nodata=nodata,
                                   progress=update)
    write_sample(sample, output, overwrite=overwrite)
    drawn, mapped = int(sample.design.allocation.sum()), int(sample.design.pixels.sum())
    if n is not None and drawn < n:
        click.echo(f"Warning: --n {n:,} asks for more points than {map_path} has mapped pixels ({mapped:,}); "
                   f"drew {drawn:,}, every pixel.", err=True)
    click.echo(_table(sample.design))
    se = sample.design.expected_se
    click.echo(f"{sample.design.n:,} points ({allocation} allocation, seed {seed}); expected SE of overall "
               f"accuracy {se:.4f} if the expected user's accuracies hold -> {output}")


def _table(design) -> str:
    names = design.names or {}
    lines = [f"{'class':>6}  {'name':<20} {'pixels':>12} {'share':>7} {'points':>7} {'exp. UA':>7}"]
    for code, px, w, k, ua in zip(design.strata, design.pixels, design.weights, design.allocation,
                                  design.expected_ua):
        lines.append(f"{code:>6}  {names.get(code, '')[:20]:<20} {px:>12,} {w:>7.2%} {k:>7,} {ua:>7.2f}")
    return "\n".join(lines)
