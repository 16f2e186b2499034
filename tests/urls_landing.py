"""Test-only URLs: the project's, plus an advertiser's pages that load affitrack.js.

Used by tests/browser through `@pytest.mark.urls("tests.urls_landing")`; never in config/urls.py.
"""

import json

from csp.decorators import csp_exempt
from django.http import HttpResponse
from django.urls import path
from django.utils.html import escape

from config.urls import urlpatterns as project_urlpatterns

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script src="{tracker}/static/affitrack.js"{attributes}></script>
{init}
</head><body><h1>{title}</h1></body></html>"""


# The advertiser's site has its own policy (it runs inline scripts and loads our pixel from another
# origin); our Content-Security-Policy is for our own pages.
@csp_exempt()
def advertiser_page(request, title: str):
    """A shop page. `?tracker=` names where affitrack.js and the pixel live; `?init=` is a JSON init() call."""
    tracker = request.GET.get("tracker", "")
    attributes = "".join(
        f' data-{name}="{escape(request.GET[name])}"' for name in ("param", "cookie-days") if name in request.GET
    )
    init = ""
    if "init" in request.GET:
        init = f"<script>affitrack.init({json.dumps(json.loads(request.GET['init']))});</script>"
    html = PAGE.format(title=title, tracker=escape(tracker), attributes=attributes, init=init)
    return HttpResponse(html)


urlpatterns = [
    path("shop/landing", advertiser_page, {"title": "Landing"}),
    path("shop/thank-you", advertiser_page, {"title": "Thank you"}),
    *project_urlpatterns,
]
