"""Classification quality of every engine on the real scenes of ``../shared/data``.

For each scene, engine and seed it fits the engine twice on the whole scene:

1. K = number of reference classes: Hungarian-matched overall accuracy, Cohen's kappa after
   matching and NMI on the labelled pixels, with training and inference times;
2. K = 3x that (the realistic workflow): clusters assigned to classes by majority on the
   labelled pixels of the "black" squares of a 16x16-pixel checkerboard, OA and kappa on the
   labelled pixels of the "white" squares.

Engines: the geouic methods ``uic``, ``kmeans``, ``isodata``, ``fcm`` (through the public
``make_engine`` / ``fit`` / ``predict_block`` API only), plus two references: ``kmeans-smooth3``
(geouic k-means on 3x3-smoothed bands) and ``gmm`` (scikit-learn GaussianMixture, full
covariance, on z-scored pixels reduced to PCA-30 when there are more than 30 bands).

Results are merged into a JSON file (``benchmarks/quality_results.json`` by default), one record
per (scene, engine, seed), so rows can be filled run by run; the Markdown report is always
regenerated from the whole JSON. A failing engine puts its error in its cell; an engine that
cannot be imported yet is reported "not available".

Usage::

    python benchmarks/quality.py --threads 1
    python benchmarks/quality.py --engines uic --scenes salinas_a --seeds 0 --threads 1
    python benchmarks/quality.py --report-only
"""

from __future__ import annotations

import argparse
import os
import sys


def _early_threads(argv: list[str]) -> int | None:
    """Read ``--threads`` before numpy is imported, so the BLAS/OpenMP pools start small."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--threads=") else (
            argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else None)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return None


_THREADS = _early_threads(sys.argv[1:])
if _THREADS:
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[_var] = str(_THREADS)

import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality_lib as ql  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_JSON = ROOT / "benchmarks" / "quality_results.json"
DEFAULT_OUT = ROOT / "benchmarks" / "QUALITY.md"

#: Row order of the tables.
ENGINES = ("uic", "kmeans", "kmeans-smooth3", "isodata", "fcm", "gmm")
GEOUIC_METHODS = ("uic", "kmeans", "isodata", "fcm")
OVERCLUSTER = 3
CHECKER = 16

#: Floors and references quoted by ../shared/data/README.md and DESIGN.md section 3.
README_KMEANS_OA = {"salinas_a": 0.770, "salinas_150": 0.813, "landsat5_amazon": 0.83}
DESIGN_REFS = {
    "kmeans-smooth3": {"salinas_a": 0.825, "salinas_150": 0.842, "landsat5_amazon": 0.863},
    "gmm": {"salinas_a": 0.814, "salinas_150": 0.822, "landsat5_amazon": 0.921},
}


#: Findings written by hand from the runs listed under *Runs*; re-check them after a re-run.
NOTES = """
- **Which code.** All engines but uic ran on the checkout at be934f5 (its only uncommitted changes were in
  `geouic/uic/`; that run's uic rows were replaced). The uic rows come from commit 92c7663 (EMA teacher,
  annealed rate, whole scenes up to 1 Mpx in the pool, 5 members), run 2026-11-24 23:34-23:59 UTC as three
  processes side by side on the 2 cores (`--engines uic --threads 1` with `--scenes`/`--seeds` splitting the
  12 cells; the working tree differed only in README.md and tests). The uic rows before it (commit 90829c4,
  teacher = previous epoch, 3 members, a quarter-megapixel pool) gave historical_map 0.589 (0.542-0.636) and
  realistic 0.868; the other scenes within 0.01 of the rows here.
