"""Colours for thematic maps: distinct palettes and colour parsing."""

from __future__ import annotations

import colorsys
import re

from geouic.errors import ParameterError

__all__ = ["distinct_colors", "parse_color", "to_hex", "Color"]

Color = tuple[int, int, int]

# A qualitative palette that stays distinguishable side by side (Tableau 20 / Kelly-like order).
_BASE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]


def distinct_colors(n: int) -> list[Color]:
    """``n`` visually distinct RGB colours.

    Up to 20 come from a fixed qualitative palette; beyond, hues are spread by the golden
    ratio with alternating lightness and saturation, so neighbours in the list differ.
    """
    if n <= len(_BASE):
        return [parse_color(c) for c in _BASE[:n]]
    out = [parse_color(c) for c in _BASE]
    golden = 0.618033988749895
    h = 0.11
    for i in range(n - len(_BASE)):
        h = (h + golden) % 1.0
        light = (0.35, 0.55, 0.72)[i % 3]
        sat = (0.85, 0.6)[(i // 3) % 2]
        r, g, b = colorsys.hls_to_rgb(h, light, sat)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_color(value: str | tuple | list) -> Color:
    """Parse a colour: hex, ``"r,g,b"``, a 3-sequence of 0-255 ints, or a name matplotlib knows.

    Accepted: ``"#rrggbb"``, ``"rrggbb"``, ``"r,g,b"``, ``(r, g, b)``, and any colour matplotlib
    names (``"red"``, ``"forestgreen"``, ``"tab:blue"``, ``"xkcd:sky blue"``, ``"#abc"``).

    The hex and ``r,g,b`` forms are read here; anything else goes to matplotlib's own parser
    (:func:`matplotlib.colors.to_rgb`), imported only then, so schema files may use every name
    matplotlib knows and ``import geouic`` stays without matplotlib.

    Raises
    ------
    ParameterError
        The value is not a colour.

    Examples
    --------
    >>> parse_color("forestgreen"), parse_color("#ff0000"), parse_color("0, 128, 255")
    ((34, 139, 34), (255, 0, 0), (0, 128, 255))
    """
    if isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        text = str(value).strip()
        m = _HEX.match(text)
        if m:
            h = m.group(1)
            return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
        if "," not in text:
            return _named(value, text)
        parts = [p.strip() for p in text.split(",")]
    try:
        rgb = tuple(int(p) for p in parts[:3])
    except (TypeError, ValueError):
        rgb = ()
    if len(parts) not in (3, 4) or len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise ParameterError(f"{value!r} is not a colour: use '#rrggbb', 'r,g,b' with 0-255 values, or a colour "
                             "name such as 'red' or 'forestgreen'.")
    return rgb[0], rgb[1], rgb[2]


def _named(value: object, text: str) -> Color:
    """A colour name (or short hex) through matplotlib's parser."""
    from matplotlib.colors import to_rgb

    try:
        r, g, b = to_rgb(text)
    except ValueError:
        raise ParameterError(f"{value!r} is not a colour: use '#rrggbb', 'r,g,b' with 0-255 values, or a colour "
                             "name matplotlib knows, such as 'red' or 'forestgreen'.") from None
    return round(r * 255), round(g * 255), round(b * 255)


def to_hex(rgb: Color) -> str:
    """``(r, g, b)`` to ``"#rrggbb"``."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)
