from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "api.campaigns"
    label = "campaigns"
