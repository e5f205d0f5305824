"""``manage.py restore <backup>``: bring a backup back into the configured database and data folder."""

from django.core.management.base import BaseCommand, CommandError

from api.common.backups import DATA_KEY_MEMBER, BackupError, backup_resolve, backup_restore
from api.common.businesstime import business_localtime


class Command(BaseCommand):
    help = ("Restore a backup made by `manage.py backup` into the configured database (SQLite or PostgreSQL, the "
            "kind it was taken from) and data folder. Stop the app first. Refuses a database that holds data "
            "unless --force, which first backs that database up.")

    def add_arguments(self, parser):
        parser.add_argument("backup", help="The backup file, or its name in the data folder's backups/.")
        parser.add_argument("--force", action="store_true", help="Replace a database that already holds data.")
        parser.add_argument("--no-safety-copy", action="store_true",
                            help="With --force, do not back up the database being replaced first.")

    def handle(self, *args, backup, force=False, no_safety_copy=False, **options):
        try:
            result = backup_restore(archive=backup_resolve(backup), force=force, safety_copy=not no_safety_copy)
        except BackupError as exc:
            raise CommandError(exc.message) from None
        if result.safety_copy is not None:
            self.stdout.write(f"The replaced database was backed up first: {result.safety_copy}")
        taken = business_localtime(result.taken_at)
        extra = " and the data folder's secret key" if DATA_KEY_MEMBER in result.files else ""
        self.stdout.write(self.style.SUCCESS(
            f"Restored {result.archive.name} (taken {taken:%Y-%m-%d %H:%M} business time) into {result.database}{extra}."))
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
