from django.urls import path

from api.contacts import views

urlpatterns = [
    path("contacts", views.ContactListCreateView.as_view(), name="contact-list"),
    path("contacts/upsert", views.ContactUpsertView.as_view(), name="contact-upsert"),
    path("contacts/export.csv", views.ContactExportCsvView.as_view(), name="contact-export-csv"),
    path("contacts/duplicates", views.ContactDuplicatesView.as_view(), name="contact-duplicates"),
    path("contacts/stale", views.ContactStaleView.as_view(), name="contact-stale"),
    path("contacts/imports", views.ImportJobCreateView.as_view(), name="contact-import-create"),
    path("contacts/imports/<int:job_id>", views.ImportJobDetailView.as_view(), name="contact-import-detail"),
    path("contacts/<int:contact_id>", views.ContactDetailView.as_view(), name="contact-detail"),
    path("contacts/<int:contact_id>/merge", views.ContactMergeView.as_view(), name="contact-merge"),
    path("contacts/<int:contact_id>/timeline", views.ContactTimelineView.as_view(), name="contact-timeline"),
    path("contacts/<int:contact_id>/notes", views.ContactNotesView.as_view(), name="contact-notes"),
    path("contacts/<int:contact_id>/consents", views.ContactConsentView.as_view(), name="contact-consents"),
    path("contacts/<int:contact_id>/can-receive", views.ContactCanReceiveView.as_view(), name="contact-can-receive"),
    path("contacts/<int:contact_id>/opt-out", views.ContactOptOutView.as_view(), name="contact-opt-out"),
    path("contacts/<int:contact_id>/export", views.ContactPrivacyExportView.as_view(), name="contact-privacy-export"),
    path("contacts/<int:contact_id>/erase", views.ContactEraseView.as_view(), name="contact-erase"),
    path("tasks", views.TaskListCreateView.as_view(), name="task-list"),
    path("tasks/<int:task_id>", views.TaskDetailView.as_view(), name="task-detail"),
]
