"""Admin for what the publisher dashboard adds: partners' requests to join offers."""

from django.contrib import admin, messages

from referrals.link_requests import LinkRequestNotAllowed, link_request_approve, link_request_decline
from referrals.models import LinkRequest


@admin.register(LinkRequest)
class LinkRequestAdmin(admin.ModelAdmin):
    list_display = ("partner", "offer", "status", "created_at", "decided_at")
    list_filter = ("status", "offer")
    list_select_related = ("partner__user", "offer")
    search_fields = ("partner__referral_code", "partner__user__username", "offer__public_id")
    readonly_fields = ("partner", "offer", "message", "status", "decided_by", "decided_at", "created_at")
    actions = ("approve", "decline")

    def has_add_permission(self, request):
        return False

    @admin.action(description="Approve and create the partner's link")
    def approve(self, request, queryset):
        done = 0
        for link_request in queryset:
            try:
                link_request_approve(request_id=link_request.pk, actor=request.user)
                done += 1
            except LinkRequestNotAllowed as error:
                self.message_user(request, f"{link_request}: {error}", messages.ERROR)
        self.message_user(request, f"{done} request(s) approved; links created.", messages.SUCCESS)

    @admin.action(description="Decline, with the decision reason entered on each request")
    def decline(self, request, queryset):
        done = 0
        for link_request in queryset:
            try:
                link_request_decline(
                    request_id=link_request.pk, reason=link_request.decision_reason, actor=request.user
                )
                done += 1
            except LinkRequestNotAllowed as error:
                self.message_user(request, f"{link_request}: {error}", messages.ERROR)
        self.message_user(request, f"{done} request(s) declined.", messages.SUCCESS)
