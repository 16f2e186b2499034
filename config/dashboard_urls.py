from django.urls import path

from conversions.claims import views as claim_views
from conversions.postbacks import views as postback_views
from conversions.reports import views as report_views

app_name = "dashboard"

urlpatterns = [
    path("", report_views.home, name="home"),
    path("conversions/", report_views.conversion_list, name="conversions"),
    path("conversions/export.csv", report_views.conversion_export, name="conversions_export"),
    path("conversions/<uuid:conversion_id>/", report_views.conversion_detail, name="conversion"),
    path("performance/", report_views.performance, name="performance"),
    path("performance/export.csv", report_views.performance_export, name="performance_export"),
    path("links/", report_views.links, name="links"),
    path("links/<int:link_id>/", report_views.link_builder, name="link_builder"),
    path("offers/<slug:public_id>/join", report_views.offer_join, name="offer_join"),
    path("earnings/", report_views.earnings, name="earnings"),
    path("earnings/export.csv", report_views.earnings_export, name="earnings_export"),
    path("profile/", report_views.profile, name="profile"),
    path("profile/api-token/rotate", report_views.api_token_rotate, name="api_token_rotate"),
    path("profile/api-token/revoke", report_views.api_token_revoke, name="api_token_revoke"),
    path("postbacks/", postback_views.postbacks, name="postbacks"),
    path("postbacks/<int:postback_id>/", postback_views.postback_detail, name="postback"),
    path("postbacks/<int:postback_id>/secret", postback_views.postback_secret, name="postback_secret"),
    path("postbacks/<int:postback_id>/test", postback_views.postback_test, name="postback_test"),
    path("postbacks/<int:postback_id>/rotate", postback_views.postback_rotate, name="postback_rotate"),
    path("postbacks/<int:postback_id>/enable", postback_views.postback_reenable, name="postback_enable"),
    path("postbacks/<int:postback_id>/delete", postback_views.postback_delete, name="postback_delete"),
    path("claims/", claim_views.claims, name="claims"),
    path("claims/<int:claim_id>/", claim_views.claim_detail, name="claim"),
]
