"""Serializer bases shared by every app's API."""

from collections.abc import Mapping

from rest_framework import serializers


class InputSerializer(serializers.Serializer):
    """A request body: unknown keys are reported as field errors next to any other errors."""

    def to_internal_value(self, data):
        unknown = []
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if not unknown or not isinstance(error.detail, dict):
                raise
            raise serializers.ValidationError(
                {**error.detail, **{key: ["Unknown field."] for key in unknown}}
            ) from error
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return value
