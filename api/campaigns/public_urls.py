"""Public, unversioned URLs (the short tracking redirect ``/r/<code>``)."""

urlpatterns: list = []
