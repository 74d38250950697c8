"""Running the service under uvicorn: one process, or N workers."""

from __future__ import annotations

import logging

from policykb.service.settings import ServiceSettings


def run_service(settings: ServiceSettings, host: str, port: int, workers: int) -> None:
    """Serve until stopped. The policies, trust file and audit log are loaded
    here first, so a wrong one stops the command before it listens."""
    import uvicorn

    from policykb.service.app import create_app

    app = create_app(settings)
    logging.getLogger("policykb.service").setLevel(logging.INFO)
    if workers == 1:
        uvicorn.run(
            app, host=host, port=port, log_level="info", server_header=False, access_log=False
        )
        return
    settings.to_environment()
    uvicorn.run(
        "policykb.service.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        server_header=False,
        access_log=False,
    )
