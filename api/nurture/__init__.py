"""Telegram bot and nurture engine: sequences, outbound messages, broadcasts, lead score."""
