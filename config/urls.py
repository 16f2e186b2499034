from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from conversions.processing.simulation import rule_simulation
from core.health import healthz, livez, metrics, readyz
from core.input_limits import TextConverter
from referrals.views import click_redirect, home_for_role

register_converter(TextConverter, "text")

# Under /v1/ errors answer in the API's JSON shape; an outage answers 503 with Retry-After.
handler400 = "core.api_errors.bad_request"
handler403 = "core.api_errors.permission_denied"
handler404 = "core.api_errors.page_not_found"
handler500 = "core.api_errors.server_error"

urlpatterns = [
    path("c/<text:code>", click_redirect, name="click"),
    path("v1/", include("config.api_urls")),
    path("livez", livez, name="livez"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as a file: no inline script, so the CSP holds.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("admin/rewards/simulate/", rule_simulation, name="rule-simulation"),  # before the admin's own URLs
    path("advertiser/", include("conversions.advertiser.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("dashboard/", include("config.dashboard_urls")),
    # For the clients that ask for the icon without reading the page's <link rel="icon">.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("", home_for_role, name="home"),
]
