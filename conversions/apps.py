from django.apps import AppConfig


class ConversionsConfig(AppConfig):
    name = "conversions"

    def ready(self) -> None:
        from conversions.api import authentication  # noqa: F401 - registers the OpenAPI auth scheme
