"""The quality benchmark's scores, protocol table, cell runner and report (no real data, no torch)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from benchmarks import _bench, _quality_engines, quality
from benchmarks import _quality_lib as ql
from benchmarks._quality_report import render_markdown, summary_rows


# ------------------------------------------------------------------------------- scores
def test_matched_scores_perfect_up_to_renumbering():
    true = np.repeat([1, 2, 3], 10)
    pred = np.repeat([7, 4, 5], 10)
    s = ql.matched_scores(pred, true)
    assert s["oa"] == 1.0 and s["kappa"] == 1.0 and s["nmi"] == pytest.approx(1.0)


def test_matched_scores_against_sklearn_values():
    # 4 clusters, 3 classes: best matching 5->1, 6->2, 7->3; cluster 8 stays unmatched (wrong).
    true = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    pred = np.array([5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 8, 5])
    s = ql.matched_scores(pred, true)
    assert s["oa"] == pytest.approx(8 / 12)
    # scikit-learn 1.9: cohen_kappa_score(true, [1,1,1,2,2,2,2,3,3,3,0,1]),
    # normalized_mutual_info_score(true, pred), adjusted_rand_score(true, pred)
    assert s["kappa"] == pytest.approx(0.52)
    assert s["nmi"] == pytest.approx(0.47351938745261474)
    assert s["ari"] == pytest.approx(0.23443223443223443)


def test_map_nodata_on_a_labelled_sample_is_an_error():
    true = np.array([1, 1, 2, 2])
    s = ql.matched_scores(np.array([3, 3, 4, 0]), true, k=2 + 2)
    assert s["oa"] == pytest.approx(0.75) and s["nodata"] == 1
    assert s["kappa"] < 1.0


def test_cluster_shares_count_empty_clusters_and_show_equal_sizes():
    true = np.array([1] * 8 + [2] * 2)  # reference dominated by class 1
    pred = np.array([1] * 5 + [2] * 5)  # two equal clusters
    s = ql.matched_scores(pred, true, k=3)  # cluster 3 has no labelled sample
    assert (s["cluster_max"], s["cluster_min"]) == (0.5, 0.0)
    assert (s["class_max"], s["class_min"]) == (0.8, pytest.approx(0.2))


def test_majority_on_checkerboard():
    rows, cols = np.nonzero(np.ones((4, 6), bool))
    board = ql.checkerboard(rows, cols, block=2).reshape(4, 6)
    assert board[0, 0] and not board[0, 2] and not board[2, 0] and board[2, 2]
    assert board.sum() == 12
    true = np.array([1, 1, 2, 2, 2, 3])
    pred = np.array([5, 5, 6, 6, 7, 8])  # clusters 7 and 8 have no training sample
    train = np.array([True, False, True, False, False, False])
    mapping = ql.majority_mapping(pred[train], true[train])
    assert mapping == {5: 1, 6: 2}
    s = ql.majority_scores(pred[~train], true[~train], mapping)
    # test samples: 5->1 ok, 6->2 ok, 7 unassigned (wrong), 8 unassigned (wrong)
    assert s["oa"] == pytest.approx(0.5) and s["unassigned"] == pytest.approx(0.5) and s["n_test"] == 4


def test_smooth_valid_ignores_invalid_pixels():
    data = np.ones((1, 5, 5), np.float32)
    data[0, 2, 2] = 1000.0
    valid = np.ones((5, 5), bool)
    valid[2, 2] = False
    out = ql.smooth_valid(data, valid, 3)
    assert out[0, 2, 2] == 0.0
    np.testing.assert_allclose(out[0][valid], 1.0)


# ----------------------------------------------------------------------------- protocol
def test_halves_mix_sensors_and_keep_overlapping_scenes_together():
    assert set(ql.HALVES["A"]) | set(ql.HALVES["B"]) == set(ql.SCENES)
    assert not set(ql.HALVES["A"]) & set(ql.HALVES["B"])
    for half in ql.HALVES.values():
        assert {ql.SCENES[s].kind for s in half} == {"hyperspectral", "multispectral"}
    for group in (("salinas_a", "salinas_a_83x83", "salinas_150"), ("indian_pines_roi70", "indian_pines_85x70")):
        assert len({ql.SCENES[s].half for s in group}) == 1, group


def test_every_scene_entry_is_well_formed():
    for name, spec in ql.SCENES.items():
        assert spec.refs and spec.kind in ("hyperspectral", "multispectral"), name
        for ref in spec.refs:
            assert ref.path.startswith(name + "/"), (name, ref.path)
            assert ref.field is not None or not ref.path.endswith(".gpkg"), (name, ref.path)


# ------------------------------------------------------------------ cells and the report
@pytest.fixture
def synthetic_scene(tmp_path) -> ql.Scene:
    from geouic.raster import open_raster

    labels = _bench.write_synthetic_scene(tmp_path / "scene.tif", size=64, n_classes=4, nodata_corner=8)
    with open_raster(tmp_path / "scene.tif") as src:
        data, valid = src.read()
    rows, cols = np.nonzero(labels > 0)
    ref = ql.Reference("reference", "raster", rows, cols, labels[rows, cols].astype(np.int64))
    spec = ql.SceneSpec("scene.tif", (ql.RefSpec("synthetic/reference.tif"),), "multispectral", "A")
    return ql.Scene("synthetic", tmp_path / "scene.tif", data, valid, [ref], spec, {})


def test_kmeans_cell_finds_the_synthetic_fields(synthetic_scene):
    rec = quality.score_cell("kmeans", synthetic_scene, 0, 5000)
    m, j = rec["matched"], rec["majority"]
    assert m["status"] == "ok" and j["status"] == "ok", (m.get("error"), j.get("error"))
    assert m["scores"]["reference"]["oa"] == 1.0
    assert m["k"] == 4 and j["k"] == 12
    assert m["nonzero_on_invalid"] == 0 and m["zero_on_valid"] == 0
    assert j["scores"]["reference"]["oa"] == 1.0


def test_failing_and_missing_engines_fill_their_cells(synthetic_scene, monkeypatch):
    def missing(*args, **kwargs):
        raise _quality_engines.Unavailable("geouic.uic has no initial-label entry")

    def broken(*args, **kwargs):
        raise RuntimeError("boom on this scene")

    monkeypatch.setattr(_quality_engines, "uic_init_labels", missing)
    rec = quality.score_cell("uic-init", synthetic_scene, 0, 5000)
    assert rec["matched"]["status"] == rec["majority"]["status"] == "unavailable"
    monkeypatch.setattr(quality, "run_engine", broken)
    bad = quality.score_cell("kmeans", synthetic_scene, 0, 5000)
    assert bad["matched"]["status"] == "error" and "boom" in bad["matched"]["error"]


def _fake_results() -> dict:
    def cell(oa: float) -> dict:
        scores = {"oa": oa, "kappa": oa - 0.1, "nmi": oa - 0.2, "n": 100, "cluster_max": 0.4, "cluster_min": 0.1,
                  "class_max": 0.6, "class_min": 0.05}
        return {"status": "ok", "k": 6, "fit_s": 1.0, "fit_cpu_s": 1.0, "predict_s": 0.1, "predict_cpu_s": 0.1,
                "scores": {"reference": scores}}

    records = {}
    for seed, (u, k) in enumerate(((0.90, 0.80), (0.91, 0.79), (0.95, 0.81))):
        records[f"salinas_a/uic/{seed}"] = {"scene": "salinas_a", "engine": "uic", "seed": seed, "run": "r",
                                            "matched": cell(u)}
        records[f"salinas_a/kmeans/{seed}"] = {"scene": "salinas_a", "engine": "kmeans", "seed": seed,
                                               "run": "r", "matched": cell(k)}
    records["salinas_a/fcm/0"] = {"scene": "salinas_a", "engine": "fcm", "seed": 0, "run": "r",
                                  "matched": {"status": "error", "error": "ValueError: bad | pipe", "k": 6}}
    machine = {"cpu_model": "x", "logical_cores": 2, "usable_cores": 2, "python": "3", "versions": {}}
    run = {"date": "2026-12-01 00:00 UTC", "command": "c", "git": "abc", "threads": 1, "load_start": 0.0,
           "machine": machine}
    return {"schema": quality.SCHEMA, "runs": {"r": run}, "records": records, "scenes": {}}


def test_summary_and_report_from_the_json_alone():
    results = _fake_results()
    (row,) = summary_rows(results)
    assert row["best"] == ("kmeans", pytest.approx(0.80))
    assert row["margin"] == pytest.approx(0.92 - 0.80)
    assert row["spread"]["uic"] == pytest.approx(0.05)
    md = render_markdown(results)
    assert "| salinas_a | 0.920 | not run |" in md
    assert "error: ValueError: bad / pipe" in md  # a pipe would break the table
    assert "UIC >= best classical + 0.03 on 1 of 1 rows with a UIC score (of 1)" in md
    assert "seed spread <= 0.03 on 0 of 1 rows with several seeds" in md


def test_schema_1_results_are_converted(tmp_path):
    import json

    old = {"runs": {}, "records": {"landsat5_amazon/uic/0": {
        "scene": "landsat5_amazon", "engine": "uic", "seed": 0,
        "matched": {"status": "ok", "k": 4, "oa": 0.99, "kappa": 0.98, "nmi": 0.97, "n": 10}}}}
    path = tmp_path / "q.json"
    path.write_text(json.dumps(old))
    res = quality.load_results(path)
    assert res["records"]["landsat5_amazon/uic/0"]["matched"]["scores"] == {
        "training_polygons": {"oa": 0.99, "kappa": 0.98, "nmi": 0.97, "n": 10}}


def test_run_measured_reports_exit_code_and_memory():
    res = _bench.run_measured([sys.executable, "-c", "import sys; b = bytearray(50_000_000); sys.exit(3)"])
    assert res["returncode"] == 3 and not res["timed_out"]
    assert res["max_rss_mb"] >= 50


#: Matched OA of the published maps as ../shared/data/README.md and the PROVENANCE files quote them.
PUBLISHED_OA = {("salinas_a_83x83", "SC-SSC_best"): 0.994, ("indian_pines_roi70", "SC-SSC_best"): 0.931,
                ("indian_pines_roi70", "3DS-SSC_best"): 0.804, ("indian_pines_roi70", "S-SSC_best"): 0.762,
                ("indian_pines_roi70", "SR-SSC_best"): 0.711, ("indian_pines_roi70", "SSC"): 0.626}


@pytest.mark.realdata
@pytest.mark.parametrize("scene", ["salinas_a_83x83", "indian_pines_roi70"])
def test_published_maps_reproduce_the_quoted_scores(scene):
    from tests.conftest import shared_data

    sc = ql.load_scene(scene, shared_data())
    maps = ql.published_maps(scene, shared_data())
    expected = {m: oa for (s, m), oa in PUBLISHED_OA.items() if s == scene}
    assert set(expected) <= set(maps)
    for method, oa in expected.items():
        rec = quality.score_published(method, maps[method], sc)
        assert rec["matched"]["scores"]["reference"]["oa"] == pytest.approx(oa, abs=5e-4), method


def test_merge_keeps_the_workflow_the_other_run_did_not_redo():
    base = {"runs": {"r1": {}}, "scenes": {}, "records": {"s/uic/0": {
        "scene": "s", "engine": "uic", "seed": 0, "run": "r1", "matched": {"status": "ok", "k": 4},
        "majority": {"status": "ok", "k": 12}}}}
    other = {"runs": {"r2": {}}, "scenes": {}, "records": {"s/uic/0": {
        "scene": "s", "engine": "uic", "seed": 0, "run": "r2", "matched": {"status": "error", "k": 4}}}}
    rec = quality.merge_results(base, other)["records"]["s/uic/0"]
    assert rec["matched"]["status"] == "error" and rec["run"] == "r2"
    assert rec["majority"] == {"status": "ok", "k": 12, "run": "r1"}
    assert set(base["runs"]) == {"r1", "r2"}


def test_merge_renames_a_run_started_in_the_same_second():
    # Two halves run side by side get the same start-time id; both runs must stay listed.
    base = {"runs": {"t": {"command": "half:A"}}, "scenes": {}, "records": {"a/uic/0": {
        "scene": "a", "engine": "uic", "seed": 0, "run": "t", "matched": {"status": "ok", "run": "t"}}}}
    other = {"runs": {"t": {"command": "half:B"}}, "scenes": {}, "records": {"b/uic/0": {
        "scene": "b", "engine": "uic", "seed": 0, "run": "t", "matched": {"status": "ok", "run": "t"}}}}
    merged = quality.merge_results(base, other)
    assert merged["runs"] == {"t": {"command": "half:A"}, "t-1": {"command": "half:B"}}
    assert merged["records"]["a/uic/0"]["run"] == "t"
    b = merged["records"]["b/uic/0"]
    assert b["run"] == "t-1" and b["matched"]["run"] == "t-1"
