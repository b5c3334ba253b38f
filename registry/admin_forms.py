"""Forms of the registry admin's own pages: adding a revision and comparing two revisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings

from registry.avro import InvalidAvroSchema, schema_text_load


def _json_object(text: str, *, what: str) -> dict[str, Any]:
    try:
        value = schema_text_load(
            text,
            max_chars=settings.MAX_SCHEMA_CHARS,
            max_depth=settings.MAX_JSON_DEPTH,
            max_fields=settings.MAX_SCHEMA_FIELDS if what == "Avro schema" else None,
            what=f"The {what}",
        )
    except InvalidAvroSchema as exc:
        raise forms.ValidationError(str(exc), code="invalid") from exc
    if not isinstance(value, dict):
        raise forms.ValidationError(f"The {what} must be a JSON object.", code="invalid")
    return value


def _code_area(rows: int) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "class": "registry-code", "spellcheck": "false", "wrap": "off"})


class RevisionForm(forms.Form):
    """A new revision's schemas, as JSON text; ``revision_create`` does every other check."""

    avro_schema = forms.CharField(
        label="Avro schema",
        strip=False,
        widget=_code_area(28),
        help_text="The Kafka record. Its name must stay the major's full name.",
    )
    json_schema = forms.CharField(
        label="JSON schema",
        strip=False,
        widget=_code_area(28),
        help_text="What clients send, checked at the edge.",
    )

    def clean_avro_schema(self) -> dict[str, Any]:
        return _json_object(self.cleaned_data["avro_schema"], what="Avro schema")

    def clean_json_schema(self) -> dict[str, Any]:
        return _json_object(self.cleaned_data["json_schema"], what="JSON schema")


class RevisionCompareForm(forms.Form):
    """Two revision numbers of one major (``?from=1&to=2``)."""

    def __init__(self, *args: Any, revisions: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(number, f"r{number}") for number in revisions]
        self.fields["from"] = forms.TypedChoiceField(label="From", choices=choices, coerce=int)
        self.fields["to"] = forms.TypedChoiceField(label="to", choices=choices, coerce=int)
