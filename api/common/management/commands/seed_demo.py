from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from api.common.demo import run_demo_seeders
from api.common.models import SystemFlag


class Command(BaseCommand):
    help = "Load the demo business (a syrup and liqueur brand of Douala and Yaoundé)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when demo data already exists.")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed, for a reproducible data set.")

    def handle(self, *args, if_empty=False, seed=2026, **options):
        marker = "demo-data-loaded"
        if if_empty and SystemFlag.objects.filter(key=marker).exists():
            self.stdout.write("Demo data already loaded; keeping the existing data.")
            return
        User = get_user_model()
        User.objects.get_or_create(username="demo-sales", defaults={"is_staff": True, "first_name": "Aïcha"})
        with transaction.atomic():
            for line in run_demo_seeders(seed=seed, stdout=self.stdout):
                self.stdout.write(f"  {line}")
            # A row marks that the demo was loaded, so a second run keeps the data.
            SystemFlag.objects.update_or_create(key=marker, defaults={"value": str(seed)})
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
