from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, post_save

from referrals.request_metadata import client_ip


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "Advertisers, offers and partners"

    def ready(self) -> None:
        from referrals import hot_cache, login_guard  # noqa: F401 - login_guard connects the failed-login counters
        from referrals.models import Advertiser, ApiKey, Link, Offer

        # A signal because logins happen in django.contrib.auth, not in our views (admin, API sessions too).
        user_logged_in.connect(_partner_login_ip, dispatch_uid="referrals.partner_login_ip")
        # The hot-path cache forgets what this process changes through the models at once.
        forgets = {
            Link: hot_cache.forget_links,
            Offer: hot_cache.forget_links,
            ApiKey: hot_cache.forget_advertisers,
            Advertiser: hot_cache.forget_advertisers,
        }
        for model, forget in forgets.items():
            for signal in (post_save, post_delete):
                signal.connect(forget, sender=model, dispatch_uid=f"hot_cache.{model.__name__}.{signal}")


def _partner_login_ip(sender, request, user, **kwargs) -> None:
    from referrals.services import partner_login_record

    if request is not None:
        partner_login_record(user=user, ip=client_ip(request.META))
