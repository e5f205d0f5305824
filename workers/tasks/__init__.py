"""Thin Celery tasks, one module per area. Imported here so that the worker registers them."""

from workers.tasks import (
    attribution,  # noqa: F401
    campaigns,  # noqa: F401
    contacts,  # noqa: F401
    nurture,  # noqa: F401
    orders,  # noqa: F401
    system,  # noqa: F401
)
