"""UIC's starting labels with other first-stage features (issue 8, sixth round).

Each variant replaces the *features* the starting mixture sees (today: z-score per band, PCA to
``pca_components`` = 16 in the un-whitened geometry, then the 3x3 masked median per channel) and
keeps everything after them as :func:`geouic.uic.labels.initial_labels` does it: the same 20k
subsample and start seeds drawn from ``default_rng(seed)``, :func:`~geouic.uic.labels.fit_mixture`
(full covariance, 4 starts, largest share <= 0.9), the Potts field at the engine's ``smoothing``.
The pool is the whole scene as one region, as the quality benchmark's ``uic-init`` row builds it
(:func:`benchmarks.uic_explore.build_pool`); every statistic of a first stage comes from the
scene's pixels, never from a reference label. Each scene x seed is scored in both workflows:
*matched* (K = classes, Hungarian OA, :func:`benchmarks.uic_explore.score`) and *realistic*
(K = 3 x classes, checkerboard majority, :func:`benchmarks.uic_realistic.score`).

Variants (``--variants``, comma-separated):

* ``base``: the engine's own first stage and ``initial_labels`` (reproduces ``uic-init``);
* ``pca-N``: PCA to N components (un-whitened geometry, as the engine), N = 8, 32, ...; a scene
  with at most N bands keeps its z-scored bands (as the engine does);
* ``pcav-P``: PCA to the fewest components holding P of the z-scored variance (``pcav-0.99``,
  ``pcav-0.999``), applied to every scene (multispectral ones too);
* ``pcaw-N``: PCA to N components, whitened (every component unit variance);
* ``mnf-N`` / ``mnf-snrT``: minimum noise fraction (Green et al. 1988): noise covariance from the
  horizontal and vertical shift differences of the z-scored bands over pairs of valid pixels (half
  their covariance), the generalised eigenvectors of (signal, noise) covariance, components in
  their natural geometry (unit noise, variance = the eigenvalue, ~ SNR + 1); ``mnf-N`` keeps the
  N first (all bands when there are fewer), ``mnf-snrT`` those with eigenvalue > T (at least 3,
  at most 32). Computed from all raw bands (200 on Indian Pines, not after PCA-16);
* ``mnfr-Q-N``: ``mnf-N`` with a robust noise covariance: the pairs across edges left out, twice
  keeping the fraction Q of pairs with the smallest Mahalanobis norm (:func:`noise_covariance`);
* ``pcamnf-P-M``: the engine's PCA to P components (its geometry) beside the M first MNF
  components (natural geometry), each with the 3x3 median (both subspaces, for the mixture to use);
* ``ctx-W-S-M``: two-scale features: the engine's 3x3-median channels plus a W x W context of its
  first M channels, S = ``mean`` or ``med`` (``ctx-7-mean-3``, ``ctx-7-med-3``);
* ``pcrot``: the engine's channels rotated onto the pool's principal axes when it has no PCA
  (multispectral scenes; hyperspectral ones are already principal components), 3x3 median: the
  control for ``tail5`` there;
* ``tail5-M``: the engine's channels (rotated as ``pcrot``), the first M with the 3x3 median, the
  others (the low-variance ones) with a 5x5 median; ``mnftail5-T``: MNF (``mnf-16``), components
  with eigenvalue <= T with the 5x5 median;
* ``log``: log of every band whose valid minimum is positive, before the z-score (multispectral
  reflectances; other bands and hyperspectral scenes as ``base``).

Run (one process; ``--json`` is appended to, one record per scene x seed x variant x workflow):
``PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python -m benchmarks.uic_features --scenes half:A
--seeds 0,1,2 --variants base,pca-8,mnf-16 --json benchmarks/_work/feat_A.json``; then
``--report feat_A.json,feat_B.json [--variants ...]`` prints the tables (per half and workflow: mean
(spread) per scene, the per-half mean, the worst row against ``base``, CPU).
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
from benchmarks._quality_lib import HALVES, expand_scenes, load_scene
from benchmarks.uic_explore import build_pool, field_labels
from benchmarks.uic_explore import score as matched_score
from benchmarks.uic_realistic import OVERCLUSTER
from benchmarks.uic_realistic import score as realistic_score

FIT = 20_000
MNF_MAX = 32


# ----------------------------------------------------------------------------------- first stages
def _zscore_sample(scene: Any, cfg: Any, seed: int, transform: Any = None) -> tuple[Any, np.ndarray]:
    """The engine's normaliser fitted on its own pixel sample, and that sample normalised."""
    from geouic.raster import open_raster
    from geouic.sampling import Normalizer, sample_pixels

    with warnings.catch_warnings(), open_raster(scene.image) as src:
        warnings.simplefilter("ignore")
        X = sample_pixels([src], cfg.sample_size, seed=seed).astype(np.float64)
    if transform is not None:
        X = transform(X)
    norm = Normalizer(cfg.normalize).fit(X)
    return norm, norm.transform(X).astype(np.float64)


