"""Land-cover schemas: the codes, names and colours of a legend, from YAML or a preset.

A schema file is YAML::

    name: amazon-demo
    classes:
      - {code: 1, name: cleared, color: "#d8b365"}
      - {code: 2, name: forest, color: "#01665e"}

Codes are integers 1..65535 (0 is nodata in every geouic map), names are unique
(compared case-insensitively and treating ``_``, ``-`` and spaces alike) and colours are
``"#rrggbb"`` or ``"r,g,b"``; a class without a colour gets a generated distinct one.
Built-in presets: ``nlcd`` (NLCD 2016, 16 CONUS classes), ``worldcover`` (ESA WorldCover 2021,
11 classes) and ``corine1`` (CORINE Land Cover level 1, 5 classes), all with official colours.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geouic.colors import Color, distinct_colors, parse_color, to_hex
from geouic.errors import ParameterError, SchemaError

__all__ = ["SchemaClass", "LandCoverSchema", "load_schema", "PRESETS", "normalize_name", "MAX_CODE",
           "UNASSIGNED_NAME", "UNASSIGNED_COLOR"]

logger = logging.getLogger(__name__)

#: Largest class code a schema may use (uint16 maps).
MAX_CODE = 65535
_ENTRY_KEYS = {"code", "name", "color", "colour", "description"}
#: Name and colour (a neutral dark grey) of the class that land left unassigned by a mapping gets.
UNASSIGNED_NAME = "unassigned"
UNASSIGNED_COLOR: Color = (112, 112, 112)


def normalize_name(name: str) -> str:
    """The form names are compared in: case-folded, with ``_``, ``-`` and runs of spaces as one space."""
    return " ".join(re.split(r"[\s_\-]+", str(name).strip().casefold())).strip()


@dataclass(frozen=True)
class SchemaClass:
    """One class of a schema.

    Attributes
    ----------
    code : int
        Pixel value, 1..65535.
    name : str
    color : (int, int, int)
        RGB, 0-255 each.
    """

    code: int
    name: str
    color: Color

    @property
    def hex(self) -> str:
        """The colour as ``"#rrggbb"``."""
        return to_hex(self.color)


class LandCoverSchema:
    """An ordered, validated list of land-cover classes.

    Parameters
    ----------
    classes : sequence of SchemaClass
        At least one; codes and (normalised) names must be unique.
    name : str, default="schema"
        Name of the schema (shown in messages and provenance tags).
    source : str, optional
        File or preset it came from, used in error messages.

    Raises
    ------
    SchemaError
        Empty class list, duplicate codes or names, or a code outside 1..65535.
    """

    def __init__(self, classes: Sequence[SchemaClass], *, name: str = "schema", source: str | None = None):
        self.name = str(name)
        self.source = source or self.name
        self.classes: list[SchemaClass] = list(classes)
        self._validate()
        self._by_code = {c.code: c for c in self.classes}
        self._by_name = {normalize_name(c.name): c for c in self.classes}

    def _validate(self) -> None:
        if not self.classes:
            raise SchemaError(f"{self.source}: the schema has no classes; list at least one under 'classes:'.")
        codes: dict[int, int] = {}
        names: dict[str, int] = {}
        for i, c in enumerate(self.classes):
            where = f"{self.source}: classes[{i}] ({c.name!r})"
            if not 1 <= c.code <= MAX_CODE:
                raise SchemaError(f"{where}: code {c.code} is out of range; use 1..{MAX_CODE} (0 means nodata).")
            if c.code in codes:
                raise SchemaError(f"{where}: code {c.code} is also used by classes[{codes[c.code]}]; "
                                  "give each class its own code.")
            key = normalize_name(c.name)
            if not key:
                raise SchemaError(f"{where}: the name is empty; give the class a name.")
            if key in names:
                other = self.classes[names[key]].name
                raise SchemaError(f"{where}: name {c.name!r} duplicates classes[{names[key]}] ({other!r}; names "
                                  "are compared ignoring case, '_' and '-'); give each class its own name.")
            codes[c.code] = i
            names[key] = i

    # -- container protocol ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self) -> Iterator[SchemaClass]:
        return iter(self.classes)

    def __repr__(self) -> str:
        return f"LandCoverSchema(name={self.name!r}, classes={[c.name for c in self.classes]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LandCoverSchema) and self.name == other.name and self.classes == other.classes

    @property
    def codes(self) -> list[int]:
        """Class codes in schema order."""
        return [c.code for c in self.classes]

    @property
    def names(self) -> list[str]:
        """Class names in schema order."""
        return [c.name for c in self.classes]

    @property
    def max_code(self) -> int:
        """The largest code (decides uint8 or uint16 maps)."""
        return max(self.codes)

    @property
    def unassigned_code(self) -> int:
        """The code of land that a mapping leaves unassigned: 255 in uint8 maps, else the first free code.

        255 when every schema code is below 255 (the map stays uint8, and every such schema uses
        the same value, so re-applied mappings and merged maps agree); otherwise the first code
        above the schema's largest, which keeps the uint16 map's category list short.

        Raises
        ------
        SchemaError
            The schema uses code 65535, so no code is left; pass --unassigned-class.
        """
        top = self.max_code
        if top < 255:
            return 255
        if top >= MAX_CODE:
            raise SchemaError(f"{self.source}: the schema uses code {MAX_CODE}, so no code is left for unassigned "
                              "land; pass --unassigned-class NAME to give it a schema class.")
        return top + 1

    # -- lookup ----------------------------------------------------------------------------
    def find(self, key: int | str) -> SchemaClass | None:
        """The class with code or name ``key``, or None.

        Integers (and strings of digits) are tried as codes first, then as names; names match
        ignoring case, ``_``, ``-`` and repeated spaces.
        """
        if isinstance(key, bool):
            return None
        if isinstance(key, int) or (isinstance(key, str) and key.strip().isdigit()):
            hit = self._by_code.get(int(key))
            if hit is not None:
                return hit
        return self._by_name.get(normalize_name(str(key)))

    def lookup(self, key: int | str, *, what: str = "value") -> SchemaClass:
        """The class with code or name ``key``.

        Parameters
        ----------
        key : int or str
        what : str, default="value"
            How to call ``key`` in the error message (e.g. ``"reference value"``).

        Raises
        ------
        SchemaError
            No class matches; the message lists the schema's classes.
        """
        hit = self.find(key)
        if hit is None:
            raise SchemaError(f"{what} {key!r} matches no class of schema {self.name!r} "
                              f"({self.describe()}); use one of these names or codes.")
        return hit

    def __getitem__(self, key: int | str) -> SchemaClass:
        return self.lookup(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (int, str)) and self.find(key) is not None

    def describe(self) -> str:
        """``"1=cleared, 2=forest"``: the classes in one short line (for messages)."""
        return ", ".join(f"{c.code}={c.name}" for c in self.classes)

    # -- conversions -----------------------------------------------------------------------
    def to_legend(self) -> Any:
        """The :class:`geouic.output.Legend` (names and colours by code) for map writers."""
        from geouic.output import Legend

        return Legend(names={c.code: c.name for c in self.classes}, colors={c.code: c.color for c in self.classes})

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "classes": [{"code", "name", "color"}, ...]}`` (colours as hex)."""
        return {"name": self.name, "classes": [{"code": c.code, "name": c.name, "color": c.hex} for c in self.classes]}

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """YAML text of the schema (one flow mapping per class); also written to ``path`` if given."""
        lines = [f"name: {json.dumps(self.name)}", "classes:"]
        lines += [f"  - {{code: {c.code}, name: {json.dumps(c.name)}, color: \"{c.hex}\"}}" for c in self.classes]
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "schema") -> LandCoverSchema:
        """Build and validate a schema from parsed YAML/JSON (see the module docstring).

        Raises
        ------
        SchemaError
            Naming ``source``, the offending entry and the fix.
        """
        if isinstance(data, list):
            data = {"classes": data}
        if not isinstance(data, Mapping):
            raise SchemaError(f"{source}: expected a mapping with 'name' and 'classes' at the top level, "
                              f"got {type(data).__name__}; see examples/amazon_schema.yaml.")
        entries = data.get("classes")
        if entries is None:
            raise SchemaError(f"{source}: no 'classes:' list; add one entry per class, e.g. "
                              "'- {code: 1, name: forest, color: \"#01665e\"}'.")
        if isinstance(entries, Mapping):  # {code: name} or {code: {name, color}}
            entries = [{"code": k, **(v if isinstance(v, Mapping) else {"name": v})} for k, v in entries.items()]
        if not isinstance(entries, list):
            raise SchemaError(f"{source}: 'classes' must be a list of entries, got {type(entries).__name__}.")
        if not entries:
            raise SchemaError(f"{source}: the 'classes' list is empty; list at least one class.")
        parsed = [_parse_entry(e, i, source) for i, e in enumerate(entries)]
        missing = [i for i, p in enumerate(parsed) if p[2] is None]
        palette = distinct_colors(len(parsed))
        classes = [SchemaClass(code, name, color if color is not None else palette[i])
                   for i, (code, name, color) in enumerate(parsed)]
        if missing:
            logger.info("%s: classes %s have no colour; using generated colours", source, missing)
        name = data.get("name") or Path(source).stem
        return cls(classes, name=str(name), source=source)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> LandCoverSchema:
        """Read a schema file.

        Raises
        ------
        SchemaError
            Missing or unreadable file, invalid YAML, or an invalid schema.
        """
        import yaml

        label = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SchemaError(f"{label}: no such schema file; check the path or use a preset "
                              f"({', '.join(PRESETS)}).") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SchemaError(f"{label}: cannot read the schema file ({exc}).") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SchemaError(f"{label}: not valid YAML{at} ({problem}); fix the syntax "
                              "(quote colours: color: \"#01665e\").") from None
        if data is None:
            raise SchemaError(f"{label}: the schema file is empty; list the classes under 'classes:'.")
        return cls.from_dict(data, source=label)

    @classmethod
    def from_values(cls, codes: Sequence[int], names: Mapping[int, str] | None = None, *,
                    name: str = "reference") -> LandCoverSchema:
        """A schema of the given codes with their names and generated distinct colours."""
        names = names or {}
        palette = distinct_colors(len(codes))
        classes = [SchemaClass(int(c), str(names.get(int(c), c)), palette[i]) for i, c in enumerate(codes)]
        return cls(classes, name=name, source=name)


