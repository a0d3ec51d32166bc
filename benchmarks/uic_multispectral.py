"""Diagnosis of UIC's starting labels on the multispectral rows it loses (issue 8, seventh round).

For each scene x seed, label-free fits only (the reference is read to *score and describe*, never
to choose):

* ``base``: the starting labels exactly as ``initial_labels`` builds them (the pool of
  :func:`benchmarks.uic_explore.build_pool`, the engine's 20k subsample and start seeds,
  ``fit_mixture`` full covariance, Potts field beta = the engine's smoothing), with the fitted
  mixture kept for inspection;
* ``ks3``: the quality benchmark's ``kmeans-smooth3`` engine (``run_engine``) on the whole scene;
* ``ks3-em``: full-covariance EM on the *same* 20k subsample started from ``ks3``'s partition
  (its weights, means, covariances), then the same field: does the mixture's likelihood prefer
  its own partition (``lb_base``) over the k-means-smooth3 partition refitted (``lb_ks3em``)?
* ``mean3``: ``base`` with the 3x3 masked *mean* instead of the median (kmeans-smooth3's filter).

Per record: matched OA, the cluster x class contingency on the reference samples (Hungarian
order), cluster shares on the reference against its class shares, and per mixture component its
weight and mean per-channel variance relative to the noise variance of the features (half the
variance of horizontal / vertical neighbour differences, averaged over channels).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python -m benchmarks.uic_multispectral
--scenes landsat8_peru,landsat5_amazon,rsgislib_aber_s2 --seeds 0,1,2 --json
benchmarks/_work/ms_diag.json``; ``--report benchmarks/_work/ms_diag.json`` prints the tables.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks._quality_lib import expand_scenes, load_scene, matched_scores
from benchmarks.uic_explore import FIT, build_pool, field_labels


def noise_variance(pool: Any, X: np.ndarray | None = None) -> float:
    """Mean per-channel noise variance of the pool's channels: half the variance of the
    differences of valid horizontal and vertical neighbour pairs (label-free)."""
    diffs = []
    for r in pool.regions:
        x, v = r.x, r.valid
        for a, b, m in ((x[:, :, 1:], x[:, :, :-1], v[:, 1:] & v[:, :-1]),
                        (x[:, 1:, :], x[:, :-1, :], v[1:, :] & v[:-1, :])):
            diffs.append((a - b)[:, m].T)
    d = np.concatenate(diffs).astype(np.float64)
    return float(np.mean(d.var(axis=0)) / 2.0)


def mean3_features(pool: Any) -> np.ndarray:
    """The pool's channels, each the mean of the valid 3x3 neighbours (``smoothed_features``'
    order and geometry, a mean instead of the median)."""
    from scipy.ndimage import uniform_filter

    out = []
    for r in pool.regions:
        w = r.valid.astype(np.float64)
        den = uniform_filter(w, size=3, mode="constant")
        num = uniform_filter(r.x.astype(np.float64) * w[None], size=(1, 3, 3), mode="constant")
        out.append((num / np.maximum(den, 1e-12)[None])[:, r.valid].T)
    X = np.concatenate(out)
    return X * pool.geometry[None, :] if pool.geometry is not None else X


def _mixture(X: np.ndarray, k: int, seed: int, n_init: int) -> tuple[Any, np.ndarray]:
    from geouic.uic.labels import fit_mixture

    rng = np.random.default_rng(seed)
    fit = X[rng.choice(len(X), FIT, replace=False)] if len(X) > FIT else X
    seeds = rng.integers(0, 2**31 - 1, size=n_init)
    return fit_mixture(fit, k, seeds, covariance="full", max_share=0.9), fit


def _from_partition(fit: np.ndarray, lab: np.ndarray, k: int) -> Any:
    """Full-covariance EM on ``fit`` started from the partition ``lab`` (0..k-1)."""
    from sklearn.mixture import GaussianMixture

    from geouic.uic.labels import REG_COVAR

    base = REG_COVAR * float(np.mean(fit.var(axis=0)))
    w = np.array([max((lab == c).mean(), 1e-6) for c in range(k)])
    means = np.stack([fit[lab == c].mean(axis=0) if (lab == c).sum() > 1 else fit.mean(axis=0) for c in range(k)])
    precs = []
    for c in range(k):
        xc = fit[lab == c] if (lab == c).sum() > fit.shape[1] else fit
        cov = np.cov(xc.T) + base * np.eye(fit.shape[1])
        precs.append(np.linalg.inv(cov))
    g = GaussianMixture(k, covariance_type="full", reg_covar=base, weights_init=w / w.sum(), means_init=means,
                        precisions_init=np.stack(precs))
    return g.fit(fit)


def _components(g: Any, noise: float) -> list[dict[str, float]]:
    return [{"w": round(float(w), 3), "var_over_noise": round(float(np.trace(c)) / len(c) / noise, 2),
             "logdet_d": round(float(np.linalg.slogdet(c)[1]) / len(c), 2)}
            for w, c in zip(g.weights_, g.covariances_)]


def describe(labels: np.ndarray, scene: Any, k: int) -> dict[str, Any]:
    """Matched OA, contingency (clusters in Hungarian order to classes), cluster and class shares."""
    from scipy.optimize import linear_sum_assignment

    ref = scene.primary
    pred = labels[ref.rows, ref.cols].astype(np.int64)
    classes = np.unique(ref.codes)
    table = np.zeros((k, len(classes)), np.int64)
    ok = pred > 0
    np.add.at(table, (pred[ok] - 1, np.searchsorted(classes, ref.codes[ok])), 1)
    r, c = linear_sum_assignment(-table)
    order = [int(i) for i in r[np.argsort(c)]] + [i for i in range(k) if i not in r]
    return {"oa": round(float(matched_scores(pred, ref.codes, k)["oa"]), 4),
            "table": table[order].tolist(), "classes": classes.tolist(),
            "cluster_shares": [round(float(x), 3) for x in table[order].sum(axis=1) / max(ok.sum(), 1)],
            "class_shares": [round(float(x), 3) for x in table.sum(axis=0) / max(ok.sum(), 1)]}


def run(scene: Any, seed: int) -> list[dict[str, Any]]:
    from benchmarks._quality_engines import run_engine
    from benchmarks.quality import _default_sample_size

    k = scene.n_classes
    pool, cfg = build_pool(scene, k, seed)
    beta = float(cfg.smoothing)
    noise = noise_variance(pool)
    X = pool.smoothed_features(pool.geometry).astype(np.float64)
    out = []

    def record(variant: str, flat: np.ndarray, t0: float, **extra: Any) -> None:
        labels = pool.split((flat + 1).astype(np.uint16), fill=0)[0]
        out.append({"scene": scene.name, "seed": seed, "variant": variant, "cpu_s": round(time.process_time() - t0, 1),
                    **describe(labels, scene, k), **extra})

    t0 = time.process_time()
    gmm, fit = _mixture(X, k, seed, int(cfg.init_n))
    flat = field_labels(pool, np.log(np.maximum(gmm.predict_proba(X), 1e-30)).astype(np.float32), beta)
    record("base", flat, t0, lb=round(float(gmm.lower_bound_), 4), comps=_components(gmm, noise),
           noise=round(noise, 4))
    t0 = time.process_time()
    ks3 = np.asarray(run_engine("kmeans-smooth3", scene, k, seed, _default_sample_size())["labels"])
    out.append({"scene": scene.name, "seed": seed, "variant": "ks3", "cpu_s": round(time.process_time() - t0, 1),
                **describe(ks3, scene, k)})
    t0 = time.process_time()
    rng = np.random.default_rng(seed)  # the same subsample rows as the engine's fit
    pick = rng.choice(len(X), FIT, replace=False) if len(X) > FIT else np.arange(len(X))
    ks3_flat = ks3[pool.regions[0].valid].astype(np.int64) - 1
    g2 = _from_partition(fit, ks3_flat[pick], k)
    flat2 = field_labels(pool, np.log(np.maximum(g2.predict_proba(X), 1e-30)).astype(np.float32), beta)
    record("ks3-em", flat2, t0, lb=round(float(g2.lower_bound_), 4), lb_base=round(float(gmm.lower_bound_), 4),
           pool_ll=round(float(g2.score(X)), 4), pool_ll_base=round(float(gmm.score(X)), 4),
           comps=_components(g2, noise))
    t0 = time.process_time()
    Xm = mean3_features(pool)
    g3, _ = _mixture(Xm, k, seed, int(cfg.init_n))
    flat3 = field_labels(pool, np.log(np.maximum(g3.predict_proba(Xm), 1e-30)).astype(np.float32), beta)
    record("mean3", flat3, t0, comps=_components(g3, noise))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="landsat8_peru,landsat5_amazon,rsgislib_aber_s2")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", type=Path)
    a = p.parse_args(argv)
    if a.report:
        report(json.loads(a.report.read_text()))
        return 0
    import torch

    torch.set_num_threads(1)
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    for name in expand_scenes(a.scenes.split(",")):
        scene = load_scene(name, _bench.DATA)
        for seed in [int(s) for s in a.seeds.split(",")]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                recs = run(scene, seed)
            for rec in recs:
                print(json.dumps({k: v for k, v in rec.items() if k != "table"}), flush=True)
                records = _bench.replace_record(records, rec, {"scene": name, "seed": seed,
                                                              "variant": rec["variant"]}, a.json)
    return 0


def report(recs: list[dict[str, Any]]) -> None:
    """Markdown: OA per scene x variant (mean, per seed), then likelihoods and components."""
    print("| scene | variant | OA mean | OA per seed | cluster shares on reference (seed 0) | class shares |\n"
          "|---|---|---|---|---|---|")
    for scene in dict.fromkeys(r["scene"] for r in recs):
        for v in ("base", "ks3", "ks3-em", "mean3"):
            g = sorted((r for r in recs if r["scene"] == scene and r["variant"] == v), key=lambda r: r["seed"])
            if g:
                print(f"| {scene} | {v} | {np.mean([r['oa'] for r in g]):.3f} | "
                      f"{' / '.join(format(r['oa'], '.3f') for r in g)} | {g[0]['cluster_shares']} | "
                      f"{g[0]['class_shares']} |")
    print("\n| scene | seed | lower bound base / ks3-em (20k fit) | pool mean log-lik base / ks3-em | "
          "base components: weight, var/noise |\n|---|---|---|---|---|")
    for r in recs:
        if r["variant"] == "ks3-em":
            b = next(x for x in recs if (x["scene"], x["seed"], x["variant"]) == (r["scene"], r["seed"], "base"))
            comps = "; ".join(f"{c['w']:.2f}, {c['var_over_noise']:.1f}" for c in b["comps"])
            print(f"| {r['scene']} | {r['seed']} | {r['lb_base']:.3f} / {r['lb']:.3f} | "
                  f"{r['pool_ll_base']:.3f} / {r['pool_ll']:.3f} | {comps} |")
    print("\nContingency tables (seed 0; rows = clusters in Hungarian order, columns = classes):")
    for r in recs:
        if r["seed"] == 0:
            print(f"\n{r['scene']} {r['variant']} (classes {r['classes']}): {r['table']}")


if __name__ == "__main__":
    raise SystemExit(main())
