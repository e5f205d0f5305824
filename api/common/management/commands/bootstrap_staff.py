import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create the first staff user (admin) and its API token when they do not exist; print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("CONFIOTES_ADMIN_USER", "admin"))
        parser.add_argument("--token", default=os.environ.get("CONFIOTES_ADMIN_TOKEN", ""),
                            help="Use this API token (40 hex characters) instead of a random one.")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, username, token, quiet=False, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        password = None
        if user is None:
            # The password is printed once, here, for the person who started the system locally.
            password = os.environ.get("CONFIOTES_ADMIN_PASSWORD") or secrets.token_urlsafe(9)
            user = User.objects.create_superuser(username=username, email="", password=password)
        if token:
            Token.objects.filter(user=user).exclude(key=token).delete()
            api_token, _ = Token.objects.get_or_create(user=user, key=token)
        else:
            api_token, _ = Token.objects.get_or_create(user=user)
        token_is_new = password is not None
        if quiet:
            return
        if password:
            self.stdout.write(f"Staff user created: {username} / {password}  (change it in the admin)")
        else:
            self.stdout.write(f"Staff user: {username} (password unchanged; reset it with "
                              f"`manage.py changepassword {username}`)")
        if token_is_new:
            # Shown once, like the password; later, POST /api/v1/auth/token returns it.
            self.stdout.write(f"API token of {username}: {api_token.key}  (header: Authorization: Token <token>)")
        else:
            self.stdout.write("API token: POST your user name and password to /api/v1/auth/token.")
