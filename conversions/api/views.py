from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from conversions.api.authentication import AdvertiserKeyAuthentication
from conversions.api.serializers import ConversionSerializer, ConvertInputSerializer
from conversions.ingestion import RequestFacts, conversion_record
from conversions.models import Conversion

# Request headers kept with a conversion as fraud evidence.
EVIDENCE_HEADERS = ("HTTP_ACCEPT_LANGUAGE", "HTTP_REFERER", "HTTP_ORIGIN", "HTTP_X_FORWARDED_FOR")


def request_facts(request) -> RequestFacts:
    meta = request.META
    return RequestFacts(
        ip=meta.get("REMOTE_ADDR") or None,
        user_agent=meta.get("HTTP_USER_AGENT", "")[:1000],
        headers={name[5:].lower().replace("_", "-"): meta[name][:500] for name in EVIDENCE_HEADERS if name in meta},
    )


class ConvertView(APIView):
    authentication_classes = [AdvertiserKeyAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="conversion_create",
        summary="Report a conversion",
        request=ConvertInputSerializer,
        responses={
            202: ConversionSerializer,
            200: OpenApiResponse(ConversionSerializer, description="The external id was reported before."),
            400: OpenApiResponse(description='Invalid fields: `{"error": {"code", "message", "fields"}}`'),
            401: OpenApiResponse(description="No valid API key."),
            404: OpenApiResponse(description="The offer or click is not the advertiser's."),
        },
        examples=[
            OpenApiExample(
                "Purchase",
                request_only=True,
                value={
                    "type": "purchase",
                    "click_id": "3f2a…",
                    "external_id": "order-1001",
                    "amount": "120.00",
                    "currency": "USD",
                    "product_id": "sku-1",
                },
            ),
            OpenApiExample(
                "Subscription by referral code",
                request_only=True,
                value={
                    "type": "subscription",
                    "referral_code": "ALICE",
                    "offer": "acme-pro",
                    "external_id": "inv-77",
                    "amount": "29.00",
                    "plan": "pro",
                    "subscription_id": "sub_9",
                },
            ),
        ],
    )
    def post(self, request):
        serializer = ConvertInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversion, created = conversion_record(
            advertiser=request.auth,
            report=serializer.report(),
            channel=Conversion.Channel.API,
            request=request_facts(request),
        )
        return Response(
            ConversionSerializer(conversion).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )
