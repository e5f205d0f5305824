from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "api.attribution"
    label = "attribution"
