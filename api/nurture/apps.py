from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "api.nurture"
    label = "nurture"
