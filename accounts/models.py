"""Paperfeed's user: Django's user plus the reader's preferences."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A reader. Users imported from a data set have no email and an unusable password."""

    weekly_digest = models.BooleanField(
        "weekly email",
        default=False,
        help_text="Send me a weekly email with the papers I should not miss.",
    )
    cf_balance = models.FloatField(
        null=True,
        blank=True,
        help_text="0: papers like mine (content) ... 1: what readers like me read (collaborative); empty: the tuned blend.",
    )
    taste_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Personalisation was reset then: earlier feedback stays in the library but no longer steers the feed.",
    )
    share_feedback = models.BooleanField(
        "help other readers",
        default=True,
        help_text="Let my feedback train the collaborative model behind other readers' recommendations.",
    )
    categories = models.JSONField(
        "categories I follow",
        default=list,
        blank=True,
        help_text="arXiv categories (cs.LG, stat.ML, ...): the feed shows only papers in them. Empty: every paper.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_unique_ci",
                violation_error_message="That user name is taken.",
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="accounts_user_email_unique_ci",
                violation_error_message="An account with this email address already exists.",
            ),
        ]


class ApiToken(models.Model):
    """A personal token for scripts using the API. Only a hash is kept; the token itself is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.user} {self.name} ({self.prefix}…)"


class FeedLink(models.Model):
    """The secret address of a reader's personal Atom feed; replacing the token revokes the old address."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="feed_link")
    token = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now=True)
