"""Celery workers of Confiotes: the app, the one beat schedule and thin tasks."""

from workers.celery import app as celery_app

__all__ = ["celery_app"]
