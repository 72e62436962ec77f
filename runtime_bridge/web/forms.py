"""Forms of the seller's agent pages. They read and check input; the import services decide and write."""

from django import forms
from django.core.exceptions import ValidationError

from cmp.errors import ApplicationError
from cmp.images import check_image
from marketplace.models import Category
from runtime_bridge.flows import MAX_FLOW_BYTES

MAX_LOGO_BYTES = 1024 * 1024
MAX_SCREENSHOT_BYTES = 2 * 1024 * 1024
MEGABYTE = 1024 * 1024


def add_service_errors(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's error on the form: by field where the form has that field, else above it."""
    placed = False
    for field, messages in (error.errors or {}).items():
        for message in messages if isinstance(messages, list) else [messages]:
            text = message.get("message", str(message)) if isinstance(message, dict) else str(message)
            form.add_error(field if field in form.fields else None, text)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


class FlowSourceForm(forms.Form):
    """A Langflow export, uploaded as a .json file or pasted; `cleaned_data["raw"]` is its bytes or text."""

    flow_file = forms.FileField(
        required=False,
        label="Flow file",
        help_text="The .json file from Langflow Studio's Export (at most 5 MB).",
        widget=forms.FileInput(attrs={"accept": ".json,application/json"}),
    )
    flow_text = forms.CharField(
        required=False,
        strip=True,
        label="Or paste the JSON",
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "spellcheck": "false",
                "class": "code-input",
                "placeholder": '{"name": "…", "data": {"nodes": […], "edges": […]}}',
            }
        ),
    )

    def clean_flow_file(self):
        upload = self.cleaned_data.get("flow_file")
        if upload is None:
            return None
        if not upload.name.lower().endswith(".json"):
            raise ValidationError("Choose the .json file exported from Langflow.")
        if upload.size > MAX_FLOW_BYTES:
            raise ValidationError(
                f"The file is {upload.size / MEGABYTE:.1f} MB; the limit is {MAX_FLOW_BYTES // MEGABYTE} MB."
            )
        return upload

    def clean_flow_text(self):
        text = self.cleaned_data.get("flow_text", "")
        size = len(text.encode())
        if size > MAX_FLOW_BYTES:
            raise ValidationError(
                f"The pasted flow is {size / MEGABYTE:.1f} MB; the limit is {MAX_FLOW_BYTES // MEGABYTE} MB."
            )
        return text

    def clean(self):
        cleaned = super().clean()
        if self.errors.keys() & {"flow_file", "flow_text"}:
            return cleaned
        upload, text = cleaned.get("flow_file"), cleaned.get("flow_text")
        if upload and text:
            raise ValidationError("Upload a file or paste the JSON, not both.")
        if not upload and not text:
            raise ValidationError("Upload the flow's .json file or paste its JSON.")
        cleaned["raw"] = upload.read() if upload else text
        return cleaned


class AgentCreateForm(FlowSourceForm):
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(),
        to_field_name="slug",
        empty_label=None,
        help_text="Agents and Assistants are chat products: their flow needs a Chat Input and a Chat Output.",
    )
    name = forms.CharField(max_length=120, required=False, help_text="Leave empty to use the flow's name.")
    description = forms.CharField(
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Leave empty to use the flow's description. Markdown is allowed.",
    )


class VersionCreateForm(FlowSourceForm):
    version = forms.CharField(
        max_length=32,
        required=False,
        label="Version number",
        help_text="Optional, e.g. 1.2.0. Empty means the next minor version.",
    )
    changelog = forms.CharField(
        max_length=5000,
        required=False,
        label="What changed",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown to you and, later, to buyers choosing when to upgrade.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["flow_text"].widget.attrs["rows"] = 4


class PublishForm(forms.Form):
    terms_accepted = forms.BooleanField(
        required=False,
        label="I accept the marketplace terms for sellers and confirm this listing is accurate.",
    )


class LogoForm(forms.Form):
    logo = forms.FileField(
        label="Logo",
        help_text="PNG, JPEG or WebP, at most 1 MB; a square image of 256 by 256 px or more looks best.",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )

    def clean_logo(self):
        upload = self.cleaned_data["logo"]
        check_image(upload, max_bytes=MAX_LOGO_BYTES, name="logo")
        return upload


class ScreenshotForm(forms.Form):
    image = forms.FileField(
        label="Screenshot",
        help_text="PNG, JPEG or WebP, at most 2 MB; 1280 by 800 px works well.",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    caption = forms.CharField(label="Caption", max_length=200, required=False)

    def clean_image(self):
        upload = self.cleaned_data["image"]
        check_image(upload, max_bytes=MAX_SCREENSHOT_BYTES, name="screenshot")
        return upload
