"""The M-step of the starting mixture under its Potts field (spatially regularised EM).

:func:`geouic.uic.labels.initial_labels` fits a Gaussian mixture to the pool's smoothed
features, then regularises its posteriors with a Potts field. The mixture's parameters are
estimated with no spatial prior, so a component that takes one class plus a patch of another
stays that way: the field cannot move parameters. Spatially regularised EM (HMRF-EM; Zhang,
Brady & Smith 2001, Celeux, Forbes & Peyrard 2003) puts the field inside the estimation: the
field's class distributions are the E-step's responsibilities, and the weights, means and
covariances are re-estimated from them.

The responsibilities come strip by strip (the field needs each strip's halo), so the M-step
works from sufficient statistics (:class:`FieldStatistics`) accumulated over the strips, and
memory follows the strip, not the pool.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from scipy import linalg

__all__ = ["FieldStatistics", "refit_mixture", "MIN_SHARE"]

#: A refit whose smallest class holds less than this share of the pixels has lost a class: it is
#: not kept (nor is one whose largest class exceeds ``max_share``).
MIN_SHARE = 1e-3


class FieldStatistics:
    """Weighted counts, sums and scatter of features under class distributions.

    Parameters
    ----------
    k : int
        Number of classes.
    centre : ndarray of shape (features,)
        Subtracted from every feature vector before it is accumulated, so the scatter
        ``sum q x x^T`` does not lose the covariance to cancellation (``E[x^2] - E[x]^2``).
    """

    def __init__(self, k: int, centre: np.ndarray):
        d = len(centre)
        self.centre = np.asarray(centre, dtype=np.float64)
        self.counts = np.zeros(k)
        self.sums = np.zeros((k, d))
        self.scatter = np.zeros((k, d, d))

    def add(self, X: np.ndarray, q: np.ndarray) -> None:
        """Accumulate pixels ``X`` (n, features) with class distributions ``q`` (n, k)."""
        Xc = np.asarray(X, dtype=np.float64) - self.centre
        q = np.asarray(q, dtype=np.float64)
        self.counts += q.sum(axis=0)
        self.sums += q.T @ Xc
        for c in range(q.shape[1]):
            self.scatter[c] += (Xc * q[:, c : c + 1]).T @ Xc


def refit_mixture(gmm: Any, stats: FieldStatistics, *, max_share: float = 0.9) -> Any | None:
    """A copy of ``gmm`` with weights, means and covariances re-estimated from ``stats``.

    The covariance type and regularisation (``gmm.reg_covar`` added to each variance) are the
    mixture's own.

    Parameters
    ----------
    gmm : sklearn.mixture.GaussianMixture
        A fitted mixture (left unchanged).
    stats : FieldStatistics
        Accumulated over the pixels with the field's class distributions.
    max_share : float, default=0.9

    Returns
    -------
    sklearn.mixture.GaussianMixture or None
        ``None`` when the refit is degenerate: a class above ``max_share`` or below
        :data:`MIN_SHARE` of the pixels, or a covariance that is not positive definite.
    """
    n = stats.counts.sum()
    if not n > 0:
        return None
    share = stats.counts / n
    if share.max() > max_share or share.min() < MIN_SHARE:
        return None
    counts = stats.counts[:, None]
    mean_c = stats.sums / counts
    d = mean_c.shape[1]
    full = stats.scatter / counts[:, :, None] - mean_c[:, :, None] * mean_c[:, None, :]
    reg = float(gmm.reg_covar)
    kind = gmm.covariance_type
    if kind == "full":
        cov = full + reg * np.eye(d)
    elif kind == "tied":
        cov = (full * share[:, None, None]).sum(axis=0) + reg * np.eye(d)
    elif kind == "diag":
        cov = np.diagonal(full, axis1=1, axis2=2) + reg
    else:  # spherical
        cov = np.diagonal(full, axis1=1, axis2=2).mean(axis=1) + reg
    try:
        if kind in ("full", "tied"):
            mats = cov if kind == "full" else cov[None]
            chol = np.stack([linalg.solve_triangular(linalg.cholesky(m, lower=True), np.eye(d), lower=True).T
                             for m in mats])
            prec = chol if kind == "full" else chol[0]
        else:
            if not (cov > 0).all():
                return None
            prec = 1.0 / np.sqrt(cov)
    except linalg.LinAlgError:
        return None
    out = copy.deepcopy(gmm)
    out.weights_ = share
    out.means_ = mean_c + stats.centre
    out.covariances_ = cov
    out.precisions_cholesky_ = prec
    out.precisions_ = (np.einsum("kij,klj->kil", prec, prec) if kind == "full" else
                       prec @ prec.T if kind == "tied" else prec**2)
    return out