def _parse_entry(entry: Any, i: int, source: str) -> tuple[int, str, Color | None]:
    where = f"{source}: classes[{i}]"
    if not isinstance(entry, Mapping):
        raise SchemaError(f"{where} is {entry!r}; each class must be a mapping like "
                          "'{code: 1, name: forest, color: \"#01665e\"}'.")
    unknown = set(map(str, entry)) - _ENTRY_KEYS
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: code, name, color.")
    name = entry.get("name")
    if name is None or not str(name).strip():
        raise SchemaError(f"{where}: the class has no name; add 'name: ...' to the entry.")
    name = str(name).strip()
    where = f"{where} ({name!r})"
    code = entry.get("code")
    if code is None:
        raise SchemaError(f"{where}: the class has no code; add 'code: <1..{MAX_CODE}>'.")
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        code = int(code)
    if isinstance(code, bool) or not isinstance(code, int):
        raise SchemaError(f"{where}: code {code!r} is not an integer; use an integer 1..{MAX_CODE}.")
    if not 1 <= code <= MAX_CODE:
        raise SchemaError(f"{where}: code {code} is out of range; use 1..{MAX_CODE} (0 means nodata).")
    key = "color" if "color" in entry else "colour"
    if key not in entry:
        return code, name, None
    value = entry[key]
    if value is None:
        raise SchemaError(f"{where}: the colour is empty; quote hex colours (color: \"#01665e\"): an unquoted "
                          "'#' starts a YAML comment.")
    try:
        color = parse_color(value)
    except ParameterError:
        raise SchemaError(f"{where}: {value!r} is not a colour; use \"#rrggbb\" (quoted) or \"r,g,b\" "
                          "with values 0-255.") from None
    return code, name, color


