"""geouic: land-cover classification of multi-band remote-sensing imagery.

The top level stays small and imports neither torch nor matplotlib; import the submodules
(:mod:`geouic.raster`, :mod:`geouic.pipeline`, :mod:`geouic.cluster`, ...) for the API.
"""

from geouic.errors import GeouicError

__version__ = "0.1.0"
__all__ = ["GeouicError", "__version__"]
