"""The geouic algorithms: typed Processing parameters mapped onto the options of geouic commands.

Each algorithm is a row of :data:`ALGORITHMS`: the command, its display name and group, and its
parameters as ``(kind, NAME, flag, description, extra)``; ``flag`` None means a positional
argument. The parameter values become the command line of the same command run by hand, so
outputs are identical to the CLI's. Parameters whose flag the installed geouic does not have
(``geouic.json``, written by ``geouic qgis install``) are left out, and so are commands it lacks.
"""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from .execution import config, run_geouic

METHODS = ["uic", "kmeans", "isodata", "fcm", "mlc"]
INT, FLOAT = QgsProcessingParameterNumber.Integer, QgsProcessingParameterNumber.Double

_CLASSIFY_COMMON = [
    ("enum", "METHOD", "--method", "Engine", {"options": METHODS, "default": "uic"}),
    ("int", "CLASSES", "--classes", "Number of classes K (clustering methods; default 12)",
     {"optional": True, "min": 2, "max": 65535}),
    ("string", "BANDS", "--bands", "Bands (1-based indexes or descriptions, comma-separated)", {"optional": True}),
    ("int", "SEED", "--seed", "Random seed (default 0)", {"optional": True, "min": 0, "advanced": True}),
    ("layer", "TRAINING", "--training", "MLC: training polygons/points or class raster", {"optional": True}),
    ("field", "FIELD", "--field", "MLC: class field of the training vector", {"parent": "TRAINING", "optional": True}),
    ("int", "MAX_ITERATIONS", "--max-iterations", "Maximum iterations (kmeans, isodata, fcm)",
     {"optional": True, "min": 1, "advanced": True}),
    ("int", "MIN_CLASS_SIZE", "--min-class-size", "ISODATA: smallest class in pixels",
     {"optional": True, "min": 1, "advanced": True}),
    ("int", "EPOCHS", "--epochs", "UIC: training epochs", {"optional": True, "min": 1, "advanced": True}),
    ("float", "REJECT", "--reject", "MLC: chi-square reject probability", {"optional": True, "min": 0, "max": 1,
                                                                            "advanced": True}),
]

