"""The back office's pages under /app/ (paths in French, as staff read them in the address bar)."""

from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.i18n import set_language

from api.backoffice.access import StaffAuthenticationForm
from api.backoffice.views import campaigns, clients, home, messages, orders, reports

app_name = "backoffice"

urlpatterns = [
    path("", home.HomeView.as_view(), name="home"),
    path("connexion/", auth_views.LoginView.as_view(
        template_name="backoffice/login.html", authentication_form=StaffAuthenticationForm,
        redirect_authenticated_user=True), name="login"),
    path("deconnexion/", auth_views.LogoutView.as_view(), name="logout"),
    path("langue/", set_language, name="set-language"),
    path("clients/", clients.ContactListView.as_view(), name="contact-list"),
    path("clients/nouveau/", clients.ContactCreateView.as_view(), name="contact-create"),
    path("clients/existe-deja/", clients.ContactDuplicateCheckView.as_view(), name="contact-maybe-exists"),
    path("clients/<int:pk>/", clients.ContactDetailView.as_view(), name="contact-detail"),
    path("clients/doublons/", clients.ContactDuplicatesView.as_view(), name="contact-duplicates"),
    path("clients/fusion/", clients.ContactMergeView.as_view(), name="contact-merge"),
    path("clients/import/", clients.ContactImportView.as_view(), name="contact-import"),
    path("clients/import/<int:pk>/", clients.ImportJobView.as_view(), name="contact-import-job"),
    path("clients/export/", clients.ContactExportView.as_view(), name="contact-export"),
    path("clients/<int:pk>/effacer/", clients.ContactEraseView.as_view(), name="contact-erase"),
    path("commandes/", orders.OrderListView.as_view(), name="order-list"),
    path("commandes/nouvelle/", orders.OrderCreateView.as_view(), name="order-create"),
    path("commandes/<int:pk>/", orders.OrderDetailView.as_view(), name="order-detail"),
    path("rapports/", reports.WeeklyReportView.as_view(), name="report-weekly"),
    path("rapports/tendances/", reports.TrendsView.as_view(), name="report-trends"),
    path("rapports/entonnoir/", reports.FunnelView.as_view(), name="report-funnel"),
    path("rapports/valeur-client/", reports.LtvView.as_view(), name="report-ltv"),
    path("rapports/cohortes/", reports.CohortsView.as_view(), name="report-cohorts"),
    path("rapports/rfm/", reports.RfmView.as_view(), name="report-rfm"),
    path("campagnes/", campaigns.CampaignListView.as_view(), name="campaign-list"),
    path("campagnes/nouvelle/", campaigns.CampaignCreateView.as_view(), name="campaign-create"),
    path("campagnes/audience-de-la-page/", campaigns.PageAudienceView.as_view(), name="page-audience"),
    path("campagnes/<int:pk>/", campaigns.CampaignDetailView.as_view(), name="campaign-detail"),
    path("messages/", messages.BroadcastListView.as_view(), name="broadcast-list"),
    path("messages/diffusions/nouvelle/", messages.BroadcastCreateView.as_view(), name="broadcast-create"),
    path("messages/diffusions/audience/", messages.BroadcastAudienceView.as_view(), name="broadcast-audience"),
    path("messages/diffusions/<int:pk>/", messages.BroadcastDetailView.as_view(), name="broadcast-detail"),
    path("messages/diffusions/<int:pk>/progression/", messages.BroadcastProgressView.as_view(),
         name="broadcast-progress"),
    path("messages/diffusions/<int:pk>/annuler/", messages.BroadcastCancelView.as_view(), name="broadcast-cancel"),
    path("messages/sequences/", messages.SequenceListView.as_view(), name="sequence-list"),
    path("messages/sequences/<int:pk>/", messages.SequenceDetailView.as_view(), name="sequence-detail"),
    path("messages/sequences/<int:pk>/steps/new/", messages.SequenceStepEditView.as_view(), name="sequence-step-add"),
    path("messages/sequences/<int:pk>/steps/<int:position>/", messages.SequenceStepEditView.as_view(),
         name="sequence-step-edit"),
]
