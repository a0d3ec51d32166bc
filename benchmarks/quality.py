"""Classification quality of every engine on every labelled scene of ``../shared/data``.

For each scene, engine and seed the engine is fitted twice on the whole scene:

1. *matched*: K = number of classes of the scene's first reference; Hungarian-matched overall
   accuracy, kappa after matching, NMI, and the largest / smallest cluster share on the
   labelled samples, against every reference of the scene;
2. *majority* (the realistic workflow): K = 3x that; clusters take the majority class of the
   first reference's samples on the "black" squares of a 16x16-pixel checkerboard and are
   scored on the "white" squares; a second reference is scored whole, with clusters assigned
   from all of the first one's samples.

Published cluster maps (``<scene>/published/*.tif``) are scored by the same code (*matched*
only). Results are merged into a JSON file, one record per (scene, engine, seed), so rows can
be re-run one engine at a time (``--engines uic``); the Markdown report is always regenerated
from the whole JSON. A failing engine puts its error in its cell; one that cannot be built is
"not available". Run from the repository root::

    python -m benchmarks.quality --threads 1
    python -m benchmarks.quality --engines uic --seeds 0,1,2 --threads 1
    python -m benchmarks.quality --engines uic --scenes salinas_a --workflows matched --json /tmp/q.json
    python -m benchmarks.quality --report-only
"""

from __future__ import annotations

import os
import sys

from benchmarks import _bench

_bench.set_thread_env(_bench.early_threads(sys.argv[1:]))  # before numpy starts its pools

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks import _quality_lib as ql  # noqa: E402
from benchmarks._quality_engines import ENGINES, Unavailable, read_published, run_engine  # noqa: E402
from benchmarks._quality_report import render_markdown  # noqa: E402

DEFAULT_JSON = _bench.ROOT / "benchmarks" / "quality_results.json"
DEFAULT_OUT = _bench.ROOT / "benchmarks" / "QUALITY.md"
OVERCLUSTER = 3
CHECKER = 16
WORKFLOWS = ("matched", "majority")
PUBLISHED = "published"
SCHEMA = 2


# --------------------------------------------------------------------------------- scoring
def _label_checks(labels: np.ndarray, scene: ql.Scene) -> dict[str, Any]:
    """Facts about a class map that flag engine bugs: classes used, zeros, labelled nodata."""
    lab_valid = labels[scene.valid]
    return {"dtype": str(labels.dtype), "max_label": int(labels.max()) if labels.size else 0,
            "classes_used": int(len(np.unique(lab_valid[lab_valid > 0]))),
            "zero_on_valid": int((lab_valid == 0).sum()),
            "nonzero_on_invalid": int((labels[~scene.valid] != 0).sum())}


def score_map(labels: np.ndarray, scene: ql.Scene, part: str, k: int | None) -> dict[str, dict[str, Any]]:
    """Scores of one label map against every reference of the scene, by workflow.

    ``k``: clusters 1..k count in the cluster shares even without a labelled sample (``None``
    for published maps, whose ids are numbered their own way).
    """
    out: dict[str, dict[str, Any]] = {}
    primary = scene.primary
    p_pred = labels[primary.rows, primary.cols].astype(np.int64)
    if part == "majority":
        train = ql.checkerboard(primary.rows, primary.cols, CHECKER)
        mapping = ql.majority_mapping(p_pred[train], primary.codes[train])
        out[primary.name] = {**ql.majority_scores(p_pred[~train], primary.codes[~train], mapping),
                             "n_train": int(train.sum())}
        full = ql.majority_mapping(p_pred, primary.codes)
    for ref in scene.refs:
        pred = labels[ref.rows, ref.cols].astype(np.int64)
        if part == "matched":
            out[ref.name] = ql.matched_scores(pred, ref.codes, k)
        elif ref is not primary:
            out[ref.name] = {**ql.majority_scores(pred, ref.codes, full), "n_train": primary.n}
    return out


def _one_part(name: str, scene: ql.Scene, part: str, k: int, seed: int, sample_size: int) -> dict[str, Any]:
    t_start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="Dataset has no geotransform")
        try:
            res = run_engine(name, scene, k, seed, sample_size)
            labels = res.pop("labels")
            entry = {"status": "ok", "scores": score_map(labels, scene, part, k), **res,
                     **_label_checks(labels, scene)}
        except Unavailable as exc:
            entry = {"status": "unavailable", "error": str(exc)}
        except Exception as exc:  # an engine failing is a result, not a crash
            entry = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc(limit=6)}
    msgs = sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught})
    entry.update(k=k, wall_s=time.perf_counter() - t_start, load1=os.getloadavg()[0])
    if msgs:
        entry["warnings"] = msgs[:5]
    return entry


