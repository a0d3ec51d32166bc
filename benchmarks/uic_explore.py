"""Exploration of UIC's starting labels (issue 8, fourth round): label-free variants, scored.

Each variant replaces step 2 of :func:`geouic.uic.labels.initial_labels` (the Gaussian mixture
of the pool's 3x3-median features) and keeps steps 1 and 3 (the features, the Potts field with
the engine's ``smoothing``); the pool and first stage are built exactly as the quality
benchmark's ``uic-init`` adapter builds them (:func:`benchmarks._quality_engines.uic_init_labels`).
No variant sees a reference label: the reference is read only to score the result (matched OA at
K = classes, Hungarian).

Variants (``--variants``, comma-separated):

* ``base``: the engine's own call (``initial_labels`` with its defaults);
* ``med-S`` / ``avg-S``: S mixtures, each fitted on its own 20k-pixel subsample (2 starts); ``med``
  keeps the partition with the highest mean ARI to the others, ``avg`` averages the posteriors
  after Hungarian alignment to that partition;
* ``ll-S``: the same S fits, the one with the highest mean log-likelihood on the whole pool;
* ``llmed-S``: the same S fits, the median partition (as ``med``) of the more likely half;
* ``cov-C``: one mixture of covariance C (``diag``, ``tied``, ``full``) as the engine fits it;
* ``ninit-N``: the engine's mixture with N starts instead of ``init_n`` (best lower bound);
* ``floor-R``: full covariance with ``reg_covar`` R times the mean feature variance (engine 1e-3);
* ``bic``: full / tied / diag, the one with the lowest BIC on the fitted subsample;
* ``heldout``: the same three, the one with the highest mean log-likelihood on a disjoint
  20k-pixel subsample;
* ``stab``: the same three, each fitted on 3 subsamples, the one whose partitions agree best
  (mean pairwise ARI), then its median partition;
* ``dis-S`` / ``pl-S`` / ``mmp-S`` (fifth round): the same S subsample fits as ``ll-S``, the one
  chosen by a *spatial* label-free criterion (:func:`spatial_criteria`): ``dis`` the lowest
  class-size-normalised neighbour disagreement of the unsmoothed mixture labels,
  ``D = P(4-neighbours differ) / (1 - sum_k p_k^2)``; ``pl`` the highest Potts pseudo-likelihood of
  the field's labels; ``mmp`` the highest mean max-posterior after the field;
* ``diss-N`` / ``pls-N`` / ``mmps-N``: the same criteria choosing among the N starts of the
  engine's own mixture on its one subsample (instead of the highest lower bound; N = 4 is the
  engine's candidate set);
* ``lldis-S-T``: the same S subsample fits; among those whose whole-pool mean log-likelihood is
  within T nat per pixel of the best, the lowest ``dis`` (the likelihood decides where it can,
  spatial coherence breaks its near-ties);
* ``cands-S``: ``ll-S``'s choice, with every candidate's criteria and matched OA in ``info``
  (for reading only: the OA is never used to choose);
* ``slic-N``: ``base`` followed by a majority vote inside SLIC-like segments of about N pixels
  (:func:`slic_segments`, on the first three first-stage components, no extra dependency).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.uic_explore --scenes half:A
--seeds 0,1,2 --variants base,med-5,avg-5 --json benchmarks/_work/explore_A.json`` (one line per
scene x seed x variant on stdout; ``--report a.json,b.json [--variants ...]`` prints the tables).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks._quality_lib import HALVES, expand_scenes, load_scene, matched_scores

FIT = 20_000


def build_pool(scene: Any, k: int, seed: int) -> tuple[Any, Any]:
    """The pool and config exactly as ``uic_init_labels`` builds them."""
    from geouic.raster import open_raster
    from geouic.sampling import sample_pixels
    from geouic.uic.data import PatchPool, Projection
    from geouic.uic.engine import UICEngine

    cfg = UICEngine(n_classes=k, seed=seed).config
    with warnings.catch_warnings(), open_raster(scene.image) as src:
        warnings.simplefilter("ignore")
        X = sample_pixels([src], cfg.sample_size, seed=seed)
        proj = Projection(cfg.normalize, cfg.pca_components).fit(X)
        pool = PatchPool.from_sources([src], proj, pool_pixels=src.width * src.height, seed=seed)
    return pool, cfg


def field_posteriors(pool: Any, log_prob: np.ndarray, beta: float) -> np.ndarray:
    """Step 3 of ``initial_labels``: the Potts field per pool region, (n_valid, k) float64."""
    from geouic.uic.labels import potts_smooth

    k = log_prob.shape[1]
    out, start = [], 0
    for region in pool.regions:
        n = int(region.valid.sum())
        img = np.zeros((k, *region.valid.shape), np.float32)
        img[:, region.valid] = log_prob[start : start + n].T
        out.append(potts_smooth(img, region.valid, beta=beta)[:, region.valid].T)
        start += n
    return np.concatenate(out)


def field_labels(pool: Any, log_prob: np.ndarray, beta: float) -> np.ndarray:
    """The argmax of :func:`field_posteriors`."""
    return field_posteriors(pool, log_prob, beta).argmax(axis=1).astype(np.int64)


def _fit(X: np.ndarray, k: int, rng: np.random.Generator, n_init: int, covariance: str = "full",
         reg: float | None = None) -> Any:
    from geouic.uic.labels import REG_COVAR, fit_mixture

    fit = X[rng.choice(len(X), FIT, replace=False)] if len(X) > FIT else X
    seeds = rng.integers(0, 2**31 - 1, size=n_init)
    return fit_mixture(fit, k, seeds, covariance=covariance, reg=REG_COVAR if reg is None else reg,
                       max_share=0.9), fit


def _align(ref: np.ndarray, lab: np.ndarray, k: int) -> np.ndarray:
    """Permutation p with p[cluster of lab] = matching cluster of ref (Hungarian on overlap)."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((k, k), np.int64)
    np.add.at(table, (lab, ref), 1)
    r, c = linear_sum_assignment(-table)
    perm = np.empty(k, np.int64)
    perm[r] = c
    return perm


