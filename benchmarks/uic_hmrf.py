"""UIC's starting mixture estimated WITH the Potts field (issue 8, seventh round): HMRF-EM.

Today :func:`geouic.uic.labels.initial_labels` estimates the mixture's parameters with no spatial
prior (full-covariance EM on the engine's 20k subsample of 3x3-median features, 4 starts) and
applies the Potts field (beta 4, mean field) only to the fitted mixture's posteriors. Here the
field goes *inside* the estimation (neighbourhood / mean-field EM, Zhang et al. 2001; Celeux,
Forbes & Peyrard 2003): start from the engine's own fit, then repeat T times

    E: the field's mean-field posteriors over every pool region (exactly the engine's field:
       ``potts_smooth`` of the floored log-posteriors, beta 4, 5 iterations);
    M: weights, means and full covariances from those posteriors (same ``reg_covar`` as the fit),

and label with the field of the last parameters. No variant sees a reference label; the
reference only scores (matched OA at K = classes, realistic 3K majority OA, as ``uic_merge``).

Variants (``--variants``, comma-separated; T an integer or ``c`` = until fewer than 0.1 % of the
pool's labels change, at most 30):

* ``base``: the engine's ``initial_labels``; ``em-0``: this script's own E-step on the engine's
  fit, no M-step (a check: equals ``base``);
* ``em-T``: soft M-step from the field posteriors of every pool pixel;
* ``sub-T``: the same, M-step from the field posteriors of the engine's 20k subsample only;
* ``cem-T``: hard (classification EM / ICM-like): M-step from the field's argmax;
* ``ramp-T``: ``em-T`` with beta rising linearly from 1 to 4 over the T iterations;
* ``emg-T`` / ``cemg-T`` / ``rampg-T``: with a degeneracy guard: an M-step that gives a component
  above 0.9 of the pool or below d + 1 pixels of weight is discarded and the last sound fit kept;
* ``now-T``: ``em-T`` without the mixture weights in the E-step (the field is the only prior);
* ``pick-T``: each of the engine's 4 starts fitted separately, ``em-T`` on each, the one with the
  highest Potts pseudo-log-likelihood of its final labels kept (choice after the spatial EM);
  ``pick0-T``: the engine's start (chosen before), the same ``em-T`` (= ``em-T``; its CPU
  includes the four fits, for a fair cost).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python -m benchmarks.uic_hmrf --scenes
half:A --seeds 0,1,2 --variants base,em-2,em-5 --json benchmarks/_work/hmrf_A.json`` (one line per
scene x workflow x seed x variant on stdout); ``--report a.json,b.json [--variants ...]`` prints
the tables (``uic_merge.report``: per row, per half against ``base``, cross-half choice).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks._quality_lib import expand_scenes, load_scene
from benchmarks.uic_explore import field_posteriors as field
from benchmarks.uic_merge import report
from benchmarks.uic_realistic import OVERCLUSTER, score

FIT = 20_000
MAX_ITER = 30
CONVERGED = 1e-3  # share of labels that change between iterations, for T = "c"
FLOOR = float(np.log(1e-30))  # the engine's floor of the log-posteriors


class Params:
    """Weights, means, full covariances and the covariance regularisation of a mixture."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray, reg: float) -> None:
        self.weights, self.means, self.covs, self.reg = weights, means, covs, reg

    @classmethod
    def of(cls, gmm: Any) -> Params:
        return cls(gmm.weights_.copy(), gmm.means_.copy(), gmm.covariances_.copy(), float(gmm.reg_covar))

    def log_post(self, X: np.ndarray, *, weights: bool = True, parts: int = 1 << 16) -> np.ndarray:
        """Floored log-posteriors (n, k) float32, as the engine's ``log(max(predict_proba, 1e-30))``."""
        k, d = self.means.shape
        out = np.empty((len(X), k), np.float32)
        chol = [np.linalg.cholesky(c) for c in self.covs]
        prec = [np.linalg.inv(c).T for c in chol]  # precision Cholesky factor, as scikit-learn's
        logdet = np.array([np.log(np.diag(p)).sum() for p in prec])
        lw = np.log(self.weights) if weights else np.zeros(k)
        for s in range(0, len(X), parts):
            x = X[s : s + parts]
            ll = np.empty((len(x), k))
            for c in range(k):
                y = (x - self.means[c]) @ prec[c]
                ll[:, c] = -0.5 * (d * np.log(2 * np.pi) + (y * y).sum(axis=1)) + logdet[c] + lw[c]
            ll -= ll.max(axis=1, keepdims=True)
            ll -= np.log(np.exp(ll).sum(axis=1, keepdims=True))
            out[s : s + parts] = np.maximum(ll, FLOOR)
        return out


