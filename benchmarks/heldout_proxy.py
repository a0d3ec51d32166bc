"""Scenes shaped like issue 8's held-out scenes, cut from the dev scenes, scored like QUALITY.md.

The owners re-run UIC on scenes this project never sees (issue 8): a 4-band Landsat 8 scene of
1128x1428 pixels with an 8-class NLCD reference; a 13-band Sentinel-2 scene of 101x100 pixels
with a 5-class land-use reference; a 103-band ROSIS crop of 41x50 pixels with 3 classes. Their
*shapes* (few bands, tiny scenes, few classes) are what the dev scenes do not cover, so this
script cuts proxies of those shapes out of ``../shared/data`` and runs the quality benchmark
(:mod:`benchmarks.quality`, the same engines, seeds and both workflows) on them:

* ``nc4``, ``landsat5_4``: nc_landsat7_landclass96 and landsat5_amazon with their blue, green, red and
  near-infrared bands only (the held-out Landsat 8 scene's four), whole scene;
* ``nc_win<i>``: 101 x 100 windows of nc_landsat7_landclass96 (dense reference, 6 bands);
  ``aber_win<i>``: 151 x 150 windows of rsgislib_aber_s2 (polygons, 10 bands; no 101 x 100
  window holds 3 of its classes); ``aber2_win<i>``: the same size, windows holding 2 or more;
* ``ip_win<i>`` / ``sa_win<i>`` / ``s150_win<i>``: 41 x 50 windows of indian_pines_85x70, salinas_a
  and salinas_150 holding 3 classes (hyperspectral, 200-204 bands).

Windows are chosen from the reference alone, before any engine runs, by one rule per kind (it
decides which pixels are the test, as a held-out scene's extent does, and never looks at a
cluster map): slide the window in steps of 3 pixels; keep the windows whose labelled pixels hold
at least ``min_classes`` classes of at least 5 % each (classes under 2 % are unlabelled in the
crop); take the one with the most labelled pixels, then the next that overlaps it by at most a
quarter. Whole-scene proxies keep their reference as it is. K = the classes of the proxy's
reference. (salinas_a is a part of salinas_150, so their windows may overlap.)

Run (from the repository root; proxies are written to ``benchmarks/_work/proxy``)::

    PYTHONPATH=. .venv/bin/python -m benchmarks.heldout_proxy --threads 1 \
        --json benchmarks/_work/proxy.json --out benchmarks/_work/proxy.md
    PYTHONPATH=. .venv/bin/python -m benchmarks.heldout_proxy --report benchmarks/_work/proxy.json

Any ``benchmarks.quality`` option after ``--`` is passed on (``-- --engines uic,kmeans``).
"""

from __future__ import annotations

import sys

from benchmarks import _bench

_bench.set_thread_env(_bench.early_threads(sys.argv[1:]))  # before numpy starts its pools

import argparse  # noqa: E402
import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks import _quality_lib as ql  # noqa: E402

PROXY_DIR = _bench.ROOT / "benchmarks" / "_work" / "proxy"
ENGINES = "uic,uic-init,kmeans,kmeans-smooth3,isodata,gmm"


@dataclass(frozen=True)
class Cut:
    """How one family of proxies is cut from a dev scene."""

    prefix: str
    source: str  # a scene of benchmarks._quality_lib.SCENES with a raster or polygon reference
    kind: str
    bands: tuple[int, ...] | None = None  # 1-based band indexes kept (None: all)
    window: tuple[int, int] | None = None  # (rows, cols); None: the whole scene
    min_classes: int = 3
    n_windows: int = 2


CUTS = (
    Cut("nc4", "nc_landsat7_landclass96", "multispectral", bands=(1, 2, 3, 4)),
    Cut("landsat5_4", "landsat5_amazon", "multispectral", bands=(1, 2, 3, 4)),
    Cut("nc_win", "nc_landsat7_landclass96", "multispectral", window=(101, 100), min_classes=4),
    Cut("aber_win", "rsgislib_aber_s2", "multispectral", window=(151, 150), min_classes=3),
    Cut("aber2_win", "rsgislib_aber_s2", "multispectral", window=(151, 150), min_classes=2, n_windows=4),
    Cut("ip_win", "indian_pines_85x70", "hyperspectral", window=(41, 50)),
    Cut("sa_win", "salinas_a", "hyperspectral", window=(41, 50)),
    Cut("s150_win", "salinas_150", "hyperspectral", window=(41, 50)),
)


