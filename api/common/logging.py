"""Secrets out of every log: a filter for Django's, gunicorn's and Celery's handlers.

Django's ``LOGGING`` puts ``ScrubSecretsFilter`` on its console handler; gunicorn writes its access
and error logs through loggers of its own (``GunicornLogger`` adds the filter there, named in
``gunicorn.conf.py``); a Celery worker or beat replaces the root handlers with its own
(``scrub_celery_handlers``, connected in ``api.common.apps``). The access log needs it most: Meta's
verification handshake carries ``hub.verify_token`` in the query string, which gunicorn logs.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote, quote_plus

from django.conf import settings
from gunicorn import glogging

# Query parameters that carry a credential whatever its value, even one that is not (or no longer) the
# configured secret: a near miss of the verify token, a Graph access token in a logged URL.
_SECRET_QUERY_PARAMETERS = re.compile(r"((?:hub\.verify_token|hub%2Everify_token|access_token)=)[^&\s\"']*",
                                      re.IGNORECASE)


class ScrubSecretsFilter(logging.Filter):
    """Replace the value of every secret setting with ``***`` in the rendered message.

    Telegram puts the bot token in the URL path, so a library that logs URLs would
    otherwise write it to the logs. A secret is also looked for as it appears in a URL
    (percent-encoded, as gunicorn's access log shows the request line as sent).
    """

    def _secrets(self) -> list[str]:
        try:
            values = [getattr(settings, name, "") for name in settings.SECRET_SETTING_NAMES]
        except Exception:  # settings not ready yet: nothing configured to scrub
            return []
        secrets = {v for v in values if isinstance(v, str) and len(v) >= 6}
        encoded = {form for v in secrets for form in (quote(v, safe=""), quote_plus(v, safe=""))}
        # Longest first, so that a secret containing another one is replaced whole.
        return sorted(secrets | encoded, key=len, reverse=True)

    def _scrub(self, text: str, secrets: list[str]) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return _SECRET_QUERY_PARAMETERS.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets()
        message = record.getMessage()
        scrubbed = self._scrub(message, secrets)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info), secrets)
            record.exc_info = None
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def scrub_logger(logger: logging.Logger) -> None:
    """Put the scrubber on ``logger`` itself and on each of its handlers, once.

    On the logger for the records logged there, on the handlers for those that propagate from
    child loggers (a logger's own filters do not see those).
    """
    for target in (logger, *logger.handlers):
        if not any(isinstance(f, ScrubSecretsFilter) for f in target.filters):
            target.addFilter(ScrubSecretsFilter())


class GunicornLogger(glogging.Logger):
    """gunicorn's logger with the scrubber on its error and access logs (``logger_class`` in ``gunicorn.conf.py``)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        scrub_logger(self.error_log)
        scrub_logger(self.access_log)


def scrub_celery_handlers(logger: logging.Logger | None = None, **kwargs: Any) -> None:
    """Receiver of Celery's ``after_setup_logger`` and ``after_setup_task_logger`` signals.

    A worker or beat replaces the root logger's handlers (Django's, with the scrubber) with its own;
    this puts the scrubber back on them.
    """
    if logger is not None:
        scrub_logger(logger)
    scrub_logger(logging.getLogger())
