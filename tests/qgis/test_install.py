"""`geouic qgis install`: the plugin copied into a profile, the executable recorded, the plugin enabled."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from geouic.cli import main
from geouic.qgisplugin import QgisPluginError, install_plugin, plugin_source, profiles_root


def test_install_into_a_profile(tmp_path):
    result = CliRunner().invoke(main, ["qgis", "install", "--profile", "analyst", "--profiles-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    target = tmp_path / "analyst" / "python" / "plugins" / "geouic_provider"
    for name in ("__init__.py", "metadata.txt", "provider.py", "algorithms.py", "execution.py"):
        assert (target / name).is_file()
    assert "hasProcessingProvider=yes" in (target / "metadata.txt").read_text()
    record = json.loads((target / "geouic.json").read_text())
    assert record["executable"] and record["executable"].endswith("geouic") and record["version"]
    classify = record["commands"]["classify"]
    assert {"--method", "--classes", "--output", "--overwrite"} <= set(classify["options"])
    assert classify["help"].startswith("Classify SCENE") and "batch" not in record["commands"]
    ini = (tmp_path / "analyst" / "QGIS" / "QGIS3.ini").read_text()
    assert "[PythonPlugins]\ngeouic_provider=true" in ini


def test_reinstall_replaces_and_keeps_other_settings(tmp_path):
    ini = tmp_path / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[General]\nlocale=en\n\n[PythonPlugins]\ngeouic_provider=false\nother=true\n\n[Qgis]\nx=1\n")
    target = install_plugin(profiles_dir=tmp_path)
    (target / "stale.py").write_text("")
    install_plugin(profiles_dir=tmp_path)
    assert not (target / "stale.py").exists()
    text = ini.read_text()
    assert "geouic_provider=true" in text and "geouic_provider=false" not in text
    assert "other=true" in text and "locale=en" in text and "[Qgis]\nx=1" in text
    assert text.count("[PythonPlugins]") == 1


@pytest.mark.parametrize("profile", ["", "../x", "a/b"])
def test_bad_profile_names(tmp_path, profile):
    with pytest.raises(QgisPluginError, match="not a profile name"):
        install_plugin(profile, profiles_dir=tmp_path)


def test_profiles_root_follows_qgis_custom_config_path(tmp_path, monkeypatch):
    monkeypatch.setenv("QGIS_CUSTOM_CONFIG_PATH", str(tmp_path))
    assert profiles_root() == tmp_path / "profiles"
    assert (plugin_source() / "metadata.txt").is_file()


def test_unwritable_profile_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["qgis", "install", "--profiles-dir", str(blocker / "sub")])
    assert result.exit_code == 2 and "cannot install the QGIS plugin" in result.output
