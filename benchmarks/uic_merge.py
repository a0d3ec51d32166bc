"""UIC's starting labels by over-clustering and merging (issue 8, sixth round).

The starting labels today (:func:`geouic.uic.labels.initial_labels`): a full-covariance Gaussian
mixture of K components on the pool's 3x3-median features (20k-pixel subsample, 4 starts, best
lower bound), then the Potts field (beta 4). Here the same mixture is fitted with M > K components
(same subsample and start seeds as the engine's), and the components are merged down to K by a
*label-free* criterion, greedily, one pair at a time; a merged class stays a sub-mixture (its
posterior is the sum of its components' posteriors), then the Potts field as today. The pool
and first stage are built as the quality benchmark's ``uic-init`` row builds them
(:func:`benchmarks.uic_explore.build_pool`); the reference only scores, as
:func:`benchmarks.uic_realistic.score` does (matched: K = classes, Hungarian; realistic: K = 3 x
classes, majority assignment on a 16x16 checkerboard).

Variants (``--variants``, comma-separated):

* ``base``: ``initial_labels`` with the engine's defaults;
* ``C-x2`` / ``C-x1.5`` / ``C-x3``: M = 2K / K + ceil(K/2) / 3K components merged to K by criterion C:

  - ``ent``: Baudry et al. (2010), "Combining mixture components for clustering": the pair whose
    union most reduces the posterior entropy ``-sum_i sum_k t_ik log t_ik`` (on the fitted
    subsample);
  - ``adj``: spatial interleaving on the *unsmoothed* mixture labels of the whole pool: ``n_ij``
    4-neighbour pairs labelled (i, j), the pair with the largest ``n_ij / min(P_i, P_j)``
    (``P_i`` = the boundary pairs of i with any other label: the share of the smaller one's
    boundary that it shares with the other);
  - ``lift``: the same counts against independence, ``n_ij * P / (P_i * P_j)`` (``P`` = all
    boundary pairs);
  - ``ll``: the likelihood cost of describing the union by one moment-matched Gaussian,
    ``w_u log|S_u| - w_i log|S_i| - w_j log|S_j|`` (Runnalls 2007), the smallest first (merged
    nodes are moment-matched, for the criterion only);

* ``oracle-xF`` (for reading only, never a candidate: it reads the reference): the M-component fit,
  each component given to the class of the majority of the reference samples it takes (a
  component without samples to the group of the nearest component mean), so the best any merge
  of that fit could do, and whether a loss is the criterion's or the over-fit's;
* ``--pairs xF``: the ROC AUC of each criterion's first-step pair score for same-class against
  different-class component pairs (reads the reference; for reading only, see :func:`pair_auc`);
* ``split-C`` (the per-component split test): the engine's K fit; each component re-fitted by a
  2-component full mixture on the fitted subsample's pixels it takes; the split kept when both
  halves are spatially coherent on the pool (neighbour disagreement inside the component below
  half of what a random labelling of the same shares gives); then merged back to K by C.

Every variant's CPU seconds include its own mixture fit (a fit of M components is cached per
scene x seed and shared between criteria and workflows, and charged to each of them).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.uic_merge --scenes half:A,half:B
--seeds 0,1,2 --workflows matched,majority --variants base,ent-x2,adj-x2 --json benchmarks/_work/merge.json``;
``--report merge.json`` prints per-row and per-half tables and the cross-half choice.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks._quality_lib import HALVES, expand_scenes, load_scene
from benchmarks.uic_explore import build_pool, field_labels
from benchmarks.uic_realistic import OVERCLUSTER, score

FIT = 20_000
FACTORS = {"x1.5": None, "x2": 2, "x3": 3}
CRITERIA = ("ent", "adj", "lift", "ll")


def n_components(k: int, factor: str) -> int:
    """M for a factor name: ``x1.5`` = K + ceil(K/2), ``x2`` = 2K, ``x3`` = 3K."""
    f = FACTORS[factor]
    return k + math.ceil(k / 2) if f is None else f * k


class Fits:
    """The pool's features, the engine's subsample and start seeds, and cached mixtures by M."""

    def __init__(self, pool: Any, cfg: Any, seed: int) -> None:
        self.pool, self.cfg, self.seed = pool, cfg, seed
        self.X = pool.smoothed_features(pool.geometry).astype(np.float64)
        rng = np.random.default_rng(seed)  # exactly initial_labels' draws
        self.pick = rng.choice(len(self.X), FIT, replace=False) if len(self.X) > FIT else np.arange(len(self.X))
        self.fit = self.X[self.pick]
        self.seeds = rng.integers(0, 2**31 - 1, size=int(cfg.init_n))
        self._cache: dict[int, tuple[Any, float, np.ndarray]] = {}

    def mixture(self, m: int) -> tuple[Any, float, np.ndarray]:
        """(mixture of m components, its CPU seconds incl. pool posteriors, pool posteriors float32)."""
        if m not in self._cache:
            from geouic.uic.labels import fit_mixture

            t0 = time.process_time()
            gmm = fit_mixture(self.fit, m, self.seeds, covariance="full", max_share=0.9)
            post = gmm.predict_proba(self.X).astype(np.float32)
            self._cache[m] = (gmm, time.process_time() - t0, post)
        return self._cache[m]


# ------------------------------------------------------------------------------ merge criteria
def _xlogx(a: np.ndarray) -> np.ndarray:
    return np.where(a > 0, a * np.log(np.maximum(a, 1e-300)), 0.0)


def merge_entropy(t: np.ndarray, k: int) -> list[list[int]]:
    """Baudry et al.'s greedy entropy merge of posterior columns ``t`` (n, M) down to k groups."""
    cols = [t[:, i].astype(np.float64) for i in range(t.shape[1])]
    groups = [[i] for i in range(len(cols))]
    fx = [_xlogx(c).sum() for c in cols]
    gain = {(i, j): _xlogx(cols[i] + cols[j]).sum() - fx[i] - fx[j]
            for i in range(len(cols)) for j in range(i + 1, len(cols))}
    alive = set(range(len(cols)))
    while len(alive) > k:
        i, j = max(gain, key=gain.get)
        cols[i] = cols[i] + cols[j]
        fx[i] = _xlogx(cols[i]).sum()
        groups[i] += groups[j]
        alive.discard(j)
        gain = {p: g for p, g in gain.items() if i not in p and j not in p}
        for o in alive - {i}:
            gain[(min(i, o), max(i, o))] = _xlogx(cols[i] + cols[o]).sum() - fx[i] - fx[o]
    return [groups[i] for i in sorted(alive)]


