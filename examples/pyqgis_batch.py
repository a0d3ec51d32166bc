"""A QGIS-style batch in PyQGIS: classify every scene of a folder with the geouic Processing provider.

For each scene: ``geouic:classify`` (k-means, model saved), then ``geouic:assign-schema`` to name
the classes from reference polygons, then ``geouic:accuracy`` against validation points. The
maps come out styled (their ``.qml`` beside them), as the same commands give on the command line.

Run it from the QGIS Python console (Plugins > Python Console > Show Editor > open, run), where
the provider is installed with ``geouic qgis install``, or headless with QGIS's Python:

    QT_QPA_PLATFORM=offscreen python3 examples/pyqgis_batch.py [SCENES_DIR] [OUT_DIR]

(``python3`` being the Python QGIS was built with: /usr/bin/python3 on Debian). Defaults: the
sample scene in data_samples/ and out/pyqgis_batch/. Headless, the provider comes from the
installed profile when there is one, else from this project's qgis_plugin/ folder.
"""

import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLES = os.path.join(ROOT, "data_samples")
_KEEP = []  # the provider's Python object must outlive the registry's use of it


def start_qgis():
    """A headless QGIS with Processing and the geouic provider (only when not inside QGIS)."""
    from qgis.core import QgsApplication

    if QgsApplication.instance() is not None and QgsApplication.processingRegistry().providerById("geouic"):
        return None  # inside QGIS, provider installed
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    venv = os.path.join(ROOT, ".venv", "bin")
    if os.path.exists(os.path.join(venv, "geouic")):  # this project's geouic, as quickstart.sh uses it
        os.environ["PATH"] = venv + os.pathsep + os.environ.get("PATH", "")
    app = QgsApplication.instance()
    if app is None:
        QgsApplication.setPrefixPath("/usr", True)
        app = QgsApplication([], False)
        app.initQgis()
    sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
    from processing.core.Processing import Processing

    Processing.initialize()
    if QgsApplication.processingRegistry().providerById("geouic") is None:
        plugins = os.path.join(QgsApplication.qgisSettingsDirPath(), "python", "plugins")
        if not os.path.isdir(os.path.join(plugins, "geouic_provider")):
            plugins = os.path.join(ROOT, "qgis_plugin")
        sys.path.insert(0, plugins)
        from geouic_provider.provider import GeouicProvider

        _KEEP.append(GeouicProvider())
        QgsApplication.processingRegistry().addProvider(_KEEP[-1])
    return app


def main(scenes_dir=None, out_dir=None):
    app = start_qgis()
    import processing
    from qgis.core import QgsProcessingFeedback

    scenes_dir = scenes_dir or SAMPLES
    out_dir = out_dir or os.path.join(ROOT, "out", "pyqgis_batch")
    pattern = "scene*.tif" if os.path.abspath(scenes_dir) == SAMPLES else "*.tif"
    scenes = sorted(glob.glob(os.path.join(scenes_dir, pattern)))
    if not scenes:
        sys.exit(f"Error: no {pattern} in {scenes_dir}; pass a folder of scenes.")
    os.makedirs(out_dir, exist_ok=True)
    for scene in scenes:
        stem = os.path.splitext(os.path.basename(scene))[0]
        feedback = QgsProcessingFeedback()
        classes = processing.run("geouic:classify", {
            "INPUT": scene, "METHOD": "kmeans", "CLASSES": 15,
            "SAVE_MODEL": os.path.join(out_dir, f"{stem}.geouic"),
            "OUTPUT": os.path.join(out_dir, f"{stem}_classes.tif"),
        }, feedback=feedback)["OUTPUT"]
        landcover = processing.run("geouic:assign-schema", {
            "INPUT": classes, "REFERENCE": os.path.join(SAMPLES, "training.gpkg"), "FIELD": "class",
            "SCHEMA": os.path.join(HERE, "sample_schema.yaml"),
            "OUTPUT": os.path.join(out_dir, f"{stem}_landcover.tif"),
        }, feedback=feedback)["OUTPUT"]
        report = processing.run("geouic:accuracy", {
            "INPUT": landcover, "REFERENCE": os.path.join(SAMPLES, "validation.gpkg"), "FIELD": "ref",
            "OUTPUT": os.path.join(out_dir, f"{stem}_report"),
        }, feedback=feedback)["OUTPUT"]
        print(f"{stem}: {landcover} (style {os.path.splitext(landcover)[0]}.qml), report {report}")
    if app is not None:
        app.exitQgis()


if __name__ == "__main__":
    main(*sys.argv[1:3])
