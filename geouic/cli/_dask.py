"""The ``--dask ADDRESS`` option of ``batch`` and ``predict``, and connecting from the CLI.

Dask is imported only when the option is given (``geouic --help`` never imports it); every
connection problem is one line naming ``--dask`` and exit code 2.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import click

from geouic.cli.options import CliError, status

__all__ = ["dask_client", "dask_opt"]

dask_opt = click.option(
    "--dask", "dask_address", default=None, metavar="ADDRESS",
    help="Run on a Dask cluster: tcp://HOST:PORT of a running `dask scheduler`, env (the address in "
         "DASK_SCHEDULER_ADDRESS), or local:N (a LocalCluster of N worker processes on this machine). "
         "Needs pip install 'geouic[dask]'. See docs/distributed.md.")

#: Library parameter -> CLI flag, for the messages of geouic.distributed.
_FLAGS = {"address": "--dask", "mem_limit_mb": "--mem-limit"}


def _quiet_dask(record: logging.LogRecord) -> bool:
    """Keep Dask's informational records off the terminal (its warnings and errors show)."""
    return record.levelno >= logging.WARNING or not record.name.startswith(("distributed", "tornado", "bokeh"))


@contextlib.contextmanager
def dask_client(address: str, *, mem_limit: float | None = None) -> Iterator[Any]:
    """Connect (or start ``local:N``) for one command; yields the :class:`geouic.distributed.Cluster`."""
    from geouic.distributed import connect
    from geouic.errors import GeouicError

    if logging.getLogger("geouic").getEffectiveLevel() > logging.DEBUG:  # Dask's chatter only with -vv
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # the workers LocalCluster starts
        for handler in logging.getLogger().handlers:  # Dask resets its loggers' levels as a cluster starts
            handler.addFilter(_quiet_dask)
    try:
        cluster = connect(address, mem_limit_mb=mem_limit)
    except GeouicError as exc:
        raise CliError(exc.message_for(_FLAGS)) from None
    with cluster:
        try:
            cluster.wait_for_workers(1, timeout=60)
        except GeouicError as exc:
            raise CliError(exc.message_for(_FLAGS)) from None
        status(f"Dask: {len(cluster.client.nthreads())} worker(s), {cluster.n_threads()} thread(s) "
               f"at {cluster.address}")
        yield cluster
