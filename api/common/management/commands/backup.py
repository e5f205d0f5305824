"""``manage.py backup``: one consistent backup of the database and the data folder's key, then rotation."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from api.common.backups import BackupError, backup_create, backups_dir_default, size_human


class Command(BaseCommand):
    help = ("Back up the database (SQLite online backup, or pg_dump on PostgreSQL) and the data folder's generated "
            "secret key into one confiotes-YYYYMMDD-HHMMSS.tar.gz, while the app runs; then keep the newest copy "
            "of each of the last BACKUP_KEEP_DAILY days that have one.")

    def add_arguments(self, parser):
        parser.add_argument("--dest", type=Path, default=None,
                            help=f"Folder of the backups (default: {backups_dir_default()}).")
        parser.add_argument("--keep-daily", type=int, default=None,
                            help=f"Days to keep (default BACKUP_KEEP_DAILY = {settings.BACKUP_KEEP_DAILY}; 0 keeps all).")

    def handle(self, *args, dest=None, keep_daily=None, **options):
        try:
            result = backup_create(dest=dest, keep_daily=keep_daily)
        except BackupError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"Backup written: {result.path} ({size_human(result.size_bytes)})"))
        for path in result.deleted:
            self.stdout.write(f"Deleted an older copy: {path.name}")
