"""A logging filter that removes configured secrets from every record."""

from __future__ import annotations

import logging

from django.conf import settings


class ScrubSecretsFilter(logging.Filter):
    """Replace the value of every secret setting with ``***`` in the rendered message.

    Telegram puts the bot token in the URL path, so a library that logs URLs would
    otherwise write it to the logs.
    """

    def _secrets(self) -> list[str]:
        try:
            values = [getattr(settings, name, "") for name in settings.SECRET_SETTING_NAMES]
        except Exception:  # settings not ready yet: nothing configured to scrub
            return []
        return [v for v in values if isinstance(v, str) and len(v) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets()
        if not secrets:
            return True
        message = record.getMessage()
        scrubbed = message
        for secret in secrets:
            scrubbed = scrubbed.replace(secret, "***")
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in secrets:
                text = text.replace(secret, "***")
            record.exc_text = text
            record.exc_info = None
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True
