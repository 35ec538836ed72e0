"""The drivers ring: the ways in and out — each reaches the engine through the service ring.

cli/        the ``gridflow`` command line, one module per group of commands
daemon      ``gridflow daemon``: APScheduler as the heartbeat of timers, delivery, digests
notifiers/  notice channels: console, file, smtp, webhook
config      ``gridflow.toml`` and ``GRIDFLOW_*`` settings
"""
