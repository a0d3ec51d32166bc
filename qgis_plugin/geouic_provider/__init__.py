"""QGIS plugin entry point: a Processing provider running the geouic executable."""


def classFactory(iface):  # noqa: N802 - the name QGIS looks for
    """Called by QGIS when the plugin loads."""
    from .plugin import GeouicProviderPlugin

    return GeouicProviderPlugin(iface)
