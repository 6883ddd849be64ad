"""Log-in lock-outs, password-reset limits and the client address they count by."""

import hashlib
import ipaddress

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from config.ratelimit import rate_limit_hit

PASSWORD_RESET_PERIOD = 3600  # seconds


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or behind our own proxy (BEHIND_PROXY=1) the address that proxy saw: the last X-Forwarded-For entry
    (when it is an IP address at all; anything else a client put there is ignored)."""
    if settings.BEHIND_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded and _is_ip(forwarded[-1]):
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class LoginLockout(AxesDatabaseHandler):
    """django-axes' database handler with two limits. Per account (AXES_LOCKOUT_PARAMETERS = username): after
    AXES_FAILURE_LIMIT failures from anywhere the account is locked, from every address. Per address: after
    LOGIN_ADDRESS_FAILURE_LIMIT failures on any accounts, that address is locked for every account. Both last
    AXES_COOLOFF_MINUTES; a password reset lifts an account's lock."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or self.address_failures(request) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        """Record the failure (axes), then answer with the lock-out page (429) when the address is now locked too."""
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and self.address_failures(request) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            request.axes_locked_out = True

    @staticmethod
    def address_failures(request) -> int:
        """Failed log-ins from the request's address, on any account, within the cool-off period."""
        since = timezone.now() - get_cool_off(request)
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address, attempt_time__gte=since)
        return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def password_reset_allowed(request: HttpRequest, *, email: str) -> tuple[bool, float]:
    """Count a password-reset request; (allowed, seconds to wait). At most PASSWORD_RESET_EMAIL_LIMIT an hour for one
    email address (whether or not an account has it, so the answer tells nothing) and PASSWORD_RESET_ADDRESS_LIMIT an
    hour from one client address."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    by_email = rate_limit_hit(f"password-reset:email:{digest}", limit=settings.PASSWORD_RESET_EMAIL_LIMIT, period=PASSWORD_RESET_PERIOD)
    by_address = rate_limit_hit(
        f"password-reset:address:{client_ip(request)}", limit=settings.PASSWORD_RESET_ADDRESS_LIMIT, period=PASSWORD_RESET_PERIOD
    )
    return by_email[0] and by_address[0], max(by_email[1], by_address[1])
