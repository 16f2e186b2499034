from django.urls import path

from conversions.intake import views
from conversions.reports import api as reads

urlpatterns = [
    path("convert", views.ConvertView.as_view(), name="api-convert"),
    path("postback", views.PostbackView.as_view(), name="api-postback"),
    path("pixel.gif", views.pixel, name="api-pixel"),
    # Reads by id or external id find a conversion still in the intake log (conversions/intake/intake_log.py).
    path("conversions", views.logged_conversions_first(reads.ConversionList.as_view()), name="api-conversions"),
    path(
        "conversions/<uuid:conversion_id>",
        views.logged_conversions_first(reads.ConversionDetail.as_view()),
        name="api-conversion",
    ),
    path("request-log", reads.RequestLogList.as_view(), name="api-request-log"),
    path("clicks", reads.ClickList.as_view(), name="api-clicks"),
    path("conversions/<uuid:conversion_id>/status", views.ConversionStatusView.as_view(), name="api-conversion-status"),
    path(
        "conversions/by-external-id/<text:external_id>/status",
        views.ConversionStatusByExternalIdView.as_view(),
        name="api-conversion-status-by-external-id",
    ),
]
