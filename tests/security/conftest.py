"""The security proofs reuse the dashboard's and uploads' fixtures."""

from tests.dashboard.conftest import alice_client, bob_client, bob_link, rule  # noqa: F401
from tests.upload_helpers import acme_client, acme_user, globex_user, manual_offer  # noqa: F401
