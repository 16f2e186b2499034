from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from referrals.models import Advertiser
from referrals.services import advertiser_for_api_key


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
