"""`Authorization: Bearer <partner API token>` for the partners' read APIs.

Authenticates as the partner's user, with `request.auth` the Partner, so a
view scopes its queryset by `request.auth` and a partner reads only their own.
"""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from referrals.models import PartnerApiToken
from referrals.partner_tokens import TOKEN_PREFIX, partner_for_api_token
from referrals.services import secret_digest


class PartnerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        # Other schemes and advertiser keys are someone else's to check.
        if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
            return None
        partner = partner_for_api_token(token)
        if partner is None:
            raise exceptions.AuthenticationFailed("Invalid partner API token.")
        PartnerApiToken.objects.filter(token_hash=secret_digest(token)).update(last_used_at=timezone.now())
        return partner.user, partner

    def authenticate_header(self, request):
        return 'Bearer realm="affitrack"'


class PartnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = PartnerTokenAuthentication
    name = "PartnerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A partner API token (pk_…)."}
