"""Unsupervised Image Classification (UIC) on rasters: a small fully-convolutional network.

Importing this package imports torch; :mod:`geouic` and the CLI import it only when the
``uic`` method is used.

Modules: :mod:`~geouic.uic.model` (the network), :mod:`~geouic.uic.augment` (equivariant
geometric and per-view spectral augmentation), :mod:`~geouic.uic.data` (stored first stage and
the bounded patch pool), :mod:`~geouic.uic.labels` (the regularised starting labels),
:mod:`~geouic.uic.config` (the engine's one configuration), :mod:`~geouic.uic.train` (the
distillation loop), :mod:`~geouic.uic.engine`
(the Engine facade: fit, predict, save, load).
"""

from geouic.uic.config import UICConfig
from geouic.uic.engine import UICEngine, resolve_device
from geouic.uic.model import UICNet

__all__ = ["UICConfig", "UICEngine", "UICNet", "resolve_device"]