def _scene_z(scene: Any, norm: Any, transform: Any = None) -> np.ndarray:
    """Normalised bands of the whole scene ``(bands, rows, cols)`` float64 (0 where invalid)."""
    data = scene.data.astype(np.float64)
    b, rows, cols = data.shape
    flat = data.reshape(b, -1).T
    if transform is not None:
        flat = transform(flat)
    z = norm.transform(flat).astype(np.float64).T.reshape(b, rows, cols)
    z[:, ~scene.valid] = 0.0
    return z


def _signs(vecs: np.ndarray) -> np.ndarray:
    """Columns of ``vecs`` with the sign that makes each one's largest entry positive."""
    idx = np.abs(vecs).argmax(axis=0)
    return vecs * np.where(vecs[idx, np.arange(vecs.shape[1])] < 0, -1.0, 1.0)[None, :]


def noise_covariance(z: np.ndarray, valid: np.ndarray, trim: float = 1.0, iterations: int = 2) -> np.ndarray:
    """Half the covariance of the horizontal and vertical differences of valid pixel pairs.

    ``trim < 1``: a robust estimate that leaves out the pairs across edges. The covariance of all
    pairs is estimated first; then, ``iterations`` times, only the fraction ``trim`` of pairs with
    the smallest Mahalanobis norm under the current estimate are kept and it is re-estimated (the
    result is scaled down, which changes no MNF direction).
    """
    diffs = []
    for a, b, ok in ((z[:, :, 1:], z[:, :, :-1], valid[:, 1:] & valid[:, :-1]),
                     (z[:, 1:, :], z[:, :-1, :], valid[1:, :] & valid[:-1, :])):
        diffs.append((a - b)[:, ok].T)
    d = np.concatenate(diffs)

    def cov(x: np.ndarray) -> np.ndarray:
        x = x - x.mean(axis=0)
        c = x.T @ x / max(len(x) - 1, 1) / 2.0
        return c + np.eye(len(c)) * 1e-6 * float(np.trace(c)) / len(c)

    c = cov(d)
    for _ in range(iterations if trim < 1.0 else 0):
        m = np.einsum("ij,ij->i", d @ np.linalg.inv(c), d)
        c = cov(d[m <= np.quantile(m, trim)])
    return c