def _preset(name: str, rows: Sequence[tuple[int, str, str]]) -> LandCoverSchema:
    classes = [SchemaClass(c, n, parse_color(h)) for c, n, h in rows]
    return LandCoverSchema(classes, name=name, source=f"preset {name!r}")


# NLCD 2016 legend (CONUS), codes and colours as published by MRLC.
_NLCD = [
    (11, "Open Water", "#466b9f"), (12, "Perennial Ice/Snow", "#d1def8"),
    (21, "Developed, Open Space", "#dec5c5"), (22, "Developed, Low Intensity", "#d99282"),
    (23, "Developed, Medium Intensity", "#eb0000"), (24, "Developed, High Intensity", "#ab0000"),
    (31, "Barren Land", "#b3ac9f"), (41, "Deciduous Forest", "#68ab5f"),
    (42, "Evergreen Forest", "#1c5f2c"), (43, "Mixed Forest", "#b5c58f"),
    (52, "Shrub/Scrub", "#ccb879"), (71, "Grassland/Herbaceous", "#dfdfc2"),
    (81, "Pasture/Hay", "#dcd939"), (82, "Cultivated Crops", "#ab6c28"),
    (90, "Woody Wetlands", "#b8d9eb"), (95, "Emergent Herbaceous Wetlands", "#6c9fb8"),
]
# ESA WorldCover 2021 (v200) legend, codes and colours from the product user manual.
_WORLDCOVER = [
    (10, "Tree cover", "#006400"), (20, "Shrubland", "#ffbb22"), (30, "Grassland", "#ffff4c"),
    (40, "Cropland", "#f096ff"), (50, "Built-up", "#fa0000"), (60, "Bare / sparse vegetation", "#b4b4b4"),
    (70, "Snow and ice", "#f0f0f0"), (80, "Permanent water bodies", "#0064c8"),
    (90, "Herbaceous wetland", "#0096a0"), (95, "Mangroves", "#00cf75"), (100, "Moss and lichen", "#fae6a0"),
]
# CORINE Land Cover level 1; each colour is the EEA colour of the group's first level-3 class.
_CORINE1 = [
    (1, "Artificial surfaces", "#e6004d"), (2, "Agricultural areas", "#ffffa8"),
    (3, "Forest and semi natural areas", "#80ff00"), (4, "Wetlands", "#a6a6ff"), (5, "Water bodies", "#00ccf2"),
]
_PRESET_ROWS = {"nlcd": ("NLCD 2016", _NLCD), "worldcover": ("ESA WorldCover 2021", _WORLDCOVER),
                "corine1": ("CORINE Land Cover level 1", _CORINE1)}