ALGORITHMS = {
    "classify": ("Classify a scene", "Classification", [
        ("raster", "INPUT", None, "Scene", {}),
        *_CLASSIFY_COMMON,
        ("float", "MEM_LIMIT", "--mem-limit", "Working-memory budget in MB (default 64)",
         {"optional": True, "min": 1, "advanced": True}),
        ("file_out", "SAVE_MODEL", "--save-model", "Model file",
         {"optional": True, "filter": "geouic model (*.geouic)"}),
        ("raster_out", "CONFIDENCE", "--confidence", "Confidence", {"optional": True}),
        ("raster_out", "OUTPUT", "--output", "Classes", {}),
    ]),
    "train": ("Train a model on several scenes", "Classification", [
        ("rasters", "INPUT", None, "Scenes (same bands)", {}),
        *[p for p in _CLASSIFY_COMMON],
        ("file_out", "OUTPUT", "--save-model", "Model file", {"filter": "geouic model (*.geouic)"}),
    ]),
    "predict": ("Apply a model to a scene", "Classification", [
        ("file", "MODEL", None, "Model file (.geouic)", {"extension": "geouic"}),
        ("raster", "INPUT", None, "Scene", {}),
        ("string", "BANDS", "--bands", "Bands", {"optional": True}),
        ("float", "MEM_LIMIT", "--mem-limit", "Working-memory budget in MB (default 64)",
         {"optional": True, "min": 1, "advanced": True}),
        ("raster_out", "CONFIDENCE", "--confidence", "Confidence", {"optional": True}),
        ("raster_out", "OUTPUT", "--output", "Classes", {}),
    ]),
    "assign-schema": ("Assign a legend (schema) to classes", "Legend and accuracy", [
        ("raster", "INPUT", None, "Class map", {}),
        ("layer", "REFERENCE", "--reference", "Reference polygons/points or label raster", {"optional": True}),
        ("field", "FIELD", "--field", "Class field of the reference", {"parent": "REFERENCE", "optional": True}),
        ("file", "MAPPING", "--mapping", "Mapping file (instead of a reference)", {"optional": True}),
        ("string", "SCHEMA", "--schema", "Schema YAML file or preset (nlcd, worldcover, corine1)", {"optional": True}),
        ("enum", "METHOD", "--method", "Assignment", {"options": ["majority", "hungarian"], "default": "majority"}),
        ("float", "MIN_PURITY", "--min-purity", "Minimum purity (default 0)", {"optional": True, "min": 0, "max": 1}),
        ("raster_out", "OUTPUT", "--output", "Land-cover map", {}),
    ]),
    "accuracy": ("Accuracy report", "Legend and accuracy", [
        ("raster", "INPUT", None, "Map", {}),
        ("layer", "REFERENCE", "--reference", "Reference points/polygons or label raster", {}),
        ("field", "FIELD", "--field", "Class field of the reference", {"parent": "REFERENCE", "optional": True}),
        ("bool", "AREA_ADJUSTED", "--area-adjusted", "Area-adjusted estimates (stratified sample)", {"default": False}),
        ("bool", "CLUSTERS", "--clusters", "Map holds clusters without a legend", {"default": False}),
        ("folder_out", "OUTPUT", "--output", "Report folder", {}),
    ]),
    "stats": ("Class statistics", "Legend and accuracy", [
        ("raster", "INPUT", None, "Class map", {}),
        ("raster", "SCENE", None, "Scene (band statistics)", {"optional": True}),
        ("folder_out", "OUTPUT", "--output", "Statistics folder", {}),
    ]),
    "sieve": ("Sieve to a minimum mapping unit", "Post-classification", [
        ("raster", "INPUT", None, "Class map", {}),
        ("string", "MMU", "--mmu", "Minimum mapping unit (e.g. 0.5ha or 20px)", {"default": "0.5ha"}),
        ("enum", "CONNECTIVITY", "--connectivity", "Connectivity", {"options": ["4", "8"], "default": "4"}),
        ("raster_out", "OUTPUT", "--output", "Sieved map", {}),
    ]),
    "majority": ("Majority filter", "Post-classification", [
        ("raster", "INPUT", None, "Class map", {}),
        ("int", "SIZE", "--size", "Window size in pixels (default: the command's)", {"optional": True, "min": 3}),
        ("enum", "THRESHOLD", "--threshold", "Replacement threshold", {"options": ["majority", "half"],
                                                                       "default": "majority"}),
        ("raster_out", "OUTPUT", "--output", "Filtered map", {}),
    ]),
    "polygonize": ("Polygonize a class map", "Post-classification", [
        ("raster", "INPUT", None, "Class map", {}),
        ("bool", "DISSOLVE", "--dissolve", "One multipolygon per class", {"default": False}),
        ("float", "SIMPLIFY", "--simplify", "Simplify tolerance (map units)", {"optional": True, "min": 0}),
        ("vector_out", "OUTPUT", "--output", "Polygons", {}),
    ]),
}

#: the commands every geouic has; the others are offered when the installed geouic has them.
CORE = ("classify", "train", "predict", "assign-schema", "accuracy", "stats")


def available():
    """The algorithms to register: those whose command the installed geouic has."""
    commands = config().get("commands")
    if not commands:
        return [name for name in ALGORITHMS if name in CORE]
    return [name for name in ALGORITHMS if name in commands]


class _LoadStyle(QgsProcessingLayerPostProcessorInterface):
    """Applies the .qml that geouic writes beside a map when QGIS loads the output."""

    keep = []  # QGIS does not own post-processors: keep them alive

    def __init__(self, qml):
        super().__init__()
        self.qml = qml

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        if layer is not None and os.path.exists(self.qml):
            layer.loadNamedStyle(self.qml)
            layer.triggerRepaint()


class GeouicAlgorithm(QgsProcessingAlgorithm):
    """One geouic command as a Processing algorithm."""

    def __init__(self, command):
        super().__init__()
        self.command = command
        self.title, self.group_name, specs = ALGORITHMS[command]
        self.flags = (config().get("commands") or {}).get(command, {}).get("options")
        self.specs = [s for s in specs if s[2] is None or self.flags is None or s[2] in self.flags]

    def createInstance(self):  # noqa: N802
        return GeouicAlgorithm(self.command)

    def name(self):
        return self.command

    def displayName(self):  # noqa: N802
        return self.title

    def group(self):
        return self.group_name

    def groupId(self):  # noqa: N802
        return self.group_name.lower().replace(" ", "_")

    def shortHelpString(self):  # noqa: N802
        text = (config().get("commands") or {}).get(self.command, {}).get("help")
        return text or f"Runs `geouic {self.command}`; see `geouic {self.command} --help`."

    def helpUrl(self):  # noqa: N802
        return ""

    def initAlgorithm(self, configuration=None):  # noqa: N802
        for spec in self.specs:
            param = _parameter(*spec)
            if spec[4].get("advanced"):
                param.setFlags(param.flags() | param.FlagAdvanced)
            self.addParameter(param)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        positional, options, outputs = [], [], {}
        for kind, name, flag, _, extra in self.specs:
            value = _value(self, kind, name, parameters, context, extra)
            if kind.endswith("_out") and value:
                outputs[name] = value
            if value in (None, "", False, []):
                continue
            words = value if isinstance(value, list) else [value]
            if flag is None:
                positional.extend(words)
            elif kind == "bool":
                options.append(flag)
            else:
                for word in words:
                    options += [flag, word]
        for path in outputs.values():
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
        args = [self.command, *positional, *options]
        if self.flags is None or "--overwrite" in self.flags:
            args.append("--overwrite")  # QGIS's file dialog already asked before replacing a file
        run_geouic(args, feedback)
        for path in outputs.values():
            qml = os.path.splitext(path)[0] + ".qml"
            if os.path.exists(qml) and context.willLoadLayerOnCompletion(path):
                style = _LoadStyle(qml)
                _LoadStyle.keep.append(style)
                context.layerToLoadOnCompletionDetails(path).setPostProcessor(style)
        return outputs


