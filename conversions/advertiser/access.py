"""Who may see the advertiser's pages: a login with an advertiser membership, and only its rows."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from conversions.advertiser.selectors import advertiser_for_user

SESSION_ADVERTISER = "advertiser_id"


def advertiser_view(*methods: str):
    """Only these HTTP methods, log-in required; `request.advertiser` is the user's advertiser, or the page is 404."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            advertiser = advertiser_for_user(request.user, request.session.get(SESSION_ADVERTISER))
            if advertiser is None:
                raise Http404("This login has no advertiser account.")
            request.advertiser = advertiser
            return view(request, *args, **kwargs)

        return require_http_methods(methods)(login_required(wrapped))

    return decorator


def advertiser_page(request, name: str, **context):
    return render(request, f"advertiser/{name}.html", {"advertiser": request.advertiser, **context})