_ALIASES = {"nlcd2016": "nlcd", "nlcd-2016": "nlcd", "esa-worldcover": "worldcover", "worldcover2021": "worldcover",
            "clc1": "corine1", "corine": "corine1", "corine-1": "corine1"}

#: Preset names accepted by :func:`load_schema`.
PRESETS: tuple[str, ...] = tuple(_PRESET_ROWS)


def load_schema(name_or_path: str | os.PathLike | LandCoverSchema) -> LandCoverSchema:
    """A schema from a YAML file or a preset name (``nlcd``, ``worldcover``, ``corine1``).

    Parameters
    ----------
    name_or_path : str, path-like or LandCoverSchema
        An existing file is read as YAML; otherwise the value is looked up among the presets
        (case-insensitive). A :class:`LandCoverSchema` is returned as is.

    Raises
    ------
    SchemaError
        Neither a readable schema file nor a preset, or an invalid schema.
    """
    if isinstance(name_or_path, LandCoverSchema):
        return name_or_path
    text = os.fspath(name_or_path)
    if Path(text).is_file():
        return LandCoverSchema.from_yaml(text)
    key = text.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _PRESET_ROWS:
        title, rows = _PRESET_ROWS[key]
        return _preset(title, rows)
    if Path(text).suffix.lower() in (".yaml", ".yml", ".json") or os.sep in text:
        raise SchemaError(f"{text}: no such schema file; check the path or use a preset ({', '.join(PRESETS)}).")
    raise SchemaError(f"{text!r} is neither a schema file nor a preset; use a YAML file or one of "
                      f"{', '.join(PRESETS)}.")
