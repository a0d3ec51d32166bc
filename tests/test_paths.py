"""geouic.paths: an output never resolves to an input or to another output."""

from __future__ import annotations

import os

import pytest

from geouic.errors import OutputError
from geouic.paths import check_distinct, thematic_files


def test_distinct_paths_pass(tmp_path):
    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"x")
    check_distinct({"output": thematic_files(tmp_path / "out.tif"), "confidence": tmp_path / "c.tif"},
                   {"scene": scene, "training": None})


def test_output_is_input(tmp_path):
    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"x")
    with pytest.raises(OutputError, match="would replace the input scene") as info:
        check_distinct({"output": scene}, {"scene": scene})
    assert set(info.value.params) == {"output", "scene", "overwrite"}


def test_symlink_and_relative_paths_resolve(tmp_path, monkeypatch):
    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"x")
    link = tmp_path / "link.tif"
    link.symlink_to(scene)
    with pytest.raises(OutputError, match="link.tif"):
        check_distinct({"output": scene}, {"scene": link})
    folder_link = tmp_path / "data"
    folder_link.symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError):
        check_distinct({"output": "data/scene.tif"}, {"scene": "scene.tif"})


def test_hard_link_is_the_same_file(tmp_path):
    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"x")
    hard = tmp_path / "hard.tif"
    os.link(scene, hard)
    with pytest.raises(OutputError, match="would replace"):
        check_distinct({"output": hard}, {"scene": scene})


def test_sidecar_replacing_an_input(tmp_path):
    style = tmp_path / "out.qml"
    style.write_text("<qgis/>")
    with pytest.raises(OutputError, match=r"\(with .*out\.qml\)"):
        check_distinct({"output": thematic_files(tmp_path / "out.tif")}, {"mapping": style})


def test_two_outputs_same_file(tmp_path):
    out = tmp_path / "o.tif"
    with pytest.raises(OutputError, match="confidence=.* is the same file as output") as info:
        check_distinct({"output": thematic_files(out), "confidence": out})
    assert set(info.value.params) == {"confidence", "output"}


def test_folder_output_holding_an_input(tmp_path):
    (tmp_path / "map.tif").write_bytes(b"x")
    with pytest.raises(OutputError, match="folder that holds the input"):
        check_distinct({"output": tmp_path}, {"map_path": tmp_path / "map.tif"}, folders=["output"])
    # A file output beside the input (not a folder) is fine.
    check_distinct({"output": tmp_path / "report.tif"}, {"map_path": tmp_path / "map.tif"})


def test_missing_and_non_file_inputs_are_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the preset name "nlcd" resolves to the output's path, yet is no file
    check_distinct({"output": tmp_path / "nlcd"}, {"schema": "nlcd", "scene": "/vsicurl/https://x/y.tif"})
    (tmp_path / "nlcd").write_text("classes: []")
    with pytest.raises(OutputError):
        check_distinct({"output": tmp_path / "nlcd"}, {"schema": "nlcd"})
