from django import forms
from django.contrib.auth.forms import BaseUserCreationForm

from accounts.models import User


class SignUpForm(BaseUserCreationForm):
    """Name, email (needed for password resets and the weekly email), password twice."""

    email = forms.EmailField(required=True)
    weekly_digest = forms.BooleanField(
        required=False, initial=True, label="Send me a weekly email with the papers I should not miss"
    )

    class Meta:
        model = User
        fields = ("username", "email")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].error_messages["unique"] = "That user name is taken."  # a parallel sign-up's name, too

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That user name is taken.")
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists.")
        return email


class PreferencesForm(forms.Form):
    weekly_digest = forms.BooleanField(required=False, label="Send me a weekly email with the papers I should not miss")
    share_feedback = forms.BooleanField(
        required=False, label="Let my feedback help other readers' recommendations (your own feed uses it either way)"
    )


class DeleteAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, label="Your password, to confirm")
