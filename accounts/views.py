"""Sign-up and the settings page. Log-in, log-out and passwords are Django's own views."""

from urllib.parse import urlsplit

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import DeleteAccountForm, PreferencesForm, SignUpForm
from accounts.models import FeedLink
from accounts.security import password_reset_allowed
from accounts.services import user_create, user_delete, user_reset_taste, user_update_preferences
from accounts.tokens import api_token_create, api_token_revoke, feed_link_remove, feed_link_renew
from config.views import refusal


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = ""
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_create(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                weekly_digest=form.cleaned_data["weekly_digest"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to Paperfeed, {user.username}!")
            return redirect(next_url or "welcome")
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/signup.html", {"form": form, "next": next_url}, status=status)


def _settings_context(request: HttpRequest, data, **extra) -> dict:
    """What the settings page shows: the preferences form (bound to ``data`` when given), tokens, the Atom address."""
    user = request.user
    form = PreferencesForm(
        data, initial={"weekly_digest": user.weekly_digest, "share_feedback": user.share_feedback, "categories": user.categories}
    )
    return {"form": form, "tokens": user.api_tokens.all(), "feed_link": FeedLink.objects.filter(user=user).first(), **extra}


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    context = _settings_context(request, request.POST if request.method == "POST" else None)
    form = context["form"]
    if request.method == "POST":
        if form.is_valid():
            user_update_preferences(
                user=request.user,
                weekly_digest=form.cleaned_data["weekly_digest"],
                share_feedback=form.cleaned_data["share_feedback"],
                categories=form.cleaned_data["categories"],
            )
            state = "on" if form.cleaned_data["weekly_digest"] else "off"
            messages.success(request, f"Settings saved: the weekly email is {state}.")
            return redirect("settings")
        return render(request, "accounts/settings.html", context, status=400)
    return render(request, "accounts/settings.html", context)


@login_required
@require_POST
def feed_link_change(request: HttpRequest) -> HttpResponse:
    """Make a new secret Atom address (revoking the old one), or turn the Atom feed off."""
    if request.POST.get("action") == "remove":
        feed_link_remove(user=request.user)
        messages.success(request, "Your Atom feed is off; its old address shows nothing.")
    else:
        feed_link_renew(user=request.user)
        messages.success(request, "Your Atom feed has a new secret address; the old one stopped working.")
    return redirect("settings")


@login_required
@require_POST
def reset_taste(request: HttpRequest) -> HttpResponse:
    user_reset_taste(user=request.user)
    messages.success(request, "Personalisation reset: your feed starts afresh from your next likes. Your library is unchanged.")
    return redirect("settings")


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a personal API token and show it, once."""
    row, token = api_token_create(user=request.user, name=request.POST.get("name", ""))
    return render(request, "accounts/settings.html", _settings_context(request, None, new_token=token, new_token_name=row.name))


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if not api_token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such token.")
    messages.success(request, "Token revoked: scripts using it are refused from now on.")
    return redirect("settings")


class PasswordResetView(auth_views.PasswordResetView):
    """Reset links point at SITE_URL, not at whatever Host header the request carried; requests are rate limited."""

    extra_email_context = {"protocol": urlsplit(settings.SITE_URL).scheme, "domain": urlsplit(settings.SITE_URL).netloc}

    def form_valid(self, form):
        allowed, wait = password_reset_allowed(self.request, email=form.cleaned_data["email"])
        if not allowed:
            minutes = max(1, round(wait / 60))
            message = f"Too many password-reset requests for this address or from yours; no email was sent. Try again in {minutes} minutes."
            response = refusal(self.request, "Too many requests", message, status=429)
            response["Retry-After"] = str(int(wait))
            return response
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A reader who proved they own the email address is no longer locked out of log-in."""

    def form_valid(self, form):
        response = super().form_valid(form)
        axes_reset(username=form.user.get_username())
        return response


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """Delete the account after the password is given again."""
    form = DeleteAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid() and request.user.check_password(form.cleaned_data["password"]):
            username = request.user.username
            user_delete(user=request.user)
            logout(request)
            messages.success(request, f"The account {username} and all its feedback are deleted.")
            return redirect("home")
        form.add_error("password", "That is not your password; nothing was deleted.")
        return render(request, "accounts/delete.html", {"form": form}, status=400)
    return render(request, "accounts/delete.html", {"form": form})