def score_cell(name: str, scene: ql.Scene, seed: int, sample_size: int,
               workflows: tuple[str, ...] = WORKFLOWS) -> dict[str, Any]:
    """The workflows of one engine on one scene with one seed."""
    record: dict[str, Any] = {"scene": scene.name, "engine": name, "seed": seed}
    for part in workflows:
        k = scene.n_classes * (OVERCLUSTER if part == "majority" else 1)
        record[part] = _one_part(name, scene, part, k, seed, sample_size)
        if record[part]["status"] == "unavailable":  # the other workflow would say the same
            for other in workflows:
                record.setdefault(other, dict(record[part], k=scene.n_classes * (
                    OVERCLUSTER if other == "majority" else 1)))
            break
    return record


def score_published(method: str, path: Path, scene: ql.Scene) -> dict[str, Any]:
    """A published cluster map scored like an engine's *matched* map (K = its cluster count)."""
    labels = read_published(path, scene)
    k = int(len(np.unique(labels[labels > 0])))  # the map's own ids, whatever their numbering
    entry = {"status": "ok", "scores": score_map(labels, scene, "matched", None), "k": k,
             "file": str(path.relative_to(path.parents[2])), **_label_checks(labels, scene)}
    return {"scene": scene.name, "engine": f"{PUBLISHED}:{method}", "seed": 0, "matched": entry}


# ------------------------------------------------------------------------------ storage
def load_results(path: Path) -> dict[str, Any]:
    """The results JSON (schema 1 records are converted: scores under the primary reference)."""
    if not path.exists():
        return {"schema": SCHEMA, "runs": {}, "records": {}, "scenes": {}}
    with open(path) as f:
        results = json.load(f)
    if results.get("schema", 1) < SCHEMA:
        for rec in results["records"].values():
            spec = ql.SCENES.get(rec["scene"])
            ref = ql.ref_name(spec.refs[0]) if spec else "reference"
            for part in WORKFLOWS:
                e = rec.get(part)
                if e and e.get("status") == "ok" and "scores" not in e:
                    keys = ("oa", "kappa", "nmi", "n", "n_train", "n_test", "unassigned")
                    e["scores"] = {ref: {k: e.pop(k) for k in keys if k in e}}
        results["scenes"] = {}  # re-read with the new loader on the next run
        results["schema"] = SCHEMA
    results.setdefault("scenes", {})
    return results