def m_step(X: np.ndarray, q: np.ndarray, reg: float) -> Params:
    """Weighted weights, means and full covariances (+ ``reg`` on the diagonal) from responsibilities q."""
    nk = q.sum(axis=0) + 10 * np.finfo(float).eps
    means = (q.T @ X) / nk[:, None]
    d = X.shape[1]
    covs = np.empty((len(nk), d, d))
    for c in range(len(nk)):
        diff = X - means[c]
        covs[c] = (q[:, c, None] * diff).T @ diff / nk[c] + reg * np.eye(d)
    return Params(nk / nk.sum(), means, covs, reg)


def pseudo_loglik(pool: Any, log_prob: np.ndarray, labels: np.ndarray, beta: float) -> float:
    """Mean Potts pseudo-log-likelihood of ``labels``: log softmax_k(log p_k + beta n_k)[z] (label-free)."""
    k = log_prob.shape[1]
    total, start = 0.0, 0
    for region in pool.regions:
        v = region.valid
        n = int(v.sum())
        z = np.full(v.shape, -1, np.int64)
        z[v] = labels[start : start + n]
        onehot = np.stack([(z == c) for c in range(k)]).astype(np.float32)
        pad = np.pad(onehot, ((0, 0), (1, 1), (1, 1)))
        rows, cols = v.shape
        nb = sum(pad[:, i : i + rows, j : j + cols] for i in range(3) for j in range(3) if (i, j) != (1, 1))
        e = np.zeros((k, *v.shape), np.float32)
        e[:, v] = log_prob[start : start + n].T
        e = e + beta * nb
        e = e - e.max(axis=0, keepdims=True)
        logsm = e - np.log(np.exp(e).sum(axis=0, keepdims=True))
        total += float(np.take_along_axis(logsm, np.maximum(z, 0)[None], 0)[0][v].sum())
        start += n
    return total / len(labels)