def neighbour_counts(pool: Any, labels: np.ndarray, m: int) -> np.ndarray:
    """Symmetric (m, m) counts of valid 4-neighbour pairs by their two labels, over every region."""
    counts = np.zeros(m * m, np.int64)
    for lab in pool.split(labels.astype(np.int64), fill=-1):
        for a, b in ((lab[:, 1:], lab[:, :-1]), (lab[1:, :], lab[:-1, :])):
            both = (a >= 0) & (b >= 0)
            counts += np.bincount(a[both] * m + b[both], minlength=m * m)
    n = counts.reshape(m, m)
    return n + n.T - np.diag(np.diag(n))


def merge_adjacency(n: np.ndarray, k: int, *, lift: bool = False) -> list[list[int]]:
    """Greedy merge of the most interleaved pair of labels, from 4-neighbour counts ``n`` (m, m)."""
    n = n.astype(np.float64).copy()
    groups = [[i] for i in range(len(n))]
    alive = list(range(len(n)))
    while len(alive) > k:
        sub = n[np.ix_(alive, alive)]
        off = sub - np.diag(np.diag(sub))
        per = off.sum(axis=1)
        if lift:
            score_ = off * max(per.sum(), 1.0) / np.maximum(np.outer(per, per), 1e-12)
        else:
            score_ = off / np.maximum(np.minimum.outer(per, per), 1e-12)
        np.fill_diagonal(score_, -np.inf)
        a, b = np.unravel_index(int(np.argmax(score_)), score_.shape)
        i, j = alive[a], alive[b]
        n[i, :] += n[j, :]
        n[:, i] += n[:, j]
        groups[i] += groups[j]
        alive.remove(j)
    return [groups[i] for i in alive]


