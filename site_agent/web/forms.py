"""Forms of the buyer's agent workspace. They check the shape of the input (and that a logo really is an
image); `config_update` and the other services decide the rest and report errors per field."""

import re

from django import forms

from cmp.images import check_image
from site_agent.models import Theme, Tone, WidgetPosition
from site_agent.services.configs import LIMITS, MAX_ALLOWED_DOMAINS, normalise_domain
from site_agent.services.webhooks import EVENT_CHOICES

LOGO_MAX_BYTES = 1024 * 1024
HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
LANGUAGES = [
    ("en", "English"),
    ("nl", "Dutch"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("it", "Italian"),
    ("pt", "Portuguese"),
    ("pt-BR", "Portuguese (Brazil)"),
    ("pl", "Polish"),
    ("sv", "Swedish"),
    ("da", "Danish"),
    ("nb", "Norwegian"),
    ("fi", "Finnish"),
    ("cs", "Czech"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("ar", "Arabic"),
    ("hi", "Hindi"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("zh", "Chinese"),
]
KEY_EXPIRY_CHOICES = [("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]


class PersonaForm(forms.Form):
    agent_name = forms.CharField(
        label="Agent name", max_length=LIMITS["agent_name"], help_text="Shown to visitors in the chat."
    )
    greeting = forms.CharField(
        label="Greeting",
        max_length=LIMITS["greeting"],
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"The first message of every conversation. At most {LIMITS['greeting']} characters.",
    )
    system_prompt = forms.CharField(
        label="Extra instructions",
        max_length=LIMITS["system_prompt"],
        required=False,
        widget=forms.Textarea(attrs={"rows": 7}),
        help_text=(
            "Added to the agent's own instructions, e.g. what to call your products, what never to promise. "
            f"At most {LIMITS['system_prompt']:,} characters."
        ),
    )
    tone = forms.ChoiceField(label="Tone", choices=Tone.choices)
    language = forms.ChoiceField(label="Language", choices=LANGUAGES, help_text="The language it answers in.")

    def __init__(self, *args, current_language: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        codes = {code for code, _label in LANGUAGES}
        if current_language and current_language not in codes:
            self.fields["language"].choices = [*LANGUAGES, (current_language, current_language)]


class ColourInput(forms.TextInput):
    """The hex text field, with a colour picker next to it (kept in step by workspace.js)."""

    template_name = "site_agent/widgets/colour_input.html"


class BrandingForm(forms.Form):
    primary_colour = forms.CharField(
        label="Primary colour",
        max_length=7,
        widget=ColourInput(
            attrs={"pattern": "#[0-9A-Fa-f]{6}", "spellcheck": "false", "class": "colour-hex"}
        ),
        help_text="The launcher, header and buttons of the chat, as #RRGGBB.",
    )
    logo = forms.FileField(
        label="Logo",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
        help_text="PNG, JPEG or WebP, at most 1 MB. Shown in the chat header.",
    )
    remove_logo = forms.BooleanField(label="Remove the current logo", required=False)
    widget_position = forms.ChoiceField(
        label="Position", choices=WidgetPosition.choices, widget=forms.RadioSelect
    )
    theme = forms.ChoiceField(label="Theme", choices=Theme.choices, widget=forms.RadioSelect)
    allowed_domains = forms.CharField(
        label="Allowed domains",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 5, "spellcheck": "false", "placeholder": "shop.example.com\n*.example.com"}
        ),
        help_text=(
            "One host name per line; the chat only opens on pages of these sites. "
            "<code>*.example.com</code> allows every subdomain."
        ),
    )

    def clean_primary_colour(self) -> str:
        value = self.cleaned_data["primary_colour"].strip()
        if not HEX_COLOUR.match(value):
            raise forms.ValidationError("Use a colour as #RRGGBB, e.g. #4F46E5.")
        return value

    def clean_logo(self):
        """Judged by its bytes (cmp.images), and stored under a neutral name."""
        uploaded = self.cleaned_data.get("logo")
        if uploaded:
            check_image(uploaded, max_bytes=LOGO_MAX_BYTES, name="logo")
        return uploaded or None

    def clean_allowed_domains(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["allowed_domains"].splitlines()]
        errors = []
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                normalise_domain(line)
            except ValueError as error:
                errors.append(f"Line {number}: {error}")
        domains = [line for line in lines if line]
        if len(domains) > MAX_ALLOWED_DOMAINS:
            errors.append(f"At most {MAX_ALLOWED_DOMAINS} domains.")
        if errors:
            raise forms.ValidationError(errors)
        return domains


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Production website"}),
        help_text="So you know later where the key is used.",
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=KEY_EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        help_text="You can revoke or rotate a key at any time.",
    )


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint address",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/cmp", "spellcheck": "false"}),
        help_text="We POST signed JSON to this https address.",
    )
    events = forms.MultipleChoiceField(
        label="Events", choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple
    )