def hmrf_em(pool: Any, X: np.ndarray, params: Params, *, beta: float, iterations: int | None, hard: bool = False,
            ramp: bool = False, guard: bool = False, weights: bool = True,
            sub: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Labels, final log-posteriors and info of the spatial EM started at ``params``.

    ``iterations`` None: until fewer than :data:`CONVERGED` of the labels change (at most
    :data:`MAX_ITER`). ``sub``: the M-step reads only these pool rows.
    """
    n, d = X.shape
    todo = MAX_ITER if iterations is None else iterations
    prev = None
    done, stopped = 0, ""
    changes = []
    for t in range(todo):
        b = beta if not ramp else 1.0 + (beta - 1.0) * t / max(todo - 1, 1)
        q = field(pool, params.log_post(X, weights=weights), b)
        z = q.argmax(axis=1)
        if prev is not None:
            changes.append(round(float((z != prev).mean()), 4))
            if iterations is None and changes[-1] < CONVERGED:
                stopped = "converged"
                break
        prev = z
        r = np.eye(q.shape[1])[z] if hard else q
        if sub is not None:
            new = m_step(X[sub], r[sub], params.reg)
        else:
            new = m_step(X, r, params.reg)
        share = np.bincount(z, minlength=q.shape[1]) / n
        nk = r.sum(axis=0) if sub is None else r[sub].sum(axis=0) * n / len(sub)
        if guard and (share.max() > 0.9 or nk.min() < d + 1):
            stopped = f"guard at {t}"
            break
        params = new
        done += 1
    log_prob = params.log_post(X, weights=weights)
    labels = field(pool, log_prob, beta).argmax(axis=1).astype(np.int64)
    return labels, log_prob, {"iterations": done, "stopped": stopped, "changes": changes,
                              "weights": [round(float(w), 3) for w in np.sort(params.weights)]}


class Fits:
    """The pool's features, the engine's subsample and start seeds, and its mixture (cached)."""

    def __init__(self, pool: Any, cfg: Any, seed: int) -> None:
        self.pool, self.cfg, self.seed = pool, cfg, seed
        self.X = pool.smoothed_features(pool.geometry).astype(np.float64)
        rng = np.random.default_rng(seed)  # exactly initial_labels' draws
        self.pick = rng.choice(len(self.X), FIT, replace=False) if len(self.X) > FIT else np.arange(len(self.X))
        self.fit = self.X[self.pick]
        self.seeds = rng.integers(0, 2**31 - 1, size=int(cfg.init_n))
        self._cache: dict[tuple[int, int | None], tuple[Any, float]] = {}

    def mixture(self, k: int, start: int | None = None) -> tuple[Any, float]:
        """(engine's mixture of k components, or that of start ``start`` alone; its CPU seconds)."""
        if (k, start) not in self._cache:
            from geouic.uic.labels import fit_mixture

            t0 = time.process_time()
            seeds = self.seeds if start is None else self.seeds[start : start + 1]
            gmm = fit_mixture(self.fit, k, seeds, covariance="full", max_share=0.9)
            self._cache[(k, start)] = (gmm, time.process_time() - t0)
        return self._cache[(k, start)]


def run_variant(v: str, fits: Fits, k: int) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Pool labels 0..k-1, CPU seconds (fit included) and info of variant ``v``."""
    t0 = time.process_time()
    beta = float(fits.cfg.smoothing)
    if v == "base":
        from geouic.uic.labels import initial_labels

        cfg = fits.cfg
        lab = initial_labels(fits.pool, k, fits.seed, covariance=cfg.covariance, n_init=int(cfg.init_n), beta=beta)
        return lab, time.process_time() - t0, {}
    kind, _, arg = v.partition("-")
    iterations = None if arg == "c" else int(arg)
    opts = {"hard": kind.startswith("cem"), "ramp": kind.startswith("ramp"), "guard": kind.endswith("g"),
            "weights": kind != "now", "sub": fits.pick if kind == "sub" else None}
    if kind in ("pick", "pick0"):
        starts = [fits.mixture(k, s) for s in range(len(fits.seeds))]
        engine, _ = fits.mixture(k)
        cpu = sum(c for _, c in starts)
        t1 = time.process_time()
        cands = [g for g, _ in starts] if kind == "pick" else [engine]
        best, best_key, info = None, (False, -np.inf), {}
        for i, g in enumerate(cands):
            lab, lp, inf = hmrf_em(fits.pool, fits.X, Params.of(g), beta=beta, iterations=iterations)
            share = np.bincount(lab, minlength=k).max() / len(lab)
            key = (bool(share <= 0.9), pseudo_loglik(fits.pool, lp, lab, beta))
            info[f"start{i}"] = {"pl": round(key[1], 5), "share": round(float(share), 3),
                                 "engine": bool(np.allclose(g.means_, engine.means_))}
            if key > best_key:
                best, best_key = lab, key
        return best, cpu + time.process_time() - t1, info
    gmm, cpu = fits.mixture(k)
    t1 = time.process_time()
    lab, _, info = hmrf_em(fits.pool, fits.X, Params.of(gmm), beta=beta, iterations=iterations, **opts)
    return lab, cpu + time.process_time() - t1, info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="half:A,half:B")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--workflows", default="matched,majority")
    p.add_argument("--variants", help="comma-separated (default base,em-0,em-2,em-5,em-10); with --report: "
                   "only these columns")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", help="comma-separated JSON files: print the tables and exit")
    a = p.parse_args(argv)
    if a.report:
        report([Path(x) for x in a.report.split(",")], a.variants.split(",") if a.variants else None)
        return 0
    variants = (a.variants or "base,em-0,em-2,em-5,em-10").split(",")
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    import torch

    from benchmarks.uic_explore import build_pool

    torch.set_num_threads(1)
    for name in expand_scenes(a.scenes.split(",")):
        scene = load_scene(name, _bench.DATA)
        for seed in [int(s) for s in a.seeds.split(",")]:
            pool, cfg = build_pool(scene, scene.n_classes, seed)
            fits = Fits(pool, cfg, seed)
            base: dict[str, np.ndarray] = {}
            for wf in a.workflows.split(","):
                k = scene.n_classes * (OVERCLUSTER if wf == "majority" else 1)
                for v in variants:
                    flat, cpu, info = run_variant(v, fits, k)
                    if v == "base":
                        base[wf] = flat
                    elif wf in base:
                        info["same_as_base"] = round(float((flat == base[wf]).mean()), 4)
                    labels = pool.split((flat + 1).astype(np.uint16), fill=0)[0]
                    rec = {"scene": name, "workflow": wf, "k": k, "seed": seed, "variant": v,
                           "cpu_s": round(cpu, 2), **score(labels, scene, k, wf), "info": info}
                    print(json.dumps({x: rec[x] for x in ("scene", "workflow", "k", "seed", "variant", "oa", "cpu_s")}
                                     | {"it": info.get("iterations"), "same": info.get("same_as_base")}),
                          flush=True)
                    key = {"scene": name, "workflow": wf, "seed": seed, "variant": v}
                    records = _bench.replace_record(records, rec, key, a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