def _labels(scene: ql.Scene) -> np.ndarray:
    """The scene's first reference as a label raster (0 = unlabelled)."""
    lab = np.zeros(scene.valid.shape, np.int64)
    ref = scene.primary
    lab[ref.rows, ref.cols] = ref.codes
    return lab


def _clean(lab: np.ndarray, min_share: float = 0.02) -> np.ndarray:
    """``lab`` with the classes holding under ``min_share`` of its labelled pixels unlabelled."""
    codes, counts = np.unique(lab[lab > 0], return_counts=True)
    small = codes[counts < min_share * max(int(counts.sum()), 1)]
    return np.where(np.isin(lab, small), 0, lab)


def window_stats(lab: np.ndarray, valid: np.ndarray, size: tuple[int, int],
                 step: int = 3) -> list[tuple[int, int, int, int]]:
    """``(labelled pixels, classes of at least 5 %, row, col)`` of every window, after :func:`_clean`."""
    h, w = size
    rows, cols = lab.shape
    stats = []
    for r in range(0, max(rows - h, 0) + 1, step):
        for c in range(0, max(cols - w, 0) + 1, step):
            sub = _clean(np.where(valid[r:r + h, c:c + w], lab[r:r + h, c:c + w], 0))
            _, counts = np.unique(sub[sub > 0], return_counts=True)
            stats.append((int(counts.sum()), int((counts >= 0.05 * counts.sum()).sum()), r, c))
    return stats


def pick_windows(stats: list[tuple[int, int, int, int]], size: tuple[int, int], min_classes: int,
                 n: int) -> list[tuple[int, int]]:
    """The rule of the module docstring applied to :func:`window_stats`' windows."""
    h, w = size
    scored = sorted(((count, r, c) for count, major, r, c in stats if major >= min_classes),
                    key=lambda t: (-t[0], t[1], t[2]))
    picked: list[tuple[int, int]] = []
    for _, r, c in scored:
        if all(max(0, h - abs(r - pr)) * max(0, w - abs(c - pc)) <= 0.25 * h * w for pr, pc in picked):
            picked.append((r, c))
        if len(picked) == n:
            break
    return picked


def choose_windows(lab: np.ndarray, valid: np.ndarray, size: tuple[int, int], min_classes: int,
                   n: int, step: int = 3) -> list[tuple[int, int]]:
    """Top-left corners of the windows the module docstring's rule picks (reference only)."""
    return pick_windows(window_stats(lab, valid, size, step), size, min_classes, n)


def _write(folder: Path, src_path: Path, bands: tuple[int, ...] | None, win: tuple[int, int, int, int] | None,
           lab: np.ndarray) -> None:
    import rasterio
    from rasterio.windows import Window

    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(src_path) as src:
        idx = list(bands) if bands else list(range(1, src.count + 1))
        window = Window(win[1], win[0], win[3], win[2]) if win else None
        data = src.read(idx, window=window)
        profile = src.profile.copy()
        profile.update(count=len(idx), height=data.shape[1], width=data.shape[2], tiled=False,
                       transform=src.window_transform(window) if window else src.transform)
        profile.pop("blockxsize", None)
        profile.pop("blockysize", None)
        with rasterio.open(folder / "image.tif", "w", **profile) as dst:
            dst.write(data)
        ref_profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=1, dtype="uint8",
                           nodata=0, crs=profile.get("crs"), transform=profile["transform"])
        with rasterio.open(folder / "reference.tif", "w", **ref_profile) as dst:
            dst.write(lab.astype(np.uint8)[None])


