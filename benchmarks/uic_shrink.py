"""UIC's starting labels with the mixture's covariances shrunk toward their pooled covariance (issue 8).

Regularised discriminant analysis (Friedman 1989) applied to the starting mixture: in every M-step
of the mixture's fit (scikit-learn's EM) and of the spatial-EM refits
(:func:`geouic.uic.mixture.refit_mixture`), each full covariance becomes
``(1 - lam) * S_k + lam * sum_j w_j S_j``; ``lam = 0`` is the engine, ``lam = 1`` a tied
covariance. Everything else is :func:`geouic.uic.labels.initial_labels` as the ``uic-init`` row of
the quality benchmark builds it (:func:`benchmarks.uic_explore.build_pool`). ``--fit-only`` shrinks
the mixture's own fit but not the spatial-EM refits. ``--mode shape`` shrinks only each component's
shape toward the pooled shape and keeps its volume (:func:`shape_shrunk`; tenth round).
``--covariance auto`` runs the engine's covariance rule (the shrinkage then acts only where it keeps
the full fit); ``--workflow majority`` scores the realistic workflow at 3K. Scenes: the dev scenes (``half:A``,
``half:B``) and the proxies of :mod:`benchmarks.heldout_proxy` (cut them first).

``--bimodality`` instead prints, per scene (seed 0), Ashman's D of a 2-means split of each
component of the engine's own fit in the component's whitened coordinates (a single Gaussian
gives about 2.65; two separated modes more): the label-free check of whether a component holds
two classes. ``--starts N`` prints, per scene (seed 0, no field), N scikit-learn starts (random
states 0..N-1) of the full mixture on the engine's 20k-pixel subsample: log-likelihood per
pixel, mean posterior entropy and matched OA (the likelihood's and ICL's choices against the best
start). ``--choose-dis`` keeps, per scene and seed, the ``--lambdas`` labels with the lowest
class-size-normalised neighbour disagreement (:func:`benchmarks.uic_explore.disagreement`).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.uic_shrink --scenes half:A,half:B
--lambdas 0,0.1,0.25,0.5 --seeds 0`` (one JSON line per scene x seed: matched OA per ``lam``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks import _quality_lib as ql
from benchmarks import heldout_proxy


def shape_shrunk(covs: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """Each covariance's *shape* shrunk toward the pooled shape, its volume (determinant) kept.

    With ``V_k = |S_k|^(1/d)`` and ``P`` the weighted mean covariance, ``M_k = (1 - lam) S_k / V_k +
    lam P / |P|^(1/d)`` and the result is ``V_k M_k / |M_k|^(1/d)``: the mixture's components keep
    their volumes (a flat-coloured class stays narrow, a textured one broad; the volume-variable,
    shape-shrunk member of Celeux and Govaert's (1995) family), only their elongation and
    orientation move toward the common ones.
    """
    d = covs.shape[-1]
    pooled = np.einsum("k,kij->ij", weights, covs)
    vol = np.exp(np.linalg.slogdet(covs)[1] / d)
    target = pooled / np.exp(np.linalg.slogdet(pooled)[1] / d)
    mixed = (1 - lam) * covs / vol[:, None, None] + lam * target[None]
    return mixed * (vol / np.exp(np.linalg.slogdet(mixed)[1] / d))[:, None, None]


def _shrink(gmm: Any, lam: float, xp: Any = None) -> None:
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    if _Setting.mode == "shape":
        gmm.covariances_ = shape_shrunk(np.asarray(gmm.covariances_, np.float64), np.asarray(gmm.weights_), lam)
    else:
        pooled = np.einsum("k,kij->ij", gmm.weights_, gmm.covariances_)
        gmm.covariances_ = (1 - lam) * gmm.covariances_ + lam * pooled[None]
    kw = {"xp": xp} if xp is not None else {}
    gmm.precisions_cholesky_ = _compute_precision_cholesky(gmm.covariances_, "full", **kw)
    pc = np.asarray(gmm.precisions_cholesky_)
    gmm.precisions_ = np.einsum("kij,klj->kil", pc, pc)


class _Setting:
    lam = 0.0
    refits = True
    mode = "pooled"


def _install() -> None:
    """Patch the mixture class initial_labels fits and its spatial-EM refit (this process only)."""
    import sklearn.mixture as skm

    import geouic.uic.labels as labels

    base = skm.GaussianMixture

    class Shrunk(base):  # type: ignore[misc, valid-type]
        def _m_step(self, X: Any, log_resp: Any, **kw: Any) -> None:
            super()._m_step(X, log_resp, **kw)
            if _Setting.lam > 0 and self.covariance_type == "full":
                _shrink(self, _Setting.lam, kw.get("xp"))

    skm.GaussianMixture = Shrunk
    refit = labels.refit_mixture

    def shrunk_refit(gmm: Any, stats: Any, **kw: Any) -> Any:
        out = refit(gmm, stats, **kw)
        if out is not None and _Setting.refits and _Setting.lam > 0 and out.covariance_type == "full":
            _shrink(out, _Setting.lam)
        return out

    labels.refit_mixture = shrunk_refit


def _scene(name: str) -> ql.Scene:
    data = heldout_proxy.PROXY_DIR if ql.SCENES[name].half == "P" else _bench.DATA
    return ql.load_scene(name, data)


def ashman_d(X: np.ndarray, mean: np.ndarray, cov: np.ndarray, seed: int = 0) -> float:
    """Ashman's D of a 2-means split of ``X`` in the coordinates whitened by ``(mean, cov)``."""
    from sklearn.cluster import KMeans

    Z = np.linalg.solve(np.linalg.cholesky(cov), (X - mean).T).T
    lab = KMeans(2, n_init=3, random_state=seed).fit_predict(Z)
    if np.bincount(lab, minlength=2).min() < 10:
        return 0.0
    u = Z[lab == 0].mean(axis=0) - Z[lab == 1].mean(axis=0)
    p = Z @ (u / np.linalg.norm(u))
    a, b = p[lab == 0], p[lab == 1]
    return float(np.sqrt(2) * abs(a.mean() - b.mean()) / np.sqrt(a.var() + b.var()))


def bimodality(name: str) -> dict[str, Any]:
    from benchmarks.uic_explore import build_pool
    from geouic.uic.data import SmoothedFeatures
    from geouic.uic.labels import fit_mixture

    sc = _scene(name)
    k = sc.n_classes
    pool, _ = build_pool(sc, k, 0)
    rng = np.random.default_rng(0)  # the subsample and starts initial_labels draws
    fit = SmoothedFeatures(pool, pool.geometry).rows(
        rng.choice(pool.n_valid, 20_000, replace=False) if pool.n_valid > 20_000 else None)
    gmm = fit_mixture(fit, k, rng.integers(0, 2**31 - 1, size=4), covariance="full", max_share=0.9)
    lab = gmm.predict(fit)
    d = [ashman_d(fit[lab == j], gmm.means_[j], gmm.covariances_[j]) if (lab == j).sum() >= 50 else 0.0
         for j in range(k)]
    order = np.argsort(d)[::-1]
    return {"scene": name, "k": k, "D": [round(d[j], 2) for j in order],
            "weights": [round(float(gmm.weights_[j]), 2) for j in order]}


def starts(name: str, n: int) -> dict[str, Any]:
    """The ``--starts`` record of one scene (seed 0)."""
    from sklearn.mixture import GaussianMixture

    from benchmarks.uic_explore import build_pool
    from geouic.uic.data import SmoothedFeatures

    sc = _scene(name)
    k = sc.n_classes
    pool, _ = build_pool(sc, k, 0)
    F = SmoothedFeatures(pool, pool.geometry).rows(None).astype(np.float64)
    rng = np.random.default_rng(0)
    sub = F[rng.choice(len(F), min(20_000, len(F)), replace=False)]
    scale = float(np.mean(sub.var(axis=0)))
    ref = sc.primary
    out = []
    for s in range(n):
        g = GaussianMixture(k, covariance_type="full", random_state=s, reg_covar=1e-3 * scale).fit(sub)
        p = g.predict_proba(sub)
        lab = pool.split((g.predict(F) + 1).astype(np.uint16), fill=0)[0]
        out.append({"ll": round(float(g.score(sub)), 4),
                    "entropy": round(float(-(p * np.log(np.maximum(p, 1e-300))).sum(axis=1).mean()), 4),
                    "oa": round(float(ql.matched_scores(lab[ref.rows, ref.cols], ref.codes, k)["oa"]), 4)})
    by_ll = max(out, key=lambda r: r["ll"])
    by_icl = max(out, key=lambda r: r["ll"] - r["entropy"])
    return {"scene": name, "k": k, "ll_pick_oa": by_ll["oa"], "icl_pick_oa": by_icl["oa"],
            "best_oa": max(r["oa"] for r in out), "starts": out}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.uic_explore import build_pool, disagreement
    from benchmarks.uic_realistic import score
    from geouic.uic.labels import COVARIANCES, initial_labels

    p = argparse.ArgumentParser(prog="python -m benchmarks.uic_shrink", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", default="half:A,half:B")
    p.add_argument("--lambdas", default="0,0.1,0.25")
    p.add_argument("--seeds", default="0")
    p.add_argument("--fit-only", action="store_true", help="shrink the mixture's fit, not the spatial-EM refits")
    p.add_argument("--bimodality", action="store_true", help="print the components' Ashman's D and exit")
    p.add_argument("--starts", type=int, default=0, help="print N mixture starts' ll / entropy / OA and exit")
    p.add_argument("--choose-dis", action="store_true", help="also keep the lam with the lowest disagreement")
    p.add_argument("--mode", choices=("pooled", "shape"), default="pooled",
                   help="shrink toward the pooled covariance, or only the shapes toward the pooled shape")
    p.add_argument("--covariance", choices=COVARIANCES, default="full",
                   help="initial_labels' covariance (auto: the engine's rule)")
    p.add_argument("--workflow", choices=("matched", "majority"), default="matched")
    a = p.parse_args(argv)
    warnings.simplefilter("ignore")
    if (heldout_proxy.PROXY_DIR / "proxies.json").exists():
        heldout_proxy.register()
    names = ql.expand_scenes(a.scenes.split(","))
    if a.bimodality or a.starts:
        for name in names:
            print(json.dumps(bimodality(name) if a.bimodality else starts(name, a.starts)), flush=True)
        return 0
    _install()
    _Setting.refits = not a.fit_only
    _Setting.mode = a.mode
    mult = 3 if a.workflow == "majority" else 1
    lambdas = [float(x) for x in a.lambdas.split(",")]
    for name in names:
        sc = _scene(name)
        k = sc.n_classes * mult
        for seed in (int(s) for s in a.seeds.split(",")):
            pool, cfg = build_pool(sc, k, seed)
            row: dict[str, Any] = {"scene": name, "seed": seed, "k": k, "fit_only": a.fit_only, "mode": a.mode,
                                   "covariance": a.covariance, "workflow": a.workflow}
            for lam in lambdas:
                _Setting.lam = lam
                flat = initial_labels(pool, k, seed, covariance=a.covariance, n_init=int(cfg.init_n),
                                      beta=float(cfg.smoothing))
                lab = pool.split((flat + 1).astype(np.uint16), fill=0)[0]
                row[f"{lam:g}"] = score(lab, sc, k, a.workflow)["oa"]
                if a.choose_dis:
                    row[f"dis{lam:g}"] = round(disagreement(pool, flat, k), 4)
            if a.choose_dis:
                keys = [f"{lam:g}" for lam in lambdas]
                pick = min(keys, key=lambda key: row["dis" + key])
                row["pick"], row["gain"] = pick, round(row[pick] - row[keys[0]], 4)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
