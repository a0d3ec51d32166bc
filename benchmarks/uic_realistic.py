"""UIC's starting labels in the realistic workflow (issue 8, sixth round): K = 3 x classes.

The pool, first stage and starting labels are built exactly as the quality benchmark's
``uic-init`` adapter builds them (:func:`benchmarks.uic_explore.build_pool`), at K = 3 x the
scene's classes, and scored the way ``benchmarks/quality.py`` scores the realistic workflow:
each cluster takes the majority class of the first reference's samples on the black squares
of a 16x16 checkerboard, OA on the white squares (a cluster without a training sample is an
error). No variant sees a reference label; the reference only scores.

Variants (``--variants``, comma-separated):

* ``base``: ``initial_labels`` with the engine's defaults (full covariance, 20k fit, beta 4);
* ``bB``: the same mixture, Potts field at beta B (``b0``: the mixture's own argmax);
* ``bscale``: beta = 4 * min(1, 8 / K) (the field weakened as K grows; rule from K only);
* ``fitN``: the mixture fitted on N pixels instead of 20k (``fit60k``, ``fit100k``);
* ``cov-C``: covariance C (``diag``, ``tied``) instead of full;
* ``q-E``: engine E of the quality benchmark (``q-kmeans``, ``q-kmeans-smooth3``) on the whole
  scene, scored the same way (a check that the scoring reproduces QUALITY.md's Table 2);
* ``bic`` / ``heldout``: full, tied or diag, the lowest BIC on the fitted subsample / the highest
  mean log-likelihood on a disjoint subsample (as the fourth round's ``uic_explore`` variants);
* ``uic`` / ``uic-C``: the whole engine with its default covariance / covariance C (does the
  network keep what the starting labels gain?);
* ``t2f``: full-covariance EM started from the tied fit (its weights, means and shared
  precision on every component), one start; ``t2f-ll``: that start kept only when it beats the
  engine's full fit by the engine's own start criterion (largest share <= 0.9 first, then the
  lower bound, i.e. the mean log-likelihood on the *same* 20k fitted subsample): one more start;
  ``t2f-pool``: the same, but the mean log-likelihood on the whole pool decides (the same as
  ``t2f-ll`` where the pool holds at most 20k pixels);
* ``covrule``: full covariance unless the subsample gives fewer than 20 pixels per free
  parameter of a component (``d + d(d+1)/2``), else diagonal (a rule from counts only).

Extra columns: ``full_oa`` (majority map from *all* samples scored on all: the purity of the
clusters, an upper bound for the split), the pool share of the smallest cluster and how many
clusters hold under 0.5 % of the pool, and how many clusters have no training sample.

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.uic_realistic --scenes
rsgislib_aber_s2 --seeds 0,1,2 --variants base,b0,b2 --json benchmarks/_work/real_aber.json``;
``--report a.json[,b.json]`` prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks._quality_lib import (HALVES, checkerboard, expand_scenes, load_scene, majority_mapping, majority_scores,
                                     matched_scores)
from benchmarks.uic_explore import build_pool, field_labels

OVERCLUSTER = 3
CHECKER = 16
BASE_FIT = 20_000


def _fit_labels(pool: Any, cfg: Any, k: int, seed: int, *, beta: float, covariance: str = "full",
                max_fit: int = BASE_FIT) -> tuple[np.ndarray, dict[str, Any]]:
    """``initial_labels`` step by step (same subsample and start seeds at ``max_fit`` = 20k).

    ``covariance`` may also be ``bic`` / ``heldout``: full, tied and diag are each fitted as the
    engine fits full, and the one with the lowest BIC on the fitted subsample / the highest mean
    log-likelihood on a disjoint subsample of the same size is kept.
    """
    from geouic.uic.labels import fit_mixture

    X = pool.smoothed_features(pool.geometry).astype(np.float64)
    rng = np.random.default_rng(seed)
    fit = X[rng.choice(len(X), max_fit, replace=False)] if len(X) > max_fit else X
    seeds = rng.integers(0, 2**31 - 1, size=int(cfg.init_n))
    chosen: dict[str, Any] = {}
    if covariance in ("t2f", "t2f-ll", "t2f-pool"):
        gmm, chosen = _tied_start(fit, k, seeds, keep_full=covariance != "t2f",
                                  judge=X if covariance == "t2f-pool" else None)
    elif covariance in ("bic", "heldout"):
        other = np.random.default_rng([seed, 77]).choice(len(X), min(max_fit, len(X)), replace=False)
        crit = {}
        for cov in ("full", "tied", "diag"):
            g = fit_mixture(fit, k, seeds, covariance=cov, max_share=0.9)
            crit[cov] = -g.bic(fit) if covariance == "bic" else g.score(X[other])
            chosen[cov] = g
        covariance = max(crit, key=crit.get)
        gmm = chosen[covariance]
        chosen = {"criteria": {c: round(float(v), 2) for c, v in crit.items()}}
    else:
        gmm = fit_mixture(fit, k, seeds, covariance=covariance, max_share=0.9)
    log_prob = np.log(np.maximum(gmm.predict_proba(X), 1e-30)).astype(np.float32)
    info = {"d": int(X.shape[1]), "n_fit": int(len(fit)), "covariance": covariance, "beta": beta, **chosen}
    if beta <= 0:
        return log_prob.argmax(axis=1).astype(np.int64), info
    return field_labels(pool, log_prob, beta), info


def _tied_start(fit: np.ndarray, k: int, seeds: np.ndarray, *, keep_full: bool,
                judge: np.ndarray | None = None) -> tuple[Any, dict[str, Any]]:
    """Full-covariance EM started from the tied fit (``t2f``); with ``keep_full`` the engine's
    full fit is kept unless the tied start beats it by ``fit_mixture``'s own start key (the
    lower bound on ``fit``; with ``judge``, the mean log-likelihood of ``judge`` instead)."""
    from sklearn.mixture import GaussianMixture

    from geouic.uic.labels import REG_COVAR, fit_mixture

    def key(g: Any) -> tuple[bool, float]:
        share = np.bincount(g.predict(fit), minlength=k).max() / len(fit)
        return bool(share <= 0.9), float(g.lower_bound_ if judge is None else g.score(judge))

    tied = fit_mixture(fit, k, seeds, covariance="tied", max_share=0.9)
    scale = float(np.mean(fit.var(axis=0)))
    t2f = None
    for factor in (1.0, 10.0, 100.0):
        g = GaussianMixture(k, covariance_type="full", reg_covar=REG_COVAR * (scale if scale > 0 else 1.0) * factor,
                            weights_init=tied.weights_, means_init=tied.means_,
                            precisions_init=np.repeat(tied.precisions_[None], k, axis=0))
        try:
            t2f = g.fit(fit)
            break
        except ValueError:
            continue
    if not keep_full:
        return (t2f if t2f is not None else tied), {"t2f_failed": t2f is None}
    full = fit_mixture(fit, k, seeds, covariance="full", max_share=0.9)
    kf = key(full)
    kt = key(t2f) if t2f is not None else (False, -np.inf)
    pick = "t2f" if kt > kf else "full"
    return (t2f if pick == "t2f" else full), {"chosen": pick, "lb_full": round(kf[1], 4), "lb_t2f": round(kt[1], 4)}


def run_variant(v: str, pool: Any, cfg: Any, k: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Pool labels 0..k-1 of variant ``v`` (see the module docstring)."""
    beta = float(cfg.smoothing)
    if v == "base":
        from geouic.uic.labels import initial_labels

        return initial_labels(pool, k, seed, covariance=cfg.covariance, n_init=int(cfg.init_n), beta=beta), {}
    if v == "bscale":
        return _fit_labels(pool, cfg, k, seed, beta=beta * min(1.0, 8.0 / k))
    if v.startswith("b") and v[1:].replace(".", "").isdigit():
        return _fit_labels(pool, cfg, k, seed, beta=float(v[1:]))
    if v.startswith("fit"):
        return _fit_labels(pool, cfg, k, seed, beta=beta, max_fit=int(v[3:].replace("k", "000")))
    if v in ("bic", "heldout"):
        return _fit_labels(pool, cfg, k, seed, beta=beta, covariance=v)
    if v in ("t2f", "t2f-ll", "t2f-pool"):
        return _fit_labels(pool, cfg, k, seed, beta=beta, covariance=v)
    if v.startswith("cov-"):
        return _fit_labels(pool, cfg, k, seed, beta=beta, covariance=v[4:])
    if v == "covrule":
        d = pool.smoothed_features(pool.geometry).shape[1]
        n = min(BASE_FIT, pool.n_valid)
        cov = "full" if n / k >= 20 * (d + d * (d + 1) / 2) else "diag"
        return _fit_labels(pool, cfg, k, seed, beta=beta, covariance=cov)
    raise SystemExit(f"unknown variant {v!r}")


