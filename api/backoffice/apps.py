"""The back office app of Confiotes."""

from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "api.backoffice"
    label = "backoffice"
    verbose_name = "Back office"
