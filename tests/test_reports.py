"""dotenv and properties reports, and the shipped schema."""

from __future__ import annotations

import json

import jsonschema

from autopack import reports
from autopack.result import Result

DIGEST = "sha256:" + "a" * 64


def pushed_result() -> dict:
    data = Result().to_dict(0)
    data["project"] = {"groupId": "com.example", "artifactId": "orders", "version": "1.4.0", "packaging": "jar"}
    data["images"] = [{"module": "orders", "id": "sha256:" + "b" * 64, "tags": ["orders:1.4.0"], "labels": {}, "size": 1, "artifact": None}]
    data["destinations"] = [
        {"module": "orders", "destination": "a.example.com/team/orders", "registry": "a.example.com", "repository": "team/orders", "status": "ok", "digest": DIGEST,
         "tags": ["1.4.0"], "unchangedTags": [], "attempts": 1, "preflightAttempts": 1, "credentialSource": None, "error": None, "seconds": 1.0},
        {"module": "orders", "destination": "b.example.com:5000/team/orders", "registry": "b.example.com:5000", "repository": "team/orders", "status": "ok", "digest": DIGEST,
         "tags": ["1.4.0"], "unchangedTags": [], "attempts": 1, "preflightAttempts": 1, "credentialSource": None, "error": None, "seconds": 1.0},
    ]  # fmt: skip
    return data


def test_dotenv_names_the_digest_and_every_pushed_reference():
    lines = dict(line.split("=", 1) for line in reports.dotenv(pushed_result()).splitlines())
    assert lines["AUTOPACK_DIGEST"] == DIGEST
    assert lines["AUTOPACK_IMAGE"] == "a.example.com/team/orders:1.4.0"
    assert lines["AUTOPACK_TAGS"] == "a.example.com/team/orders:1.4.0,b.example.com:5000/team/orders:1.4.0"
    assert lines["AUTOPACK_VERSION"] == "1.4.0" and lines["AUTOPACK_STATUS"] == "ok"


def test_without_a_push_the_local_image_is_named_and_the_digest_is_empty():
    data = pushed_result()
    data["destinations"] = []
    lines = dict(line.split("=", 1) for line in reports.dotenv(data).splitlines())
    assert (lines["AUTOPACK_IMAGE"], lines["AUTOPACK_DIGEST"]) == ("orders:1.4.0", "")


def test_properties_escape_backslashes_and_a_leading_space():
    data = Result().to_dict(0)
    data["project"] = {"groupId": "g", "artifactId": "a", "version": " 1\\2", "packaging": "jar"}
    assert "AUTOPACK_VERSION=\\ 1\\\\2\n" in reports.properties(data)


def test_the_schema_is_valid_and_accepts_these_results():
    schema = json.loads(reports.schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(pushed_result(), schema)
    jsonschema.validate(Result().to_dict(2, {"stage": "config", "message": "m", "hint": "h"}), schema)
