"""The security proofs reuse the dashboard's fixtures (a reward rule, bob's link, logged-in partners)."""

from tests.dashboard.conftest import alice_client, bob_client, bob_link, rule  # noqa: F401
