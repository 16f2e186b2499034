"""Admins for records that only services write (clicks, the ledger, audit rows): staff read, never edit."""

import json

from django.contrib import admin
from django.utils.html import format_html


def json_block(value) -> str:
    """A JSON field shown read-only, indented, keys sorted."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


class _NoWrites:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(_NoWrites, admin.ModelAdmin):
    pass


class ReadOnlyInline(_NoWrites, admin.TabularInline):
    extra = 0
    can_delete = False
