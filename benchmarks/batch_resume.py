"""Issue 12's measure, timed: `geouic batch` over three scenes (two real, one missing), then `--resume`.

Writes a jobs file into benchmarks/_work/batch_resume/ (classify with k-means and a saved model,
then predict with it, per scene), runs `geouic batch` and `geouic batch --resume` twice (still
missing; then with the third scene present), and prints wall times, the seconds each job spent
(from the manifest), whether any finished output was rewritten (file mtimes), and the load.

    python benchmarks/batch_resume.py [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
JOBS = """\
defaults:
  classify: {method: kmeans, classes: 6}
jobs:
  - foreach: [AMAZON, PERU, MISSING]
    name: "{folder}"
    steps:
      - classify: {scene: "{path}", output: "out/{folder}_classes.tif", save-model: "out/{folder}.geouic"}
      - predict: {model: "{classify.save-model}", scene: "{path}", output: "out/{folder}_predicted.tif"}
"""


def run(work: Path, *args: str) -> tuple[float, int]:
    exe = Path(sys.executable).with_name("geouic")
    t0 = time.perf_counter()
    rc = subprocess.run([str(exe), "batch", "jobs.yaml", "-q", *args], cwd=work, capture_output=True).returncode
    return time.perf_counter() - t0, rc


def per_job(work: Path) -> dict[str, tuple[str, float, int]]:
    jobs = json.loads((work / "jobs.manifest.json").read_text())["jobs"]
    return {j["name"]: (j["status"], j["seconds"], sum(not s.get("resumed") and s["status"] != "not run"
                                                       for s in j["steps"])) for j in jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="1")
    args = parser.parse_args()
    work = ROOT / "benchmarks" / "_work" / "batch_resume"
    shutil.rmtree(work, ignore_errors=True)
    missing = work / "landsat_missing" / "image.tif"
    work.mkdir(parents=True)
    (work / "jobs.yaml").write_text(JOBS.replace("AMAZON", str(DATA / "landsat5_amazon" / "image.tif"))
                                    .replace("PERU", str(DATA / "landsat8_peru" / "image.tif"))
                                    .replace("MISSING", str(missing)))
    print(f"load before: {os.getloadavg()[0]:.2f}; --jobs {args.jobs}")
    for label, extra in (("first run", []), ("--resume, scene still missing", ["--resume"])):
        seconds, rc = run(work, "--jobs", args.jobs, *extra)
        if label == "first run":
            done = {p: p.stat().st_mtime_ns for p in (work / "out").iterdir()}
        print(f"{label}: {seconds:.1f} s wall, exit {rc}; jobs (status, seconds, steps run): {per_job(work)}")
    missing.parent.mkdir()
    shutil.copy(DATA / "landsat8_peru" / "image.tif", missing)
    seconds, rc = run(work, "--jobs", args.jobs, "--resume")
    print(f"--resume, scene now present: {seconds:.1f} s wall, exit {rc}; jobs: {per_job(work)}")
    rewritten = [p.name for p, t in done.items() if p.stat().st_mtime_ns != t]
    print(f"finished outputs rewritten by the resumes: {rewritten or 'none'}; load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