- **k-means vs the README floor.** salinas_a reproduces 0.770 exactly. salinas_150 gives 0.725, not 0.813:
  geouic's k-means (numpy, since b40a59c) reaches a *lower* k-means objective (within-cluster sum of
  squares 136,079 in z-units) than scikit-learn KMeans(n_init=4) (136,258, OA 0.813); the better optimum
  matches the classes worse. scikit-learn with n_init=1 finds both (seeds 5 and 7: 136,079 / 0.725; others
  136,258 / 0.81). DESIGN.md's k-means range 0.73-0.81 covers both. landsat5_amazon gives 0.864 / NMI 0.843,
  not 0.83 / 0.81: the README figure is reproduced (0.828-0.830 / 0.811-0.812) when the thermal band TM_B6
  is left out; geouic uses all 7 bands by default.
- **kmeans-smooth3 on salinas_a** has two optima: 0.772 (lower objective, 116,745) and 0.826 (126,580);
  which one a seed lands on decides the row (DESIGN.md quotes 0.825).
- **isodata** used to return more classes than asked (max_clusters defaulted to 2K: 8 for K = 4 on
  landsat5_amazon); since 2026-11-24 max_clusters defaults to K (ArcGIS/ERDAS semantics), and the isodata
  rows here were re-run with it (landsat5_amazon 0.819 -> 0.877, salinas_a 0.773 -> 0.780, salinas_150 unchanged).
- **historical_map**: the file declares nodata 255, so 27,900 pixels (4.5 %) with any band at 255 are invalid;
  none is labelled. Class 5 (buildings) has 9 labelled pixels. Labels are training polygons, not an
  independent sample.
- **Timing.** Every run used `--threads 1` (BLAS/OpenMP via threadpoolctl and environment variables, torch
  via `torch.set_num_threads`) on a 2-core machine shared with other developers (load averages under *Runs*);
  compare CPU seconds.