def _parameter(kind, name, flag, description, extra):
    optional = extra.get("optional", False)
    default = extra.get("default")
    if kind == "raster":
        return QgsProcessingParameterRasterLayer(name, description, optional=optional)
    if kind == "rasters":
        return QgsProcessingParameterMultipleLayers(name, description, QgsProcessing.TypeRaster)
    if kind == "layer":
        return QgsProcessingParameterMapLayer(name, description, optional=optional)
    if kind == "field":
        return QgsProcessingParameterField(name, description, parentLayerParameterName=extra["parent"],
                                           optional=optional)
    if kind == "enum":
        options = extra["options"]
        return QgsProcessingParameterEnum(name, description, options=options, defaultValue=default,
                                          optional=optional, usesStaticStrings=True)
    if kind in ("int", "float"):
        param = QgsProcessingParameterNumber(name, description, INT if kind == "int" else FLOAT,
                                             defaultValue=default, optional=optional)
        if "min" in extra:
            param.setMinimum(extra["min"])
        if "max" in extra:
            param.setMaximum(extra["max"])
        return param
    if kind == "bool":
        return QgsProcessingParameterBoolean(name, description, defaultValue=default)
    if kind == "string":
        return QgsProcessingParameterString(name, description, defaultValue=default, optional=optional)
    if kind == "file":
        return QgsProcessingParameterFile(name, description, extension=extra.get("extension", ""), optional=optional)
    if kind == "raster_out":
        return QgsProcessingParameterRasterDestination(name, description, optional=optional,
                                                       createByDefault=not optional)
    if kind == "vector_out":
        return QgsProcessingParameterVectorDestination(name, description)
    if kind == "file_out":
        return QgsProcessingParameterFileDestination(name, description, fileFilter=extra.get("filter", ""),
                                                     optional=optional, createByDefault=not optional)
    if kind == "folder_out":
        return QgsProcessingParameterFolderDestination(name, description)
    raise ValueError(f"unknown parameter kind {kind!r}")


def _layer_path(layer):
    if layer is None:
        return None
    return layer.source().split("|")[0]


def _value(alg, kind, name, parameters, context, extra):
    given = parameters.get(name) not in (None, "")
    if not given and extra.get("default") is None and extra.get("optional"):
        return None  # left to the command's own default
    if kind == "raster":
        return _layer_path(alg.parameterAsRasterLayer(parameters, name, context))
    if kind == "rasters":
        return [_layer_path(layer) for layer in alg.parameterAsLayerList(parameters, name, context)]
    if kind == "layer":
        return _layer_path(alg.parameterAsLayer(parameters, name, context))
    if kind == "field":
        fields = alg.parameterAsFields(parameters, name, context)
        return fields[0] if fields else None
    if kind == "enum":
        return alg.parameterAsEnumString(parameters, name, context)
    if kind == "int":
        return str(alg.parameterAsInt(parameters, name, context))
    if kind == "float":
        return f"{alg.parameterAsDouble(parameters, name, context):g}"
    if kind == "bool":
        return alg.parameterAsBoolean(parameters, name, context)
    if kind == "string":
        return alg.parameterAsString(parameters, name, context) or None
    if kind == "file":
        return alg.parameterAsFile(parameters, name, context) or None
    if kind in ("raster_out", "vector_out"):
        path = alg.parameterAsOutputLayer(parameters, name, context)
        return path or None
    if kind in ("file_out", "folder_out"):
        return alg.parameterAsFileOutput(parameters, name, context) or None
    raise QgsProcessingException(f"unknown parameter kind {kind!r}")
