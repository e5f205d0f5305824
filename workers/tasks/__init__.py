"""Thin Celery tasks, one module per area. Imported here so that the worker registers them."""

from workers.tasks import system  # noqa: F401