"""


class Unavailable(Exception):
    """The engine cannot be built yet (its module or class is missing)."""


# ------------------------------------------------------------------------------ engines
def _make_geouic(method: str, k: int, seed: int, sample_size: int):
    from geouic.engine import make_engine

    try:
        return make_engine(method, n_classes=k, seed=seed, sample_size=sample_size)
    except (ImportError, AttributeError) as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from exc


def run_engine(name: str, scene: ql.Scene, k: int, seed: int, sample_size: int) -> dict[str, Any]:
    """Fit one engine on the scene and label the whole scene; return labels and times."""
    from geouic.raster import open_raster

    if name == "gmm":
        engine = ql.GaussianMixtureReference(k, seed, sample_size=sample_size)
    else:
        engine = _make_geouic("kmeans" if name == "kmeans-smooth3" else name, k, seed, sample_size)
    with tempfile.TemporaryDirectory(prefix="geouic-quality-") as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        path = scene.image
        if name == "kmeans-smooth3":
            path = Path(tmp) / "smooth3.tif"
            _write_float(path, ql.smooth_valid(scene.data, scene.valid, 3), scene.valid)
        with open_raster(path) as src:
            engine.fit([src])
        fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0

        t0, c0 = time.perf_counter(), time.process_time()
        data = ql.smooth_valid(scene.data, scene.valid, 3) if name == "kmeans-smooth3" else scene.data
        labels = engine.predict_block(data, scene.valid)["labels"]
        predict_s, predict_cpu = time.perf_counter() - t0, time.process_time() - c0
    labels = np.asarray(labels)
    if labels.shape != scene.valid.shape:
        raise ValueError(f"labels shape {labels.shape} != scene {scene.valid.shape}")
    return {"labels": labels, "fit_s": fit_s, "fit_cpu_s": fit_cpu, "predict_s": predict_s,
            "predict_cpu_s": predict_cpu, "describe": _describe(engine),
            "n_classes_engine": getattr(engine, "n_classes_", None)}


def _describe(engine) -> Any:
    try:
        return json.loads(json.dumps(engine.describe(), default=str))
    except Exception as exc:  # describe is informative only
        return f"describe() failed: {type(exc).__name__}: {exc}"


def _write_float(path: Path, data: np.ndarray, valid: np.ndarray) -> None:
    import rasterio

    arr = np.where(valid[None], data, np.float32(np.nan)).astype(np.float32)
    profile = dict(driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                   dtype="float32", nodata=float("nan"), tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)


def _label_checks(labels: np.ndarray, scene: ql.Scene, k: int) -> dict[str, Any]:
    """Facts about a class map that flag engine bugs: range, classes used, gaps."""
    valid = scene.valid
    lab_valid = labels[valid]
    used = np.unique(lab_valid[lab_valid > 0])
    return {
        "k": k,
        "dtype": str(labels.dtype),
        "max_label": int(labels.max()) if labels.size else 0,
        "classes_used": int(len(used)),
        "zero_on_valid": int((lab_valid == 0).sum()),
        "nonzero_on_invalid": int((labels[~valid] != 0).sum()),
    }


def score_cell(name: str, scene: ql.Scene, seed: int, sample_size: int) -> dict[str, Any]:
    """Both workflows of one engine on one scene with one seed."""
    record: dict[str, Any] = {"scene": scene.name, "engine": name, "seed": seed}
    scored = scene.scored
    true = scene.labels[scored]
    train = ql.checkerboard(scene.labels.shape, CHECKER)[scored]
    for part, k in (("matched", scene.n_classes), ("majority", OVERCLUSTER * scene.n_classes)):
        t_start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", message="Dataset has no geotransform")  # our temp file / Salinas
            try:
                res = run_engine(name, scene, k, seed, sample_size)
                pred = res.pop("labels")
                scores = (ql.matched_scores(pred[scored], true) if part == "matched"
                          else ql.majority_scores(pred[scored], true, train))
                entry = {"status": "ok", **scores, **res, **_label_checks(pred, scene, k)}
            except Unavailable as exc:
                entry = {"status": "unavailable", "error": str(exc)}
            except Exception as exc:  # an engine failing is a result, not a crash
                entry = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc(limit=6)}
        msgs = sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught})
        entry.update(k=k, wall_s=time.perf_counter() - t_start, load1=os.getloadavg()[0])
        if msgs:
            entry["warnings"] = msgs[:5]
        record[part] = entry
        if entry["status"] == "unavailable":  # the K = 3n fit would say the same
            record["majority"] = dict(entry, k=OVERCLUSTER * scene.n_classes)
            break
    return record


# -------------------------------------------------------------------------- environment
def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    versions = {mod: __import__(mod).__version__ for mod in ("numpy", "scipy", "sklearn", "rasterio")}
    return {"cpu_model": model or platform.processor(), "logical_cores": os.cpu_count(),
            "usable_cores": affinity, "python": platform.python_version(), "versions": versions}


def _limit_threads(n: int | None, engines: list[str]):
    """Return a threadpoolctl context limiting BLAS/OpenMP; set torch threads when relevant."""
    from contextlib import nullcontext

    if not n:
        return nullcontext()
    if "uic" in engines or "torch" in sys.modules:
        try:
            import torch

            torch.set_num_threads(n)
            try:
                torch.set_num_interop_threads(n)
            except RuntimeError:
                pass
        except ImportError:
            pass
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n)


# ------------------------------------------------------------------------------ storage
def load_results(path: Path) -> dict[str, Any]:
    if path.exists():
        with open(path) as f:
            return json.load(f)
    return {"schema": 1, "runs": {}, "records": {}}


def save_results(results: dict[str, Any], path: Path) -> None:
    used = {r.get("run") for r in results["records"].values()}
    results["runs"] = {k: v for k, v in results["runs"].items() if k in used}
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ------------------------------------------------------------------------------- report
def _cell_values(recs: list[dict], part: str, key: str) -> list[float]:
    return [r[part][key] for r in recs if r.get(part, {}).get("status") == "ok" and key in r[part]]


def _status_text(recs: list[dict], part: str) -> str | None:
    """The error / unavailability message of a cell when no seed produced a score."""
    bad = [r[part] for r in recs if r.get(part, {}).get("status") != "ok"]
    if not bad:
        return None
    e = bad[0]
    msg = e.get("error", "?").replace("|", "/").replace("\n", " ")
    msg = msg[:140] + ("..." if len(msg) > 140 else "")
    if e["status"] == "unavailable":
        return f"not available ({msg})"
    n_ok = len(recs) - len(bad)
    return f"error in {len(bad)}/{len(recs)} seeds: {msg}" if n_ok else f"error: {msg}"


def _fmt(recs: list[dict], part: str, key: str, digits: int = 3) -> str:
    return ql.fmt_range(_cell_values(recs, part, key), digits)


def _group(results: dict) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for rec in results["records"].values():
        groups.setdefault((rec["scene"], rec["engine"]), []).append(rec)
    for recs in groups.values():
        recs.sort(key=lambda r: r["seed"])
    return groups


def _order(results: dict) -> tuple[list[str], list[str]]:
    scenes = [s for s in ql.SCENES if any(r["scene"] == s for r in results["records"].values())]
    engines = [e for e in ENGINES if any(r["engine"] == e for r in results["records"].values())]
    return scenes, engines


def render_markdown(results: dict) -> str:
    groups = _group(results)
    scenes, engines = _order(results)
    lines: list[str] = []
    add = lines.append
    add("# Classification quality on real scenes")
    add("")
    add("Generated by `benchmarks/quality.py` from `benchmarks/quality_results.json` (one record per "
        "scene x engine x seed; rows may come from different runs, listed under *Runs*). Regenerate "
        "this file without re-running with `python benchmarks/quality.py --report-only`.")
    add("")
    add("**How scores are computed.** Each engine is fitted on the whole scene (geouic engines through "
        "`make_engine(method, n_classes=K, seed=s).fit([source])` and `predict_block` on the whole "
        "scene), and scored on the labelled pixels only. *Matched*: K = number of reference classes, "
        "clusters matched one-to-one to classes by the Hungarian method; OA, Cohen's kappa of the matched "
        "map (unmatched clusters are errors) and NMI (arithmetic normalisation). *Realistic*: K = 3 x "
        f"classes, each cluster assigned the majority class of its labelled pixels on the black squares of "
        f"a {CHECKER}x{CHECKER}-pixel checkerboard, OA and kappa on the labelled pixels of the white squares "
        "(a cluster with no training pixel is unassigned and counts as an error). Cells are mean "
        "(min-max) over seeds. `kmeans-smooth3` = geouic k-means on 3x3-smoothed bands (mean of the valid "
        "pixels in the window); `gmm` = scikit-learn `GaussianMixture` (full covariance, reg_covar 1e-4) "
        "on z-scored pixels, PCA-30 when a scene has more than 30 bands, fitted on the same "
        "`geouic.sampling.sample_pixels` sample (all valid pixels up to the sample size of the run, "
        "make_engine's default unless `--sample-size` is given; only historical_map has more valid pixels).")
    add("")

    # -- summary pivot
    add("## Summary: matched OA at K = number of classes (mean over seeds)")
    add("")
    add("| engine | " + " | ".join(scenes) + " |")
    add("|---|" + "---|" * len(scenes))
    for eng in ENGINES:  # every engine, so a missing row reads "not run yet"
        cells = []
        for sc in scenes:
            recs = groups.get((sc, eng), [])
            vals = _cell_values(recs, "matched", "oa")
            cells.append(f"{np.mean(vals):.3f}" if vals else (_status_text(recs, "matched") or "not run yet")[:40])
        add(f"| {eng} | " + " | ".join(cells) + " |")
    add("| *README k-means floor* | " + " | ".join(
        f"*{README_KMEANS_OA[s]:.3f}*" if s in README_KMEANS_OA else "-" for s in scenes) + " |")
    for ref, vals in DESIGN_REFS.items():
        add(f"| *DESIGN.md prototype {ref}* | " + " | ".join(
            f"*{vals[s]:.3f}*" if s in vals else "-" for s in scenes) + " |")
    add("")

    # -- table 1
    add("## Table 1: K = number of reference classes, Hungarian-matched")
    add("")
    add("| scene | K | engine | seeds | OA | kappa | NMI |")
    add("|---|---|---|---|---|---|---|")
    for sc in scenes:
        for eng in engines:
            recs = groups.get((sc, eng))
            if not recs:
                continue
            k = recs[0]["matched"].get("k", "")
            seeds = ",".join(str(r["seed"]) for r in recs)
            status = _status_text(recs, "matched")
            if status and not _cell_values(recs, "matched", "oa"):
                add(f"| {sc} | {k} | {eng} | {seeds} | {status} | | |")
                continue
            note = f" ({status})" if status else ""
            add(f"| {sc} | {k} | {eng} | {seeds} | {_fmt(recs, 'matched', 'oa')}{note} | "
                f"{_fmt(recs, 'matched', 'kappa')} | {_fmt(recs, 'matched', 'nmi')} |")
    add("")

    # -- table 2
    add(f"## Table 2: realistic workflow, K = {OVERCLUSTER} x classes, majority assignment on a checkerboard split")
    add("")
    add("| scene | K | engine | seeds | OA | kappa | unassigned test px | train / test px |")
    add("|---|---|---|---|---|---|---|---|")
    for sc in scenes:
        for eng in engines:
            recs = groups.get((sc, eng))
            if not recs:
                continue
            k = recs[0].get("majority", {}).get("k", "")
            seeds = ",".join(str(r["seed"]) for r in recs)
            status = _status_text(recs, "majority")
            if status and not _cell_values(recs, "majority", "oa"):
                add(f"| {sc} | {k} | {eng} | {seeds} | {status} | | | |")
                continue
            note = f" ({status})" if status else ""
            ok = [r["majority"] for r in recs if r["majority"].get("status") == "ok"]
            split = f"{ok[0]['n_train']:,} / {ok[0]['n_test']:,}"
            add(f"| {sc} | {k} | {eng} | {seeds} | {_fmt(recs, 'majority', 'oa')}{note} | "
                f"{_fmt(recs, 'majority', 'kappa')} | {_fmt(recs, 'majority', 'unassigned', 3)} | {split} |")
    add("")

    # -- table 3
    add("## Table 3: times (seconds; mean (min-max) over seeds)")
    add("")
    add("Training = building the engine, drawing its sample and fitting (for kmeans-smooth3 also the "
        "smoothing and the write of the smoothed temporary GeoTIFF). Inference = `predict_block` on the "
        "whole scene held in memory (no file I/O; kmeans-smooth3 smooths again). *wall* is the clock; "
        "*CPU* is the process CPU time, which is what one thread costs when a core is free: on a shared, "
        "overloaded machine the wall time is inflated by waiting for a core (see the load averages under "
        "*Runs*), so compare engines by CPU time. Mpx/s = scene pixels / inference CPU time.")
    add("")
    add("| scene | engine | train wall s (K) | train CPU s (K) | infer wall s (K) | infer CPU s (K) | "
        "Mpx/s (CPU) | train wall s (3K) | train CPU s (3K) |")
    add("|---|---|---|---|---|---|---|---|---|")
    for sc in scenes:
        for eng in engines:
            recs = groups.get((sc, eng))
            if not recs or not _cell_values(recs, "matched", "fit_s"):
                continue
            n_px = results.get("scenes", {}).get(sc, {})
            n_px = n_px.get("rows", 0) * n_px.get("cols", 0)
            mpx = [n_px / 1e6 / max(v, 1e-9) for v in _cell_values(recs, "matched", "predict_cpu_s")]
            add(f"| {sc} | {eng} | {_fmt(recs, 'matched', 'fit_s', 2)} | {_fmt(recs, 'matched', 'fit_cpu_s', 2)} | "
                f"{_fmt(recs, 'matched', 'predict_s', 3)} | {_fmt(recs, 'matched', 'predict_cpu_s', 3)} | "
                f"{ql.fmt_range(mpx, 2)} | {_fmt(recs, 'majority', 'fit_s', 2)} | "
                f"{_fmt(recs, 'majority', 'fit_cpu_s', 2)} |")
    add("")

    # -- scenes
    add("## Scenes")
    add("")
    add("| scene | bands x rows x cols | valid px | labelled px | classes (code: px) | notes |")
    add("|---|---|---|---|---|---|")
    for sc in scenes:
        info = results.get("scenes", {}).get(sc)
        if not info:
            continue
        classes = ", ".join(f"{c}: {n:,}" for c, n in info["classes"].items())
        add(f"| {sc} | {info['bands']} x {info['rows']} x {info['cols']} | {info['valid_px']:,} | "
            f"{info['labelled_px']:,} | {classes} | {info['note']} |")
    add("")

    # -- observations
    notes = _observations(results, groups, scenes, engines)
    if notes:
        add("## Automatic observations")
        add("")
        lines.extend(notes)
        add("")

    add("## Notes")
    add("")
    lines.extend(NOTES.strip().splitlines())
    add("")

    # -- runs
    add("## Runs")
    add("")
    for run_id, run in sorted(results["runs"].items(), key=lambda kv: kv[1]["date"]):
        m = run["machine"]
        add(f"- **{run['date']}**: `{run['command']}`")
        if run.get("geouic_path"):
            add(f"  - cells: {run.get('cells', '?')}; geouic imported from `{run['geouic_path']}` (PYTHONPATH), "
                f"not from the checkout (whose HEAD was {run['git']})")
        else:
            add(f"  - cells: {run.get('cells', '?')}; git {run['git']}"
                + (f" (geouic/ had uncommitted changes: {run['dirty']})" if run.get("dirty") else ""))
        add(f"  - machine: {m['cpu_model']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), "
            f"Python {m['python']}, {', '.join(f'{k} {v}' for k, v in m['versions'].items())}")
        add(f"  - sample size {run.get('sample_size', 200_000):,}; threads: {run['threads']}; load average (1 min) at start {run['load_start']:.2f}, "
            f"max seen {run['load_max']:.2f}, at end {run['load_end']:.2f}; {run['duration_s']:.0f} s in all")
    add("")
    return "\n".join(lines)


def _observations(results, groups, scenes, engines) -> list[str]:
    """One line per scene / engine / workflow whose maps show something unexpected."""
    out = []
    for sc in scenes:
        for eng in engines:
            recs = groups.get((sc, eng), [])
            for part in ("matched", "majority"):
                ok = [(r["seed"], r[part]) for r in recs if r.get(part, {}).get("status") == "ok"]
                if not ok:
                    continue
                k = ok[0][1]["k"]
                facts = []
                used = [(s, e["classes_used"]) for s, e in ok]
                if any(n != k for _, n in used):
                    facts.append("classes on valid pixels " + ", ".join(f"{n} (seed {s})" for s, n in used))
                for key, text in (("zero_on_valid", "valid pixels labelled 0"),
                                  ("nonzero_on_invalid", "nodata pixels labelled non-zero")):
                    bad = [(s, e[key]) for s, e in ok if e[key]]
                    if bad:
                        facts.append(f"{text}: " + ", ".join(f"{n:,} (seed {s})" for s, n in bad))
                msgs = sorted({w for _, e in ok for w in e.get("warnings", [])})
                if msgs:
                    facts.append("warnings: " + "; ".join(w.replace("|", "/")[:120] for w in msgs[:2]))
                if facts:
                    out.append(f"- {sc} / {eng} / {part} (K={k}): " + "; ".join(facts))
    return out


# --------------------------------------------------------------------------------- main
def _default_sample_size() -> int:
    """The sample size geouic's ``make_engine`` uses by default (read from its signature)."""
    import inspect

    from geouic.engine import make_engine

    return int(inspect.signature(make_engine).parameters["sample_size"].default)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma list among {', '.join(ENGINES)}")
    p.add_argument("--scenes", default=",".join(ql.SCENES), help=f"comma list among {', '.join(ql.SCENES)}")
    p.add_argument("--seeds", default="0,1,2", help="comma list of integer seeds (default 0,1,2)")
    p.add_argument("--threads", type=int, default=None,
                   help="limit BLAS/OpenMP (threadpoolctl) and torch to N threads")
    p.add_argument("--sample-size", type=int, default=None,
                   help="pixels sampled for fitting the pixel engines and the GMM (default: make_engine's default)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"data folder (default {DEFAULT_DATA})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report to write")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON,
                   help="results JSON, read and merged when it exists, then rewritten")
    p.add_argument("--report-only", action="store_true", help="only regenerate --out from --json")
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    args.scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if args.sample_size is None:
        args.sample_size = _default_sample_size()
    for e in args.engines:
        if e not in ENGINES:
            p.error(f"unknown engine {e!r}: choose among {', '.join(ENGINES)}")
    for s in args.scenes:
        if s not in ql.SCENES:
            p.error(f"unknown scene {s!r}: choose among {', '.join(ql.SCENES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = load_results(args.json)
    if args.report_only:
        args.out.write_text(render_markdown(results))
        print(f"wrote {args.out}")
        return 0
    command = "python benchmarks/quality.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dirty = _git("status", "--porcelain", "--", "geouic").replace("\n", "; ")
    import geouic

    geouic_dir = Path(geouic.__file__).resolve().parent
    run = {"command": command, "sample_size": args.sample_size,
           "geouic_path": "" if geouic_dir == ROOT / "geouic" else str(geouic_dir), "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
           "git": _git("rev-parse", "--short", "HEAD"), "dirty": dirty, "threads": args.threads,
           "load_start": os.getloadavg()[0], "machine": machine_info()}
    load_max = run["load_start"]
    t_run = time.perf_counter()
    results["runs"][run_id] = run
    results.setdefault("scenes", {})
    cells = 0
    with _limit_threads(args.threads, args.engines):
        if "torch" in sys.modules:
            run["machine"]["versions"]["torch"] = sys.modules["torch"].__version__
        for sc in args.scenes:
            try:
                scene = ql.load_scene(sc, args.data)
            except Exception as exc:
                print(f"{sc}: cannot load: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            results["scenes"][sc] = scene.info
            print(f"{sc}: {scene.info['bands']} bands, {scene.info['labelled_px']:,} labelled px, "
                  f"K={scene.n_classes}", flush=True)
            for eng in args.engines:
                for seed in args.seeds:
                    rec = score_cell(eng, scene, seed, args.sample_size)
                    rec["run"] = run_id
                    results["records"][f"{sc}/{eng}/{seed}"] = rec
                    cells += 1
                    load_max = max(load_max, rec["matched"].get("load1", 0), rec.get("majority", {}).get("load1", 0))
                    print("  " + _progress_line(rec), flush=True)
                    run.update(load_end=os.getloadavg()[0], load_max=load_max, cells=cells,
                               duration_s=time.perf_counter() - t_run)
                    save_results(results, args.json)
                    if rec["matched"]["status"] == "unavailable":
                        break  # the other seeds would say the same
    run.update(load_end=os.getloadavg()[0], load_max=load_max, cells=cells,
               duration_s=time.perf_counter() - t_run)
    save_results(results, args.json)
    args.out.write_text(render_markdown(results))
    print(f"wrote {args.json} and {args.out}")
    return 0


def _progress_line(rec: dict) -> str:
    parts = [f"{rec['engine']:<15} seed {rec['seed']}"]
    for part in ("matched", "majority"):
        e = rec.get(part, {})
        if e.get("status") == "ok":
            extra = f" nmi {e['nmi']:.3f}" if part == "matched" else ""
            parts.append(f"{part} K={e['k']}: oa {e['oa']:.3f} kappa {e['kappa']:.3f}{extra} "
                         f"fit {e['fit_s']:.2f}s predict {e['predict_s']:.3f}s")
        elif e:
            parts.append(f"{part}: {e['status']}: {e.get('error', '')[:120]}")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
