from django.contrib import admin

from recommender.models import Interaction, Paper


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    list_display = ("title", "external_id", "published", "added_at")
    search_fields = ("external_id", "title", "abstract")
    list_filter = ("published", "added_at")
    date_hierarchy = "added_at"
    readonly_fields = ("added_at",)


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("created", "user", "kind", "value", "paper")
    list_filter = ("kind", "value", "created")
    search_fields = ("user__username", "user__email", "paper__external_id", "paper__title")
    date_hierarchy = "created"
    list_select_related = ("user", "paper")
    raw_id_fields = ("user", "paper")
