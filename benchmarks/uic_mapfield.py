"""Exploration of UIC's map (issue 8, fifth round): what the network changes, and map variants.

For each scene x seed the default UIC engine is fitted as the quality benchmark fits it
(``make_engine("uic", n_classes=K, seed=seed, sample_size=...)`` on the whole scene; optional
``--config key=value,...`` overrides, e.g. ``agreement=0.99,epochs=24``); every member's network
is kept (copied before the engine renumbers the kept one's classes), and the starting mixture is
refitted exactly as :func:`geouic.uic.labels.initial_labels` fits it (checked: its field labels
equal the labels the members learnt). Then, on the whole scene (one pool region), maps are made
from different unaries, each followed by the map's Potts field (:func:`geouic.uic.labels.potts_field`,
the engine's beta and iterations):

* ``uic``: the engine's own ``predict_block`` (control: equals the ``uic`` row of QUALITY.md);
* ``net``: the kept member's log-softmax (equals ``uic`` up to class numbering);
* ``init``: the mixture's log-posterior (equals the starting labels, the ``uic-init`` row);
* ``poe``: product of experts, net log-softmax + mixture log-posterior;
* ``avg``: their mean (the same product, at half the scale against the field's beta);
* ``m<i>``: member i's network alone (+ field); ``agree``: the member whose pool labels agree
  most with the starting labels (a label-free member choice), + field;
* ``poe-agree``: ``agree``'s network times the mixture;
* ``ens``: the mean of every member's log-softmax (an ensemble of the members), + field.

No variant sees a reference label (the reference only scores, matched OA at K = classes). Each
record also holds a diagnosis of where ``net`` and ``init`` differ: the share of pixels, the share
of those within one pixel of a boundary of the starting labels, the largest change of a class's
share, and on the reference pixels how many of the differing ones each map has right (both maps
scored through the starting labels' own Hungarian matching; the classes of the two maps are the
same by construction, the network having learnt the starting labels).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.uic_mapfield --scenes half:A
--seeds 0,1,2 --json benchmarks/_work/map_A.json``; ``--report a.json,b.json`` prints the tables.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks._quality_lib import HALVES, expand_scenes, load_scene, matched_scores

VARIANTS = ("uic", "net", "init", "poe", "avg", "m0", "m1", "agree", "poe-agree", "ens")


def _parse_config(text: str | None) -> dict[str, Any]:
    if text and text.lstrip().startswith("{"):
        return dict(json.loads(text))
    out: dict[str, Any] = {}
    for item in (text or "").split(","):
        if not item:
            continue
        key, _, value = item.partition("=")
        out[key] = json.loads(value)
    return out


def _hungarian_map(pred: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    """Cluster -> reference class (or -1) by the Hungarian matching of ``pred`` (0..k-1) to ``true``."""
    from scipy.optimize import linear_sum_assignment

    classes = np.unique(true)
    table = np.zeros((k, len(classes)), np.int64)
    np.add.at(table, (pred, np.searchsorted(classes, true)), 1)
    r, c = linear_sum_assignment(-table)
    out = np.full(k, -1, np.int64)
    out[r] = classes[c]
    return out


def fit_and_capture(scene: Any, k: int, seed: int, config: dict[str, Any]) -> dict[str, Any]:
    """Fit the engine; return it, its pool, starting labels, member nets (class numbering of the
    starting labels) and the refitted starting mixture."""
    from geouic.engine import make_engine
    from geouic.raster import open_raster
    from geouic.uic.labels import fit_mixture

    engine = make_engine("uic", n_classes=k, seed=seed, **config)
    captured: dict[str, Any] = {}
    inner = engine._train_members

    def spy(pool: Any, initial: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        res = inner(pool, initial, *args, **kwargs)
        captured.update(pool=pool, initial=initial.copy(), nets=[copy.deepcopy(r.net) for r in res],
                        labels=[r.labels.copy() for r in res])
        return res

    engine._train_members = spy  # type: ignore[method-assign]
    with warnings.catch_warnings(), open_raster(scene.image) as src:
        warnings.simplefilter("ignore")
        t0 = time.process_time()
        engine.fit([src])
        captured["fit_cpu_s"] = time.process_time() - t0
    cfg = engine.config
    pool = captured["pool"]
    X = pool.smoothed_features(pool.geometry).astype(np.float64)
    rng = np.random.default_rng(seed)
    fit = X[rng.choice(len(X), 20_000, replace=False)] if len(X) > 20_000 else X
    seeds = rng.integers(0, 2**31 - 1, size=int(cfg.init_n))
    captured["gmm"] = fit_mixture(fit, k, seeds, covariance=cfg.covariance, max_share=0.9)
    captured["X"] = X
    captured["engine"] = engine
    return captured


def run_one(scene: Any, seed: int, config: dict[str, Any]) -> dict[str, Any]:
    """Every map variant and the net-vs-init diagnosis for one scene and seed."""
    import torch

    from geouic.uic.labels import potts_field
    from geouic.uic.model import forward_tiled

    k = scene.n_classes
    cap = fit_and_capture(scene, k, seed, config)
    engine, pool = cap["engine"], cap["pool"]
    if len(pool.regions) != 1 or pool.regions[0].valid.shape != scene.valid.shape:
        raise SystemExit(f"{scene.name}: the pool is not the whole scene as one region")
    region = pool.regions[0]
    valid = region.valid
    v_t = torch.from_numpy(valid)
    beta = float(engine.field_["beta"])
    its = int(engine.field_["iterations"])
    logmix = np.zeros((k, *valid.shape), np.float32)
    logmix[:, valid] = np.log(np.maximum(cap["gmm"].predict_proba(cap["X"]), 1e-30)).T
    logmix_t = torch.from_numpy(logmix)

    def field_labels(unary: torch.Tensor) -> np.ndarray:
        q = potts_field(unary, v_t, beta=beta, iterations=its)
        return q.argmax(0).numpy()

    with torch.inference_mode():
        x = torch.from_numpy(region.x)
        lognets = [torch.log_softmax(forward_tiled(n.eval(), x, n.radius), 0) for n in cap["nets"]]
    initial = cap["initial"]
    agreement = [float(np.mean(lab == initial)) for lab in cap["labels"]]
    chosen = int(engine.chosen_member_)
    agree = int(np.argmax(agreement))
    maps: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        init_map = field_labels(logmix_t)
        maps["init"] = init_map
        maps["net"] = field_labels(lognets[chosen])
        maps["poe"] = field_labels(lognets[chosen] + logmix_t)
        maps["avg"] = field_labels(0.5 * (lognets[chosen] + logmix_t))
        for i, ln in enumerate(lognets):
            maps[f"m{i}"] = field_labels(ln)
        maps["agree"] = maps[f"m{agree}"]
        maps["poe-agree"] = field_labels(lognets[agree] + logmix_t)
        maps["ens"] = field_labels(torch.stack(lognets).mean(0))
    init_flat = init_map[valid]
    check = float(np.mean(init_flat == initial))
    uic = np.asarray(engine.predict_block(scene.data, scene.valid)["labels"]).astype(np.int64)
    ref = scene.primary
    rec: dict[str, Any] = {"scene": scene.name, "seed": seed, "config": config, "k": k,
                           "fit_cpu_s": round(cap["fit_cpu_s"], 1), "init_check": round(check, 4),
                           "member_agreement": [round(a, 4) for a in agreement], "chosen": chosen,
                           "agree_choice": agree, "oa": {}}
    rec["oa"]["uic"] = round(float(matched_scores(uic[ref.rows, ref.cols], ref.codes, k)["oa"]), 4)
    for name, lab in maps.items():
        full = np.where(valid, lab + 1, 0)
        rec["oa"][name] = round(float(matched_scores(full[ref.rows, ref.cols], ref.codes, k)["oa"]), 4)
    rec["diag"] = diagnose(maps["init"], maps["net"], valid, ref, k)
    return rec


def diagnose(init: np.ndarray, net: np.ndarray, valid: np.ndarray, ref: Any, k: int) -> dict[str, Any]:
    """Where the network's map differs from the starting labels, and who is right there."""
    differ = (init != net) & valid
    lab = np.where(valid, init, -1)
    edge = np.zeros_like(valid)
    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        shifted = np.full_like(lab, -1)
        rs = slice(max(dr, 0), lab.shape[0] + min(dr, 0))
        rd = slice(max(-dr, 0), lab.shape[0] + min(-dr, 0))
        cs = slice(max(dc, 0), lab.shape[1] + min(dc, 0))
        cd = slice(max(-dc, 0), lab.shape[1] + min(-dc, 0))
        shifted[rd, cd] = lab[rs, cs]
        edge |= (shifted >= 0) & (shifted != lab) & valid
    n_valid = int(valid.sum())
    s_init = np.bincount(init[valid], minlength=k) / n_valid
    s_net = np.bincount(net[valid], minlength=k) / n_valid
    m = _hungarian_map(init[ref.rows, ref.cols], ref.codes, k)
    on_ref = differ[ref.rows, ref.cols]
    init_right = m[init[ref.rows, ref.cols]] == ref.codes
    net_right = m[net[ref.rows, ref.cols]] == ref.codes
    return {"differ": round(float(differ.sum() / n_valid), 4),
            "differ_at_edge": round(float((differ & edge).sum() / max(1, differ.sum())), 3),
            "edge_share": round(float(edge.sum() / n_valid), 3),
            "max_share_change": round(float(np.abs(s_net - s_init).max()), 4),
            "share_change": [round(float(a), 4) for a in s_net - s_init],
            "ref_differ": int(on_ref.sum()), "ref_init_right": int((on_ref & init_right).sum()),
            "ref_net_right": int((on_ref & net_right).sum())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="half:A")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--config", help="engine overrides, key=json,... (e.g. agreement=0.99,epochs=24) or one JSON object")
    p.add_argument("--tag", default="", help="name of this configuration in the tables")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", help="comma-separated JSON files: print the tables and exit")
    a = p.parse_args(argv)
    if a.report:
        report([Path(x) for x in a.report.split(",")])
        return 0
    config = _parse_config(a.config)
    scenes = expand_scenes(a.scenes.split(","))
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    import torch

    torch.set_num_threads(1)
    for name in scenes:
        scene = load_scene(name, _bench.DATA)
        for seed in [int(s) for s in a.seeds.split(",")]:
            rec = {**run_one(scene, seed, config), "tag": a.tag}
            print(json.dumps(rec), flush=True)
            records = _bench.replace_record(records, rec, {"scene": name, "seed": seed, "tag": a.tag}, a.json)
    return 0


