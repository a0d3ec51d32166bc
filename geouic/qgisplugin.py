"""Installing the geouic QGIS Processing provider (``qgis_plugin/geouic_provider``) into a QGIS profile.

The plugin runs the geouic executable, as the GRASS, SAGA and OTB providers run theirs.
:func:`install_plugin` copies it into ``<profiles>/<profile>/python/plugins/geouic_provider``,
records the executable and what each command offers (help text, option flags) in
``geouic.json`` beside it, and enables it in the profile's ``QGIS3.ini``, so that the QGIS
toolbox, the graphical modeller and ``qgis_process`` list the ``geouic`` algorithms.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geouic.errors import GeouicError

__all__ = ["PLUGIN_NAME", "QgisPluginError", "install_plugin", "plugin_source", "profiles_root"]

PLUGIN_NAME = "geouic_provider"


class QgisPluginError(GeouicError, OSError):
    """The plugin cannot be found or installed."""


def plugin_source() -> Path:
    """The plugin folder shipped with geouic (``qgis_plugin/geouic_provider`` of the source tree)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "qgis_plugin" / PLUGIN_NAME, here / "qgis_plugin" / PLUGIN_NAME):
        if (candidate / "metadata.txt").is_file():
            return candidate
    raise QgisPluginError(f"the QGIS plugin folder qgis_plugin/{PLUGIN_NAME} is not part of this installation "
                          f"({here.parent}); install geouic from its source tree (pip install -e .).")


def profiles_root() -> Path:
    """Where QGIS keeps its profiles: ``$QGIS_CUSTOM_CONFIG_PATH/profiles``, else the platform default."""
    custom = os.environ.get("QGIS_CUSTOM_CONFIG_PATH")
    if custom:
        return Path(custom) / "profiles"
    if sys.platform == "win32":  # pragma: no cover
        return Path(os.environ.get("APPDATA", Path.home())) / "QGIS" / "QGIS3" / "profiles"
    if sys.platform == "darwin":  # pragma: no cover
        return Path.home() / "Library" / "Application Support" / "QGIS" / "QGIS3" / "profiles"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "QGIS" / "QGIS3" / "profiles"


def _enable(profile_dir: Path) -> Path:
    """Set ``[PythonPlugins] geouic_provider=true`` in the profile's QGIS3.ini (kept otherwise as it is)."""
    ini = profile_dir / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    lines = ini.read_text(encoding="utf-8").splitlines() if ini.exists() else []
    entry = f"{PLUGIN_NAME}=true"
    section = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if section == "[PythonPlugins]":
                lines.insert(i, entry)
                break
            section = stripped
        elif section == "[PythonPlugins]" and stripped.split("=")[0].strip() == PLUGIN_NAME:
            lines[i] = entry
            break
    else:
        if section == "[PythonPlugins]":
            lines.append(entry)
        else:
            lines += ([""] if lines else []) + ["[PythonPlugins]", entry]
    ini.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ini


def install_plugin(profile: str = "default", *, profiles_dir: str | os.PathLike | None = None,
                   executable: str | None = None, commands: Mapping[str, Mapping[str, Any]] | None = None,
                   version: str | None = None) -> Path:
    """Copy the plugin into a QGIS profile, record the executable, and enable the plugin.

    Parameters
    ----------
    profile : str, default "default"
        QGIS profile name (Settings > User Profiles).
    profiles_dir : path-like, optional
        The folder holding the profiles (default :func:`profiles_root`).
    executable : str, optional
        The geouic executable the plugin runs (recorded in ``geouic.json``); None: found on
        PATH when QGIS runs the plugin.
    commands : mapping, optional
        Per command name, ``{"help": str, "options": [flags]}``; the plugin offers only these
        commands and flags, with this help text.
    version : str, optional
        The geouic version shown as the provider's long name.

    Returns
    -------
    pathlib.Path
        The installed plugin folder.

    Raises
    ------
    QgisPluginError
        The plugin folder is not shipped, or the profile cannot be written.
    """
    source = plugin_source()
    if not profile or any(sep in profile for sep in ("/", "\\")) or profile in (".", ".."):
        raise QgisPluginError(f"profile {profile!r} is not a profile name; pass the name shown in "
                              "Settings > User Profiles (e.g. default).")
    profile_dir = Path(profiles_dir) if profiles_dir else profiles_root()
    profile_dir = profile_dir / profile
    target = profile_dir / "python" / "plugins" / PLUGIN_NAME
    try:
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "geouic.json"))
        record = {"executable": executable, "version": version, "commands": dict(commands or {})}
        (target / "geouic.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        _enable(profile_dir)
    except OSError as exc:
        raise QgisPluginError(f"cannot install the QGIS plugin into {target}: {exc}; check the profile folder "
                              "(--profiles-dir) and its permissions.") from None
    return target
