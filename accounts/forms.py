import re

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm

from accounts.models import User


class SignUpForm(BaseUserCreationForm):
    """Name, email (needed for password resets and the weekly email), password twice."""

    email = forms.EmailField(required=True)
    weekly_digest = forms.BooleanField(required=False, initial=True, label="Send me a weekly email with the papers I should not miss")

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


CATEGORY = re.compile(r"^(?P<archive>[a-z][a-z-]*)(?:\.[A-Za-z][A-Za-z-]*)?$")
ARXIV_ARCHIVES = {
    "astro-ph",
    "cond-mat",
    "cs",
    "econ",
    "eess",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math",
    "math-ph",
    "nlin",
    "nucl-ex",
    "nucl-th",
    "physics",
    "q-bio",
    "q-fin",
    "quant-ph",
    "stat",
}
MAX_CATEGORIES = 40


class CategoriesField(forms.CharField):
    """arXiv categories separated by spaces or commas (``cs.LG stat.ML``), as a sorted list without repeats."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 1000)
        kwargs.setdefault(
            "help_text", "arXiv categories such as cs.LG cs.CL stat.ML; your feed shows only papers in them. Leave empty for every paper."
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return " ".join(value) if isinstance(value, list) else value

    def clean(self, value) -> list[str]:
        text = super().clean(value) or ""
        names = sorted({name for name in re.split(r"[\s,;]+", text) if name})
        wrong = [name for name in names if len(name) > 40 or not (found := CATEGORY.match(name)) or found["archive"] not in ARXIV_ARCHIVES]
        if wrong:
            raise forms.ValidationError(f"Not an arXiv category: {', '.join(wrong[:3])[:80]} (write them like cs.LG or math.CO).")
        if len(names) > MAX_CATEGORIES:
            raise forms.ValidationError(f"Follow at most {MAX_CATEGORIES} categories.")
        return names


class PreferencesForm(forms.Form):
    weekly_digest = forms.BooleanField(required=False, label="Send me a weekly email with the papers I should not miss")
    share_feedback = forms.BooleanField(
        required=False, label="Let my feedback help other readers' recommendations (your own feed uses it either way)"
    )
    categories = CategoriesField(label="Categories I follow")


class CategoriesForm(forms.Form):
    categories = CategoriesField(label="Categories you follow")


class DeleteAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, label="Your password, to confirm")