def report(paths: list[Path]) -> None:
    """Markdown tables per half: mean OA over seeds (spread) per scene x variant, and the diagnosis."""
    recs = [r for path in paths for r in json.loads(path.read_text())]
    tags = list(dict.fromkeys(r.get("tag", "") for r in recs))
    for tag in tags:
        sub = [r for r in recs if r.get("tag", "") == tag]
        for half in ("A", "B"):
            names = [n for n in HALVES[half] if any(r["scene"] == n for r in sub)]
            if not names:
                continue
            print(f"\nHalf {half}{' (' + tag + ')' if tag else ''}\n")
            have = [v for v in VARIANTS if all(v in r["oa"] for r in sub)]
            print("| scene | " + " | ".join(have) + " |")
            print("|---|" + "---|" * len(have))
            means: dict[str, list[float]] = {v: [] for v in have}
            spreads: dict[str, list[float]] = {v: [] for v in have}
            for n in names:
                cells = []
                for v in have:
                    oas = [r["oa"][v] for r in sub if r["scene"] == n]
                    means[v].append(float(np.mean(oas)))
                    spreads[v].append(max(oas) - min(oas))
                    cells.append(f"{np.mean(oas):.3f} ({max(oas) - min(oas):.3f})")
                print(f"| {n} | " + " | ".join(cells) + " |")
            print("| *mean (max spread)* | " + " | ".join(
                f"{np.mean(means[v]):.3f} ({max(spreads[v]):.3f})" for v in have) + " |")
        print("\n| scene | half | pixels that differ | of them at a starting-label edge | edge pixels | "
              "largest class-share change | reference pixels that differ (3 seeds) | starting labels right | "
              "network right | kept member / most agreeing |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for half in ("A", "B"):
            for n in [n for n in HALVES[half] if any(r["scene"] == n for r in sub)]:
                rs = [r for r in sub if r["scene"] == n]
                d = [r["diag"] for r in rs]
                print(f"| {n} | {half} | {np.mean([x['differ'] for x in d]):.3f} | "
                      f"{np.mean([x['differ_at_edge'] for x in d]):.2f} | "
                      f"{np.mean([x['edge_share'] for x in d]):.2f} | "
                      f"{np.mean([x['max_share_change'] for x in d]):.3f} | {sum(x['ref_differ'] for x in d)} | "
                      f"{sum(x['ref_init_right'] for x in d)} | {sum(x['ref_net_right'] for x in d)} | "
                      f"{','.join(str(r['chosen']) for r in rs)} / {','.join(str(r['agree_choice']) for r in rs)} |")

if __name__ == "__main__":
    sys.exit(main())