def engine_labels(name: str, scene: Any, k: int, seed: int) -> np.ndarray:
    """Labels 1..k of a quality-benchmark engine (``q-kmeans``: ``run_engine("kmeans", ...)``)."""
    from benchmarks._quality_engines import run_engine
    from benchmarks.quality import _default_sample_size

    return np.asarray(run_engine(name, scene, k, seed, _default_sample_size())["labels"])


def uic_labels(scene: Any, k: int, seed: int, **config: Any) -> np.ndarray:
    """The whole UIC engine (``make_engine("uic", ...)`` with ``config`` overrides) fitted and
    applied on the scene, as the quality benchmark's ``uic`` row runs it."""
    import warnings

    from benchmarks.quality import _default_sample_size
    from geouic.engine import make_engine
    from geouic.raster import open_raster

    engine = make_engine("uic", n_classes=k, seed=seed, sample_size=_default_sample_size(), **config)
    with warnings.catch_warnings(), open_raster(scene.image) as src:
        warnings.simplefilter("ignore")
        engine.fit([src])
    return np.asarray(engine.predict_block(scene.data, scene.valid)["labels"])


def score(labels: np.ndarray, scene: Any, k: int, workflow: str = "majority") -> dict[str, Any]:
    """Scores of a label image (1..k, 0 nodata), as benchmarks/quality.py computes them.

    ``workflow="majority"``: the realistic workflow (checkerboard split); ``"matched"``: Hungarian-
    matched OA at K = classes (``oa``; the majority-only columns are then absent).
    """
    ref = scene.primary
    pred = labels[ref.rows, ref.cols].astype(np.int64)
    if workflow == "matched":
        m = matched_scores(pred, ref.codes, k)
        return {"oa": round(float(m["oa"]), 4), "cluster_max": round(m["cluster_max"], 3),
                "cluster_min": round(m["cluster_min"], 3)}
    train = checkerboard(ref.rows, ref.cols, CHECKER)
    mapping = majority_mapping(pred[train], ref.codes[train])
    s = majority_scores(pred[~train], ref.codes[~train], mapping)
    full = majority_scores(pred, ref.codes, majority_mapping(pred, ref.codes))
    lab = labels[labels > 0].astype(np.int64) - 1
    shares = np.bincount(lab, minlength=k)[:k] / max(len(lab), 1)
    used = np.unique(pred)
    return {"oa": round(float(s["oa"]), 4), "unassigned": round(float(s["unassigned"]), 4),
            "full_oa": round(float(full["oa"]), 4), "min_share": round(float(shares.min()), 4),
            "small": int((shares < 0.005).sum()), "no_train": int(len(set(used) - set(mapping))),
            "sorted_shares": [round(float(x), 3) for x in np.sort(shares)]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="rsgislib_aber_s2")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default="base")
    p.add_argument("--workflow", choices=("majority", "matched"), default="majority",
                   help="majority: K = 3 x classes, checkerboard split; matched: K = classes, Hungarian")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", help="comma-separated JSON files: print the table and exit")
    p.add_argument("--compare", metavar="REF,NEW",
                   help="with --report: one row per scene x workflow, NEW against REF, per half")
    a = p.parse_args(argv)
    if a.report:
        paths = [Path(x) for x in a.report.split(",")]
        if a.compare:
            ref, new = a.compare.split(",")
            compare(paths, ref, new)
        else:
            report(paths)
        return 0
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    import torch

    torch.set_num_threads(1)
    scenes = expand_scenes(a.scenes.split(","))
    for name in scenes:
        scene = load_scene(name, _bench.DATA)
        k = scene.n_classes * (OVERCLUSTER if a.workflow == "majority" else 1)
        for seed in [int(s) for s in a.seeds.split(",")]:
            pool, cfg = build_pool(scene, k, seed)
            for v in a.variants.split(","):
                t0 = time.process_time()
                if v.startswith("q-"):
                    labels, info = engine_labels(v[2:], scene, k, seed), {}
                elif v.startswith("uic"):  # uic, uic-tied, uic-diag: the whole engine
                    cov = v[4:] or "full"
                    labels, info = uic_labels(scene, k, seed, covariance=cov), {"covariance": cov}
                else:
                    flat, info = run_variant(v, pool, cfg, k, seed)
                    labels = pool.split((flat + 1).astype(np.uint16), fill=0)[0]
                rec = {"scene": name, "k": k, "seed": seed, "variant": v,
                       "cpu_s": round(time.process_time() - t0, 1), **score(labels, scene, k, a.workflow), "info": info}
                print(json.dumps(rec), flush=True)
                rec["workflow"] = a.workflow
                records = _bench.replace_record(records, rec, {"scene": name, "seed": seed, "variant": v}, a.json)
    return 0


