"""Admin parts the apps share: permission mixins, read-only admins for records only services write (clicks, the
ledger, audit rows), and the loop of an action that calls a service per selected row."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html


def json_block(value) -> str:
    """A JSON field shown read-only, indented, keys sorted."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


def admin_each(model_admin, request, queryset, action, *, refusal: type[Exception], label=str) -> int:
    """Call `action` on each selected row; each `refusal` is shown as an error. Returns how many went through."""
    done = 0
    for row in queryset:
        try:
            action(row)
            done += 1
        except refusal as error:
            model_admin.message_user(request, f"{label(row)}: {error}", messages.ERROR)
    return done


class NoAdd:
    def has_add_permission(self, request, obj=None) -> bool:
        return False


class NoChange:
    def has_change_permission(self, request, obj=None) -> bool:
        return False


class NoDelete:
    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(NoAdd, NoChange, NoDelete, admin.ModelAdmin):
    pass


class ReadOnlyInline(NoAdd, NoChange, NoDelete, admin.TabularInline):
    extra = 0
    can_delete = False
