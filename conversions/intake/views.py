"""The advertiser's ingestion API: convert, postback, pixel, status updates, and its read endpoints."""

import base64
from contextlib import suppress
from functools import wraps

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from redis.exceptions import RedisError
from rest_framework import exceptions, renderers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from conversions.errors import ConversionNotFound
from conversions.intake.authentication import AdvertiserKeyAuthentication, PostbackTokenAuthentication
from conversions.intake.idempotency import idempotent_call, request_fingerprint
from conversions.intake.log_writer import logged_conversions_write
from conversions.intake.requests import IntakeRequest, failure_log, report_intake
from conversions.intake.serializers import (
    STATUS_UPDATE_SCHEMA,
    ConversionSerializer,
    ConvertInputSerializer,
    StatusUpdateSerializer,
)
from conversions.intake.signatures import HEADER as SIGNATURE_HEADER
from conversions.intake.signatures import SignatureRefused, signature_verify
from conversions.lifecycle import conversion_approve, conversion_reject
from conversions.models import Conversion, RequestLogEntry
from core.errors import DomainError
from core.input_limits import NUL, StrictJSONParser, single_values
from referrals.request_metadata import client_ip
from referrals.selectors import offer_for_public_id
from referrals.services import address_allowed, click_cookie_name

# core/openapi.py documents 404 (and an Idempotency-Key's 409) for every operation.
ERROR_RESPONSES = {
    400: OpenApiResponse(description='Invalid input: `{"error": {"code", "message", "fields"}}`'),
    401: OpenApiResponse(description="No valid credentials, or a bad, stale or replayed signature."),
}


def _header(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, description=description)


IDEMPOTENCY_HEADER = _header(
    "Idempotency-Key", "Replays the first answer for the same key and body (24 h); 422 for another body, 409 in flight."
)
POSTBACK_RESPONSES = {
    202: ConversionSerializer,
    200: ConversionSerializer,
    403: OpenApiResponse(description="The sender's address is not in the allowlist."),
    **ERROR_RESPONSES,
}


def _signature_parameter(signed: str) -> OpenApiParameter:
    return _header(SIGNATURE_HEADER, f"`t=<unix>,v1=<hmac-sha256 hex of '<t>.{signed}'>`")


class PlainTextRenderer(renderers.BaseRenderer):
    """`OK` for clients that ask for text (many postback senders only check for it)."""

    media_type = "text/plain"
    format = "txt"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if renderer_context and renderer_context["response"].status_code < 400:
            return b"OK"
        error = data.get("error", {}) if isinstance(data, dict) else {}
        return f"ERROR {error.get('code', 'error')}: {error.get('message', '')}".encode()


class IngestionView(APIView):
    """Every failure of an ingestion request, authentication included, lands in the request log."""

    channel = Conversion.Channel.API
    throttle_scope = "ingest"
    authentication_classes = [AdvertiserKeyAuthentication]
    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.APIException | DomainError) and not isinstance(exc, exceptions.Throttled):
            advertiser = self.request.auth if hasattr(self.request, "_auth") else None
            logged = exc
            if isinstance(exc, exceptions.PermissionDenied) and advertiser is not None:
                # Only a postback's sender allowlist refuses an authenticated caller; logged as its own reason.
                logged = SignatureRefused(str(exc.detail), code=RequestLogEntry.Reason.IP_NOT_ALLOWED)
            intake = IntakeRequest.of(self.request, self.channel)
            failure_log(advertiser=advertiser, intake=intake, payload=self.payload(), error=logged)
        return super().handle_exception(exc)

    def payload(self) -> dict:
        """The request's fields as received, for the log (raw text when it did not parse)."""
        request = self.request
        try:
            data = request.data if request.method == "POST" else {}
        except exceptions.APIException:
            data = {"body": request.body[:5000].decode("utf-8", "replace")}
        return {**request.query_params.dict(), **(data if isinstance(data, dict) else {"body": data})}

    def respond_with_conversion(self, request, data: dict) -> Response:
        intake = IntakeRequest.of(request, self.channel)
        conversion, created = report_intake(advertiser=request.auth, data=data, intake=intake)
        # A new conversion has no reward yet (the processing job makes it): no query for one.
        context = {"rewards_by_conversion": {}} if created else {}
        answer = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return Response(ConversionSerializer(conversion, context=context).data, status=answer)

    def idempotently(self, request, handle) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return handle()
        fingerprint = request_fingerprint(request.method, request.get_full_path(), request.body)
        return idempotent_call(
            advertiser=request.auth, key=key, fingerprint=fingerprint, now=timezone.now(), handle=handle
        )


