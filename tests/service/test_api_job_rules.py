"""Business rules in a job request (``JobCreate.rules``) on PostgreSQL: a bad rule is a 422 with the
rule's own words, before any job is made; good rules are stored with the job's options."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.keys import Role
from api.runtime import Runtime
from tests.service.test_api_jobs import _upload, api, no_runs
from tests.service.test_api_support import ApiKeys, assert_error_shape, tiny_zip

__all__ = ["api", "no_runs", "tiny_zip"]  # fixtures, imported for pytest


def test_a_rule_that_does_not_parse_is_a_422_with_its_words(
    api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes, no_runs: list[str]
) -> None:
    client, keys, _ = api
    dataset_id = _upload(client, keys, tiny_zip)
    r = client.post(
        "/allocation-jobs",
        json={"dataset_id": dataset_id, "rules": ["vip-first", "max-transfers:many"]},
        headers=keys.headers(Role.PLANNER),
    )
    err = assert_error_shape(r, 422)
    assert any("rule 'max-transfers:many': 'many' is not a whole number" in d for d in err["details"]), err
    assert no_runs == []
    listed = client.get("/allocation-jobs", headers=keys.headers(Role.PLANNER)).json()
    assert listed["total"] == 0


def test_a_rule_naming_what_the_dataset_lacks_is_a_422_with_its_words(
    api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes, no_runs: list[str]
) -> None:
    client, keys, _ = api
    dataset_id = _upload(client, keys, tiny_zip)
    for rule, words in (
        ("block-site:NOWHERE@2026-10-06", "rule 'block-site:NOWHERE@2026-10-06': unknown site 'NOWHERE'"),
        ("hold:NOPE", "rule 'hold:NOPE': unknown unit 'NOPE'"),
        ("block-site:SITE0@1999-01-01", "its days lie outside the plan's days"),
    ):
        r = client.post(
            "/allocation-jobs", json={"dataset_id": dataset_id, "rules": [rule]}, headers=keys.headers(Role.PLANNER)
        )
        err = assert_error_shape(r, 422)
        assert words in err["message"], err
    assert no_runs == []


def test_good_rules_are_kept_with_the_jobs_options(
    api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes, no_runs: list[str]
) -> None:
    client, keys, _ = api
    dataset_id = _upload(client, keys, tiny_zip)
    r = client.post(
        "/allocation-jobs",
        json={"dataset_id": dataset_id, "rules": ["vip-first", "max-transfers:3", "hold:U0000000"]},
        headers=keys.headers(Role.PLANNER),
    )
    assert r.status_code == 202, r.text
    assert r.json()["options"]["rules"] == {"rules": ["hold:U0000000", "vip-first", "max-transfers:3"]}
    assert no_runs == [r.json()["id"]]
