from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "api.common"
    label = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from api.common.fields import install_strict_input_fields

        _sqlite_integer_ranges_like_postgresql()
        _scrub_secrets_from_celery_logs()
        install_strict_input_fields()  # every serializer: the input's JSON type must match the field's


def _scrub_secrets_from_celery_logs() -> None:
    """Keep secrets out of a worker's and beat's logs: Celery replaces the root handlers after Django set them up.

    Connected here because a worker and beat run ``django.setup()`` (Celery's Django fix-up) before they
    set up logging; ``weak=False`` because the receiver is a plain function kept nowhere else.
    """
    from celery.signals import after_setup_logger, after_setup_task_logger

    from api.common.logging import scrub_celery_handlers

    after_setup_logger.connect(scrub_celery_handlers, weak=False)
    after_setup_task_logger.connect(scrub_celery_handlers, weak=False)


def _sqlite_integer_ranges_like_postgresql() -> None:
    """Validate integers on the embedded SQLite with PostgreSQL's column ranges.

    SQLite accepts 64-bit values in every integer column, so a value that PostgreSQL
    would refuse (an ``IntegerField`` above 2**31-1) would pass locally and fail in
    production; it would also make the generated OpenAPI schema differ by database.
    """
    from django.db import connection
    from django.db.backends.base.operations import BaseDatabaseOperations

    if connection.vendor == "sqlite":  # no connection is opened here; only the class is patched
        type(connection.ops).integer_field_range = BaseDatabaseOperations.integer_field_range  # type: ignore[method-assign]
