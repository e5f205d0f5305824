"""Secrets never reach the logs."""

import logging

from api.common.logging import ScrubSecretsFilter


def test_configured_tokens_are_scrubbed_from_log_messages_and_tracebacks(settings, caplog):
    settings.TELEGRAM_BOT_TOKEN = "123456:AAE-secret-token-value"
    logger = logging.getLogger("tests.secrets")
    handler_filter = ScrubSecretsFilter()
    record = logger.makeRecord("tests.secrets", logging.ERROR, __file__, 1,
                               "POST https://api.telegram.org/bot%s/sendMessage failed", ("123456:AAE-secret-token-value",),
                               None)
    handler_filter.filter(record)
    assert "AAE-secret" not in record.getMessage()
    assert "bot***/sendMessage" in record.getMessage()

    try:
        raise RuntimeError("url was /bot123456:AAE-secret-token-value/getMe")
    except RuntimeError:
        import sys

        record = logger.makeRecord("tests.secrets", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    handler_filter.filter(record)
    rendered = logging.Formatter().format(record)
    assert "AAE-secret" not in rendered
    assert "RuntimeError" in rendered
