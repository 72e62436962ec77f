"""Forms of the knowledge page. They check the shape of the input; the services decide the rest."""

import re

from django import forms
from django.conf import settings

from marketplace_ai.services.documents import MAX_QA_PAIRS

ACCEPT = ".pdf,.docx,.txt,.md,.markdown,.html,.htm"
QA_LINE = re.compile(r"^\s*(Q|A)\s*[:.)-]\s*(.*)$", re.IGNORECASE)


class DocumentFileForm(forms.Form):
    file = forms.FileField(
        label="File",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES // (1024 * 1024)
        self.fields["file"].help_text = f"PDF, Word (.docx), plain text, Markdown or HTML, up to {limit} MB."


def parse_qa_text(text: str) -> list[dict]:
    """Pairs from lines starting "Q:" and "A:"; an answer runs on until the next question."""
    pairs: list[dict] = []
    current: dict | None = None
    field = None
    for line in text.splitlines():
        match = QA_LINE.match(line)
        if match and match.group(1).upper() == "Q":
            current = {"question": match.group(2).strip(), "answer": ""}
            pairs.append(current)
            field = "question"
        elif match and current is not None:
            current["answer"] = match.group(2).strip()
            field = "answer"
        elif current is not None and field is not None and line.strip():
            current[field] = f"{current[field]}\n{line.strip()}".strip()
        elif line.strip():
            raise forms.ValidationError("Start each pair with a line beginning with “Q:”.")
    return pairs


class DocumentQAForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255, required=False, help_text="Optional.")
    pairs = forms.CharField(
        label="Questions and answers",
        widget=forms.Textarea(
            attrs={"rows": 7, "placeholder": "Q: How long does delivery take?\nA: Two to three working days."}
        ),
        help_text="One line starting with Q: for the question, then a line starting with A: for its answer.",
    )

    def clean_pairs(self) -> list[dict]:
        pairs = parse_qa_text(self.cleaned_data["pairs"])
        if not pairs:
            raise forms.ValidationError("Add at least one question with its answer.")
        if len(pairs) > MAX_QA_PAIRS:
            raise forms.ValidationError(f"Add at most {MAX_QA_PAIRS} questions at a time.")
        for number, pair in enumerate(pairs, start=1):
            if not pair["answer"]:
                raise forms.ValidationError(f"Question {number} has no answer (a line starting with A:).")
        return pairs


class DocumentUrlForm(forms.Form):
    url = forms.URLField(
        label="Web page address",
        max_length=2000,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://www.example.com/help/shipping"}),
        help_text="The page is fetched once and its text indexed.",
    )
    name = forms.CharField(
        label="Name", max_length=255, required=False, help_text="Optional; else the page title."
    )


class SearchForm(forms.Form):
    query = forms.CharField(
        label="Question",
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "What would a visitor ask?", "autocomplete": "off"}),
    )
