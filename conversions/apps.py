from django.apps import AppConfig


class ConversionsConfig(AppConfig):
    name = "conversions"

    def ready(self) -> None:
        from conversions import admin_uploads  # noqa: F401 - registers the uploads' admin
        from conversions.api import authentication  # noqa: F401 - registers the OpenAPI auth scheme
