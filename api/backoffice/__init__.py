"""The staff back office: French, phone-first screens under ``/app/`` on the apps' services and selectors."""
