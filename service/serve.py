"""Running the service under uvicorn: one process, or N workers.

Connections go through BoundedHttpToolsProtocol (service/connection.py),
which reads its limits from the settings this module puts in the
environment. With N workers, each accepts through the balanced event loop
(service/balanced_accept.py), which spreads connections evenly over them
through a table of their counts this module creates. Workers die with the
process that started them: a `kill -9` of the parent leaves no worker
answering on the port.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from policykb.service.settings import ServiceSettings
from policykb.service.worker_table import TABLE_VARIABLE, create_table

PROTOCOL = "policykb.service.connection:BoundedHttpToolsProtocol"
BALANCED_LOOP = "policykb.service.balanced_accept:new_loop"  # each worker's event loop
PR_SET_PDEATHSIG = 1  # linux/prctl.h
KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open
SPARE_DESCRIPTORS = 64  # files a worker needs besides its connections


def within_descriptors(settings: ServiceSettings) -> ServiceSettings:
    """The settings with max_connections lowered, if need be, so that a worker
    reaches its cap (and answers 503) before it runs out of file descriptors."""
    import dataclasses

    try:
        import resource
    except ImportError:  # not POSIX
        return settings
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = soft - SPARE_DESCRIPTORS
    if soft == resource.RLIM_INFINITY or settings.max_connections <= room:
        return settings
    lowered = max(1, room)
    logging.getLogger("policykb.service").warning(
        "max_connections lowered from %d to %d: the open-file limit (ulimit -n) is %d",
        settings.max_connections,
        lowered,
        soft,
    )
    return dataclasses.replace(settings, max_connections=lowered)


def die_with_parent(parent: int) -> None:
    """Have this process get SIGTERM when `parent` exits (Linux: the kernel's
    parent-death signal; elsewhere a thread that watches the parent id).
    uvicorn's SIGTERM handling then stops listening at once and finishes the
    requests under way."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
            if os.getppid() != parent:  # it died before the signal was asked for
                os.kill(os.getpid(), signal.SIGTERM)
            return

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="policykb-parent-watch", daemon=True).start()


def run_service(
    settings: ServiceSettings,
    host: str,
    port: int,
    workers: int,
    tls: tuple[str, str] | None = None,
) -> None:
    """Serve until stopped. The policies, trust file and audit log are loaded
    here first, so a wrong one stops the command before it listens. With
    `tls` (certificate chain and key files) the listener speaks HTTPS, TLS 1.2
    at least (Python's default for a server context)."""
    import uvicorn

    from policykb.service.app import PARENT_VARIABLE, create_app

    logging.getLogger("policykb.service").setLevel(logging.INFO)
    settings = within_descriptors(settings)
    app = create_app(settings)
    settings.to_environment()  # the connection limits, and each worker's settings
    options = {
        "host": host,
        "port": port,
        "log_level": "info",
        "server_header": False,
        "access_log": False,
        "http": PROTOCOL,
        "timeout_keep_alive": KEEP_ALIVE,
    }
    if tls is not None:
        options["ssl_certfile"], options["ssl_keyfile"] = tls
    if workers == 1:
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    os.environ[PARENT_VARIABLE] = str(os.getpid())
    with tempfile.TemporaryDirectory(prefix="policykb-serve-") as folder:
        table = Path(folder) / "workers"
        create_table(table)
        os.environ[TABLE_VARIABLE] = str(table)
        uvicorn.run(
            "policykb.service.app:app_from_environment",
            factory=True,
            workers=workers,
            loop=BALANCED_LOOP,
            **options,  # type: ignore[arg-type]
        )