def merge_results(results: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Add ``other``'s records, runs and scenes to ``results``.

    On equal keys ``other``'s workflows win; a workflow only ``results`` has is kept, with the
    run it came from. Run ids are start times to the second, so two runs started together (one
    per half, side by side) can share one: ``other``'s run is then renamed, not overwritten.
    """
    renamed = {}
    for run_id, run in other["runs"].items():
        new_id, n = run_id, 1
        while new_id in results["runs"] and results["runs"][new_id] != run:
            new_id, n = f"{run_id}-{n}", n + 1
        renamed[run_id] = new_id
    for rec in other["records"].values():
        for part in (rec, *(rec[p] for p in WORKFLOWS if p in rec)):
            if part.get("run") in renamed:
                part["run"] = renamed[part["run"]]
    for key, rec in other["records"].items():
        old = results["records"].get(key, {})
        for part in WORKFLOWS:
            if part not in rec and part in old:
                rec[part] = dict(old[part], run=old[part].get("run", old.get("run")))
        results["records"][key] = rec
    results["runs"].update({renamed[k]: v for k, v in other["runs"].items()})
    results["scenes"].update(other.get("scenes", {}))
    return results


def save_results(results: dict[str, Any], path: Path) -> None:
    used = {r.get("run") for r in results["records"].values()}
    used |= {r[p].get("run") for r in results["records"].values() for p in WORKFLOWS if p in r}
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


# --------------------------------------------------------------------------------- main
def _default_sample_size() -> int:
    """The sample size geouic's ``make_engine`` uses by default (read from its signature)."""
    import inspect

    from geouic.engine import make_engine

    return int(inspect.signature(make_engine).parameters["sample_size"].default)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    choices = (*ENGINES, PUBLISHED)
    p.add_argument("--engines", default=",".join(choices), help=f"comma list among {', '.join(choices)}")
    p.add_argument("--scenes", default=",".join(ql.SCENES), help="comma list of scenes, or half:A / half:B")
    p.add_argument("--seeds", default="0,1,2", help="comma list of integer seeds (default 0,1,2)")
    p.add_argument("--workflows", default=",".join(WORKFLOWS), help="matched, majority or both (default)")
    p.add_argument("--threads", type=int, default=None, help="limit BLAS/OpenMP and torch to N threads")
    p.add_argument("--sample-size", type=int, default=None,
                   help="pixels sampled for fitting the pixel engines and the GMM (default: make_engine's)")
    p.add_argument("--data", type=Path, default=_bench.DATA, help=f"data folder (default {_bench.DATA})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report to write")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results JSON, merged when it exists")
    p.add_argument("--report-only", action="store_true", help="only regenerate --out from --json")
    p.add_argument("--merge", type=Path, nargs="*", default=[],
                   help="results JSON files of other runs (e.g. side-by-side processes) merged into --json first")
    args = p.parse_args(argv)
    args.engines, args.seeds = _csv(args.engines), [int(s) for s in _csv(args.seeds)]
    args.workflows = tuple(w for w in WORKFLOWS if w in _csv(args.workflows))
    args.scenes = ql.expand_scenes(_csv(args.scenes))
    for e in args.engines:
        if e not in choices:
            p.error(f"unknown engine {e!r}: choose among {', '.join(choices)}")
    for s in args.scenes:
        if s not in ql.SCENES:
            p.error(f"unknown scene {s!r}: choose among {', '.join(ql.SCENES)} (or half:A, half:B)")
    if not args.workflows:
        p.error(f"--workflows must name at least one of {', '.join(WORKFLOWS)}")
    if not args.report_only and args.sample_size is None:
        args.sample_size = _default_sample_size()
    return args


def _new_run(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    import geouic

    command = "python -m benchmarks.quality " + shlex.join(sys.argv[1:] if argv is None else argv)
    geouic_dir = Path(geouic.__file__).resolve().parent
    return {"command": command, "sample_size": args.sample_size, **_bench.git_state(("geouic",)),
            "geouic_path": "" if geouic_dir == _bench.ROOT / "geouic" else str(geouic_dir),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "threads": args.threads, "load_start": os.getloadavg()[0], "machine": _bench.machine_info()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = load_results(args.json)
    for other in args.merge:
        merge_results(results, load_results(other))
    if args.merge:
        save_results(results, args.json)
    if args.report_only:
        args.out.write_text(render_markdown(results))
        print(f"wrote {args.out}")
        return 0
    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run = _new_run(args, argv)
    results["runs"][run_id] = run
    t_run, cells, load_max = time.perf_counter(), 0, run["load_start"]

    def store(key: str, rec: dict[str, Any]) -> None:
        nonlocal cells, load_max
        rec["run"] = run_id
        results["records"][key] = rec
        cells += 1
        load_max = max([load_max] + [rec[p].get("load1", 0) for p in WORKFLOWS if p in rec])
        run.update(load_end=os.getloadavg()[0], load_max=load_max, cells=cells,
                   duration_s=time.perf_counter() - t_run)
        save_results(results, args.json)
        print("  " + _progress_line(rec), flush=True)

    with _bench.thread_limits(args.threads, torch="uic" in args.engines):
        if "torch" in sys.modules:
            run["machine"]["versions"]["torch"] = sys.modules["torch"].__version__
        for sc in args.scenes:
            try:
                scene = ql.load_scene(sc, args.data)
            except Exception as exc:
                print(f"{sc}: cannot load: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            results["scenes"][sc] = scene.info
            print(f"{sc}: {scene.info['bands']} bands, K={scene.n_classes}, references "
                  + ", ".join(f"{r.name} ({r.kind}, {r.n:,})" for r in scene.refs), flush=True)
            if PUBLISHED in args.engines:
                for method, path in ql.published_maps(sc, args.data).items():
                    store(f"{sc}/{PUBLISHED}:{method}/0", score_published(method, path, scene))
            for eng in (e for e in args.engines if e != PUBLISHED):
                for seed in args.seeds:
                    key = f"{sc}/{eng}/{seed}"
                    rec = score_cell(eng, scene, seed, args.sample_size, args.workflows)
                    old = results["records"].get(key, {})
                    for part in WORKFLOWS:  # keep the workflow this run did not redo
                        if part not in rec and part in old:
                            rec[part] = dict(old[part], run=old[part].get("run", old.get("run")))
                    store(key, rec)
                    if rec[args.workflows[0]]["status"] == "unavailable":
                        break  # the other seeds would say the same
    save_results(results, args.json)
    args.out.write_text(render_markdown(results))
    print(f"wrote {args.json} and {args.out}")
    return 0


def _progress_line(rec: dict[str, Any]) -> str:
    parts = [f"{rec['engine']:<15} seed {rec['seed']}"]
    for part in WORKFLOWS:
        e = rec.get(part, {})
        if e.get("status") == "ok":
            first = next(iter(e["scores"].values()))
            extra = f" nmi {first['nmi']:.3f} shares {first['cluster_max']:.2f}/{first['cluster_min']:.2f}" \
                if part == "matched" else ""
            parts.append(f"{part} K={e['k']}: oa {first['oa']:.3f}{extra} fit {e.get('fit_s', 0):.2f}s")
        elif e:
            parts.append(f"{part}: {e['status']}: {e.get('error', '')[:120]}")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