def merge_likelihood(weights: np.ndarray, means: np.ndarray, covs: np.ndarray, k: int) -> list[list[int]]:
    """Greedy Runnalls merge: the pair whose moment-matched union loses the least likelihood."""
    w, mu, cov = list(weights.astype(np.float64)), list(means.astype(np.float64)), list(covs.astype(np.float64))
    logdet = [np.linalg.slogdet(c)[1] for c in cov]
    groups = [[i] for i in range(len(w))]
    alive = set(range(len(w)))

    def union(i: int, j: int) -> tuple[float, np.ndarray, np.ndarray, float]:
        wu = w[i] + w[j]
        mu_u = (w[i] * mu[i] + w[j] * mu[j]) / wu
        di, dj = mu[i] - mu_u, mu[j] - mu_u
        cu = (w[i] * (cov[i] + np.outer(di, di)) + w[j] * (cov[j] + np.outer(dj, dj))) / wu
        return wu, mu_u, cu, float(np.linalg.slogdet(cu)[1])

    def cost(i: int, j: int) -> float:
        wu, _, _, ld = union(i, j)
        return wu * ld - w[i] * logdet[i] - w[j] * logdet[j]

    costs = {(i, j): cost(i, j) for i in alive for j in alive if i < j}
    while len(alive) > k:
        i, j = min(costs, key=costs.get)
        w[i], mu[i], cov[i], logdet[i] = union(i, j)
        groups[i] += groups[j]
        alive.discard(j)
        costs = {p: c for p, c in costs.items() if i not in p and j not in p}
        for o in alive - {i}:
            costs[(min(i, o), max(i, o))] = cost(i, o)
    return [groups[i] for i in sorted(alive)]


