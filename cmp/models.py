"""Abstract base models shared by every app."""

import uuid

from django.db import models


class TimeStampedModel(models.Model):
    """Adds created_at and updated_at."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class PublicModel(TimeStampedModel):
    """A model whose only id leaving the process is a random UUID; the integer key stays internal."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True
