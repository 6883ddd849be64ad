"""Personal API tokens: created and revoked by their owner, checked by a DRF authentication class."""

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, FeedLink, User

TOKEN_PREFIX = "pf_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token, which is never stored or shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(user=user, name=name.strip()[:100] or "token", prefix=token[:10], key_hash=_hash(token))
    return row, token


def api_token_revoke(*, user: User, token_id: int) -> bool:
    """Delete one of ``user``'s tokens; False if they have no such token."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer pf_...``. Requests signed this way need no CSRF token; any other bearer token is refused (401)."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token.startswith(TOKEN_PREFIX):
            raise exceptions.AuthenticationFailed(f"Unknown or revoked API token (personal tokens start with {TOKEN_PREFIX}).")
        row = ApiToken.objects.select_related("user").filter(key_hash=_hash(token)).first()
        if row is None or not row.user.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.")
        now = timezone.now()
        if row.last_used_at is None or row.last_used_at < now - timedelta(minutes=5):
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        return row.user, row

    def authenticate_header(self, request) -> str:
        return "Bearer"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes the token to the OpenAPI schema (a bearer token)."""

    target_class = "accounts.tokens.ApiTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")


def feed_link_renew(*, user: User) -> FeedLink:
    """Give ``user`` a new secret feed address (the old one stops working at once)."""
    link, _ = FeedLink.objects.update_or_create(user=user, defaults={"token": secrets.token_urlsafe(24)})
    return link


def feed_link_remove(*, user: User) -> None:
    FeedLink.objects.filter(user=user).delete()