class ConvertView(IngestionView):
    @extend_schema(
        operation_id="conversion_create",
        summary="Report a conversion",
        request=ConvertInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            202: ConversionSerializer,
            200: OpenApiResponse(ConversionSerializer, description="The external id was reported before."),
            422: OpenApiResponse(description="This Idempotency-Key was used with another body."),
            **ERROR_RESPONSES,
        },
        examples=[
            OpenApiExample(
                "Purchase",
                request_only=True,
                value={
                    "type": "purchase",
                    "click_id": "9f1c0e1b2a3d4c5e6f708192a3b4c5d6",
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
                    "offer": "acme-shoes",
                    "external_id": "inv-77",
                    "amount": "29.00",
                    "plan": "pro",
                    "subscription_id": "sub_9",
                },
            ),
        ],
    )
    def post(self, request):
        request.body  # noqa: B018 - read the raw body before DRF parses it, for the idempotency fingerprint
        return self.idempotently(request, lambda: self.respond_with_conversion(request, request.data))


def _fields_of(data) -> dict:
    """Postback parameters as one dict; `meta_<key>` parameters gather into `meta`. Each may come once."""
    if hasattr(data, "getlist"):
        single_values(data)
    fields = {
        name: data.get(name) for name in data if name not in ("token", "signature") and not name.startswith("meta_")
    }
    meta = {name.removeprefix("meta_"): data.get(name) for name in data if name.startswith("meta_")}
    if meta and "meta" not in fields:
        fields["meta"] = meta
    return fields


class PostbackView(IngestionView):
    """`GET|POST /v1/postback?token=...`: the same report as `POST /v1/convert`, from a server."""

    channel = Conversion.Channel.POSTBACK
    authentication_classes = [PostbackTokenAuthentication]
    parser_classes = [StrictJSONParser, FormParser, MultiPartParser]
    renderer_classes = [renderers.JSONRenderer, PlainTextRenderer]

    def check_sender(self, request, signed_body: bytes) -> None:
        advertiser = request.auth
        if not address_allowed(allowlist=advertiser.postback_allowed_ips, ip=client_ip(request.META)):
            raise exceptions.PermissionDenied("Postbacks from this address are not allowed.")
        header = request.headers.get(SIGNATURE_HEADER, "")
        if header or advertiser.require_signed_postbacks:
            signature_verify(advertiser=advertiser, header=header, body=signed_body, now=timezone.now())

    @extend_schema(
        operation_id="postback_get",
        summary="Server-to-server postback (query parameters)",
        parameters=[
            OpenApiParameter("token", OpenApiTypes.STR, required=True, description="The postback token."),
            _signature_parameter("<query string>"),
            OpenApiParameter("type", OpenApiTypes.STR, required=True, enum=["purchase", "subscription"]),
            *(OpenApiParameter(name, OpenApiTypes.STR, required=True) for name in ("external_id", "amount")),
            *(
                OpenApiParameter(name, OpenApiTypes.STR)
                for name in ("click_id", "referral_code", "coupon", "offer", "currency", "product_id")
            ),
        ],
        responses=POSTBACK_RESPONSES,
    )
    def get(self, request):
        self.check_sender(request, request.META.get("QUERY_STRING", "").encode())
        return self.respond_with_conversion(request, _fields_of(request.query_params))

    @extend_schema(
        operation_id="postback_post",
        summary="Server-to-server postback (JSON or form body)",
        request=ConvertInputSerializer,
        parameters=[
            OpenApiParameter("token", OpenApiTypes.STR, required=True),
            _signature_parameter("<raw body>"),
            IDEMPOTENCY_HEADER,
        ],
        responses=POSTBACK_RESPONSES,
    )
    def post(self, request):
        self.check_sender(request, request.body)
        return self.idempotently(request, lambda: self.respond_with_conversion(request, _fields_of(request.data)))


TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def pixel(request):
    """`GET /v1/pixel.gif?offer=..&external_id=..&amount=..`: always a 1x1 GIF, failures in the request log.
    Attributed by an explicit `click_id` (affitrack.js keeps it on the advertiser's site), else by our click
    cookie for the offer, which the browser sends with this request."""
    public_id = request.GET.get("offer", "")
    offer = offer_for_public_id(public_id) if NUL not in public_id else None  # no offer id holds NUL
    cookie_click_id = request.COOKIES.get(click_cookie_name(offer), "") if offer else ""
    intake = IntakeRequest.of(request, Conversion.Channel.PIXEL, cookie_click_id=cookie_click_id)
    try:
        data = _fields_of(request.GET)
        refused = None if offer else ConversionNotFound("No such offer.", fields={"offer": ["Unknown offer."]})
    except exceptions.ValidationError as error:
        data, refused = dict(request.GET.items()), error  # a parameter sent twice: logged, and still the GIF
    data.setdefault("type", Conversion.Type.PURCHASE)
    if refused is not None:
        failure_log(advertiser=offer.advertiser if offer else None, intake=intake, payload=data, error=refused)
    else:
        # Logged by report_intake; a pixel answers the same GIF whatever happened.
        with suppress(DomainError, exceptions.APIException):
            report_intake(advertiser=offer.advertiser, data=data, intake=intake)
    return HttpResponse(TRANSPARENT_GIF, content_type="image/gif", headers={"Cache-Control": "no-store, max-age=0"})


def status_update_schema(operation_id: str, summary: str):
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        request=STATUS_UPDATE_SCHEMA,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: ConversionSerializer,
            409: OpenApiResponse(description="The transition is not allowed."),
            **ERROR_RESPONSES,
        },
    )


class ConversionStatusView(IngestionView):
    """`POST /v1/conversions/{id}/status`: the advertiser accepts or rejects a conversion with a reason."""

    @status_update_schema("conversion_status_update", "Accept or reject a conversion")
    def post(self, request, conversion_id=None, external_id=None):
        request.body  # noqa: B018 - the raw body, before parsing, for the idempotency fingerprint

        def handle() -> Response:
            lookup = {"pk": conversion_id} if conversion_id else {"external_id": external_id}
            owned = Conversion.objects.filter(advertiser=request.auth).select_related("offer", "click")
            conversion = owned.filter(**lookup).first()
            if conversion is None and _logged_written(conversion_id=conversion_id, external_ids=[external_id]):
                conversion = owned.filter(**lookup).first()
            if conversion is None:
                raise ConversionNotFound("No such conversion.")
            update = StatusUpdateSerializer(data=request.data)
            update.is_valid(raise_exception=True)
            change = {"conversion_id": conversion.pk, "remark": update.validated_data["remark"]}
            if update.validated_data["status"] == Conversion.Status.ACCEPTED:
                conversion_approve(**change, channel="advertiser_api")
            else:
                conversion_reject(**change, reason=update.validated_data["reason"], channel="advertiser_api")
            conversion.refresh_from_db()
            return Response(ConversionSerializer(conversion).data)

        return self.idempotently(request, handle)


class ConversionStatusByExternalIdView(ConversionStatusView):
    """`POST /v1/conversions/by-external-id/{external_id}/status`: the same, naming the advertiser's order id."""

    @status_update_schema("conversion_status_update_by_external_id", "Accept or reject a conversion by its external id")
    def post(self, request, external_id):
        return super().post(request, external_id=external_id)


def _logged_written(*, conversion_id, external_ids: list) -> int:
    ids = [str(conversion_id)] if conversion_id else []
    external_ids = [value for value in external_ids if value]
    try:
        return logged_conversions_write(
            conversion_ids=ids, external_ids=external_ids, every_one=not (ids or external_ids)
        )
    except RedisError:
        return 0  # the intake log is away: the read answers from what PostgreSQL holds


def logged_conversions_first(view):
    """A read view that finds a conversion acknowledged a moment ago: one still in the intake log, named by id or
    by `external_id`, or for a list every one waiting, is stored before the read (the read itself
    still decides who may see it)."""

    @wraps(view)
    def read(request, *args, **kwargs):
        _logged_written(conversion_id=kwargs.get("conversion_id"), external_ids=request.GET.getlist("external_id"))
        return view(request, *args, **kwargs)

    return read
