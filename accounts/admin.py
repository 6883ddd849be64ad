from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User


@admin.register(User)
class PaperfeedUserAdmin(UserAdmin):
    list_display = ("username", "email", "weekly_digest", "is_staff", "date_joined", "last_login")
    list_filter = ("weekly_digest", "is_staff", "is_superuser", "is_active")
    fieldsets = UserAdmin.fieldsets + (("Paperfeed", {"fields": ("weekly_digest",)}),)