def merge(criterion: str, k: int, post: np.ndarray, fits: Fits, gmm: Any | None,
          moments: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[list[int]]:
    """Groups of component indices (k of them) by ``criterion`` from pool posteriors ``post``."""
    m = post.shape[1]
    if criterion == "ent":
        return merge_entropy(post[fits.pick], k)
    if criterion in ("adj", "lift"):
        return merge_adjacency(neighbour_counts(fits.pool, post.argmax(axis=1), m), k, lift=criterion == "lift")
    if criterion == "ll":
        w, mu, cov = moments if moments is not None else (gmm.weights_, gmm.means_, gmm.covariances_)
        return merge_likelihood(w, mu, cov, k)
    raise SystemExit(f"unknown criterion {criterion!r}")


def grouped_labels(fits: Fits, post: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Class posteriors = sums of their components' posteriors, then the engine's Potts field."""
    cls = np.stack([post[:, g].sum(axis=1) for g in groups], axis=1)
    log_prob = np.log(np.maximum(cls, 1e-30)).astype(np.float32)
    return field_labels(fits.pool, log_prob, float(fits.cfg.smoothing))


# ------------------------------------------------------------------------------ split test
def split_components(fits: Fits, k: int, *, threshold: float = 0.5) -> tuple[np.ndarray, Any, dict[str, Any]]:
    """The engine's K fit with each spatially coherent component split in two (see module doc).

    Returns the pool posteriors of the resulting components, their (weights, means, covs) and info.
    """
    from geouic.uic.labels import fit_mixture

    gmm, _, post = fits.mixture(k)
    lab_fit = post[fits.pick].argmax(axis=1)
    lab_pool = post.argmax(axis=1)
    cols, w, mu, cov, kept = [], [], [], [], []
    for c in range(k):
        own = fits.fit[lab_fit == c]
        sub = None
        if len(own) >= 200:
            try:
                sub = fit_mixture(own, 2, fits.seeds[:2], covariance="full", max_share=1.0)
            except Exception:  # noqa: BLE001 - a component that cannot be split stays whole
                sub = None
        if sub is not None:
            inside = lab_pool == c
            half = np.full(len(lab_pool), -1, np.int64)
            half[inside] = sub.predict(fits.X[inside])
            shares = np.bincount(half[inside], minlength=2) / max(int(inside.sum()), 1)
            nb = neighbour_counts(fits.pool, np.where(inside, half, 2), 3)[:2, :2]
            disagree = nb[0, 1] / max(nb[0, 0] + nb[1, 1] + nb[0, 1], 1)
            random = 2 * shares[0] * shares[1]
            if min(shares) > 0.02 and disagree < threshold * random:
                sp = sub.predict_proba(fits.X).astype(np.float32)
                for h in range(2):
                    cols.append(post[:, c] * sp[:, h])
                    w.append(gmm.weights_[c] * sub.weights_[h])
                    mu.append(sub.means_[h])
                    cov.append(sub.covariances_[h])
                kept.append({"component": c, "disagree": round(float(disagree), 4), "random": round(float(random), 4)})
                continue
        cols.append(post[:, c])
        w.append(gmm.weights_[c])
        mu.append(gmm.means_[c])
        cov.append(gmm.covariances_[c])
    return (np.stack(cols, axis=1), (np.array(w), np.array(mu), np.array(cov)),
            {"split": kept, "m": len(cols)})


def oracle_groups(fits: Fits, post: np.ndarray, gmm: Any, scene: Any, k: int) -> list[list[int]]:
    """Components grouped by the majority reference class of their samples (reads the reference)."""
    m = post.shape[1]
    img = fits.pool.split(post.argmax(axis=1).astype(np.int64), fill=-1)[0]
    ref = scene.primary
    comp = img[ref.rows, ref.cols]
    ok = comp >= 0
    classes = sorted(set(int(c) for c in ref.codes))[:k]
    owner = np.full(m, -1)
    for c in range(m):
        codes = ref.codes[ok][comp[ok] == c]
        if len(codes):
            vals, cnt = np.unique(codes, return_counts=True)
            owner[c] = classes.index(int(vals[cnt.argmax()])) if int(vals[cnt.argmax()]) in classes else -1
    labelled = np.flatnonzero(owner >= 0)
    for c in np.flatnonzero(owner < 0):
        d = ((gmm.means_[labelled] - gmm.means_[c]) ** 2).sum(axis=1)
        owner[c] = owner[labelled[d.argmin()]]
    return [list(np.flatnonzero(owner == g)) for g in range(k) if (owner == g).any()]


def run_variant(v: str, fits: Fits, k: int, scene: Any = None) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Pool labels 0..k-1, CPU seconds (fit included) and info of variant ``v``."""
    t0 = time.process_time()
    if v == "base":
        from geouic.uic.labels import initial_labels

        cfg = fits.cfg
        lab = initial_labels(fits.pool, k, fits.seed, covariance=cfg.covariance, n_init=int(cfg.init_n),
                             beta=float(cfg.smoothing))
        return lab, time.process_time() - t0, {}
    crit, _, arg = v.partition("-")
    if crit == "split":
        _, base_cpu, _ = fits.mixture(k)
        t1 = time.process_time()
        post, moments, info = split_components(fits, k)
        groups = merge(arg, k, post, fits, None, moments)
        lab = grouped_labels(fits, post, groups)
        return lab, time.process_time() - t1 + base_cpu, {**info, "groups": groups}
    m = n_components(k, arg)
    cached = m in fits._cache
    gmm, fit_cpu, post = fits.mixture(m)
    t1 = time.process_time()
    groups = oracle_groups(fits, post, gmm, scene, k) if crit == "oracle" else merge(crit, k, post, fits, gmm)
    groups = [[int(i) for i in g] for g in groups]
    lab = grouped_labels(fits, post, groups)
    cpu = time.process_time() - t1 + fit_cpu
    shares = np.bincount(post.argmax(axis=1), minlength=m) / len(post)
    return lab, cpu, {"m": m, "groups": groups, "fit_cached": cached,
                      "group_shares": [round(float(shares[g].sum()), 3) for g in groups]}


def pair_auc(scene: Any, factor: str, seed: int = 0) -> dict[str, Any]:
    """How well each criterion's *first-step* score tells same-class from different-class pairs.

    The M-component fit at K = classes; each component's class is the majority of the
    reference samples it holds (components without samples are left out); one ROC AUC per
    criterion over all pairs (1.0: every same-class pair scores above every other pair; a greedy
    merge needs its top M - K pairs right). Reads the reference: for reading only.
    """
    from sklearn.metrics import roc_auc_score

    k = scene.n_classes
    pool, cfg = build_pool(scene, k, seed)
    fits = Fits(pool, cfg, seed)
    m = n_components(k, factor)
    gmm, _, post = fits.mixture(m)
    lab = post.argmax(axis=1)
    img = pool.split(lab.astype(np.int64), fill=-1)[0]
    ref = scene.primary
    comp = img[ref.rows, ref.cols]
    owner = np.full(m, -1)
    for c in range(m):
        codes = ref.codes[comp == c]
        if len(codes):
            vals, cnt = np.unique(codes, return_counts=True)
            owner[c] = vals[cnt.argmax()]
    n = neighbour_counts(pool, lab, m).astype(np.float64)
    off = n - np.diag(np.diag(n))
    per = off.sum(axis=1)
    t = post[fits.pick].astype(np.float64)
    fx = _xlogx(t).sum(axis=0)
    w, mu, cov = gmm.weights_, gmm.means_, gmm.covariances_
    ld = np.array([np.linalg.slogdet(c)[1] for c in cov])
    same, scores = [], []
    for i in range(m):
        for j in range(i + 1, m):
            if owner[i] < 0 or owner[j] < 0:
                continue
            wu = w[i] + w[j]
            mu_u = (w[i] * mu[i] + w[j] * mu[j]) / wu
            di, dj = mu[i] - mu_u, mu[j] - mu_u
            cu = (w[i] * (cov[i] + np.outer(di, di)) + w[j] * (cov[j] + np.outer(dj, dj))) / wu
            same.append(owner[i] == owner[j])
            scores.append([_xlogx(t[:, i] + t[:, j]).sum() - fx[i] - fx[j],
                           off[i, j] / max(min(per[i], per[j]), 1e-12),
                           off[i, j] * per.sum() / max(per[i] * per[j], 1e-12),
                           -(wu * np.linalg.slogdet(cu)[1] - w[i] * ld[i] - w[j] * ld[j])])
    y, x = np.array(same), np.array(scores)
    out: dict[str, Any] = {"scene": scene.name, "k": k, "m": m, "pairs": len(y), "same_class_pairs": int(y.sum())}
    for c, name in enumerate(CRITERIA):
        out[name] = round(float(roc_auc_score(y, x[:, c])), 3) if 0 < y.sum() < len(y) else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="half:A,half:B")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--workflows", default="matched,majority")
    p.add_argument("--variants", help="comma-separated (default: base and every criterion x factor); with "
                   "--report: only these columns")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", help="comma-separated JSON files: print the tables and exit")
    p.add_argument("--pairs", metavar="FACTOR", help="print each scene's first-step pair AUC (seed 0, matched K; "
                   "reads the reference, for reading only; see pair_auc) and exit")
    a = p.parse_args(argv)
    if a.pairs:
        for name in expand_scenes(a.scenes.split(",")):
            print(json.dumps(pair_auc(load_scene(name, _bench.DATA), a.pairs)), flush=True)
        return 0
    if a.report:
        report([Path(x) for x in a.report.split(",")], a.variants.split(",") if a.variants else None)
        return 0
    variants = a.variants or "base," + ",".join(f"{c}-{f}" for f in FACTORS for c in CRITERIA)
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    import torch

    torch.set_num_threads(1)
    for name in expand_scenes(a.scenes.split(",")):
        scene = load_scene(name, _bench.DATA)
        for seed in [int(s) for s in a.seeds.split(",")]:
            pool, cfg = build_pool(scene, scene.n_classes, seed)
            fits = Fits(pool, cfg, seed)
            for wf in a.workflows.split(","):
                k = scene.n_classes * (OVERCLUSTER if wf == "majority" else 1)
                for v in variants.split(","):
                    flat, cpu, info = run_variant(v, fits, k, scene)
                    labels = pool.split((flat + 1).astype(np.uint16), fill=0)[0]
                    rec = {"scene": name, "workflow": wf, "k": k, "seed": seed, "variant": v,
                           "cpu_s": round(cpu, 2), **score(labels, scene, k, wf), "info": info}
                    print(json.dumps({x: rec[x] for x in ("scene", "workflow", "k", "seed", "variant", "oa", "cpu_s")}),
                          flush=True)
                    key = {"scene": name, "workflow": wf, "seed": seed, "variant": v}
                    records = _bench.replace_record(records, rec, key, a.json)
    return 0


def _rows(recs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, tuple[float, float, float, float]]]:
    """(half, workflow, scene) -> variant -> (mean OA, min, max, mean CPU s over seeds)."""
    half_of = {s: h for h, names in HALVES.items() for s in names}
    out: dict[tuple[str, str, str], dict[str, tuple[float, float, float, float]]] = {}
    for key in sorted({(half_of[r["scene"]], r["workflow"], r["scene"]) for r in recs}):
        by: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            if (half_of[r["scene"]], r["workflow"], r["scene"]) == key:
                by.setdefault(r["variant"], []).append(r)
        out[key] = {v: (float(np.mean([r["oa"] for r in g])), min(r["oa"] for r in g), max(r["oa"] for r in g),
                        float(np.mean([r["cpu_s"] for r in g]))) for v, g in by.items()}
    return out


