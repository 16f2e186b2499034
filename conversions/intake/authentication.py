from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from referrals.models import Advertiser
from referrals.services import advertiser_for_api_key, advertiser_for_postback_token


class AdvertiserPrincipal:
    """The authenticated caller of the advertiser API."""

    is_authenticated = True

    def __init__(self, advertiser: Advertiser):
        self.advertiser = advertiser


def _advertiser_authenticated(credential: str, advertiser_for, refusal: str):
    """No credential: not this scheme's caller; a credential that names no advertiser: 401."""
    if not credential:
        return None
    advertiser = advertiser_for(credential)
    if advertiser is None:
        raise exceptions.AuthenticationFailed(refusal)
    return AdvertiserPrincipal(advertiser), advertiser


def bearer_credential(request) -> str:
    """The credential of `Authorization: Bearer <credential>`, or "" for another scheme or none."""
    scheme, _, credential = authentication.get_authorization_header(request).decode("latin-1").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


class AdvertiserKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <advertiser API key>`."""

    def authenticate(self, request):
        return _advertiser_authenticated(bearer_credential(request), advertiser_for_api_key, "Invalid API key.")

    def authenticate_header(self, request):
        return 'Bearer realm="affitrack"'


class SecurityScheme(OpenApiAuthenticationExtension):
    """An authentication class (`target_class`) in the OpenAPI schema: the scheme `name`, as `definition` says."""

    definition: dict

    def get_security_definition(self, auto_schema):
        return self.definition


class AdvertiserKeyScheme(SecurityScheme):
    target_class = AdvertiserKeyAuthentication
    name = "AdvertiserKey"
    definition = {"type": "http", "scheme": "bearer", "description": "An advertiser API key."}


class PostbackTokenAuthentication(authentication.BaseAuthentication):
    """`?token=<postback token>` in the postback URL, as trackers' postbacks carry it."""

    def authenticate(self, request):
        token = request.query_params.get("token", "").strip()
        return _advertiser_authenticated(token, advertiser_for_postback_token, "Invalid postback token.")

    def authenticate_header(self, request):
        return "Token"


class PostbackTokenScheme(SecurityScheme):
    target_class = PostbackTokenAuthentication
    name = "PostbackToken"
    definition = {"type": "apiKey", "in": "query", "name": "token", "description": "The advertiser's postback token."}
