"""Secret key format: recognisable, checksummed, never stored in clear."""

import pytest

from site_agent.keys import KEY_PREFIX, display_prefix, generate_key, hash_key, is_well_formed


def test_generated_keys_are_well_formed_and_distinct():
    keys = {generate_key() for _ in range(200)}

    assert len(keys) == 200
    assert all(key.startswith(KEY_PREFIX) and len(key) == len(KEY_PREFIX) + 46 for key in keys)
    assert all(is_well_formed(key) for key in keys)


def test_a_mistyped_character_breaks_the_checksum():
    key = generate_key()
    position = len(KEY_PREFIX) + 5
    replacement = "A" if key[position] != "A" else "B"
    typo = key[:position] + replacement + key[position + 1 :]

    assert is_well_formed(typo) is False


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "ar_sk_live_",
        "sk-abc",
        None,
        42,
        "ar_sk_test_" + "a" * 46,
        "ar_sk_live_" + "a" * 45,
        "ar_sk_live_" + "!" * 46,
    ],
)
def test_malformed_keys_are_rejected(candidate):
    assert is_well_formed(candidate) is False


def test_hash_and_prefix_do_not_reveal_the_key():
    key = generate_key()

    assert hash_key(key) != key
    assert len(hash_key(key)) == 64
    assert display_prefix(key) == key[:17]
    assert key[17:] not in hash_key(key)


def test_versions_tell_platform_variables_from_those_the_runtime_must_provide():
    from site_agent.models import AgentVersion

    version = AgentVersion(required_variables=["CMP_CONTEXT", "OPENAI_API_KEY", "CMP_AGENT_NAME"])

    assert version.platform_variables == ["CMP_CONTEXT", "CMP_AGENT_NAME"]
    assert version.environment_variables == ["OPENAI_API_KEY"]
