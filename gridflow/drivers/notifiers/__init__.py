"""Notice channels (driver ring): console, file, smtp, webhook, and the registry building them."""

from gridflow.domain.notice import Channel, OutboundNotice, new_notice_id
from gridflow.drivers.notifiers.registry import CHANNEL_TYPES, build_channels
from gridflow.drivers.notifiers.webhook import verify_signature
from gridflow.errors import DeliveryError

__all__ = [
    "CHANNEL_TYPES",
    "Channel",
    "DeliveryError",
    "OutboundNotice",
    "build_channels",
    "new_notice_id",
    "verify_signature",
]
