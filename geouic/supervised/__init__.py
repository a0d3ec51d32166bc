"""Supervised pixel-wise classifiers (scikit-learn contract)."""

from geouic.supervised._mlc import MaximumLikelihood

__all__ = ["MaximumLikelihood"]