def _ari(a: np.ndarray, b: np.ndarray, n: int = 50_000) -> float:
    from sklearn.metrics import adjusted_rand_score

    idx = np.random.default_rng(0).choice(len(a), min(n, len(a)), replace=False)
    return float(adjusted_rand_score(a[idx], b[idx]))


def consensus(X: np.ndarray, gmms: list[Any], k: int) -> tuple[int, np.ndarray, list[np.ndarray]]:
    """Index of the median partition, its mean ARI to the others, and every posterior."""
    probs = [g.predict_proba(X) for g in gmms]
    labs = [p.argmax(axis=1) for p in probs]
    agree = np.array([[_ari(labs[i], labs[j]) if i != j else 0.0 for j in range(len(labs))]
                      for i in range(len(labs))])
    mean = agree.sum(axis=1) / max(len(labs) - 1, 1)
    return int(mean.argmax()), mean, probs


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(p, 1e-30)).astype(np.float32)


def spatial_criteria(pool: Any, prob: np.ndarray, beta: float) -> dict[str, float]:
    """Label-free spatial scores of one mixture's posteriors ``prob`` (n_valid, k) on the pool.

    ``dis``: P(two valid 4-neighbours have different argmax labels) / (1 - sum_k p_k^2), the
    disagreement a spatially random labelling of the same class sizes would have (lower = more
    coherent); ``pl``: mean Potts pseudo-log-likelihood of the field's labels z,
    ``log softmax_k(log q_k + beta * n_k)[z]`` with q the mixture's posterior and n_k the count of
    the 8 neighbours labelled k (higher = better); ``mmp``: mean max-posterior after the field.
    """
    from geouic.uic.labels import potts_smooth

    k = prob.shape[1]
    logp = _log(prob)
    z_raw = prob.argmax(axis=1)
    pl_sum = mmp_sum = 0.0
    start = 0
    for region in pool.regions:
        v = region.valid
        n = int(v.sum())
        img = np.zeros((k, *v.shape), np.float32)
        img[:, v] = logp[start : start + n].T
        q = potts_smooth(img, v, beta=beta)
        mmp_sum += float(q[:, v].max(axis=0).sum())
        zf = np.where(v, q.argmax(axis=0), -1)
        onehot = np.stack([(zf == c) for c in range(k)]).astype(np.float32)
        pad = np.pad(onehot, ((0, 0), (1, 1), (1, 1)))
        rows, cols = v.shape
        nb = sum(pad[:, i : i + rows, j : j + cols] for i in range(3) for j in range(3) if (i, j) != (1, 1))
        e = img + beta * nb
        e = e - e.max(axis=0, keepdims=True)
        logsm = e - np.log(np.exp(e).sum(axis=0, keepdims=True))
        pl_sum += float(np.take_along_axis(logsm, np.maximum(zf, 0)[None], 0)[0][v].sum())
        start += n
    return {"dis": disagreement(pool, z_raw, k), "pl": pl_sum / len(z_raw), "mmp": mmp_sum / len(z_raw)}


