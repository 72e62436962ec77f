"""Serializer bases shared by every app's API."""

from rest_framework import serializers


class InputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know, so a typo is a 400, not silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({field: ["Unknown field."] for field in unknown})
        return super().to_internal_value(data)
