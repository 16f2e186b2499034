"""The test run's settings: the project's own, with a throwaway SECRET_KEY (production must set its own).

Set in the environment, so that the processes the reliability tests start (workers, flushers) get it too.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-insecure-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")

from config.settings import *  # noqa: F403
