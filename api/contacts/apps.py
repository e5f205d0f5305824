"""The contacts app of Confiotes."""
from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "api.contacts"
    label = "contacts"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import the models, which Django loads only
        # after every app config is created.
        from api.common.demo import register_demo_seeder
        from api.contacts.demo import seed_contacts
        from api.contacts.registry import register_timeline_source
        from api.contacts.selectors import contacts_own_timeline

        register_timeline_source("contacts", contacts_own_timeline)
        register_demo_seeder("contacts", seed_contacts)

