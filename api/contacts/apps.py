from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "api.contacts"
    label = "contacts"