def disagreement(pool: Any, flat: np.ndarray, k: int) -> float:
    """P(two valid 4-neighbours have different labels) / (1 - sum_k p_k^2), over the pool's regions.

    ``flat`` holds the labels of the valid pool pixels in :meth:`PatchPool.valid_features` order;
    the denominator is the disagreement of a spatially random labelling with the same class sizes,
    so lower is more coherent.
    """
    differ = pairs = start = 0
    for region in pool.regions:
        v = region.valid
        n = int(v.sum())
        lab = np.full(v.shape, -1, np.int64)
        lab[v] = flat[start : start + n]
        start += n
        for a, b in ((lab[:, 1:], lab[:, :-1]), (lab[1:, :], lab[:-1, :])):
            both = (a >= 0) & (b >= 0)
            pairs += int(both.sum())
            differ += int((both & (a != b)).sum())
    shares = np.bincount(flat, minlength=k) / len(flat)
    return differ / max(pairs, 1) / max(1e-12, 1 - float((shares ** 2).sum()))


#: Direction of each spatial criterion: +1 higher is better, -1 lower is better.
CRITERIA = {"dis": -1.0, "pl": 1.0, "mmp": 1.0}


class Runner:
    """Variants on one pool; subsample fits are cached so S = 5 is the first 5 of S = 9."""

    def __init__(self, pool: Any, cfg: Any, k: int, seed: int) -> None:
        self.pool, self.cfg, self.k, self.seed = pool, cfg, k, seed
        self.X = pool.smoothed_features(pool.geometry).astype(np.float64)
        self.beta = float(cfg.smoothing)
        self._subs: dict[str, list[Any]] = {}
        self._starts: list[Any] = []
        self._scored: dict[tuple[str, int], tuple[np.ndarray, dict[str, float], bool]] = {}
        self.info: dict[str, Any] = {}
        self.score_fn: Any = None  # set by main: matched OA of a labelling, for cands-S only

    def start_fits(self, n: int) -> list[Any]:
        """The engine's own subsample and start seeds, each start kept as its own mixture."""
        from geouic.uic.labels import fit_mixture

        rng = np.random.default_rng(self.seed)
        fit = self.X[rng.choice(len(self.X), FIT, replace=False)] if len(self.X) > FIT else self.X
        seeds = rng.integers(0, 2**31 - 1, size=max(n, len(self._starts)))
        while len(self._starts) < n:
            s = seeds[len(self._starts)]
            self._starts.append(fit_mixture(fit, self.k, np.array([s]), covariance="full", max_share=0.9))
        return self._starts[:n]

    def scored(self, kind: str, i: int, gmm: Any) -> tuple[np.ndarray, dict[str, float], bool]:
        """Posteriors, spatial criteria and degeneracy (share > 0.9) of candidate ``i`` of ``kind``."""
        key = (kind, i)
        if key not in self._scored:
            prob = gmm.predict_proba(self.X)
            crit = spatial_criteria(self.pool, prob, self.beta)
            share = np.bincount(prob.argmax(axis=1), minlength=self.k).max() / len(prob)
            crit["ll"] = float(gmm.score(self.X))
            self._scored[key] = (prob, crit, bool(share > 0.9))
        return self._scored[key]

    def choose(self, kind: str, crit: str, gmms: list[Any]) -> np.ndarray:
        """The candidate best by ``crit`` among the non-degenerate ones; its field labels."""
        cands = [self.scored(kind, i, g) for i, g in enumerate(gmms)]
        ok = [i for i, c in enumerate(cands) if not c[2]] or list(range(len(cands)))
        best = max(ok, key=lambda i: CRITERIA[crit] * cands[i][1][crit])
        self.info = {"chosen": best, "scores": [{n: round(v, 4) for n, v in c[1].items()} for c in cands]}
        return field_labels(self.pool, _log(cands[best][0]), self.beta)

    def subsample_fits(self, covariance: str, s: int) -> list[Any]:
        fits = self._subs.setdefault(covariance, [])
        while len(fits) < s:
            rng = np.random.default_rng([self.seed, 1000 + len(fits), {"full": 0, "tied": 1, "diag": 2}[covariance]])
            fits.append(_fit(self.X, self.k, rng, 2, covariance)[0])
        return fits[:s]

    def run(self, variant: str) -> np.ndarray:
        from geouic.uic.labels import initial_labels

        k, X = self.k, self.X
        if variant == "base":
            return initial_labels(self.pool, k, self.seed, covariance=self.cfg.covariance,
                                  n_init=int(self.cfg.init_n), beta=self.beta)
        name, _, arg = variant.partition("-")
        if name in ("med", "avg"):
            i, mean, probs = consensus(X, self.subsample_fits("full", int(arg)), k)
            self.info = {"agreement": [round(float(m), 3) for m in mean]}
            if name == "med":
                return field_labels(self.pool, _log(probs[i]), self.beta)
            ref = probs[i].argmax(axis=1)
            avg = np.zeros_like(probs[i])
            for p in probs:
                perm = _align(ref, p.argmax(axis=1), k)
                avg[:, perm] += p
            return field_labels(self.pool, _log(avg / len(probs)), self.beta)
        if name in ("ll", "llmed"):
            gmms = self.subsample_fits("full", int(arg))
            ll = [float(g.score(X)) for g in gmms]
            self.info = {"pool_loglik": [round(v, 3) for v in ll]}
            if name == "ll":
                return field_labels(self.pool, _log(gmms[int(np.argmax(ll))].predict_proba(X)), self.beta)
            top = [gmms[i] for i in np.argsort(ll)[::-1][: (len(gmms) + 1) // 2]]
            i, mean, probs = consensus(X, top, k)
            return field_labels(self.pool, _log(probs[i]), self.beta)
        if name in CRITERIA:
            return self.choose("sub", name, self.subsample_fits("full", int(arg)))
        if name == "lldis":
            n_fits, tol = arg.split("-")
            gmms = self.subsample_fits("full", int(n_fits))
            cands = [self.scored("sub", i, g) for i, g in enumerate(gmms)]
            ok = [i for i, c in enumerate(cands) if not c[2]] or list(range(len(cands)))
            top = max(cands[i][1]["ll"] for i in ok)
            near = [i for i in ok if cands[i][1]["ll"] >= top - float(tol)]
            best = min(near, key=lambda i: cands[i][1]["dis"])
            self.info = {"chosen": best, "near": near}
            return field_labels(self.pool, _log(cands[best][0]), self.beta)
        if name == "cands":
            gmms = self.subsample_fits("full", int(arg))
            cands = [self.scored("sub", i, g) for i, g in enumerate(gmms)]
            self.info = {"candidates": [{**{n: round(v, 4) for n, v in c[1].items()}, "degenerate": c[2],
                                         "oa": self.score_fn(field_labels(self.pool, _log(c[0]), self.beta))}
                                        for c in cands]}
            best = max(range(len(cands)), key=lambda i: cands[i][1]["ll"])
            return field_labels(self.pool, _log(cands[best][0]), self.beta)
        if name.endswith("s") and name[:-1] in CRITERIA:
            return self.choose("start", name[:-1], self.start_fits(int(arg)))
        rng = np.random.default_rng(self.seed)
        if name == "cov":
            gmm, _ = _fit(X, k, rng, int(self.cfg.init_n), arg)
            return field_labels(self.pool, _log(gmm.predict_proba(X)), self.beta)
        if name == "ninit":
            gmm, _ = _fit(X, k, rng, int(arg), "full")
            return field_labels(self.pool, _log(gmm.predict_proba(X)), self.beta)
        if name == "floor":
            gmm, _ = _fit(X, k, rng, int(self.cfg.init_n), "full", float(arg))
            return field_labels(self.pool, _log(gmm.predict_proba(X)), self.beta)
        if name in ("bic", "heldout"):
            held = X[np.random.default_rng([self.seed, 7]).choice(len(X), min(FIT, len(X)), replace=False)]
            scores, models = {}, {}
            for cov in ("full", "tied", "diag"):
                gmm, fit = _fit(X, k, np.random.default_rng(self.seed), int(self.cfg.init_n), cov)
                models[cov] = gmm
                scores[cov] = -gmm.bic(fit) if name == "bic" else gmm.score(held)
            best = max(scores, key=scores.get)
            self.info = {"chosen": best, "scores": {c: round(float(v), 3) for c, v in scores.items()}}
            return field_labels(self.pool, _log(models[best].predict_proba(X)), self.beta)
        if name == "stab":
            res = {}
            for cov in ("full", "tied", "diag"):
                i, mean, probs = consensus(X, self.subsample_fits(cov, 3), k)
                res[cov] = (float(mean.mean()), probs[i])
            best = max(res, key=lambda c: res[c][0])
            self.info = {"chosen": best, "stability": {c: round(v[0], 3) for c, v in res.items()}}
            return field_labels(self.pool, _log(res[best][1]), self.beta)
        if name == "slic":
            return slic_majority(self.pool, self.run("base"), int(arg))
        raise SystemExit(f"unknown variant {variant!r}")


def slic_segments(feats: np.ndarray, valid: np.ndarray, step: int, *, compact: float = 1.0,
                  iterations: int = 5) -> np.ndarray:
    """SLIC-like superpixels: k-means on (features, position), each pixel choosing among the
    centres of its own and the 8 neighbouring grid cells (grid step ``step``); -1 off ``valid``."""
    rows, cols = np.nonzero(valid)
    gr, gc = -(-valid.shape[0] // step), -(-valid.shape[1] // step)
    cell = (rows // step) * gc + (cols // step)
    pos = np.stack([rows, cols], 1).astype(np.float64)
    f = feats.astype(np.float64)
    n_cells = gr * gc
    cnt = np.bincount(cell, minlength=n_cells).astype(np.float64)
    cf = np.zeros((n_cells, f.shape[1]))
    cp = np.zeros((n_cells, 2))
    for j in range(f.shape[1]):
        cf[:, j] = np.bincount(cell, f[:, j], n_cells)
    for j in range(2):
        cp[:, j] = np.bincount(cell, pos[:, j], n_cells)
    alive = cnt > 0
    cf[alive] /= cnt[alive, None]
    cp[alive] /= cnt[alive, None]
    ci, cj = rows // step, cols // step
    cand = []
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            i, j = ci + di, cj + dj
            ok = (i >= 0) & (i < gr) & (j >= 0) & (j < gc)
            cand.append(np.where(ok, i * gc + j, -1))
    cand = np.stack(cand, 1)  # (n, 9)
    seg = cell
    for _ in range(iterations):
        c = np.where(cand >= 0, cand, 0)
        d = ((f[:, None, :] - cf[c]) ** 2).sum(-1) + compact * ((pos[:, None, :] - cp[c]) ** 2).sum(-1) / step**2
        d[(cand < 0) | ~alive[c]] = np.inf
        seg = c[np.arange(len(c)), d.argmin(axis=1)]
        cnt = np.bincount(seg, minlength=n_cells).astype(np.float64)
        alive = cnt > 0
        for j in range(f.shape[1]):
            cf[:, j] = np.bincount(seg, f[:, j], n_cells)
        for j in range(2):
            cp[:, j] = np.bincount(seg, pos[:, j], n_cells)
        cf[alive] /= cnt[alive, None]
        cp[alive] /= cnt[alive, None]
    out = np.full(valid.shape, -1, np.int64)
    out[rows, cols] = seg
    return out


def slic_majority(pool: Any, flat: np.ndarray, size: int) -> np.ndarray:
    """Majority label inside SLIC-like segments of about ``size`` pixels (per pool region)."""
    feats = pool.valid_features()[:, :3]
    k = int(flat.max()) + 1
    out, start = [], 0
    for region in pool.regions:
        valid = region.valid
        n = int(valid.sum())
        segs = slic_segments(feats[start : start + n], valid, max(2, int(round(size ** 0.5))))
        lab = np.full(valid.shape, -1, np.int64)
        lab[valid] = flat[start : start + n]
        table = np.zeros((int(segs.max()) + 1, k), np.int64)
        np.add.at(table, (segs[valid], lab[valid]), 1)
        new = lab.copy()
        new[valid] = table.argmax(axis=1)[segs[valid]]
        out.append(new[valid])
        start += n
    return np.concatenate(out).astype(np.int64)


def score(pool: Any, flat: np.ndarray, scene: Any, k: int) -> dict[str, Any]:
    labels = pool.split((flat + 1).astype(np.uint16), fill=0)[0]
    ref = scene.primary
    s = matched_scores(labels[ref.rows, ref.cols], ref.codes, k)
    shares = np.bincount(flat, minlength=k) / len(flat)
    return {"oa": round(float(s["oa"]), 4), "cluster_max": round(s["cluster_max"], 3),
            "cluster_min": round(s["cluster_min"], 3), "pool_shares": [round(float(x), 3) for x in sorted(shares)]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="half:A")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default="base")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", help="comma-separated JSON files: print the tables and exit")
    a = p.parse_args(argv)
    if a.report:
        report([Path(x) for x in a.report.split(",")], a.variants.split(",") if a.variants != "base" else None)
        return 0
    scenes = expand_scenes(a.scenes.split(","))
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    import torch

    torch.set_num_threads(1)
    for name in scenes:
        scene = load_scene(name, _bench.DATA)
        k = scene.n_classes
        for seed in [int(s) for s in a.seeds.split(",")]:
            pool, cfg = build_pool(scene, k, seed)
            runner = Runner(pool, cfg, k, seed)
            runner.score_fn = lambda flat, pool=pool, scene=scene, k=k: score(pool, flat, scene, k)["oa"]
            for v in a.variants.split(","):
                t0 = time.process_time()
                flat = runner.run(v)
                rec = {"scene": name, "seed": seed, "variant": v, "cpu_s": round(time.process_time() - t0, 1),
                       **score(pool, flat, scene, k), "info": runner.info}
                runner.info = {}
                print(json.dumps(rec), flush=True)
                records = _bench.replace_record(records, rec, {"scene": name, "seed": seed, "variant": v}, a.json)
    return 0


def report(paths: list[Path], variants: list[str] | None = None) -> None:
    """Markdown tables: mean OA over seeds (spread) per scene x variant, and per-half means."""
    recs = [r for path in paths for r in json.loads(path.read_text())]
    variants = variants or list(dict.fromkeys(r["variant"] for r in recs))
    for half in ("A", "B"):
        names = [n for n in HALVES[half] if any(r["scene"] == n for r in recs)]
        if not names:
            continue
        print(f"\nHalf {half}\n")
        print("| scene | " + " | ".join(variants) + " |")
        print("|---|" + "---|" * len(variants))
        means: dict[str, list[float]] = {v: [] for v in variants}
        spreads: dict[str, list[float]] = {v: [] for v in variants}
        for n in names:
            cells = []
            for v in variants:
                oas = [r["oa"] for r in recs if r["scene"] == n and r["variant"] == v]
                if not oas:
                    cells.append("")
                    continue
                means[v].append(float(np.mean(oas)))
                spreads[v].append(max(oas) - min(oas))
                cells.append(f"{np.mean(oas):.3f} ({max(oas) - min(oas):.3f})")
            print(f"| {n} | " + " | ".join(cells) + " |")
        print("| *mean (max spread)* | " + " | ".join(
            f"{np.mean(means[v]):.3f} ({max(spreads[v]):.3f})" if means[v] else "" for v in variants) + " |")


if __name__ == "__main__":
    sys.exit(main())
