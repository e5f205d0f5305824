"""The back office's pages under /app/ (paths in French, as staff read them in the address bar)."""

from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.i18n import set_language

from api.backoffice.access import StaffAuthenticationForm
from api.backoffice.views import clients, home, orders, reports

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
    path("commandes/", orders.OrderListView.as_view(), name="order-list"),
    path("commandes/nouvelle/", orders.OrderCreateView.as_view(), name="order-create"),
    path("commandes/<int:pk>/", orders.OrderDetailView.as_view(), name="order-detail"),
    path("rapports/", reports.WeeklyReportView.as_view(), name="report-weekly"),
]
