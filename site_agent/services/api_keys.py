"""Buyer API keys: create (shown once), revoke, rotate, and the cached check used on every agent call.

A checked key's outcome is cached in the shared cache (Redis in production) under the key's hash, and each
process keeps a near copy that Redis invalidates (`cmp.cache.NearCache`), so a cached check costs no round
trip. Revoking a key overwrites its entry with the revoked outcome; changing or suspending its config deletes
its entries; every process sees either on its next request. A check that loaded from the database only adds
its outcome when no entry exists, so it cannot overwrite a revocation that committed meanwhile. "Last used"
is buffered in memory and written in batches.
"""

import threading
import time
from dataclasses import asdict, dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from cmp.cache import NearCache
from marketplace.models import ResourceState
from site_agent.errors import ApplicationError, ConflictError
from site_agent.keys import display_prefix, generate_key, hash_key, is_well_formed
from site_agent.models import ApiKey, ConfigState, CustomerAgentConfig

CACHE_PREFIX = "cmp:apikey:"
CACHE_SECONDS = 300
MAX_ACTIVE_KEYS_PER_CONFIG = 20
LAST_USED_FLUSH_SECONDS = 30
_near = NearCache(CACHE_PREFIX, ttl=60)


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of checking a key: valid with the config's context, or invalid with a reason."""

    valid: bool
    reason: str = ""
    key_id: int | None = None
    config_id: int | None = None
    context: dict | None = None


def _cache_key(key_hash: str) -> str:
    return CACHE_PREFIX + key_hash


@transaction.atomic
def api_key_create(*, config: CustomerAgentConfig, name: str, actor, expires_at=None) -> tuple[ApiKey, str]:
    """A new key. The plaintext is returned once, here, and never stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApplicationError("Name the key (at most 100 characters).", errors={"name": ["Give a name."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", errors={"expires_at": ["In the past."]})
    config = CustomerAgentConfig.objects.select_for_update().get(pk=config.pk)
    if config.state == ConfigState.ARCHIVED:
        raise ConflictError("This agent was cancelled; no new keys can be made.", code="read_only")
    active = config.api_keys.filter(revoked_at__isnull=True).count()
    if active >= MAX_ACTIVE_KEYS_PER_CONFIG:
        raise ConflictError(
            f"An agent can have at most {MAX_ACTIVE_KEYS_PER_CONFIG} active keys.", code="too_many"
        )
    plaintext = generate_key()
    api_key = ApiKey.objects.create(
        config=config,
        name=name,
        prefix=display_prefix(plaintext),
        key_hash=hash_key(plaintext),
        created_by=actor,
        expires_at=expires_at,
    )
    return api_key, plaintext


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is not None:
        raise ConflictError("This key is already revoked.", code="revoked")
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at", "updated_at"])
    revoked = KeyCheck(valid=False, reason="revoked", key_id=api_key.pk)
    transaction.on_commit(lambda: cache.set(_cache_key(api_key.key_hash), asdict(revoked), CACHE_SECONDS))
    return api_key


@transaction.atomic
def api_key_rotate(*, api_key: ApiKey, actor) -> tuple[ApiKey, str]:
    """Replace a key: the old one stops working now, a new one with the same name and expiry is returned."""
    api_key_revoke(api_key=api_key, actor=actor)
    return api_key_create(
        config=api_key.config, name=api_key.name, actor=actor, expires_at=api_key.expires_at
    )


def api_key_cache_clear_for_config(*, config_id: int) -> None:
    hashes = ApiKey.objects.filter(config_id=config_id).values_list("key_hash", flat=True)
    cache.delete_many([_cache_key(key_hash) for key_hash in hashes])


def config_context(config: CustomerAgentConfig) -> dict:
    """What a runtime needs to serve one config: persona, branding, flow and limits."""
    plan = config.resource.plan
    return {
        "config_uuid": str(config.uuid),
        "organization_uuid": str(config.organization.uuid),
        "agent_name": config.agent_name,
        "greeting": config.greeting,
        "tone": config.tone,
        "language": config.language,
        "system_prompt": config.system_prompt,
        "branding": {
            "primary_colour": config.primary_colour,
            "logo_url": config.logo.url if config.logo else None,
            "widget_position": config.widget_position,
            "theme": config.theme,
        },
        "runtime_flow_id": config.runtime_flow_id,
        "knowledge_base_uuid": str(config.knowledge_base.uuid) if config.knowledge_base_id else None,
        "limits": {
            "plan": plan.name,
            "monthly_quota_calls": plan.monthly_quota_calls,
            "rate_limit_per_minute": plan.rate_limit_per_minute,
            "overage_allowed": plan.overage_price_per_1000_minor is not None,
        },
    }


def _load(key_hash: str) -> KeyCheck:
    api_key = (
        ApiKey.objects.select_related(
            "config__resource__plan", "config__organization", "config__knowledge_base"
        )
        .filter(key_hash=key_hash)
        .first()
    )
    if api_key is None:
        return KeyCheck(valid=False, reason="unknown")
    if api_key.revoked_at is not None:
        return KeyCheck(valid=False, reason="revoked", key_id=api_key.pk)
    config = api_key.config
    if config.state != ConfigState.ACTIVE or config.resource.state not in (
        ResourceState.OK,
        ResourceState.UPDATING,
    ):
        reason = "suspended" if config.state == ConfigState.SUSPENDED else "subscription_inactive"
        return KeyCheck(valid=False, reason=reason, key_id=api_key.pk, config_id=config.pk)
    context = {
        **config_context(config),
        "expires_at": api_key.expires_at.timestamp() if api_key.expires_at else None,
    }
    return KeyCheck(valid=True, key_id=api_key.pk, config_id=config.pk, context=context)


def _shared_check(key_hash: str) -> KeyCheck:
    cached = cache.get(_cache_key(key_hash))
    if cached is None:
        cached = asdict(_load(key_hash))
        cache.add(_cache_key(key_hash), cached, CACHE_SECONDS)  # never over a revocation made meanwhile
    return KeyCheck(**cached)


def api_key_check(*, key: str) -> KeyCheck:
    """Validate a presented key. Malformed keys never reach the database; results are cached."""
    if not is_well_formed(key):
        return KeyCheck(valid=False, reason="malformed")
    key_hash = hash_key(key)
    result = _near.get_or_fetch(_cache_key(key_hash), lambda: _shared_check(key_hash))
    if result.valid:
        expires_at = result.context.get("expires_at")
        if expires_at is not None and expires_at <= time.time():
            return KeyCheck(valid=False, reason="expired", key_id=result.key_id, config_id=result.config_id)
        _last_used.touch(result.key_id)
    return result


class _LastUsedBuffer:
    """Collects "last used" times per key and writes them in one statement every few seconds."""

    def __init__(self, flush_seconds: float):
        self.flush_seconds = flush_seconds
        self._pending: dict[int, float] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def touch(self, key_id: int) -> None:
        with self._lock:
            self._pending[key_id] = time.time()
            due = time.monotonic() - self._last_flush >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
        if not pending:
            return 0
        from datetime import UTC, datetime

        keys = [
            ApiKey(pk=key_id, last_used_at=datetime.fromtimestamp(ts, tz=UTC))
            for key_id, ts in pending.items()
        ]
        ApiKey.objects.bulk_update(keys, ["last_used_at"])
        return len(keys)


_last_used = _LastUsedBuffer(LAST_USED_FLUSH_SECONDS)


def api_key_flush_last_used() -> int:
    """Write buffered "last used" times now (a periodic task and tests call this)."""
    return _last_used.flush()
