from tests.upload_helpers import _media_in_tmp, acme_client, acme_user, globex_user, manual_offer  # noqa: F401
