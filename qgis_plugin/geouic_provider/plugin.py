"""The plugin object: adds the geouic Processing provider (also from qgis_process, without a GUI)."""

from qgis.core import QgsApplication

from .provider import GeouicProvider


class GeouicProviderPlugin:
    """Registers :class:`GeouicProvider` with the Processing registry."""

    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 - called by QGIS (GUI and qgis_process)
        if self.provider is None:
            self.provider = GeouicProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
