"""Staff screen of the intake's request log: refused or duplicate requests, replayed after a fix."""

from django.contrib import admin

from conversions.intake.request_log import REQUEST_FIELDS
from conversions.intake.requests import request_log_replay
from conversions.models import RequestLogEntry
from referrals.admin_read_only import ReadOnlyAdmin, json_block


@admin.register(RequestLogEntry)
class RequestLogEntryAdmin(ReadOnlyAdmin):
    """Refused or duplicate ingestion requests; staff replay one after the cause is fixed."""

    list_display = ("created_at", "advertiser", "channel", "reason", "http_status", "message", "replayed_at")
    list_filter = ("reason", "channel", "advertiser")
    search_fields = ("message", "path")
    list_select_related = ("advertiser",)
    raw_id_fields = ("advertiser", "conversion")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "advertiser",
        *REQUEST_FIELDS,
        "payload_pretty",
        "ip",
        "conversion",
        "replayed_at",
        "replay_result",
    )
    readonly_fields = fields
    actions = ("replay_selected",)

    @admin.display(description="payload (secrets redacted)")
    def payload_pretty(self, entry: RequestLogEntry) -> str:
        return json_block(entry.payload)

    @admin.action(
        description="Replay selected requests (as their advertiser, skipping auth and signature)",
        permissions=["review"],
    )
    def replay_selected(self, request, queryset):
        results = [request_log_replay(entry_id=entry.pk) for entry in queryset]
        created = sum(1 for result in results if result.startswith("created"))
        self.message_user(request, f"Replayed {len(results)}: {created} created a conversion. " + "; ".join(results))

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("conversions.review_conversion")
