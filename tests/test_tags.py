"""Tag templates in, validated image references out."""

from __future__ import annotations

import pytest

from autopack.errors import UsageError
from autopack import tags
from autopack.tags import render, split_reference, tag_safe, validate_reference

FACTS = {
    "version": "1.0.0",
    "revision": "abc1234",
    "branch": "main",
    "build": "42",
    "timestamp": "20240102030405",
    "artifactId": "hello-service",
    "groupId": "com.example",
}


def facts(**changes: str | None) -> dict[str, str | None]:
    return {**FACTS, **changes}


# --- render ------------------------------------------------------------------------------


def test_the_default_tag_is_the_version() -> None:
    assert render((), "hello-service", FACTS) == ["hello-service:1.0.0"]


def test_every_placeholder_is_filled() -> None:
    template = "{version}-{revision}-{branch}-b{build}-{timestamp}-{artifactId}-{groupId}"

    assert render([template], "app", FACTS) == ["app:1.0.0-abc1234-main-b42-20240102030405-hello-service-com.example"]


def test_a_template_with_a_colon_is_a_full_reference_with_a_registry_port() -> None:
    references = render(["127.0.0.1:5000/team/app:{version}", "{version}"], "hello-service", FACTS)

    assert references == ["127.0.0.1:5000/team/app:1.0.0", "hello-service:1.0.0"]


def test_an_image_name_with_a_registry_port_takes_the_tags() -> None:
    references = render(["{version}", "latest"], "localhost:5000/team/{artifactId}", FACTS)

    assert references == ["localhost:5000/team/hello-service:1.0.0", "localhost:5000/team/hello-service:latest"]


@pytest.mark.parametrize(
    ("branch", "tag"),
    [
        ("feature/login", "feature-login"),
        ("feature//JIRA-12 fix", "feature-JIRA-12-fix"),
        ("/leading", "leading"),
        ("release/1.x", "release-1.x"),
        ("x" * 200, "x" * 128),
    ],
)
def test_branch_values_are_made_tag_safe(branch: str, tag: str) -> None:
    assert render(["{branch}"], "app", facts(branch=branch)) == [f"app:{tag}"]


def test_non_ascii_branch_names_become_valid_docker_tags() -> None:
    # Docker tags are ASCII ([A-Za-z0-9_.-]); Python's \w would keep "ö" and "ß".
    (reference,) = render(["{branch}"], "app", facts(branch="fix/größe"))

    assert reference.isascii(), reference
    validate_reference(reference)


def test_tag_safe_strips_leading_dots_and_dashes() -> None:
    assert tag_safe("..-x/y") == "x-y"


def test_identical_references_are_kept_once_in_order() -> None:
    references = render(["{version}", "latest", "1.0.0", "app:{version}", "latest"], "app", FACTS)

    assert references == ["app:1.0.0", "app:latest"]


def test_an_unknown_placeholder_is_named() -> None:
    with pytest.raises(UsageError) as caught:
        render(["{version}-{commit}"], "app", FACTS)

    assert "'{commit}'" in caught.value.message
    assert "{revision}" in caught.value.hint  # lists the known ones


def test_a_missing_fact_fails_with_a_hint() -> None:
    with pytest.raises(UsageError) as caught:
        render(["{version}-b{build}"], "app", facts(build=None))

    assert "{build}" in caught.value.message
    assert "--build-number" in caught.value.hint


@pytest.mark.parametrize("template", ["{version", "version}", "{version}}", "{{version}"])
def test_malformed_braces_are_a_usage_error(template: str) -> None:
    with pytest.raises(UsageError) as caught:
        render([template], "app", FACTS)

    assert template in caught.value.message


def test_a_rendered_reference_is_validated() -> None:
    with pytest.raises(UsageError, match="not valid"):
        render(["{version}"], "Team/App", FACTS)


# --- validate_reference ------------------------------------------------------------------

VALID = [
    "app:1.0",
    "library/app:latest",
    "docker.io/library/app:1",
    "localhost:5000/x:y",
    "localhost/x:y",
    "127.0.0.1:5000/team/app:1.0.0",
    "[::1]:5000/x:y",
    "[2001:db8::1]/x:y",
    "Registry.Example.com/team/app:1",  # the domain may hold uppercase letters
    "registry.example.com/team/sub/app:v1.2.3-rc.1_b42",
    "a__b:1",
    "a-----b:1",
    "a.b_c-d/e:1",
    "app:_underscore-first",
    "app:UPPER",
    "app:" + "a" * 128,
]

INVALID = [
    "",
    "app",  # no tag
    "localhost:5000/app",  # a port is not a tag
    "App:1",
    "team/App:1",
    "app:.1",
    "app:-1",
    "app:" + "a" * 129,
    "a..b:1",
    "a___b:1",
    "a_.b:1",
    "-app:1",
    "app-:1",
    "app_:1",
    "/app:1",
    "app//x:1",
    "app/:1",
    "app:1:2",
    "app:tag with space",
    "app:",
    "localhost:port/x:y",
    "[::1]:5000/x:y:z",
    "app@sha256:" + "a" * 64,
    "a" * 256 + ":1",  # the name is longer than 255 characters
    "app:1.0\n",  # a trailing newline is not part of any tag
    "app:größe",  # tags are ASCII
]


@pytest.mark.parametrize("reference", VALID)
def test_valid_references(reference: str) -> None:
    validate_reference(reference)


@pytest.mark.parametrize("reference", INVALID, ids=lambda r: repr(r[:40]))
def test_invalid_references(reference: str) -> None:
    with pytest.raises(UsageError):
        validate_reference(reference)


def test_an_uppercase_name_is_explained() -> None:
    with pytest.raises(UsageError) as caught:
        validate_reference("App:1")

    assert "uppercase" in caught.value.message


def test_a_bad_tag_is_explained() -> None:
    with pytest.raises(UsageError) as caught:
        validate_reference("app:-1")

    assert "tag '-1'" in caught.value.message


# --- split_reference ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("app", ("app", "")),
        ("app:1", ("app", "1")),
        ("team/app:1", ("team/app", "1")),
        ("localhost:5000/app", ("localhost:5000/app", "")),
        ("localhost:5000/app:1", ("localhost:5000/app", "1")),
        ("127.0.0.1:5000/team/app:1.0.0", ("127.0.0.1:5000/team/app", "1.0.0")),
        ("[::1]:5000/team/app:v2", ("[::1]:5000/team/app", "v2")),
    ],
)
def test_split_reference(reference: str, expected: tuple[str, str]) -> None:
    assert split_reference(reference) == expected


@pytest.mark.parametrize(
    ("name", "registry"),
    [
        ("registry.example.com/team/app", "registry.example.com"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000"),
        ("localhost/app", "localhost"),
        ("team/app", None),  # Docker Hub, implied
        ("app", None),
        ("registry.example.com", None),  # a host and no path: no image name
    ],
)
def test_the_registry_of_a_name_is_only_an_explicit_host(name: str, registry: str | None) -> None:
    assert tags.registry_of(name) == registry
