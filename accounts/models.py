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
