"""Shared CLI options: -v/-q on the group and the command, flags in library messages, per-method options."""

from __future__ import annotations

import logging

import click
import pytest
from click.testing import CliRunner

from geouic.cli import COMMANDS, main
from geouic.cli.options import ENGINE_OPTIONS, PARAM_FLAGS, bands_opt, flag_names
from geouic.methods import REGISTRY, methods_taking


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def geouic_level():
    logger = logging.getLogger("geouic")
    before = logger.level
    yield lambda: logger.level
    logger.setLevel(before)


@pytest.mark.parametrize("where", ["group", "command", "both"])
def test_verbose_on_the_group_or_the_command(quadrants, tmp_path, geouic_level, where):
    scene, _ = quadrants
    command = ["classify", scene, "--method", "kmeans", "-k", 3, "-o", tmp_path / "c.tif"]
    args = {"group": ["-v", *command], "command": [*command, "-v"], "both": ["-v", *command, "-v"]}[where]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert geouic_level() == (logging.DEBUG if where == "both" else logging.INFO)


@pytest.mark.parametrize("where", ["group", "command"])
def test_quiet_on_the_group_or_the_command(quadrants, tmp_path, geouic_level, where):
    scene, _ = quadrants
    command = ["classify", scene, "--method", "kmeans", "-k", 3, "-o", tmp_path / "c.tif"]
    result = invoke(*(["-q", *command] if where == "group" else [*command, "-q"]))
    assert result.exit_code == 0, result.output
    assert "Fitting" not in result.output and "pixels classified" in result.output
    assert geouic_level() == logging.ERROR


@pytest.mark.parametrize("args, expect", [
    (["--method", "fcm", "--fuzziness", 1.0], "--fuzziness 1.0 is invalid: must be a number > 1.0"),
    (["--method", "isodata", "--min-classes", 1], "--min-classes 1 is invalid"),
    (["--method", "kmeans", "--max-iterations", 0], "--max-iterations 0 is invalid"),
    (["--method", "kmeans", "--seed", -1], "'--seed': -1 is not in the range 0<=x<=4294967295"),
    (["--method", "kmeans", "-k", 1], "--classes 1 is invalid: must be between 2 and 65535"),
    (["--method", "mlc", "-k", 4, "--training", "t.gpkg"], "--classes does not apply to method 'mlc'"),
])
def test_library_messages_show_the_flags(quadrants, tmp_path, args, expect):
    scene, _ = quadrants
    result = invoke("classify", scene, "-o", tmp_path / "c.tif", *args)
    assert result.exit_code == 2, result.output
    assert expect in result.output
    assert "n_clusters" not in result.output and "max_iter=" not in result.output
    assert not (tmp_path / "c.tif").exists()


def test_flags_are_mapped_only_where_the_command_has_them():
    classify = main.get_command(None, "classify")
    info = main.get_command(None, "info")
    with click.Context(classify, info_name="classify") as ctx:
        names = flag_names(ctx)
    assert names["n_classes"] == "--classes" and names["n_clusters"] == "--classes"
    assert names["m"] == "--fuzziness" and names["max_iter"] == "--max-iterations"
    assert names["seed"] == names["random_state"] == "--seed" and names["mem_limit_mb"] == "--mem-limit"
    with click.Context(info, info_name="info") as ctx:
        names = flag_names(ctx)
    assert "n_classes" not in names and "m" not in names and names["as_json"] == "--json"
    assert names["as_json=True"] == "--json" and "stats=True" not in names  # --stats/--no-stats is two-way


def test_every_engine_option_sets_a_parameter_some_method_takes():
    for opt in ENGINE_OPTIONS:
        assert opt.methods, opt.flag
        if opt.param != opt.name:
            assert PARAM_FLAGS[opt.param] == opt.flag
    classify_help = invoke("classify", "--help").output
    assert all(name in classify_help for name in REGISTRY)
    assert "isodata: Fewest classes" in classify_help


@pytest.mark.parametrize("flag, value, method", [("--epochs", 2, "kmeans"), ("--fuzziness", 2.0, "isodata"),
                                                 ("--reject", 0.9, "uic"), ("--max-iterations", 5, "mlc")])
def test_an_option_of_another_method_is_refused(quadrants, tmp_path, flag, value, method):
    scene, _ = quadrants
    param = next(o.param for o in ENGINE_OPTIONS if o.flag == flag)
    result = invoke("classify", scene, "--method", method, flag, value, "-o", tmp_path / "c.tif")
    assert result.exit_code == 2
    assert f"{flag} applies to --method {'/'.join(sorted(methods_taking(param)))}, not {method}" in result.output


def test_bands_are_parsed_by_the_option():
    seen = {}

    @click.command()
    @bands_opt
    def probe(bands):
        seen["bands"] = bands

    runner = CliRunner()
    assert runner.invoke(probe, ["--bands", " red, nir ,,3"]).exit_code == 0
    assert seen["bands"] == ["red", "nir", "3"]
    assert runner.invoke(probe, []).exit_code == 0
    assert seen["bands"] is None


def test_every_listed_command_exists():
    for name in ("batch", "qgis"):  # the ghost `batch` entry is a real command now (issue 12)
        assert name in COMMANDS
        result = invoke(name, "--help")
        assert result.exit_code == 0 and "No such command" not in result.output
