from django.urls import path

from conversions.advertiser import upload_views, validation_views, views

app_name = "advertiser"

urlpatterns = [
    path("", views.home, name="home"),
    path("switch/", views.advertiser_switch, name="switch"),
    path("settings/", views.advertiser_settings, name="settings"),
    path("offers/<slug:public_id>/template.csv", upload_views.offer_template, name="offer_template"),
    path("adjustments/template.csv", upload_views.adjustments_template, name="adjustments_template"),
    path("reconciliation/template.csv", upload_views.reconciliation_template, name="reconciliation_template"),
    path("uploads/", upload_views.uploads, name="uploads"),
    path("uploads/<int:pk>/", upload_views.upload_detail, name="upload"),
    path("uploads/<int:pk>/progress.json", upload_views.upload_progress, name="upload_progress"),
    path("uploads/<int:pk>/errors.csv", upload_views.upload_errors_csv, name="upload_errors"),
    path("uploads/<int:pk>/reconciliation.csv", upload_views.upload_reconciliation_csv, name="upload_reconciliation"),
    path("validation/", validation_views.validation, name="validation"),
    path("validation/export.csv", validation_views.validation_export, name="validation_export"),
    path("request-log/", views.request_log, name="request_log"),
    path("claims/", views.claims, name="claims"),
    path("claims/<int:pk>/", views.claim_decide, name="claim_decide"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
    path("postback/", views.postback, name="postback"),
]
