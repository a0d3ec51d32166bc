"""The geouic Processing provider: its algorithms and the executable setting in Processing options."""

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import GeouicAlgorithm, available
from .execution import EXECUTABLE_SETTING, HERE, config


class GeouicProvider(QgsProcessingProvider):
    """Provider ``geouic``: classify, train, predict, assign-schema, accuracy, stats (and post-processing)."""

    def id(self):
        return "geouic"

    def name(self):
        return "geouic"

    def longName(self):  # noqa: N802
        version = config().get("version")
        return f"geouic {version}" if version else "geouic"

    def icon(self):
        path = os.path.join(HERE, "icon.svg")
        return QIcon(path) if os.path.exists(path) else QgsProcessingProvider.icon(self)

    def load(self):
        try:
            from processing.core.ProcessingConfig import ProcessingConfig, Setting
        except ImportError:  # plain PyQGIS without the Processing plugin
            self.refreshAlgorithms()
            return True
        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(Setting(self.name(), EXECUTABLE_SETTING,
                                            "geouic executable (empty: the one `geouic qgis install` recorded, "
                                            "else geouic on PATH)", "", valuetype=Setting.FILE))
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self):
        try:
            from processing.core.ProcessingConfig import ProcessingConfig

            ProcessingConfig.removeSetting(EXECUTABLE_SETTING)
        except ImportError:
            pass

    def loadAlgorithms(self):  # noqa: N802
        for command in available():
            self.addAlgorithm(GeouicAlgorithm(command))

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self):  # noqa: N802
        return ["gpkg"]
