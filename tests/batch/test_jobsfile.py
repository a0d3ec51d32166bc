"""Jobs files: expansion and validation before anything runs (no command is started here)."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from geouic.batch import BatchFileError, load_jobs
from geouic.cli import main


def jobs_file(tmp_path, text: str, name: str = "jobs.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def scenes(tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for stem in ("a", "b", "c"):
        (folder / f"{stem}.tif").write_bytes(b"")
    return folder


def test_foreach_templates_defaults_and_step_outputs(tmp_path, scenes):
    path = jobs_file(tmp_path, """
        vars: {out: out}
        defaults:
          classify: {method: kmeans, classes: 5}
          "*": {mem-limit: 32}
        jobs:
          - foreach: scenes/*.tif
            name: "{stem}-{index:02d}"
            steps:
              - classify: {scene: "{path}", output: "{out}/{stem}_classes.tif", save_model: "{out}/{stem}.geouic"}
              - assign-schema: {class-map: "{classify.output}", mapping: m.yaml, output: "{out}/{job}_lc.tif"}
    """)
    jobs = load_jobs(path)
    assert [j.name for j in jobs.jobs] == ["a-01", "b-02", "c-03"]
    assert jobs.workdir == tmp_path.resolve()
    classify, assign = jobs.jobs[1].steps
    assert classify.argv == ["scenes/b.tif", "--mem-limit", "32", "--method", "kmeans", "--classes", "5",
                             "--output", "out/b_classes.tif", "--save-model", "out/b.geouic"]
    assert classify.inputs == ["scenes/b.tif"] and classify.outputs == ["out/b_classes.tif", "out/b.geouic"]
    assert assign.argv[:1] == ["out/b_classes.tif"] and "out/b-02_lc.tif" in assign.argv
    assert "--mem-limit" in assign.argv  # "*" defaults reach every command that has the option


def test_flags_lists_and_variadic_globs(tmp_path, scenes):
    path = jobs_file(tmp_path, """
        jobs:
          - name: region
            steps:
              - train: {scenes: "scenes/*.tif", method: kmeans, save-model: region.geouic, overwrite: true}
              - merge: {class-map: x.tif, merge: ["1,2", "3,4"], output: merged.tif}
    """)
    train, merge = load_jobs(path).jobs[0].steps
    assert train.argv[:3] == ["scenes/a.tif", "scenes/b.tif", "scenes/c.tif"]
    assert "--overwrite" in train.argv and train.outputs == ["region.geouic"]
    assert merge.argv.count("--merge") == 2


@pytest.mark.parametrize("body,expected", [
    ("- clasify: {scene: a.tif, output: o.tif}", ["line 4", "unknown step 'clasify'", "classify"]),
    ("- classify: {scene: a.tif, output: o.tif, clases: 5}", ["line 4", "no option 'clases'", "--help"]),
    ("- classify: {scene: a.tif, output: '{stem_classes.tif'}", ["line 4", "malformed template"]),
    ("- classify: {scene: a.tif, output: '{nope}.tif'}", ["line 4", "unknown template field {nope}"]),
    ("- classify: {scene: a.tif}", ["line 4", "needs output"]),
    ("- classify: {scene: a.tif, output: o.tif, method: kmeanz}", ["line 4", "'method'", "kmeans"]),
    ("- classify: {scene: a.tif, output: o.tif, classes: many}", ["line 4", "'classes'", "many"]),
    ("- accuracy: {map: '{classify.output}', reference: r.gpkg, output: rep}",
     ["line 4", "unknown template field {classify.output}"]),
])
def test_bad_steps_name_the_job_and_line(tmp_path, body, expected):
    path = jobs_file(tmp_path, "jobs:\n  - name: first\n    steps:\n      " + body + "\n")
    with pytest.raises(BatchFileError) as err:
        load_jobs(path)
    message = str(err.value)
    assert "first" in message or "line 4" in message
    for part in expected:
        assert part in message, message


def test_option_lines_are_kept(tmp_path):
    path = jobs_file(tmp_path, """
        jobs:
          - name: one
            steps:
              - classify:
                  scene: a.tif
                  output: o.tif
                  not-an-option: 3
    """)
    with pytest.raises(BatchFileError, match=r"job 'one', line 8: step 'classify' has no option 'not-an-option'"):
        load_jobs(path)


def test_two_jobs_writing_the_same_output(tmp_path, scenes):
    path = jobs_file(tmp_path, """
        jobs:
          - foreach: scenes/*.tif
            steps:
              - classify: {scene: "{path}", output: classes.tif}
    """)
    with pytest.raises(BatchFileError, match=r"job 'b', line 5: output 'classes.tif' is also written by job 'a'"):
        load_jobs(path)


def test_needs_unknown_and_circular(tmp_path):
    step = "steps: [{classify: {scene: a.tif, output: '{job}.tif'}}]"
    unknown = jobs_file(tmp_path, f"jobs:\n  - name: a\n    needs: zz\n    {step}\n", "u.yaml")
    with pytest.raises(BatchFileError, match="names no other job"):
        load_jobs(unknown)
    circle = jobs_file(tmp_path, f"jobs:\n  - name: a\n    needs: b\n    {step}\n"
                                 f"  - name: b\n    needs: a\n    {step}\n", "c.yaml")
    with pytest.raises(BatchFileError, match=r"circle \(a -> b -> a\)"):
        load_jobs(circle)


@pytest.mark.parametrize("text,expected", [
    ("jobs:\n  - steps: [classify: {scene: a}\n", "not valid YAML"),
    ("jobs: []\n", "non-empty list"),
    ("jobz:\n  - steps: []\n", "needs a `jobs:` list"),
    ("jobs:\n  - name: a\n    stepz: []\n", "unknown key 'stepz'"),
    ("jobs:\n  - name: a\n    name: b\n    steps: []\n", "line 3: key 'name' is given twice"),
    ("jobs:\n  - foreach: none/*.tif\n    steps: [{info: {path: '{path}'}}]\n", "matches no file"),
])
def test_malformed_files(tmp_path, text, expected):
    with pytest.raises(BatchFileError, match=expected):
        load_jobs(jobs_file(tmp_path, text))


def test_csv_jobs_file(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text("step,name,scene,output,classes,method\n"
                    "classify,a,a.tif,a_classes.tif,5,kmeans\n"
                    "\n"
                    "classify,b,b.tif,b_classes.tif,,\n")
    jobs = load_jobs(path).jobs
    assert [j.name for j in jobs] == ["a", "b"]
    assert jobs[0].steps[0].argv == ["a.tif", "--output", "a_classes.tif", "--classes", "5", "--method", "kmeans"]
    assert jobs[1].steps[0].argv == ["b.tif", "--output", "b_classes.tif"] and jobs[1].steps[0].line == 4
    path.write_text("step,scene,output,bogus\nclassify,a.tif,o.tif,1\n")
    with pytest.raises(BatchFileError, match="line 2: step 'classify' has no option 'bogus'"):
        load_jobs(path)


def test_cli_bad_file_is_one_line_exit_2_and_nothing_runs(tmp_path):
    path = jobs_file(tmp_path, """
        jobs:
          - name: good
            steps: [{classify: {scene: a.tif, output: good.tif}}]
          - name: bad
            steps: [{classify: {scene: a.tif, output: bad.tif, classes: 3, colour: red}}]
    """)
    result = CliRunner().invoke(main, ["batch", str(path)])
    assert result.exit_code == 2
    assert "job 'bad', line 6" in result.output and "no option 'colour'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "jobs.manifest.json").exists()


def test_cli_dry_run_prints_the_commands(tmp_path, scenes):
    path = jobs_file(tmp_path, """
        jobs:
          - foreach: scenes/*.tif
            steps: [{classify: {scene: "{path}", output: "out/{stem}.tif", method: kmeans}}]
    """)
    result = CliRunner().invoke(main, ["batch", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "geouic classify scenes/c.tif --output out/c.tif --method kmeans" in result.output
    assert not (tmp_path / "out").exists()