def build_proxies(data_dir: Path = _bench.DATA, out: Path = PROXY_DIR) -> dict[str, dict[str, Any]]:
    """Cut every proxy (:data:`CUTS`) into ``out``; register each in ``ql.SCENES``; describe them."""
    import warnings

    made: dict[str, dict[str, Any]] = {}
    scenes: dict[str, tuple[ql.Scene, np.ndarray]] = {}  # nc and aber each serve two cuts
    stats: dict[tuple[str, tuple[int, int]], list[tuple[int, int, int, int]]] = {}
    for cut in CUTS:
        if cut.source not in scenes:
            loaded = ql.load_scene(cut.source, data_dir)
            scenes[cut.source] = (loaded, _labels(loaded))
        scene, lab = scenes[cut.source]
        src_path = Path(data_dir) / ql.SCENES[cut.source].image
        if cut.window is None:
            jobs = [(cut.prefix, None, lab)]
        else:
            h, w = cut.window
            key = (cut.source, cut.window)
            if key not in stats:
                stats[key] = window_stats(lab, scene.valid, cut.window)
            corners = pick_windows(stats[key], cut.window, cut.min_classes, cut.n_windows)
            jobs = [(f"{cut.prefix}{i}", (r, c, h, w), _clean(np.where(scene.valid, lab, 0)[r:r + h, c:c + w]))
                    for i, (r, c) in enumerate(corners)]
        for name, win, sub in jobs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _write(out / name, src_path, cut.bands, win, sub)
            note = f"proxy of {cut.source}" + (f", bands {list(cut.bands)}" if cut.bands else "")
            if win:
                note += f", rows {win[0]}:{win[0] + win[2]}, cols {win[1]}:{win[1] + win[3]}"
            codes, counts = np.unique(sub[sub > 0], return_counts=True)
            made[name] = {"source": cut.source, "kind": cut.kind, "note": note,
                          "classes": {int(a): int(b) for a, b in zip(codes, counts)}}
    (out / "proxies.json").write_text(json.dumps(made, indent=1))
    register(out)
    return made


def register(out: Path = PROXY_DIR) -> list[str]:
    """Register the proxies cut into ``out`` (its ``proxies.json``) in ``ql.SCENES``, half "P"."""
    made = json.loads((out / "proxies.json").read_text())
    for name, info in made.items():
        ql.SCENES[name] = ql.SceneSpec(f"{name}/image.tif", (ql.RefSpec(f"{name}/reference.tif"),), info["kind"],
                                       "P", info["note"])
    return list(made)


def report(path: Path) -> str:
    """Mean (min-max) matched and realistic OA per proxy and engine, and UIC against the best."""
    results = json.loads(Path(path).read_text())
    recs = results["records"]
    scenes = list(dict.fromkeys(r["scene"] for r in recs.values()))
    engines = [e for e in ENGINES.split(",") if any(r["engine"] == e for r in recs.values())]
    lines = []
    for part, title in (("matched", "matched OA, K = classes"), ("majority", "realistic, K = 3 x classes")):
        lines += [f"\n{title} (mean (min-max) over seeds)\n",
                  "| proxy | K | " + " | ".join(engines) + " | best classical | UIC - best |",
                  "|---|---|" + "---|" * (len(engines) + 2)]
        for sc in scenes:
            cells, means, k = [], {}, ""
            for e in engines:
                vals = []
                for r in recs.values():
                    if r["scene"] == sc and r["engine"] == e and r.get(part, {}).get("status") == "ok":
                        ref = next(iter(r[part]["scores"].values()))
                        vals.append(float(ref["oa"]))
                        k = r[part]["k"]
                if vals:
                    means[e] = float(np.mean(vals))
                    cells.append(f"{means[e]:.3f} ({min(vals):.3f}-{max(vals):.3f})")
                else:
                    cells.append("-")
            classical = {e: v for e, v in means.items() if e not in ("uic", "uic-init")}
            best = max(classical, key=lambda e: classical[e]) if classical else None
            tail = "- | -"
            if best:
                diff = f"{means['uic'] - classical[best]:+.3f}" if "uic" in means else "-"
                tail = f"{classical[best]:.3f} ({best}) | {diff}"
            lines.append(f"| {sc} | {k} | " + " | ".join(cells) + f" | {tail} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.heldout_proxy", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=PROXY_DIR.parent / "proxy.json")
    p.add_argument("--out", type=Path, default=PROXY_DIR.parent / "proxy.md")
    p.add_argument("--scenes", default=None, help="comma list of proxies (default: all)")
    p.add_argument("--report", type=Path, default=None, help="print the tables of a results JSON and exit")
    a = p.parse_args(argv)
    if a.report:
        print(report(a.report))
        return 0
    made = build_proxies()
    for name, info in made.items():
        print(name, json.dumps(info))
    from benchmarks import quality

    scenes = a.scenes or ",".join(made)
    args = ["--data", str(PROXY_DIR), "--scenes", scenes, "--engines", ENGINES, "--threads", str(a.threads),
            "--json", str(a.json), "--out", str(a.out), *rest]
    rc = quality.main(args)
    print(report(a.json))
    return rc


if __name__ == "__main__":
    sys.exit(main())
