"""Exploration of UIC's network (issue 8, sixth round): receptive field, width, and what it learns from.

Every variant runs the *whole* engine as the quality benchmark's ``uic`` row runs it
(``make_engine("uic", n_classes=K, seed=seed, sample_size=<the quality default>)``, fitted on the
whole scene, then ``predict_block`` with the map's Potts field); only the network or the pixels it
is trained on change, through :class:`~geouic.uic.config.UICConfig` fields or small monkeypatches
made here (nothing under ``geouic/`` is edited). Variants (``--variants``, comma-separated):

* ``base``: the default engine (control: equals QUALITY.md's ``uic`` column);
* ``nsN``: ``n_spatial = N`` plain 3x3 layers (radius N);
* ``hH``: ``hidden = H``;
* ``dil-a-b-c``: one 3x3 layer per listed dilation (``dil-1-2-4``: radius 7, a 15x15 field at
  the cost of three 3x3 layers; ``dil-1-2``: radius 3 at today's cost);
* ``ms``: a multi-scale block: 1x1, one 3x3, then three parallel 3x3 convolutions of dilation
  1, 2 and 4 concatenated and fused by a 1x1 (radius 5);
* ``confF``: trained only on confident pixels: of each class of the starting labels, the share F
  (e.g. ``conf75``: 0.75) with the largest margin of the starting field (log q1 - log q2 of the
  Potts posteriors, recomputed here exactly as :func:`geouic.uic.labels.initial_labels` does); the
  others take no part in the loss (label -1), so the boundaries there are the network's decision;
* ``noedge``: trained without the pixels within one pixel (8-neighbourhood) of a boundary of the
  starting labels;
* ``agrNN``: the members' stopping agreement at NN % (default 95), to separate how far the network
  distils from which pixels it learns;
* any variant joined by ``+`` (``dil-1-2-4+conf75``).

With ``--realistic`` each multispectral scene is also fitted at K = 3 x classes and scored by the
realistic workflow (majority assignment on a 16x16 checkerboard, as :mod:`benchmarks.uic_realistic`).
Fit CPU seconds (``time.process_time``, one torch thread) are recorded per run. No variant sees a
reference label; the reference only scores (matched OA at K = classes).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.uic_net --scenes half:A --seeds 0
--variants base,ns3,dil-1-2-4 --json benchmarks/_work/net_A.json``; ``--report a.json,b.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmarks import _bench
from benchmarks._quality_lib import HALVES, SCENES, expand_scenes, load_scene, matched_scores


# -- network variants ------------------------------------------------------------------------------
class _MultiScale(nn.Module):
    """Parallel 3x3 convolutions of several dilations, concatenated, fused by a 1x1, ReLU."""

    def __init__(self, hidden: int, dilations: tuple[int, ...]):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(hidden, hidden, 3, padding=d, dilation=d) for d in dilations)
        self.fuse = nn.Conv2d(hidden * len(dilations), hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fuse(torch.cat([torch.relu(b(x)) for b in self.branches], 1)))


class VarNet(nn.Module):
    """A UICNet-compatible network (``arch``, ``radius``, ``body``, ``embed``, ``head``)."""

    def __init__(self, in_channels: int, n_classes: int, hidden: int, dilations: tuple[int, ...],
                 multiscale: tuple[int, ...] = ()):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, hidden, 1), nn.ReLU(inplace=True)]
        for d in dilations:
            layers += [nn.Conv2d(hidden, hidden, 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
        if multiscale:
            layers.append(_MultiScale(hidden, multiscale))
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(hidden, n_classes, 1)
        self._radius = sum(dilations) + max(multiscale, default=0)
        self.arch = {"hidden": hidden, "n_spatial": len(dilations), "kernel": 3, "dilations": list(dilations),
                     "multiscale": list(multiscale)}

    @property
    def radius(self) -> int:
        return self._radius

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def parse_variant(name: str) -> dict[str, Any]:
    """Engine config overrides, a network spec and a training-pixel rule for a variant name."""
    out: dict[str, Any] = {"config": {}, "net": None, "keep": None}
    for part in name.split("+"):
        if part == "base":
            continue
        if part.startswith("ns"):
            out["config"]["n_spatial"] = int(part[2:])
        elif part.startswith("agr") and part[3:].isdigit():
            out["config"]["agreement"] = int(part[3:]) / 100
        elif part.startswith("h") and part[1:].isdigit():
            out["config"]["hidden"] = int(part[1:])
        elif part.startswith("dil-"):
            out["net"] = {"dilations": tuple(int(d) for d in part[4:].split("-")), "multiscale": ()}
        elif part == "ms":
            out["net"] = {"dilations": (1,), "multiscale": (1, 2, 4)}
        elif part.startswith("conf"):
            out["keep"] = ("conf", int(part[4:]) / 100)
        elif part == "noedge":
            out["keep"] = ("noedge", 0.0)
        else:
            raise SystemExit(f"unknown variant part {part!r}")
    return out


# -- confident-pixel training -------------------------------------------------------------------
def _field_margin_labels(pool: Any, k: int, seed: int, *, covariance: str, n_init: int, beta: float,
                         max_fit: int = 20_000, max_share: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """:func:`initial_labels` (whole regions) and the field's margin log q1 - log q2 per valid pixel."""
    from scipy.ndimage import uniform_filter

    from geouic.uic.labels import FIELD_ITERATIONS, SmoothedFeatures, fit_mixture, potts_smooth

    features = SmoothedFeatures(pool, pool.geometry)
    rng = np.random.default_rng(seed)
    fit = features.rows(rng.choice(pool.n_valid, max_fit, replace=False) if pool.n_valid > max_fit else None)
    seeds = rng.integers(0, 2**31 - 1, size=n_init)
    gmm = fit_mixture(fit, k, seeds, covariance=covariance, max_share=max_share)
    labels, margins = [], []
    for i, region in enumerate(pool.regions):
        valid = region.valid
        log_prob = np.log(np.maximum(gmm.predict_proba(features.strip(i, 0, valid.shape[0])), 1e-30)).astype(np.float32)
        img = np.zeros((k, *valid.shape), np.float32)
        img[:, valid] = log_prob.T
        # the last mean-field update's logits: log q up to a per-pixel constant, never saturated
        q = potts_smooth(img, valid, beta=beta, iterations=FIELD_ITERATIONS - 1)
        neighbours = uniform_filter(q, size=(1, 3, 3), mode="constant") * 9.0 - q
        z = (img + beta * neighbours)[:, valid]
        top = np.sort(z, axis=0)
        labels.append(z.argmax(axis=0))
        margins.append(top[-1] - top[-2])
    return np.concatenate(labels).astype(np.int64), np.concatenate(margins)


