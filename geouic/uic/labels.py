"""Pseudo-label assignment: the regularised starting labels and empty-class repair.

* :func:`initial_labels`: the labels a UIC member starts from, a Gaussian mixture of the pool's
  3x3-median-smoothed channels (full covariance, or tied where :func:`choose_mixture` says so;
  coarsely quantised channels scaled, :func:`quantisation_scale`), regularised by a Potts field;
* :func:`repair_empty`: a class that is empty or vanishing takes half of the largest class,
  split by 2-means in the network's feature space (not by random halving), and the classifier
  is split the same way.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from geouic.errors import ParameterError
from geouic.uic.budget import label_dtype
from geouic.uic.data import PatchPool, SmoothedFeatures
from geouic.uic.mixture import MIN_SHARE, FieldStatistics, refit_mixture
from geouic.uic.model import UICNet

logger = logging.getLogger(__name__)

__all__ = ["initial_labels", "fit_mixture", "choose_mixture", "quantisation_scale", "count_distinct",
           "potts_smooth", "potts_field", "COVARIANCES", "CONSENSUS_MARGIN", "repair_empty", "FIELD_ITERATIONS",
           "SPATIAL_EM_ROUNDS"]

#: Rounds of spatially regularised EM of the starting mixture (chosen by issue 8's two-half
#: protocol, seventh round: benchmarks/RESULTS.md).
SPATIAL_EM_ROUNDS = 2


def initial_labels(pool: PatchPool, k: int, seed: int, *, covariance: str = "auto", n_init: int = 4,
                   beta: float = 4.0, max_fit: int = 20_000, max_share: float = 0.9,
                   chunk_pixels: int | None = None, em_rounds: int = SPATIAL_EM_ROUNDS,
                   dequantise: bool = True, info: dict[str, Any] | None = None) -> np.ndarray:
    """Regularised starting labels: a Gaussian mixture of smoothed channels, then a Potts field.

    1. Each pool pixel is described by the median of its valid 3x3 neighbourhood, channel by
       channel, in the first stage's un-whitened geometry (:meth:`PatchPool.smoothed_features`).
    2. A Gaussian mixture with ``covariance`` is fitted on ``max_fit`` of them (coarsely
       quantised channels scaled, see below), ``n_init``
       starts (see :func:`fit_mixture`); the start with the highest likelihood whose
       clusters are not degenerate (no cluster above ``max_share`` of the pixels) is kept.
       ``"auto"`` chooses between a full and a tied covariance by :func:`choose_mixture`.
    3. Its class posteriors are regularised by a Potts random field (:func:`potts_smooth`,
       interaction ``beta``) over each pool region.
    4. Spatially regularised EM (:mod:`geouic.uic.mixture`): ``em_rounds`` times, the mixture's
       weights, means and covariances are re-estimated from the field's class distributions
       over all pool pixels, and the field is recomputed; a round whose refit is degenerate
       ends it, as does one whose field leaves a class that held labels before with fewer than
       :data:`~geouic.uic.mixture.MIN_SHARE` of them (or one above ``max_share``): the mixture
       before is kept. The labels are the argmax of the kept mixture's field.

    *Dequantisation.* Integer bands put every channel on a lattice (one digital number apart),
    and a band with few levels (a 60 m cirrus band resampled to 10 m, an 8-bit thermal band)
    lets a component sit on one level with almost no variance along it: it then models the
    band's levels instead of a class (measured: a simulated four-level cirrus band took a
    Sentinel-2 window's realistic OA from 1.000 to 0.590; benchmarks/RESULTS.md, ninth round).
    So no component may be narrower than the data's resolution: a channel whose quantisation
    variance (lattice step^2 / 12, :attr:`~geouic.uic.data.Projection.lattice_`: one digital
    number through the first stage) exceeds the mixture's covariance
    regularisation is scaled down until the regularisation covers it
    (:func:`quantisation_scale`; a full, tied or diagonal mixture is otherwise unchanged by
    scaling a channel), for the fit, the field and the refits alike. Channels finer than that
    are left as they are, so most scenes are labelled exactly as without it.

    Step 2 reads only the sampled pixels' neighbourhoods; steps 1, 3 and 4 run strip by strip of
    each region (``chunk_pixels``, see :mod:`geouic.uic.budget`), the field's strips with
    :data:`FIELD_ITERATIONS` rows of halo, so memory follows the strip, not the pool, and the
    labels do not depend on the strips (tested).

    Parameters
    ----------
    pool : PatchPool
    k : int
        Number of classes.
    seed : int
    covariance : {"auto", "full", "diag", "tied", "spherical"}, default="auto"
    n_init : int, default=4
    beta : float, default=4.0
        Potts interaction (0: the mixture's own labels).
    max_fit : int, default=20000
        Pixels the mixture is fitted on (all pixels are then labelled).
    max_share : float, default=0.9
    chunk_pixels : int, optional
        Most pixels of a strip (``None``: whole regions).
    em_rounds : int, default=SPATIAL_EM_ROUNDS
        Rounds of step 4 (0: the mixture as fitted; ignored when ``beta`` is 0).
    dequantise : bool, default=True
        Scale coarsely quantised channels as above.
    info : dict, optional
        Filled with ``"covariance"`` (the covariance kept), ``"dequantised"`` (channel: factor,
        for the channels scaled down, if any) and, for ``"auto"``, the three agreements
        :func:`choose_mixture` compared (provenance for the model file).

    Returns
    -------
    ndarray of shape (pool.n_valid,), int64
        Labels 0..k-1 of the valid pool pixels (in :meth:`PatchPool.valid_features` order).
    """
    features = SmoothedFeatures(pool, pool.geometry)
    rng = np.random.default_rng(seed)
    pick = rng.choice(pool.n_valid, max_fit, replace=False) if pool.n_valid > max_fit else None
    fit = features.rows(pick)
    seeds = rng.integers(0, 2**31 - 1, size=n_init)
    if dequantise and pool.lattice is not None:
        geometry = np.ones(pool.n_channels) if pool.geometry is None else np.asarray(pool.geometry, np.float64)
        shrink = quantisation_scale(fit, pool.lattice * geometry)
        if (shrink < 1).any():
            features = SmoothedFeatures(pool, (geometry * shrink).astype(np.float32))
            fit = features.rows(pick)
            if info is not None:
                info["dequantised"] = {int(j): round(float(shrink[j]), 4) for j in np.flatnonzero(shrink < 1)}
    centre = fit.mean(axis=0)
    if covariance == "auto":
        gmm = choose_mixture(fit, k, seeds, max_share=max_share, info=info)
    else:
        gmm = fit_mixture(fit, k, seeds, covariance=covariance, max_share=max_share)
        if info is not None:
            info["covariance"] = covariance
    del fit
    rounds = em_rounds if beta > 0 else 0
    compact = label_dtype(k)  # the labels of the kept mixture are held while the next round runs
    stats = FieldStatistics(k, centre)
    labels = _field_labels(pool, features, gmm, beta, chunk_pixels, compact, stats if rounds else None)
    for r in range(rounds):
        refit = refit_mixture(gmm, stats, max_share=max_share)
        if refit is None:
            logger.info("spatial EM round %d: degenerate refit, the mixture before is kept", r + 1)
            break
        stats = FieldStatistics(k, centre)
        new = _field_labels(pool, features, refit, beta, chunk_pixels, compact, stats if r + 1 < rounds else None)
        share, kept = (np.bincount(x, minlength=k) / max(len(x), 1) for x in (new, labels))
        if share.max() > max_share or ((share < MIN_SHARE) & (kept >= MIN_SHARE)).any():
            logger.info("spatial EM round %d emptied or swamped a class: the mixture before is kept", r + 1)
            break
        gmm, labels = refit, new
    return labels.astype(np.int64)


def _field_labels(pool: PatchPool, features: SmoothedFeatures, gmm: Any, beta: float, chunk_pixels: int | None,
                  dtype: np.dtype, stats: FieldStatistics | None) -> np.ndarray:
    """The argmax of the mixture's field over the pool, in ``dtype``; ``stats`` (if any) accumulates it."""
    out = []
    for X, q in _field_strips(pool, features, gmm, beta, chunk_pixels, with_features=stats is not None):
        out.append(q.argmax(axis=1).astype(dtype))
        if stats is not None:
            stats.add(X, q)
    return np.concatenate(out)


def _field_strips(pool: PatchPool, features: SmoothedFeatures, gmm: Any, beta: float,
                  chunk_pixels: int | None, *, with_features: bool = False) -> Any:
    """``(X, q)`` per strip of the pool: the core's valid pixels and their field distributions.

    ``q`` (n, k) is the Potts field of the mixture's posteriors over the strip and its halo
    (:data:`FIELD_ITERATIONS` rows), kept on the core rows; the cores cover the pool in
    :meth:`PatchPool.valid_features` order. ``X`` is their features when ``with_features``
    (else ``None``).
    """
    k = gmm.n_components
    halo = FIELD_ITERATIONS if beta > 0 else 0
    for i, region in enumerate(pool.regions):
        for r0, r1, a, b in pool.strips(i, chunk_pixels, halo):
            if not region.valid[r0:r1].any():  # a strip of nodata rows labels nothing (and has no posterior)
                continue
            X = features.strip(i, a, b)
            log_prob = np.log(np.maximum(gmm.predict_proba(X), 1e-30)).astype(np.float32)
            valid = region.valid[a:b]
            core = np.zeros(valid.shape, bool)
            core[r0 - a : r1 - a] = True
            core = core[valid]
            if beta <= 0:
                q = np.exp(log_prob[core])  # argmax as the float32 log-posteriors' (the labels before the field)
            else:
                img = np.zeros((k, *valid.shape), np.float32)
                img[:, valid] = log_prob.T
                del log_prob
                q = potts_smooth(img, valid, beta=beta)[:, valid][:, core].T
            yield (X[core] if with_features else None), q


#: Covariance types of the starting mixture (``"auto"``: :func:`choose_mixture`).
COVARIANCES = ("auto", "full", "diag", "tied", "spherical")
#: How much better the tied and diagonal mixtures must agree with each other than either agrees
#: with the full one (adjusted Rand index on the fitted pixels) for :func:`choose_mixture` to
#: keep the tied one (issue 8, ninth round: benchmarks/RESULTS.md).
CONSENSUS_MARGIN = 0.2
#: Covariance regularisation of the mixtures, relative to the mean variance of the features.
REG_COVAR = 1e-3


def fit_mixture(X: np.ndarray, k: int, seeds: np.ndarray, *, covariance: str = "diag",
                reg: float = REG_COVAR, max_share: float = 1.0) -> Any:
    """The best of ``len(seeds)`` Gaussian mixtures of ``X`` by likelihood, robust to collapse.

    A component can collapse onto identical pixels (a large constant area, heavily quantised
    values), where its empirical covariance is ill-defined. Three things prevent it: the fit
    runs in float64 (in float32, scikit-learn's ``E[x^2] - E[x]^2`` variance came out negative
    on the 3-band uint16 ``landsat8_brazil`` scene); the covariance regularisation is
    ``reg`` times the mean feature variance, so it scales with the data; and a start that still
    fails is retried with ten times the regularisation (twice), then skipped.

    Parameters
    ----------
    X : ndarray of shape (n, features)
    k : int
    seeds : ndarray of int
        One random state per start.
    covariance : {"diag", "full", "tied", "spherical"}, default="diag"
    reg : float, default=REG_COVAR
    max_share : float, default=1.0
        A start whose largest cluster takes more than this share of ``X`` is degenerate: it
        is kept only when every start is.

    Returns
    -------
    sklearn.mixture.GaussianMixture
        The fitted mixture with the highest lower bound.

    Raises
    ------
    ParameterError
        When no start could be fitted (the features hold fewer than ``k`` distinct values).
    """
    from sklearn.mixture import GaussianMixture

    X = np.asarray(X, dtype=np.float64)
    scale = float(np.mean(X.var(axis=0))) if len(X) > 1 else 1.0
    base = reg * (scale if scale > 0 else 1.0)
    best, best_key = None, (False, -np.inf)
    for s in seeds:
        for factor in (1.0, 10.0, 100.0):
            gmm = GaussianMixture(k, covariance_type=covariance, random_state=int(s), reg_covar=base * factor)
            try:
                gmm.fit(X)
            except ValueError:
                logger.info("mixture start %d collapsed at reg_covar %.2g; retrying", int(s), base * factor)
                continue
            share = np.bincount(gmm.predict(X), minlength=k).max() / len(X)
            key = (bool(share <= max_share), float(gmm.lower_bound_))
            if key > best_key:
                best, best_key = gmm, key
            break
    if best is None:
        raise ParameterError(f"no Gaussian mixture of {k} components could be fitted to {len(X)} pixels "
                             f"({count_distinct(X)} distinct values); lower n_classes.", params=("n_classes",))
    return best


def choose_mixture(X: np.ndarray, k: int, seeds: np.ndarray, *, max_share: float = 1.0,
                   margin: float = CONSENSUS_MARGIN, info: dict[str, Any] | None = None) -> Any:
    """A full-covariance mixture of ``X``, or a tied one where the full one stands alone.

    A full covariance per class fits the most shapes, and its likelihood always wins (BIC and
    held-out likelihood pick it on every dev scene), but on small scenes of few classes its
    optimum can merge two classes into one elongated component and split another: a partition
    that only the flexible model supports. Two constrained models tell: a tied mixture (one
    covariance shared by the classes) and a diagonal one reach their optima by different
    constraints, so where they agree with each other much better than either agrees with the
    full mixture, the full mixture's partition is an artefact of its freedom. Then the tied
    mixture is kept (the more constrained of the two in shape, and k-means' geometry up to a
    whitening); otherwise the full one. All three are fitted by :func:`fit_mixture` with the
    same ``seeds`` and compared by the adjusted Rand index of their labels of ``X``. Needs no
    reference labels.

    Parameters
    ----------
    X : ndarray of shape (n, features)
    k : int
    seeds : ndarray of int
    max_share : float, default=1.0
        As in :func:`fit_mixture`.
    margin : float, default=CONSENSUS_MARGIN
        ``ARI(tied, diag) - max(ARI(full, tied), ARI(full, diag))`` at or above which the tied
        mixture is kept.
    info : dict, optional
        Filled with ``"covariance"`` (the kept type) and ``"ari"`` (the three agreements).

    Returns
    -------
    sklearn.mixture.GaussianMixture
    """
    from sklearn.metrics import adjusted_rand_score

    X = np.asarray(X, dtype=np.float64)
    fits = {c: fit_mixture(X, k, seeds, covariance=c, max_share=max_share) for c in ("full", "tied", "diag")}
    labels = {c: g.predict(X) for c, g in fits.items()}
    ft, fd, td = (float(adjusted_rand_score(labels[a], labels[b]))
                  for a, b in (("full", "tied"), ("full", "diag"), ("tied", "diag")))
    chosen = "tied" if td - max(ft, fd) >= margin else "full"
    if info is not None:
        info.update(covariance=chosen, ari={"full_tied": round(ft, 4), "full_diag": round(fd, 4),
                                            "tied_diag": round(td, 4)})
    logger.info("starting mixture: %s covariance (ARI full-tied %.2f, full-diag %.2f, tied-diag %.2f)",
                chosen, ft, fd, td)
    return fits[chosen]


def quantisation_scale(X: np.ndarray, steps: np.ndarray, reg: float = REG_COVAR) -> np.ndarray:
    """Per-channel factors that make the mixture's regularisation cover each channel's quantisation.

    :func:`fit_mixture` adds ``reg`` times the mean channel variance to every variance. A
    channel whose quantisation variance ``step^2 / 12`` (``steps``: the channels' lattice
    steps, :attr:`geouic.uic.data.Projection.lattice_` in the features' geometry) is larger is
    multiplied by ``sqrt(that regularisation / (step^2 / 12))``, so in the scaled features the
    same regularisation is, for that channel, about its quantisation variance (about: the mean
    variance is the unscaled one); other channels keep factor 1.

    Parameters
    ----------
    X : ndarray of shape (n, features)
    steps : ndarray of shape (features,)
    reg : float, default=REG_COVAR

    Returns
    -------
    ndarray of shape (features,), float64, in (0, 1]
    """
    X = np.asarray(X, dtype=np.float64)
    base = reg * float(np.mean(X.var(axis=0))) if len(X) > 1 else 0.0
    quant = np.asarray(steps, dtype=np.float64) ** 2 / 12.0
    out = np.ones(X.shape[1])
    coarse = quant > base
    if base > 0:
        out[coarse] = np.sqrt(base / quant[coarse])
    return out


def count_distinct(X: np.ndarray) -> int:
    """Number of distinct rows of ``X`` (n, features), by a random projection of each row.

    Two different rows project to the same value with probability zero for a continuous
    random direction, so this equals ``len(np.unique(X, axis=0))`` at the cost of one matrix
    product and a 1-D sort.
    """
    X = np.asarray(X, dtype=np.float64)
    if len(X) == 0:
        return 0
    direction = np.random.default_rng(12345).normal(size=X.shape[1])
    return int(len(np.unique(X @ direction)))


def repair_empty(net: UICNet, labels: np.ndarray, embeddings: Any, *,
                 min_count: int, seed: int, extra: list[UICNet] | None = None) -> tuple[np.ndarray, list[int]]:
    """Give every class with fewer than ``min_count`` pixels half of the largest class.

    The largest class is split with 2-means on the network's last hidden features
    ``embeddings`` (n, hidden), not halved at random; the pixels nearer the second centre take
    the empty class, and the classifier rows of both classes are moved apart along the line
    between the two centres, so the network predicts the split too.

    Parameters
    ----------
    net : UICNet
        Its head is edited in place (and that of every network in ``extra``, e.g. a teacher).
    labels : ndarray (n,) int
        Per-pixel labels 0..K-1 (-1 ignored); a repaired copy is returned.
    embeddings : ndarray (n, hidden), or a callable returning it
        The callable is only called when a class needs repair; what it returns need only
        support ``embeddings[rows]`` (e.g. :class:`geouic.uic.train.PoolEmbeddings`).
    min_count : int
    seed : int

    Returns
    -------
    labels : ndarray (n,)
    repaired : list of int
        Classes that were refilled.
    """
    from sklearn.cluster import KMeans

    k = net.head.out_channels
    labels = labels.copy()
    counts = np.bincount(labels[labels >= 0], minlength=k)
    repaired: list[int] = []
    if counts.min() >= min_count:
        return labels, repaired
    if callable(embeddings):
        embeddings = embeddings()
    for empty in np.flatnonzero(counts < min_count):
        big = int(counts.argmax())
        idx = np.flatnonzero(labels == big)
        if len(idx) < 2 * max(min_count, 1):
            break
        rng = np.random.default_rng(seed + int(empty))
        fit = embeddings[rng.choice(idx, min(len(idx), 4000), replace=False)].astype(np.float64)
        km = KMeans(n_clusters=2, n_init=3, random_state=seed).fit(fit)
        c0, c1 = km.cluster_centers_
        if np.allclose(c0, c1):
            continue
        # in parts, so only a part's features are held (KMeans.predict is row by row: same sides)
        side = np.concatenate([km.predict(embeddings[idx[s : s + _PARTS]].astype(np.float64))
                               for s in range(0, len(idx), _PARTS)])
        moved = idx[side == 1]
        if len(moved) < min_count or len(moved) == len(idx):
            continue
        labels[moved] = empty
        counts[big] -= len(moved)
        counts[empty] += len(moved)
        for n in [net, *(extra or [])]:
            _split_head(n, big, int(empty), c0, c1)
        repaired.append(int(empty))
    return labels, repaired


#: Rows of the features a repair asks for at once (a multiple of scikit-learn's 256-row chunks).
_PARTS = 1 << 14


@torch.no_grad()
def _split_head(net: UICNet, big: int, empty: int, c0: np.ndarray, c1: np.ndarray) -> None:
    """Classifier rows for ``big`` and ``empty`` that separate 2-means centres ``c0``/``c1``."""
    w, b = net.head.weight, net.head.bias  # (K, hidden, 1, 1), (K,)
    assert b is not None  # the classifier has a bias
    d = torch.as_tensor(c1 - c0, dtype=w.dtype, device=w.device)
    m = torch.as_tensor((c0 + c1) / 2, dtype=w.dtype, device=w.device)
    alpha = 2.0 / float((d * d).sum())
    wb = w[big, :, 0, 0].clone()
    bb = b[big].clone()
    w[empty, :, 0, 0] = wb + alpha * d
    b[empty] = bb - alpha * (d @ m)
    w[big, :, 0, 0] = wb - alpha * d
    b[big] = bb + alpha * (d @ m)



#: Mean-field iterations of the Potts field, in the starting labels and on the map.
FIELD_ITERATIONS = 5


def potts_smooth(log_prob: np.ndarray, valid: np.ndarray, *, beta: float,
                 iterations: int = FIELD_ITERATIONS) -> np.ndarray:
    """Spatially regularised class posteriors: mean-field inference of a Potts random field.

    Each pixel's class distribution is repeatedly set to
    ``softmax(log_prob + beta * sum of its 8 neighbours' distributions)``, so a class is
    favoured where the neighbourhood holds it; a lone pixel in a field changes to the field's
    class while boundaries stay where the data puts them. Needs no labels.

    Parameters
    ----------
    log_prob : ndarray of shape (k, rows, cols)
        Per-pixel log-likelihoods (weighted by the mixture's class weights).
    valid : ndarray of shape (rows, cols), bool
        Invalid pixels neither vote nor receive a distribution.
    beta : float
        Interaction strength (0: no smoothing).
    iterations : int, default=5

    Returns
    -------
    ndarray of shape (k, rows, cols), float64
        Class distributions (0 on invalid pixels).
    """
    from scipy.ndimage import uniform_filter

    def softmax(a: np.ndarray) -> np.ndarray:
        e = np.exp(a - a.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True) * valid

    q = softmax(log_prob)
    for _ in range(iterations if beta > 0 else 0):
        neighbours = uniform_filter(q, size=(1, 3, 3), mode="constant") * 9.0 - q
        q = softmax(log_prob + beta * neighbours)
    return q


def potts_field(log_prob: torch.Tensor, valid: torch.Tensor, *, beta: float,
                iterations: int = FIELD_ITERATIONS) -> torch.Tensor:
    """:func:`potts_smooth` in torch, on the device of ``log_prob``: the map's spatial field.

    The same mean-field update, ``softmax(log_prob + beta * sum of the 8 neighbours'
    distributions)``, with the neighbour sum taken as eight shifted additions in a fixed order
    (no convolution algorithm chosen by array size), so a pixel's result is bit-identical
    whatever window it is computed in, as long as the window holds ``iterations`` pixels of
    context around it on top of the log-probabilities' own: each iteration reaches one pixel
    further. Pixels outside ``valid`` (and outside the window) neither vote nor receive.

    Parameters
    ----------
    log_prob : Tensor of shape (k, rows, cols)
        Per-pixel log-probabilities (e.g. the network's log-softmax).
    valid : Tensor of shape (rows, cols), bool
    beta : float
        Interaction strength (0: the softmax of ``log_prob`` alone).
    iterations : int, default=FIELD_ITERATIONS

    Returns
    -------
    Tensor of shape (k, rows, cols)
        Class distributions, 0 on invalid pixels.
    """
    v = valid.to(log_prob.dtype)
    rows, cols = valid.shape
    q = torch.softmax(log_prob, 0) * v
    for _ in range(iterations if beta > 0 else 0):
        padded = torch.nn.functional.pad(q, (1, 1, 1, 1))
        neighbours = torch.zeros_like(q)
        for i, j in _NEIGHBOURS:
            neighbours += padded[:, i : i + rows, j : j + cols]
        q = torch.softmax(log_prob + beta * neighbours, 0) * v
    return q


_NEIGHBOURS = tuple((i, j) for i in range(3) for j in range(3) if (i, j) != (1, 1))
