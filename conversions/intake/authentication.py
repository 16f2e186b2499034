from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from referrals.models import Advertiser
from referrals.services import advertiser_for_api_key, advertiser_for_postback_token


class AdvertiserPrincipal:
    """The authenticated caller of the advertiser API."""

    is_authenticated = True

    def __init__(self, advertiser: Advertiser):
        self.advertiser = advertiser


class AdvertiserKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <advertiser API key>`."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        advertiser = advertiser_for_api_key(key.strip())
        if advertiser is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return AdvertiserPrincipal(advertiser), advertiser

    def authenticate_header(self, request):
        return 'Bearer realm="affitrack"'


class AdvertiserKeyScheme(OpenApiAuthenticationExtension):
    target_class = AdvertiserKeyAuthentication
    name = "AdvertiserKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An advertiser API key."}


class PostbackTokenAuthentication(authentication.BaseAuthentication):
    """`?token=<postback token>` in the postback URL, as trackers' postbacks carry it."""

    def authenticate(self, request):
        token = request.query_params.get("token", "").strip()
        if not token:
            return None
        advertiser = advertiser_for_postback_token(token)
        if advertiser is None:
            raise exceptions.AuthenticationFailed("Invalid postback token.")
        return AdvertiserPrincipal(advertiser), advertiser

    def authenticate_header(self, request):
        return "Token"


class PostbackTokenScheme(OpenApiAuthenticationExtension):
    target_class = PostbackTokenAuthentication
    name = "PostbackToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": "token", "description": "The advertiser's postback token."}
