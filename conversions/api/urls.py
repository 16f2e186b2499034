from django.urls import path

from conversions.api.views import ConvertView

urlpatterns = [
    path("convert", ConvertView.as_view(), name="api-convert"),
]
