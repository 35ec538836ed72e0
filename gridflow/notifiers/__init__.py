"""Notice channels (driver ring): console, file, smtp, webhook, and the registry building them."""

from gridflow.engine.errors import DeliveryError
from gridflow.notifiers.base import Channel, OutboundNotice, new_notice_id
from gridflow.notifiers.registry import CHANNEL_TYPES, build_channels
from gridflow.notifiers.webhook import verify_signature

__all__ = [
    "CHANNEL_TYPES",
    "Channel",
    "DeliveryError",
    "OutboundNotice",
    "build_channels",
    "new_notice_id",
    "verify_signature",
]
