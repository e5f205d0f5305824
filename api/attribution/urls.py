from django.urls import path

from api.attribution import views

urlpatterns = [
    path("reports/weekly", views.WeeklyReportView.as_view(), name="report-weekly"),
    path("reports/weekly.csv", views.WeeklyReportCsvView.as_view(), name="report-weekly-csv"),
    path("reports/weekly.html", views.WeeklyReportHtmlView.as_view(), name="report-weekly-html"),
    path("reports/indicators", views.IndicatorsView.as_view(), name="report-indicators"),
    path("reports/model-comparison", views.ModelComparisonView.as_view(), name="report-model-comparison"),
    path("reports/funnel", views.FunnelView.as_view(), name="report-funnel"),
    path("reports/ltv", views.LtvView.as_view(), name="report-ltv"),
    path("reports/cohorts", views.CohortView.as_view(), name="report-cohorts"),
    path("reports/rfm", views.RfmListView.as_view(), name="report-rfm"),
    path("reports/referrals/leaderboard", views.LeaderboardView.as_view(), name="report-referral-leaderboard"),
    path("attribution/runs", views.RunListView.as_view(), name="attribution-runs"),
    path("attribution/credits", views.CreditListView.as_view(), name="attribution-credits"),
]