def report(paths: list[Path], pick: list[str] | None = None) -> None:
    """Per-row table (mean (min-max)), per-half summary against base, and the cross-half choice
    (``pick``: only these variants, ``base`` always kept)."""
    recs = [r for path in paths for r in json.loads(path.read_text())]
    if pick:
        recs = [r for r in recs if r["variant"] in {"base", *pick}]
    rows = _rows(recs)
    variants = [v for v in dict.fromkeys(r["variant"] for r in recs)]
    print("| half | workflow | scene | " + " | ".join(variants) + " |\n|---|---|---|" + "---|" * len(variants))
    for (h, wf, scene), by in rows.items():
        cells = [f"{by[v][0]:.3f} ({by[v][1]:.3f}-{by[v][2]:.3f})" if v in by else "" for v in variants]
        print(f"| {h} | {'realistic' if wf == 'majority' else wf} | {scene} | " + " | ".join(cells) + " |")
    print("\n| variant | half | workflow | rows | mean OA | mean - base | rows better / worse (> 0.001) | worst row "
          "| CPU / base |\n|---|---|---|---|---|---|---|---|---|")
    summary: dict[tuple[str, str], tuple[float, float]] = {}
    for v in variants:
        for h in ("A", "B"):
            all_d = []
            for wf in ("matched", "majority"):
                x = [by for (hh, ww, _), by in rows.items() if (hh, ww) == (h, wf) and v in by and "base" in by]
                if not x:
                    continue
                d = np.array([by[v][0] - by["base"][0] for by in x])
                all_d += list(d)
                cpu = sum(by[v][3] for by in x) / max(sum(by["base"][3] for by in x), 1e-9)
                print(f"| {v} | {h} | {'realistic' if wf == 'majority' else wf} | {len(x)} | "
                      f"{np.mean([by[v][0] for by in x]):.4f} | {d.mean():+.4f} | {int((d > 0.001).sum())} / "
                      f"{int((d < -0.001).sum())} | {d.min():+.3f} | {cpu:.2f} |")
            if all_d:
                summary[(v, h)] = (float(np.mean(all_d)), float(np.min(all_d)))
    print("\nOne line per variant: mean gain over base (worst row) per half and workflow; CPU / base over all rows:\n")
    print("| variant | A matched | A realistic | B matched | B realistic | CPU / base |\n|---|---|---|---|---|---|")
    for v in variants:
        cells, cpu_v, cpu_b = [], 0.0, 0.0
        for h in ("A", "B"):
            for wf in ("matched", "majority"):
                x = [by for (hh, ww, _), by in rows.items() if (hh, ww) == (h, wf) and v in by and "base" in by]
                d = np.array([by[v][0] - by["base"][0] for by in x])
                cells.append(f"{d.mean():+.4f} ({d.min():+.3f})" if len(d) else "")
                cpu_v += sum(by[v][3] for by in x)
                cpu_b += sum(by["base"][3] for by in x)
        print(f"| {v} | " + " | ".join(cells) + f" | {cpu_v / max(cpu_b, 1e-9):.2f} |")
    print("\nCross-half choice (best mean gain over base on the choosing half, both workflows; then the other half):\n")
    print("| chosen on | variant | gain there (worst row) | other half gain (worst row) |\n|---|---|---|---|")
    for h, o in (("A", "B"), ("B", "A")):
        cands = [v for v in variants if v != "base" and (v, h) in summary and (v, o) in summary]
        if not cands:
            continue
        best = max(cands, key=lambda v: summary[(v, h)][0])
        print(f"| {h} | {best} | {summary[(best, h)][0]:+.4f} ({summary[(best, h)][1]:+.3f}) | "
              f"{summary[(best, o)][0]:+.4f} ({summary[(best, o)][1]:+.3f}) |")


if __name__ == "__main__":
    raise SystemExit(main())
