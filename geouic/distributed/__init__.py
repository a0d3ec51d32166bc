"""geouic on a Dask cluster: many scenes (batch jobs as tasks) and one scene too big for one machine.

Dask is an optional extra (``pip install 'geouic[dask]'``). Importing this package does not
import Dask; :func:`connect` does, and says how to install it when it is missing.

>>> from geouic.distributed import connect                     # doctest: +SKIP
>>> with connect("local:2") as cluster:                          # doctest: +SKIP
...     result = run_batch(load_jobs("jobs.yaml"), client=cluster.client)

See ``docs/distributed.md`` for running against SLURM (dask-jobqueue) or Kubernetes.
"""

from __future__ import annotations

from geouic.distributed.cluster import (
    WORKER_BASE_MB, Cluster, ClusterError, DaskUnavailableError, connect, import_distributed, parse_address,
)
from geouic.distributed.predict import DEFAULT_TASK_PIXELS, apply_engine_dask, group_windows, predict_group

__all__ = [
    "DEFAULT_TASK_PIXELS",
    "WORKER_BASE_MB",
    "Cluster",
    "ClusterError",
    "DaskUnavailableError",
    "apply_engine_dask",
    "connect",
    "group_windows",
    "import_distributed",
    "parse_address",
    "predict_group",
]