def compare(paths: list[Path], ref: str, new: str) -> None:
    """Markdown table: variant ``new`` against ``ref`` on every scene x workflow, per half.

    Per row: mean OA (min-max over seeds) of both, the mean difference, on how many seeds
    ``new`` is better / worse by more than 0.001, which fit ``t2f-ll`` kept, and the CPU
    seconds of both (seed 0 carries the first call's imports, so the mean over seeds >= 1 is
    shown when there are any). Then one summary line per half and workflow.
    """
    recs = [r for path in paths for r in json.loads(path.read_text())]
    half_of = {s: h for h, names in HALVES.items() for s in names}
    rows: dict[tuple[str, str, str], list[float]] = {}
    print(f"| half | scene | workflow | K | {ref} | {new} | {new} - {ref} | better / worse seeds | "
          f"kept t2f | CPU s {ref} / {new} |\n|---|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(half_of[r["scene"]], r["workflow"], r["scene"]) for r in recs})
    for h, wf, scene in keys:
        g = {v: {r["seed"]: r for r in recs if (r["scene"], r["workflow"], r["variant"]) == (scene, wf, v)}
             for v in (ref, new)}
        seeds = sorted(set(g[ref]) & set(g[new]))
        if not seeds:
            continue
        a = np.array([g[ref][s]["oa"] for s in seeds])
        b = np.array([g[new][s]["oa"] for s in seeds])
        cpu_seeds = [s for s in seeds if s > 0] or seeds
        cpu = [np.mean([g[v][s]["cpu_s"] for s in cpu_seeds]) for v in (ref, new)]
        kept = sum(g[new][s]["info"].get("chosen") == "t2f" for s in seeds)
        rows[(h, wf, scene)] = [float(a.mean()), float(b.mean()), cpu[0], cpu[1]]
        print(f"| {h} | {scene} | {wf} | {g[ref][seeds[0]]['k']} | {a.mean():.3f} ({a.min():.3f}-{a.max():.3f}) | "
              f"{b.mean():.3f} ({b.min():.3f}-{b.max():.3f}) | {b.mean() - a.mean():+.3f} | "
              f"{int((b - a > 0.001).sum())} / {int((b - a < -0.001).sum())} | {kept} of {len(seeds)} | "
              f"{cpu[0]:.1f} / {cpu[1]:.1f} |")
    print(f"\n| half | workflow | rows | mean {new} - {ref} | rows better / worse (> 0.001) | worst row | "
          f"CPU {new} / {ref} |\n|---|---|---|---|---|---|---|")
    for h in ("A", "B"):
        for wf in ("majority", "matched"):
            x = [v for k, v in rows.items() if k[:2] == (h, wf)]
            if not x:
                continue
            d = np.array([v[1] - v[0] for v in x])
            print(f"| {h} | {wf} | {len(x)} | {d.mean():+.4f} | {int((d > 0.001).sum())} / {int((d < -0.001).sum())} | "
                  f"{d.min():+.3f} | {sum(v[3] for v in x) / sum(v[2] for v in x):.2f} |")


def report(paths: list[Path]) -> None:
    """Markdown table: realistic OA mean (min-max) per scene x variant, with cluster columns."""
    recs = [r for path in paths for r in json.loads(path.read_text())]
    if recs and recs[0].get("workflow") == "matched":
        variants = list(dict.fromkeys(r["variant"] for r in recs))
        print("| scene | " + " | ".join(variants) + " |\n|---|" + "---|" * len(variants))
        for scene in dict.fromkeys(r["scene"] for r in recs):
            cells = []
            for v in variants:
                x = [r["oa"] for r in recs if r["scene"] == scene and r["variant"] == v]
                cells.append(f"{np.mean(x):.3f} ({max(x) - min(x):.3f})" if x else "")
            print(f"| {scene} | " + " | ".join(cells) + " |")
        return
    for scene in dict.fromkeys(r["scene"] for r in recs):
        print(f"\n{scene}\n\n| variant | realistic OA | full-majority OA | smallest cluster | clusters < 0.5 % "
              "| no train sample | CPU s |\n|---|---|---|---|---|---|---|")
        rows = [r for r in recs if r["scene"] == scene]
        for v in dict.fromkeys(r["variant"] for r in rows):
            g = [r for r in rows if r["variant"] == v]

            def cell(key: str, g: list[dict[str, Any]] = g) -> str:
                x = [r[key] for r in g]
                return f"{np.mean(x):.3f} ({min(x):.3f}-{max(x):.3f})"

            print(f"| {v} | {cell('oa')} | {cell('full_oa')} | {cell('min_share')} | "
                  f"{np.mean([r['small'] for r in g]):.1f} | {np.mean([r['no_train'] for r in g]):.1f} | "
                  f"{np.mean([r['cpu_s'] for r in g]):.1f} |")


if __name__ == "__main__":
    raise SystemExit(main())