def _edge(pool: Any, labels: np.ndarray) -> np.ndarray:
    """Valid pixels with a valid 8-neighbour of another starting label (pool order)."""
    out = []
    for m, reg in zip(pool.split(labels.astype(np.int64)), pool.regions):
        e = np.zeros(m.shape, bool)
        p = np.pad(m, 1, constant_values=-1)
        for i in range(3):
            for j in range(3):
                if (i, j) != (1, 1):
                    nb = p[i : i + m.shape[0], j : j + m.shape[1]]
                    e |= (nb >= 0) & (nb != m)
        out.append(e[reg.valid])
    return np.concatenate(out)


def keep_mask(pool: Any, initial: np.ndarray, rule: tuple[str, float], cfg: Any, k: int,
              seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Which pool pixels the network is trained on, and a check that the labels are the engine's."""
    if rule[0] == "noedge":
        keep = ~_edge(pool, initial)
        return keep, {"kept": round(float(keep.mean()), 4)}
    labels, margin = _field_margin_labels(pool, k, seed, covariance=cfg.covariance, n_init=int(cfg.init_n),
                                          beta=float(cfg.smoothing))
    keep = np.zeros(len(initial), bool)
    for c in range(k):
        idx = np.flatnonzero(initial == c)
        if len(idx) == 0:
            continue
        thr = np.quantile(margin[idx], 1.0 - rule[1])
        keep[idx[margin[idx] >= thr]] = True
    return keep, {"kept": round(float(keep.mean()), 4), "label_check": round(float(np.mean(labels == initial)), 4)}


def masked_train_member(mask_ref: dict[str, Any]) -> Any:
    """``train_member`` whose targets are -1 outside ``mask_ref["keep"]`` (agreement on the kept pixels)."""
    import geouic.uic.train as T
    from geouic.uic.budget import label_dtype

    def train_member(pool: Any, initial: np.ndarray, cfg: Any, *, seed: int, arch: dict[str, int],
                     device: torch.device, stop: Any = None, name: str = "member", on_epoch: Any = None) -> Any:
        t0 = time.perf_counter()
        keep = mask_ref["keep"]
        run = T._Member(pool, cfg, seed, arch, device, stop, name)
        full = np.asarray(initial, dtype=label_dtype(int(cfg.n_classes)))
        labels = np.where(keep, full, -1).astype(full.dtype)
        mon = run.monitor[keep[run.monitor]]
        prev = full[run.monitor]
        for epoch in range(cfg.epochs):
            labels, repaired = run.repair(labels, epoch)
            loss = run.train_epoch(labels)
            cur = T.predict_pool(run.teacher, pool, device, what="labels", stop=stop)
            agreement = float(np.mean(cur[mon] == labels[mon]))
            entry = run.log_epoch(epoch, prev, cur, loss, agreement, repaired)
            if on_epoch is not None:
                on_epoch(entry)
            prev = cur[run.monitor]
            if agreement >= cfg.agreement:
                break
        net, final_labels = run.finish()
        return T.MemberResult(net, final_labels, run.history, time.perf_counter() - t0)

    return train_member


# -- one run ---------------------------------------------------------------------------------------
def fit_predict(scene: Any, k: int, seed: int, variant: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The whole engine with ``variant``: label image (1..k, 0 nodata) and run facts."""
    import geouic.uic.engine as E
    import geouic.uic.train as T
    from benchmarks.quality import _default_sample_size
    from geouic.engine import make_engine
    from geouic.raster import open_raster

    spec = parse_variant(variant)
    facts: dict[str, Any] = {}
    saved = (T.build_net, E.train_member, E.initial_labels)
    try:
        if spec["net"] is not None:
            net_spec = spec["net"]

            def build_net(in_channels: int, n_classes: int, arch: Any) -> VarNet:
                return VarNet(in_channels, n_classes, int(arch["hidden"]), **net_spec)

            T.build_net = build_net
        if spec["keep"] is not None:
            mask_ref: dict[str, Any] = {}
            inner = E.initial_labels

            def initial_labels(pool: Any, kk: int, s: int, **kw: Any) -> np.ndarray:
                lab = inner(pool, kk, s, **kw)
                mask_ref["keep"], info = keep_mask(pool, lab, spec["keep"], engine.config, kk, s)
                facts.update(info)
                return lab

            E.initial_labels = initial_labels
            E.train_member = masked_train_member(mask_ref)
        engine = make_engine("uic", n_classes=k, seed=seed, sample_size=_default_sample_size(), **spec["config"])
        with warnings.catch_warnings(), open_raster(scene.image) as src:
            warnings.simplefilter("ignore")
            t0 = time.process_time()
            engine.fit([src])
            facts["fit_cpu_s"] = round(time.process_time() - t0, 2)
        t0 = time.process_time()
        labels = np.asarray(engine.predict_block(scene.data, scene.valid)["labels"]).astype(np.int64)
        facts["predict_cpu_s"] = round(time.process_time() - t0, 2)
        facts["radius"] = int(engine.net_.radius)
        facts["epochs_run"] = len(engine.history_)
        facts["params"] = int(sum(p.numel() for p in engine.net_.parameters()))
    finally:
        T.build_net, E.train_member, E.initial_labels = saved
    return labels, facts


def run_one(scene: Any, seed: int, variant: str, realistic: bool) -> dict[str, Any]:
    from benchmarks.uic_realistic import score

    k = scene.n_classes
    labels, facts = fit_predict(scene, k, seed, variant)
    rec: dict[str, Any] = {"scene": scene.name, "seed": seed, "variant": variant, "k": k, **facts}
    ref = scene.primary
    m = matched_scores(labels[ref.rows, ref.cols], ref.codes, k)
    rec["oa"] = round(float(m["oa"]), 4)
    if realistic and SCENES[scene.name].kind == "multispectral":
        labels3, facts3 = fit_predict(scene, 3 * k, seed, variant)
        rec["real_oa"] = score(labels3, scene, 3 * k)["oa"]
        rec["real_fit_cpu_s"] = facts3["fit_cpu_s"]
    return rec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="half:A")
    p.add_argument("--seeds", default="0")
    p.add_argument("--variants", default="base")
    p.add_argument("--realistic", action="store_true", help="also the 3K realistic workflow (multispectral scenes)")
    p.add_argument("--json", type=Path)
    p.add_argument("--report", help="comma-separated JSON files: print the tables and exit")
    p.add_argument("--order", help="variants (comma-separated) for the report columns")
    p.add_argument("--quality", type=Path, help="with --report: add the uic / uic-init records of this "
                   "quality_results.json as variants q-uic / q-uic-init (matched OA and realistic OA)")
    a = p.parse_args(argv)
    if a.report:
        report([Path(x) for x in a.report.split(",")], a.order.split(",") if a.order else None, a.quality)
        return 0
    scenes = expand_scenes(a.scenes.split(","))
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    torch.set_num_threads(1)
    for variant in a.variants.split(","):
        for name in scenes:
            scene = load_scene(name, _bench.DATA)
            for seed in [int(s) for s in a.seeds.split(",")]:
                rec = run_one(scene, seed, variant, a.realistic)
                print(json.dumps(rec), flush=True)
                records = _bench.replace_record(records, rec, {"scene": name, "seed": seed, "variant": variant}, a.json)
    return 0


def quality_records(path: Path) -> list[dict[str, Any]]:
    """``uic`` / ``uic-init`` records of benchmarks/quality.py's JSON as variants ``q-uic`` / ``q-uic-init``."""
    out = []
    for rec in json.loads(path.read_text())["records"].values():
        if rec["engine"] not in ("uic", "uic-init") or rec["scene"] not in SCENES:
            continue
        first = SCENES[rec["scene"]].refs[0]
        ref = Path(first.path).stem
        row: dict[str, Any] = {"scene": rec["scene"], "seed": rec["seed"], "variant": "q-" + rec["engine"]}
        row["oa"] = round(rec["matched"]["scores"][ref]["oa"], 4)
        row["fit_cpu_s"] = rec["matched"]["fit_cpu_s"]
        if SCENES[rec["scene"]].kind == "multispectral" and "majority" in rec:
            row["real_oa"] = round(rec["majority"]["scores"][ref]["oa"], 4)
        out.append(row)
    return out


def report(paths: list[Path], order: list[str] | None = None, quality: Path | None = None) -> None:
    """Per half: mean matched OA over seeds (spread) per scene x variant, the half's mean, fit CPU."""
    recs = [r for path in paths for r in json.loads(path.read_text())]
    if quality is not None:
        recs += quality_records(quality)
    variants = order or list(dict.fromkeys(r["variant"] for r in recs))
    for key, title in (("oa", "matched OA, K = classes"), ("real_oa", "realistic 3K (multispectral)")):
        if not any(key in r for r in recs):
            continue
        print(f"\n{title}\n")
        print("| scene | half | " + " | ".join(variants) + " |")
        print("|---|---|" + "---|" * len(variants))
        for half in ("A", "B"):
            names = [n for n in HALVES[half] if any(r["scene"] == n and key in r for r in recs)]
            means: dict[str, list[float]] = {v: [] for v in variants}
            for n in names:
                cells = []
                for v in variants:
                    vals = [r[key] for r in recs if r["scene"] == n and r["variant"] == v and key in r]
                    if not vals:
                        cells.append("")
                        continue
                    means[v].append(float(np.mean(vals)))
                    cells.append(f"{np.mean(vals):.3f}" + (f" ({max(vals) - min(vals):.3f})" if len(vals) > 1 else ""))
                print(f"| {n} | {half} | " + " | ".join(cells) + " |")
            if names:
                print(f"| *mean {half}* | | " + " | ".join(
                    f"{np.mean(means[v]):.3f}" if len(means[v]) == len(names) else "" for v in variants) + " |")
    print("\n| fit CPU s, sum over the half's scenes (mean over seeds) | " + " | ".join(variants) + " |")
    print("|---|" + "---|" * len(variants))
    for half in ("A", "B"):
        cells = []
        for v in variants:
            per = [[r["fit_cpu_s"] for r in recs if r["variant"] == v and r["scene"] == n] for n in HALVES[half]]
            cells.append(f"{sum(np.mean(x) for x in per):.1f}" if all(per) else "")
        print(f"| half {half} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
