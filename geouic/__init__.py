"""geouic: land-cover classification of multi-band remote-sensing imagery.

The top level stays small and imports neither torch nor matplotlib; import the submodules
(:mod:`geouic.raster`, :mod:`geouic.pipeline`, :mod:`geouic.cluster`, ...) for the API.
"""

import logging

from geouic.errors import GeouicError

# A library leaves logging to the application: with this handler, an application that set up
# no logging does not get geouic's records printed by Python's last-resort handler; one that
# did (or the CLI's -v/-q) sees them as it configured.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = ["GeouicError", "__version__"]
