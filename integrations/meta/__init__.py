"""Django-free clients for Meta: Graph API reporting, Messenger, WhatsApp Cloud API, webhooks.

Errors are ``integrations.errors`` types (``RateLimited``, ``Unreachable``, ``TransientError``,
``PermanentError``); the Meta subclasses in ``integrations.meta.errors`` add a ``reason``.
"""

from integrations.meta.base import GRAPH_API_VERSION, GraphBaseClient, appsecret_proof, parse_usage
from integrations.meta.graph import DEFAULT_PAGE_METRICS, GraphClient
from integrations.meta.messenger import MessengerClient
from integrations.meta.types import (
    AdCampaign,
    AdInsightRow,
    MessengerEvent,
    PageMetricDay,
    SentMessage,
    Usage,
    WhatsAppEvent,
    WhatsAppTemplate,
)
from integrations.meta.webhooks import parse_messenger, parse_whatsapp, verify_challenge, verify_signature
from integrations.meta.whatsapp import NO_RETRY_CODES, WhatsAppClient, whatsapp_error

__all__ = [
    "DEFAULT_PAGE_METRICS",
    "NO_RETRY_CODES",
    "GRAPH_API_VERSION",
    "AdCampaign",
    "AdInsightRow",
    "GraphBaseClient",
    "GraphClient",
    "MessengerClient",
    "MessengerEvent",
    "PageMetricDay",
    "SentMessage",
    "Usage",
    "WhatsAppClient",
    "WhatsAppEvent",
    "WhatsAppTemplate",
    "appsecret_proof",
    "parse_messenger",
    "parse_usage",
    "parse_whatsapp",
    "verify_challenge",
    "verify_signature",
    "whatsapp_error",
]
