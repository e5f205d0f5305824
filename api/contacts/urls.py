from django.urls import path

from api.contacts import views

urlpatterns = [
    path("contacts", views.ContactListCreateApi.as_view(), name="contact-list"),
    path("contacts/upsert", views.ContactUpsertApi.as_view(), name="contact-upsert"),
    path("contacts/export.csv", views.ContactExportCsvApi.as_view(), name="contact-export-csv"),
    path("contacts/duplicates", views.ContactDuplicatesApi.as_view(), name="contact-duplicates"),
    path("contacts/stale", views.ContactStaleApi.as_view(), name="contact-stale"),
    path("contacts/imports", views.ImportJobCreateApi.as_view(), name="contact-import-create"),
    path("contacts/imports/<int:job_id>", views.ImportJobDetailApi.as_view(), name="contact-import-detail"),
    path("contacts/<int:contact_id>", views.ContactDetailApi.as_view(), name="contact-detail"),
    path("contacts/<int:contact_id>/merge", views.ContactMergeApi.as_view(), name="contact-merge"),
    path("contacts/<int:contact_id>/timeline", views.ContactTimelineApi.as_view(), name="contact-timeline"),
    path("contacts/<int:contact_id>/notes", views.ContactNotesApi.as_view(), name="contact-notes"),
    path("contacts/<int:contact_id>/consents", views.ContactConsentApi.as_view(), name="contact-consents"),
    path("contacts/<int:contact_id>/can-receive", views.ContactCanReceiveApi.as_view(), name="contact-can-receive"),
    path("contacts/<int:contact_id>/opt-out", views.ContactOptOutApi.as_view(), name="contact-opt-out"),
    path("contacts/<int:contact_id>/export", views.ContactPrivacyExportApi.as_view(), name="contact-privacy-export"),
    path("contacts/<int:contact_id>/erase", views.ContactEraseApi.as_view(), name="contact-erase"),
    path("tasks", views.TaskListCreateApi.as_view(), name="task-list"),
    path("tasks/<int:task_id>", views.TaskDetailApi.as_view(), name="task-detail"),
]
