from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker ran the heartbeat task that beat schedules.

    One row per worker host name; ``/api/v1/health`` shows the newest, so an operator
    sees at once when workers (or beat) are down.
    """

    worker = models.CharField(max_length=200, unique=True)
    beat_at = models.DateTimeField()

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return f"{self.worker} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class SystemFlag(models.Model):
    """A named fact about this installation, such as "the demo data was loaded"."""

    key = models.CharField(max_length=100, unique=True)
    value = models.CharField(max_length=200, blank=True)
    set_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