def mnf(zs: np.ndarray, z: np.ndarray, valid: np.ndarray,
        trim: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MNF of normalised bands: ``(mean, vectors (bands, bands), eigenvalues)``, best SNR first.

    Signal covariance from the sample ``zs`` (n, bands); noise covariance from the scene ``z``'s
    shift differences (:func:`noise_covariance`), with a ridge of 1e-6 of its mean variance.
    The vectors satisfy ``V.T @ noise @ V = I``, so component i has variance ``evals[i]``.
    """
    from scipy.linalg import eigh

    mean = zs.mean(axis=0)
    sig = np.cov(zs - mean, rowvar=False)
    noise = noise_covariance(z, valid, trim)
    evals, vecs = eigh(sig, noise)
    order = np.argsort(evals)[::-1]
    return mean, _signs(vecs[:, order]), evals[order]


def _masked_window(x: np.ndarray, valid: np.ndarray, w: int, stat: str) -> np.ndarray:
    """Mean or median of each pixel's valid ``w x w`` neighbours, channel by channel (0 off valid)."""
    from scipy.ndimage import uniform_filter

    from geouic.uic.data import _median_of_stack

    rows, cols = valid.shape
    r = w // 2
    out = np.zeros_like(x)
    if stat == "mean":
        m = uniform_filter(valid.astype(np.float64), w, mode="constant")
        for c in range(len(x)):
            s = uniform_filter(np.where(valid, x[c], 0.0).astype(np.float64), w, mode="constant")
            out[c] = np.where(valid, s / np.maximum(m, 1e-12), 0.0)
        return out
    pv = np.pad(valid, r, constant_values=False)
    shifts = [(i, j) for i in range(w) for j in range(w)]
    n = np.sum([pv[i : i + rows, j : j + cols] for i, j in shifts], axis=0)
    n = np.maximum(n, 1)
    for c in range(len(x)):
        p = np.pad(np.where(valid, x[c], np.nan), r, constant_values=np.nan)
        stack = np.stack([p[i : i + rows, j : j + cols] for i, j in shifts])
        out[c] = np.where(valid, _median_of_stack(stack, n), 0.0)
    return out


def _pool_of(channels: np.ndarray, valid: np.ndarray) -> Any:
    from geouic.uic.data import PatchPool, Region

    return PatchPool([Region(channels.astype(np.float32), valid)])


def _median3(pool: Any) -> np.ndarray:
    return pool.smoothed_features(None).astype(np.float64)


def _valid(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return x[:, valid].T.astype(np.float64)


class Stage:
    """First-stage variants on one scene and seed; the engine's pool is built once."""

    def __init__(self, scene: Any, seed: int) -> None:
        self.scene, self.seed = scene, seed
        self.base_pool, self.cfg = build_pool(scene, scene.n_classes, seed)
        self._z: tuple[Any, np.ndarray, np.ndarray] | None = None
        self._mnf: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def zscored(self) -> tuple[Any, np.ndarray, np.ndarray]:
        if self._z is None:
            norm, zs = _zscore_sample(self.scene, self.cfg, self.seed)
            self._z = (norm, zs, _scene_z(self.scene, norm))
        return self._z

    def mnf(self, trim: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if trim not in self._mnf:
            _, zs, z = self.zscored()
            self._mnf[trim] = mnf(zs, z, self.scene.valid, trim)
        return self._mnf[trim]

    def mnf_channels(self, n: int, trim: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        mean, vecs, evals = self.mnf(trim)
        _, _, z = self.zscored()
        v = vecs[:, :n]
        ch = np.einsum("bc,brw->crw", v, z - mean[:, None, None])
        ch[:, ~self.scene.valid] = 0.0
        return ch, evals[:n]

    def principal_channels(self) -> tuple[np.ndarray, np.ndarray]:
        """The engine's channels in principal-component order, and their geometry factors.

        With PCA (more bands than ``pca_components``) they are the pool's own channels; with the
        z-scored bands only, those bands rotated onto the principal axes of the pool (a rotation:
        the full-covariance mixture would not see it, only the per-channel windows do).
        """
        base = self.base_pool
        region = base.regions[0]
        if int(self.scene.data.shape[0]) > int(self.cfg.pca_components):
            return region.x, base.geometry.astype(np.float64)
        v = region.x[:, region.valid].astype(np.float64)
        evals, vecs = np.linalg.eigh(np.cov(v))
        vecs = _signs(vecs[:, ::-1])
        rot = np.einsum("bc,brw->crw", vecs, region.x.astype(np.float64)).astype(np.float32)
        rot[:, ~region.valid] = 0.0
        return rot, np.ones(len(rot))

    def projection_pool(self, n: int, whiten_geometry: bool = False) -> tuple[Any, np.ndarray]:
        """The engine's Projection with ``n`` components; features in its geometry (or whitened)."""
        from geouic.raster import open_raster
        from geouic.sampling import sample_pixels
        from geouic.uic.data import PatchPool, Projection

        with warnings.catch_warnings(), open_raster(self.scene.image) as src:
            warnings.simplefilter("ignore")
            X = sample_pixels([src], self.cfg.sample_size, seed=self.seed)
            proj = Projection(self.cfg.normalize, n).fit(X)
            pool = PatchPool.from_sources([src], proj, pool_pixels=src.width * src.height, seed=self.seed)
        feats = pool.smoothed_features(None if whiten_geometry else pool.geometry).astype(np.float64)
        return pool, feats

    def features(self, variant: str) -> tuple[Any, np.ndarray | None, dict[str, Any]]:
        """``(pool, features (n_valid, d) or None for base, info)`` of ``variant``."""
        valid = self.scene.valid
        name, _, arg = variant.partition("-")
        if variant == "base":
            return self.base_pool, None, {"d": self.base_pool.n_channels}
        bands = int(self.scene.data.shape[0])
        if name in ("pca", "pcaw") and bands <= int(arg):  # no PCA: the engine's z-scored bands
            return self.base_pool, None, {"d": bands}
        if name == "pca":
            pool, f = self.projection_pool(int(arg))
            return pool, f, {"d": f.shape[1]}
        if name == "pcaw":
            pool, f = self.projection_pool(int(arg), whiten_geometry=True)
            return pool, f, {"d": f.shape[1]}
        if name == "pcav":
            _, zs, _ = self.zscored()
            ev = np.sort(np.linalg.eigvalsh(np.cov(zs - zs.mean(0), rowvar=False)))[::-1]
            n = min(int(np.searchsorted(np.cumsum(ev) / ev.sum(), float(arg)) + 1), MNF_MAX)
            if n >= zs.shape[1]:  # every band kept: the z-scored bands, as the engine
                return self.base_pool, None, {"d": zs.shape[1]}
            pool, f = self.projection_pool(max(n, 2))
            return pool, f, {"d": f.shape[1]}
        if name == "mnf":
            _, vecs, evals = self.mnf()
            if arg.startswith("snr"):
                n = int(np.clip((evals > float(arg[3:])).sum(), min(3, len(evals)), MNF_MAX))
            else:
                n = min(int(arg), len(evals))
            ch, ev = self.mnf_channels(n)
            pool = _pool_of(ch, valid)
            return pool, _median3(pool), {"d": n, "evals": [round(float(e), 2) for e in ev]}
        if name == "mnfr":
            q, n_keep = arg.split("-")
            ch, ev = self.mnf_channels(min(int(n_keep), len(self.mnf()[2])), float(q))
            pool = _pool_of(ch, valid)
            return pool, _median3(pool), {"d": len(ev), "evals": [round(float(e), 2) for e in ev]}
        if name == "pcamnf":
            n_pca, n_mnf = (int(x) for x in arg.split("-"))
            _, fp = self.projection_pool(n_pca)
            ch, ev = self.mnf_channels(min(n_mnf, len(self.mnf()[2])))
            pool = _pool_of(ch, valid)
            f = np.concatenate([fp, _median3(pool)], axis=1)
            return pool, f, {"d": f.shape[1]}
        if name == "mnftail5":
            ch, ev = self.mnf_channels(min(16, len(self.mnf()[2])))
            pool = _pool_of(ch, valid)
            f = _median3(pool)
            low = ev <= float(arg)
            if low.any():
                f[:, low] = _valid(_masked_window(ch[low].astype(np.float32), valid, 5, "med"), valid)
            return pool, f, {"d": len(ev), "n_5x5": int(low.sum())}
        base = self.base_pool
        region = base.regions[0]
        x, g = self.principal_channels()
        f0 = base.smoothed_features(base.geometry).astype(np.float64)
        if x is not region.x and name in ("tail5", "pcrot"):  # the 3x3 median on the rotated channels
            f0 = _valid(_masked_window(x, region.valid, 3, "med"), region.valid) * g[None, :]
        if variant == "pcrot":
            return base, f0, {"d": f0.shape[1]}
        if name == "ctx":
            w, stat, first = arg.split("-")
            m = min(int(first), base.n_channels)
            ctx = _masked_window(x[:m], region.valid, int(w), stat)
            f = np.concatenate([f0, _valid(ctx, region.valid) * g[None, :m]], axis=1)
            return base, f, {"d": f.shape[1]}
        if name == "tail5":
            m = int(arg)
            if m < base.n_channels:
                tail = _masked_window(x[m:], region.valid, 5, "med")
                f0[:, m:] = _valid(tail, region.valid) * g[None, m:]
            return base, f0, {"d": f0.shape[1], "n_5x5": max(0, base.n_channels - m)}
        if variant == "log":
            data = self.scene.data.astype(np.float64)
            mins = np.array([data[b][valid].min() for b in range(len(data))])
            logb = mins > 0
            if not logb.any() or len(data) > 16:
                return base, None, {"d": base.n_channels, "logged": 0}

            def tr(X: np.ndarray) -> np.ndarray:
                X = np.array(X, np.float64)
                X[:, logb] = np.log(np.maximum(X[:, logb], mins[logb] * 0.5))
                return X

            norm, _ = _zscore_sample(self.scene, self.cfg, self.seed, tr)
            z = _scene_z(self.scene, norm, tr)
            pool = _pool_of(z, valid)
            return pool, _median3(pool), {"d": len(data), "logged": int(logb.sum())}
        raise SystemExit(f"unknown variant {variant!r}")


def snr_profile(stage: Stage, n: int = 16) -> dict[str, Any]:
    """Label-free noise diagnostics of a scene: SNR of its first principal components and MNF's.

    ``pca_snr``: for each of the first ``n`` principal components v of the z-scored sample, the
    ratio of its variance to its noise variance, ``v' S v / v' N v`` (N: :func:`noise_covariance`);
    ``mnf_evals``: the first ``n`` MNF eigenvalues (the best ratios any direction reaches).
    """
    _, zs, z = stage.zscored()
    evals, vecs = np.linalg.eigh(np.cov(zs - zs.mean(axis=0), rowvar=False))
    vecs = vecs[:, ::-1][:, :n]
    noise = noise_covariance(z, stage.scene.valid)
    snr = evals[::-1][: vecs.shape[1]] / np.einsum("bi,bc,ci->i", vecs, noise, vecs)
    return {"bands": int(zs.shape[1]), "pca_snr": [round(float(x), 2) for x in snr],
            "mnf_evals": [round(float(x), 2) for x in stage.mnf()[2][:n]]}


def mixture_labels(pool: Any, X: np.ndarray, k: int, seed: int, cfg: Any) -> np.ndarray:
    """Steps 2-3 of ``initial_labels`` on features ``X``: same subsample, seeds, field."""
    from geouic.uic.labels import fit_mixture

    rng = np.random.default_rng(seed)
    fit = X[rng.choice(len(X), FIT, replace=False)] if len(X) > FIT else X
    seeds = rng.integers(0, 2**31 - 1, size=int(cfg.init_n))
    gmm = fit_mixture(fit, k, seeds, covariance=cfg.covariance, max_share=0.9)
    log_prob = np.log(np.maximum(gmm.predict_proba(X), 1e-30)).astype(np.float32)
    return field_labels(pool, log_prob, float(cfg.smoothing))


def run_one(stage: Stage, variant: str, workflow: str) -> tuple[dict[str, Any], float]:
    """Scores of one variant in one workflow, and its CPU seconds (features + mixture + field)."""
    from geouic.uic.labels import initial_labels

    scene, seed, cfg = stage.scene, stage.seed, stage.cfg
    k = scene.n_classes * (OVERCLUSTER if workflow == "majority" else 1)
    t0 = time.process_time()
    pool, X, info = stage.features(variant)
    if X is None and variant != "base":
        return {"same_as_base": True, "k": k, "info": info}, time.process_time() - t0
    if X is None:
        flat = initial_labels(pool, k, seed, covariance=cfg.covariance, n_init=int(cfg.init_n),
                              beta=float(cfg.smoothing))
    else:
        flat = mixture_labels(pool, X, k, seed, cfg)
    cpu = time.process_time() - t0
    if workflow == "matched":
        s = matched_score(pool, flat, scene, k)
    else:
        labels = pool.split((flat + 1).astype(np.uint16), fill=0)[0]
        s = realistic_score(labels, scene, k, "majority")
    return {**s, "k": k, "info": info}, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="half:A")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default="base")
    p.add_argument("--workflows", default="matched,majority")
    p.add_argument("--json", type=Path)
    p.add_argument("--skip-done", action="store_true", help="skip scene x seed x variant x workflow in --json")
    p.add_argument("--report", help="comma-separated JSON files: print the tables and exit")
    p.add_argument("--snr", action="store_true", help="print each scene's noise diagnostics (seed 0) and exit")
    a = p.parse_args(argv)
    if a.snr:
        for name in expand_scenes(a.scenes.split(",")):
            print(json.dumps({"scene": name, **snr_profile(Stage(load_scene(name, _bench.DATA), 0))}), flush=True)
        return 0
    if a.report:
        report([Path(x) for x in a.report.split(",")], None if a.variants == "base" else a.variants.split(","))
        return 0
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    import torch

    torch.set_num_threads(1)
    for name in expand_scenes(a.scenes.split(",")):
        scene = load_scene(name, _bench.DATA)
        for seed in [int(s) for s in a.seeds.split(",")]:
            stage = Stage(scene, seed)
            done = {(r["scene"], r["seed"], r["variant"], r["workflow"]) for r in records} if a.skip_done else set()
            for v in a.variants.split(","):
                for wf in a.workflows.split(","):
                    if (name, seed, v, wf) in done:
                        continue
                    records = run_and_record(records, stage, v, wf, a.json)
    return 0


def run_and_record(records: list[dict[str, Any]], stage: Stage, variant: str, workflow: str,
                   path: Path | None) -> list[dict[str, Any]]:
    """:func:`run_one`, printed and recorded (replacing the same scene x seed x variant x workflow).

    A variant whose features equal the base's takes the base record's scores and CPU.
    """
    name, seed = stage.scene.name, stage.seed
    s, cpu = run_one(stage, variant, workflow)
    if s.pop("same_as_base", False):  # identical features: the base scores, its CPU
        ref = next(r for r in records if (r["scene"], r["seed"], r["variant"], r["workflow"])
                   == (name, seed, "base", workflow))
        s = {**{k: ref[k] for k in ref if k not in ("variant", "info", "cpu_s")}, **s}
        cpu = ref["cpu_s"]
        s["info"] = {**s["info"], "same_as_base": True}
    rec = {"scene": name, "seed": seed, "variant": variant, "workflow": workflow, "cpu_s": round(cpu, 2), **s}
    print(json.dumps({k: rec[k] for k in ("scene", "seed", "variant", "workflow", "k", "oa", "cpu_s")}), flush=True)
    key = {"scene": name, "seed": seed, "variant": variant, "workflow": workflow}
    return _bench.replace_record(records, rec, key, path)


def report(paths: list[Path], variants: list[str] | None = None) -> None:
    """Per workflow and half: mean OA (spread) per scene x variant, half mean, worst row vs base, CPU."""
    recs = [r for path in paths for r in json.loads(path.read_text())]
    variants = variants or list(dict.fromkeys(r["variant"] for r in recs))
    for wf, title in (("matched", "matched, K = classes"), ("majority", "realistic, K = 3 x classes")):
        for half in ("A", "B"):
            names = [n for n in HALVES[half] if any(r["scene"] == n and r["workflow"] == wf for r in recs)]
            if not names:
                continue
            print(f"\nHalf {half}, {title}\n")
            print("| scene | " + " | ".join(variants) + " |\n|---|" + "---|" * len(variants))
            means: dict[str, dict[str, float]] = {v: {} for v in variants}
            cpu: dict[str, dict[str, float]] = {v: {} for v in variants}
            spread: dict[str, list[float]] = {v: [] for v in variants}
            for n in names:
                cells = []
                for v in variants:
                    g = [r for r in recs if (r["scene"], r["variant"], r["workflow"]) == (n, v, wf)]
                    if not g:
                        cells.append("")
                        continue
                    oas = [r["oa"] for r in g]
                    means[v][n] = float(np.mean(oas))
                    cpu[v][n] = float(np.mean([r["cpu_s"] for r in g]))
                    spread[v].append(max(oas) - min(oas))
                    cells.append(f"{np.mean(oas):.3f} ({max(oas) - min(oas):.3f})")
                print(f"| {n} | " + " | ".join(cells) + " |")

            _summary(variants, names, means, spread, cpu)


def _summary(variants: list[str], names: list[str], means: dict[str, dict[str, float]],
             spread: dict[str, list[float]], cpu: dict[str, dict[str, float]]) -> None:
    """The summary lines of one table: half mean, mean and worst row against base, CPU ratio."""
    full = [v for v in variants if len(means[v]) == len(names)]

    def row(label: str, fn: Any) -> None:
        print(f"| *{label}* | " + " | ".join(fn(v) if v in full else "" for v in variants) + " |")

    row("mean (max spread)", lambda v: f"{np.mean(list(means[v].values())):.4f} ({max(spread[v]):.3f})")
    if "base" in full:
        row("mean - base", lambda v: f"{np.mean([means[v][n] - means['base'][n] for n in names]):+.4f}")
        row("worst row - base", lambda v: f"{min(means[v][n] - means['base'][n] for n in names):+.3f}")
        row("CPU / base", lambda v: f"{sum(cpu[v].values()) / sum(cpu['base'].values()):.2f}")

if __name__ == "__main__":
    raise SystemExit(main())
