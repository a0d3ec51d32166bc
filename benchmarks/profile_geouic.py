"""Where do the time and the memory of ``geouic classify --method kmeans`` go?

Runs the ``geouic classify`` command in this process, with a thread that samples the
process's resident set size (RSS) every few milliseconds and wrappers that mark the phases
of a run (imports, opening, sampling, normalising, k-means fit, window prediction, closing the
output: tags, overviews, rename). Prints, per phase, its wall time and the highest RSS seen
while it ran, then the process's peak RSS from the kernel (``ru_maxrss``).

Usage::

    python benchmarks/profile_geouic.py SCENE [--cprofile N] [--no-overviews] -- [classify options]

    python benchmarks/profile_geouic.py benchmarks/_work/scene_4000/scene.tif -- --workers 2
    GDAL_CACHEMAX=64 python benchmarks/profile_geouic.py scene.tif -- --mem-limit 32

``--no-overviews`` writes the map without internal overviews (not a CLI option: it patches
the default :class:`geouic.output.ThematicProfile`) to measure what overviews cost.
``--cprofile N`` also prints the N most expensive functions (cumulative time, main thread only).
This is a measuring tool for the benchmark; it changes nothing in geouic.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

T0 = time.perf_counter()


class RssSampler(threading.Thread):
    """Sample this process's RSS (from /proc/self/statm) every ``interval`` seconds."""

    def __init__(self, interval: float = 0.005):
        super().__init__(daemon=True)
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), self.rss()))
            time.sleep(self.interval)


class Phases:
    """Named, possibly nested intervals of the run."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float]] = []

    def wrap(self, owner: object, attr: str, name: str) -> None:
        func = getattr(owner, attr)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.spans.append((name, t, time.perf_counter()))

        setattr(owner, attr, wrapper)

    def mark(self, name: str, start: float, end: float) -> None:
        self.spans.append((name, start, end))


def report(phases: Phases, sampler: RssSampler) -> None:
    mb = 1024 * 1024
    print(f"\n{'phase':<34}{'start s':>9}{'wall s':>9}{'max RSS MB':>12}{'RSS at start':>14}")
    for name, a, b in sorted(phases.spans, key=lambda s: s[1]):
        inside = [r for t, r in sampler.samples if a <= t <= b]
        before = [r for t, r in sampler.samples if t <= a]
        peak = max(inside) / mb if inside else float("nan")
        start = before[-1] / mb if before else float("nan")
        print(f"{name:<34}{a - T0:>9.2f}{b - a:>9.2f}{peak:>12.0f}{start:>14.0f}")
    spans = {name: (a, b) for name, a, b in phases.spans}
    apply, close = spans.get("apply_engine (predict + write)"), spans.get("  writer close (tags, overviews)")
    if apply and close:  # the window loop: from apply_engine's start to the first writer close
        a, b = apply[0], min(c for n, c, _ in phases.spans if n == "  writer close (tags, overviews)")
        inside = [r for t, r in sampler.samples if a <= t <= b]
        print(f"{'  (window loop: read, predict, write)':<34}{a - T0:>9.2f}{b - a:>9.2f}"
              f"{max(inside) / mb if inside else float('nan'):>12.0f}")
    peak_sampled = max(r for _, r in sampler.samples) / mb
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS sampled every {sampler.interval * 1000:.0f} ms: {peak_sampled:.0f} MB; "
          f"kernel ru_maxrss: {maxrss:.0f} MB; total wall {time.perf_counter() - T0:.2f} s")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene", type=Path)
    parser.add_argument("--output", type=Path, default=None, help="class map (default: a temporary file)")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    parser.add_argument("--no-overviews", action="store_true")
    args = parser.parse_args(argv)

    sampler = RssSampler()
    sampler.start()
    phases = Phases()

    t = time.perf_counter()
    import geouic.cli.classify as classify_cli
    import geouic.cluster._kmeans as kmeans_mod
    import geouic.engine as engine_mod
    import geouic.output as output_mod
    import geouic.pipeline as pipeline_mod
    import geouic.raster as raster_mod
    import geouic.sampling as sampling_mod
    phases.mark("import geouic (+sklearn, rasterio)", t, time.perf_counter())

    phases.wrap(raster_mod, "open_raster", "open + probe")
    phases.wrap(engine_mod.PixelEngine, "fit", "fit (sample + normalise + k-means)")
    phases.wrap(engine_mod, "sample_pixels", "  sample_pixels")
    phases.wrap(sampling_mod.Normalizer, "fit", "  Normalizer.fit")
    phases.wrap(kmeans_mod.KMeans, "fit", "  KMeans.fit")
    phases.wrap(pipeline_mod, "apply_engine", "apply_engine (predict + write)")
    phases.wrap(output_mod._AtomicRaster, "close", "  writer close (tags, overviews)")
    if args.no_overviews:
        orig = output_mod.ThematicProfile

        def profile_factory(*a, **k):
            k.setdefault("overviews", False)
            return orig(*a, **k)

        output_mod.ThematicProfile = profile_factory  # looked up at call time by the CLI

    out_dir = None
    output = args.output
    if output is None:
        out_dir = tempfile.TemporaryDirectory(prefix="geouic_prof_")
        output = Path(out_dir.name) / "classes.tif"
    cmd = [str(args.scene), "--method", "kmeans", "-o", str(output), "--overwrite", *extra]
    print("geouic classify " + " ".join(cmd), flush=True)

    prof = None
    if args.cprofile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t = time.perf_counter()
    try:
        classify_cli.cli.main(cmd, standalone_mode=False)
    finally:
        phases.mark("classify command (all)", t, time.perf_counter())
        if prof is not None:
            prof.disable()
        time.sleep(0.02)
        sampler.stop.set()
        sampler.join()
    report(phases, sampler)
    if prof is not None:
        import pstats

        print()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.cprofile)
    if out_dir is not None:
        out_dir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
