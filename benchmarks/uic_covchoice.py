"""The starting mixture's covariance, chosen per scene without labels (issue 8, ninth round).

For each scene, seed and workflow (``--mult 1``: K = classes, Hungarian-matched OA; ``--mult 3``:
K = 3 x classes, the realistic majority workflow), the starting labels
(:func:`geouic.uic.labels.initial_labels`, as the ``uic-init`` row of the quality benchmark
builds them) with a full, a tied and a diagonal covariance, their OA, and the adjusted Rand
indices between the three mixtures' own labels of the fitted 20k-pixel subsample, as the
engine's :func:`geouic.uic.labels.choose_mixture` reports them (``initial_labels(info=)``):
``margin = ARI(tied, diag) - max(ARI(full, tied), ARI(full, diag))``, and ``pick`` (tied when
the margin reaches :data:`~geouic.uic.labels.CONSENSUS_MARGIN`, else full) with ``auto``, the
OA of the engine's own starting labels.
Scenes: the dev scenes (``half:A``, ``half:B``) and the proxies of :mod:`benchmarks.heldout_proxy`
(cut them first).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.uic_covchoice --scenes
half:A,half:B --seeds 0,1,2 --mult 1`` (one JSON line per scene x seed).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks import _quality_lib as ql
from benchmarks import heldout_proxy

TYPES = ("full", "tied", "diag")


def row(name: str, seed: int, mult: int) -> dict[str, Any]:
    """The record of one scene, seed and workflow."""
    from benchmarks.uic_explore import build_pool
    from benchmarks.uic_realistic import score
    from geouic._threads import single_threaded_blas
    from geouic.uic.labels import CONSENSUS_MARGIN, initial_labels

    data = heldout_proxy.PROXY_DIR if ql.SCENES[name].half == "P" else _bench.DATA
    sc = ql.load_scene(name, data)
    k = sc.n_classes * mult
    workflow = "matched" if mult == 1 else "majority"
    pool, cfg = build_pool(sc, k, seed)
    out: dict[str, Any] = {"scene": name, "half": ql.SCENES[name].half, "seed": seed, "k": k, "workflow": workflow}
    info: dict[str, Any] = {}
    with single_threaded_blas():
        for c in (*TYPES, "auto"):
            flat = initial_labels(pool, k, seed, covariance=c, n_init=int(cfg.init_n), beta=float(cfg.smoothing),
                                  info=info if c == "auto" else None)
            out[c] = score(pool.split((flat + 1).astype(np.uint16), fill=0)[0], sc, k, workflow)["oa"]
    for pair, value in info["ari"].items():  # what the engine's choose_mixture compared
        out[f"ari_{pair}"] = value
    out["margin"] = round(out["ari_tied_diag"] - max(out["ari_full_tied"], out["ari_full_diag"]), 4)
    out["pick"] = info["covariance"]
    assert (out["pick"] == "tied") == (out["margin"] >= CONSENSUS_MARGIN)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.uic_covchoice", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", default="half:A,half:B")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--mult", type=int, default=1, help="K = mult x classes (1: matched, 3: realistic)")
    a = p.parse_args(argv)
    warnings.simplefilter("ignore")
    if (heldout_proxy.PROXY_DIR / "proxies.json").exists():
        heldout_proxy.register()
    for name in ql.expand_scenes(a.scenes.split(",")):
        for seed in (int(s) for s in a.seeds.split(",")):
            print(json.dumps(row(name, seed, a.mult)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
