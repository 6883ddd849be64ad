"""Account changes: sign-up and preferences."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User


@transaction.atomic
def user_create(*, username: str, email: str, password: str, weekly_digest: bool = True) -> User:
    """Create a reader with a checked password; duplicate names or emails are refused (ValidationError), also when
    another sign-up of the same name or address commits between the check and the insert."""
    _refuse_taken(username, email)
    user = User(username=username, email=email, weekly_digest=weekly_digest)
    validate_password(password, user)
    user.set_password(password)
    user.full_clean(validate_unique=False, validate_constraints=False)  # names and addresses: _refuse_taken and the database
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a parallel sign-up won the race; the database's unique rules said no
        _refuse_taken(username, email)
        raise
    return user


def _refuse_taken(username: str, email: str) -> None:
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "That user name is taken."})
    if email and User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "An account with this email address already exists."})


def user_update_preferences(
    *, user: User, weekly_digest: bool, share_feedback: bool | None = None, categories: list[str] | None = None
) -> User:
    """Turn the weekly email on or off, and (when given) whether the reader's feedback trains the shared model
    and which arXiv categories their feed keeps to."""
    user.weekly_digest = weekly_digest
    fields = ["weekly_digest"]
    if share_feedback is not None:
        user.share_feedback = share_feedback
        fields.append("share_feedback")
    if categories is not None:
        user.categories = categories
        fields.append("categories")
    user.save(update_fields=fields)
    return user


def user_follow_categories(*, user: User, categories: list[str]) -> User:
    """Keep the reader's feed to papers in ``categories`` (an empty list: every paper)."""
    user.categories = categories
    user.save(update_fields=["categories"])
    return user


def user_set_balance(*, user: User, balance: float | None) -> User:
    """Lean the feed towards content (0) or collaborative (1) picks; None restores the tuned blend."""
    if balance is not None and not 0.0 <= balance <= 1.0:
        raise ValidationError("The balance is a number from 0 (papers like mine) to 1 (what readers like me read).")
    user.cf_balance = balance
    user.save(update_fields=["cf_balance"])
    return user


def user_reset_taste(*, user: User) -> User:
    """Forget what the reader's feedback taught the feed so far; their library stays as it is."""
    user.taste_since = timezone.now()
    user.save(update_fields=["taste_since"])
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete the account and everything it owns: feedback, digests, tokens (the next retrain no longer knows them)."""
    user.delete()
