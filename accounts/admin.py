from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import ApiToken, User


@admin.register(User)
class PaperfeedUserAdmin(UserAdmin):
    list_display = ("username", "email", "weekly_digest", "is_staff", "date_joined", "last_login")
    list_filter = ("weekly_digest", "is_staff", "is_superuser", "is_active")
    fieldsets = UserAdmin.fieldsets + (("Paperfeed", {"fields": ("weekly_digest",)}),)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "prefix", "created", "last_used_at")
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "name", "prefix", "key_hash", "created", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False  # tokens are created by their owner on the settings page
