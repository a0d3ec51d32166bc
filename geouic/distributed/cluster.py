"""Connecting to a Dask cluster: a scheduler address, ``DASK_SCHEDULER_ADDRESS``, or ``local:N``.

Dask is an optional extra (``pip install 'geouic[dask]'``); nothing here imports it until
:func:`connect` runs, so ``import geouic.distributed`` works without it and a missing Dask is
one :class:`DaskUnavailableError` naming the install command.

Addresses:

* ``tcp://host:port`` (also ``tls://``, ``ws://``, ``wss://``, ``ucx://``), or ``host:port``
  (tcp): an existing scheduler, as ``dask scheduler`` prints it;
* ``env``: the address in the environment variable ``DASK_SCHEDULER_ADDRESS``;
* ``local:N`` (or ``local``, one worker per usable core): a ``LocalCluster`` on this machine
  with N worker *processes* of one thread each, stopped again when the connection closes.
  A worker process may use ``mem_limit_mb`` of working memory plus :data:`WORKER_BASE_MB` for
  itself (Python, torch, GDAL's cache); Dask pauses a worker at 80 % of that and restarts it
  at 95 %.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from geouic.errors import GeouicError

__all__ = ["Cluster", "ClusterError", "DaskUnavailableError", "WORKER_BASE_MB", "connect", "import_distributed",
           "parse_address"]

#: What one worker process takes besides its working memory (interpreter, numpy, torch, GDAL
#: cache): the Dask memory limit of a ``local:N`` worker is ``mem_limit_mb`` plus this.
WORKER_BASE_MB = 1024

#: Environment variable read by ``env`` and by :func:`connect` without an address (Dask's own).
ENV_VAR = "DASK_SCHEDULER_ADDRESS"

_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")
_HELP = "give tcp://HOST:PORT (as `dask scheduler` prints it), env (to read DASK_SCHEDULER_ADDRESS) or local:N"


class ClusterError(GeouicError, ConnectionError):
    """The Dask scheduler address is malformed or cannot be reached."""


class DaskUnavailableError(GeouicError, ImportError):
    """Dask distributed is not installed."""


def import_distributed(address: str | None = None) -> ModuleType:
    """``dask.distributed``, or a :class:`DaskUnavailableError` naming the install command."""
    try:
        import dask.distributed as distributed
    except ImportError as exc:
        what = f"address={address} needs" if address else "running on a Dask cluster needs"
        raise DaskUnavailableError(
            f"{what} Dask distributed, which is not installed ({exc}); install it with: "
            "pip install 'geouic[dask]'", params=("address",)) from None
    return distributed


@dataclass(frozen=True)
class Address:
    """A parsed address: ``kind`` is ``"local"`` (``n_workers``; 0 = one per core) or ``"scheduler"``."""

    kind: str
    text: str
    n_workers: int = 0


def parse_address(address: str | None) -> Address:
    """Check an address and say what it means (no connection is made).

    Parameters
    ----------
    address : str or None
        ``tcp://host:port``, ``host:port``, ``env``, ``local`` or ``local:N``; None or ``env``
        reads ``DASK_SCHEDULER_ADDRESS``.

    Raises
    ------
    ClusterError
        The address is malformed, or ``env`` is asked and the variable is not set.
    """
    given = address
    if address is None or address.strip().lower() == "env":
        address = os.environ.get(ENV_VAR, "").strip()
        if not address:
            raise ClusterError(f"address={given or 'env'} reads {ENV_VAR}, which is not set; set it to the "
                               f"scheduler's tcp://HOST:PORT, or {_HELP}.", params=("address",))
    text = address.strip()
    local = re.fullmatch(r"local(?::(\d+))?", text, flags=re.IGNORECASE)
    if local:
        n = int(local.group(1)) if local.group(1) is not None else 0
        if local.group(1) is not None and not 1 <= n <= 1024:
            raise ClusterError(f"address={text} is invalid: local:N needs 1 to 1024 worker processes.",
                               params=("address",))
        return Address("local", text, n)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme.lower() not in _SCHEMES:
        raise ClusterError(f"address={text} is not a Dask scheduler (unknown scheme {scheme!r}); {_HELP}.",
                           params=("address",))
    if scheme.lower() == "inproc":
        return Address("scheduler", text)
    match = _HOST_PORT.match(rest.rstrip("/"))
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ClusterError(f"address={text} is not a Dask scheduler (expected {scheme}://HOST:PORT); "
                           f"{_HELP}.", params=("address",))
    return Address("scheduler", f"{scheme.lower()}://{rest.rstrip('/')}")


class Cluster:
    """A connection to a Dask cluster (a context manager); closes what it started.

    Attributes
    ----------
    client : dask.distributed.Client
    address : str
        The scheduler's address.
    local : LocalCluster or None
        The cluster started for ``local:N`` (closed with the connection).
    """

    def __init__(self, client: Any, local: Any = None) -> None:
        self.client = client
        self.local = local
        self.address: str = client.scheduler.address

    def n_threads(self) -> int:
        """Threads over all workers now (0 when no worker is connected)."""
        return int(sum(self.client.nthreads().values()))

    def wait_for_workers(self, n: int = 1, timeout: float | None = 60) -> None:
        """Wait until ``n`` workers are connected (raises :class:`ClusterError` after ``timeout`` s)."""
        try:
            self.client.wait_for_workers(n, timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise ClusterError(f"the Dask scheduler at {self.address} has no worker after {timeout} s ({exc}); "
                               "start some with `dask worker ADDRESS`.") from None

    def close(self) -> None:
        """Close the client, then the local cluster if this connection started one."""
        try:
            self.client.close()
        finally:
            if self.local is not None:
                self.local.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cluster({self.address!r}, local={self.local is not None})"


def connect(address: str | None = None, *, mem_limit_mb: float | None = None, timeout: float | None = None,
            silence_logs: bool = True) -> Cluster:
    """Connect to a Dask cluster, or start a ``LocalCluster`` for ``local:N``.

    Parameters
    ----------
    address : str, optional
        See :func:`parse_address`; default ``DASK_SCHEDULER_ADDRESS``.
    mem_limit_mb : float, optional
        ``local:N`` only: working memory of each worker process; its Dask memory limit is this
        plus :data:`WORKER_BASE_MB` (default: Dask's, the machine's memory shared out).
    timeout : float, optional
        Seconds to reach the scheduler (default: Dask's ``distributed.comm.timeouts.connect``).
    silence_logs : bool, default True
        ``local:N``: keep the workers' informational logs off the terminal (warnings still show).

    Returns
    -------
    Cluster
        Use it as a context manager, or call :meth:`Cluster.close`.

    Raises
    ------
    DaskUnavailableError
        Dask distributed is not installed.
    ClusterError
        The address is malformed or the scheduler cannot be reached.
    """
    where = parse_address(address)
    distributed = import_distributed(where.text)
    if where.kind == "local":
        import logging

        from geouic._threads import usable_cores

        n = where.n_workers or usable_cores(limit=1024)
        memory: Any = "auto" if mem_limit_mb is None else int((float(mem_limit_mb) + WORKER_BASE_MB) * 2**20)
        local = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=memory,
                                         host="127.0.0.1", dashboard_address=":0",  # any free port
                                         scheduler_kwargs={"dashboard": False},  # its HTTP server stays
                                         silence_logs=logging.WARNING if silence_logs else False)
        try:
            client = distributed.Client(local, set_as_default=False)
        except BaseException:
            local.close()
            raise
        return Cluster(client, local)
    try:
        extra = {} if timeout is None else {"timeout": timeout}
        client = distributed.Client(where.text, set_as_default=False, **extra)
    except (OSError, TimeoutError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClusterError(f"address={where.text}: cannot reach a Dask scheduler there ({first}); start one with "
                           "`dask scheduler` and give the tcp://HOST:PORT it prints.", params=("address",)) from None
    except ValueError as exc:
        raise ClusterError(f"address={where.text} is not a Dask scheduler ({exc}); {_HELP}.",
                           params=("address",)) from None
    return Cluster(client)

