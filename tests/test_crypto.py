"""cmp.crypto: Fernet with a key derived from FIELD_ENCRYPTION_KEY (or SECRET_KEY), rotation by key list."""

import pytest

from cmp.crypto import DecryptionError, decrypt, encrypt


def test_round_trip_and_random_tokens(settings):
    settings.FIELD_ENCRYPTION_KEY = "a long random value for the tests"

    first, second = encrypt("whsec_secret"), encrypt("whsec_secret")

    assert decrypt(first) == "whsec_secret"
    assert decrypt(second) == "whsec_secret"
    assert first != second
    assert "whsec_secret" not in first


def test_secret_key_is_used_when_no_field_key_is_set(settings, monkeypatch):
    monkeypatch.delenv("FIELD_ENCRYPTION_KEY", raising=False)
    settings.FIELD_ENCRYPTION_KEY = ""
    settings.SECRET_KEY = "secret-key-one"
    token = encrypt("value")

    settings.SECRET_KEY = "secret-key-two"

    with pytest.raises(DecryptionError):
        decrypt(token)
    settings.SECRET_KEY = "secret-key-one"
    assert decrypt(token) == "value"


def test_rotation_old_keys_still_decrypt(settings):
    settings.FIELD_ENCRYPTION_KEY = "old key"
    token = encrypt("value")

    settings.FIELD_ENCRYPTION_KEY = "new key,old key"

    assert decrypt(token) == "value"
    settings.FIELD_ENCRYPTION_KEY = "new key"
    with pytest.raises(DecryptionError):
        decrypt(token)


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAABbroken"])
def test_garbage_and_tampering_are_refused(settings, token):
    settings.FIELD_ENCRYPTION_KEY = "key"
    tampered = encrypt("value")
    tampered = tampered[:-2] + ("A" if tampered[-2] != "A" else "B") + tampered[-1]

    with pytest.raises(DecryptionError):
        decrypt(token)
    with pytest.raises(DecryptionError):
        decrypt(tampered)
