"""Label-free statistics that might say where MNF features beat the engine's PCA (issue 8).

For every scene x seed of the given halves, the starting labels of ``base`` (the engine's PCA
channels) and of MNF variants (:mod:`benchmarks.uic_features`) at K = classes, each with its
matched OA (read only to score) and two label-free statistics: ``dis``, the class-size-normalised
neighbour disagreement of the labels (:func:`benchmarks.uic_explore.disagreement`), and, once per
scene, the SNR profile of its principal and MNF components
(:func:`benchmarks.uic_features.snr_profile`). One JSON line per scene x seed.

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.uic_switch half:A
benchmarks/_work/switch_A.jsonl base,mnf-16,mnf-snr5`` (and ``half:B``).
"""

from __future__ import annotations

import json
import sys

from benchmarks import _bench
from benchmarks._quality_lib import expand_scenes, load_scene
from benchmarks.uic_explore import disagreement
from benchmarks.uic_explore import score as matched_score
from benchmarks.uic_features import Stage, mixture_labels, snr_profile


def main(argv: list[str]) -> int:
    from geouic.uic.labels import initial_labels

    halves, path = argv[0], argv[1]
    variants = argv[2].split(",") if len(argv) > 2 else ["base", "mnf-16"]
    with open(path, "a") as out:
        for name in expand_scenes(halves.split(",")):
            scene = load_scene(name, _bench.DATA)
            k = scene.n_classes
            for seed in (0, 1, 2):
                stage = Stage(scene, seed)
                rec: dict[str, object] = {"scene": name, "seed": seed}
                if seed == 0:
                    rec["snr"] = snr_profile(stage)
                for v in variants:
                    pool, X, _ = stage.features(v)
                    cfg = stage.cfg
                    flat = (initial_labels(pool, k, seed, covariance=cfg.covariance, n_init=int(cfg.init_n),
                                           beta=float(cfg.smoothing)) if X is None
                            else mixture_labels(pool, X, k, seed, cfg))
                    rec[v] = {"oa": matched_score(pool, flat, scene, k)["oa"], "dis": disagreement(pool, flat, k)}
                print(json.dumps(rec), file=out, flush=True)
                print(name, seed, {v: rec[v] for v in variants}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
