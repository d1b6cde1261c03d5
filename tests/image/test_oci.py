"""The direct builder's OCI documents: platforms as containerd matches them, manifests in
both formats (the same layer bytes under either media type), and the image index."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from autopack.errors import UsageError
from autopack.image import oci


def test_platforms_parse_print_and_match_as_containerd_does():
    assert oci.parse_platform("linux/amd64") == oci.Platform("linux", "amd64")
    assert str(oci.parse_platform("Linux/ARM64/v8")) == "linux/arm64/v8"
    for bad in ("linux", "linux/", "a/b/c/d", ""):
        with pytest.raises(UsageError, match="os/architecture"):
            oci.parse_platform(bad)
    arm64 = oci.Platform("linux", "arm64")
    assert arm64.matches({"os": "linux", "architecture": "arm64", "variant": "v8"})  # v8 is arm64's default
    assert arm64.matches({"os": "linux", "architecture": "arm64"})
    assert not oci.Platform("linux", "arm64", "v9").matches({"os": "linux", "architecture": "arm64"})
    assert not arm64.matches({"os": "linux", "architecture": "amd64"})
    assert oci.Platform("linux", "arm", "v7").matches({"os": "linux", "architecture": "arm", "variant": "v7"})
    assert not oci.Platform("linux", "arm", "v7").matches({"os": "linux", "architecture": "arm", "variant": "v6"})


def _layers() -> list[oci.Blob]:
    return [
        oci.Blob("sha256:" + "a" * 64, 10, oci.DOCKER_LAYER, None, "r.example", "base"),
        oci.Blob("sha256:" + "b" * 64, 20, oci.OCI_LAYER, Path("/x")),
    ]


@pytest.mark.parametrize(("image_format", "manifest_type", "config_type", "layer_type"), [("oci", oci.OCI_MANIFEST, oci.OCI_CONFIG, oci.OCI_LAYER), ("docker", oci.DOCKER_MANIFEST, oci.DOCKER_CONFIG, oci.DOCKER_LAYER)])
def test_a_manifest_names_every_layer_in_its_own_format(tmp_path, image_format, manifest_type, config_type, layer_type):
    config = oci.canonical({"architecture": "amd64", "os": "linux"})
    made = oci.image_manifest(config, _layers(), image_format, oci.Platform("linux", "amd64"), tmp_path)
    document = json.loads(made.body)
    assert document["mediaType"] == made.media_type == manifest_type
    assert document["config"] == {"mediaType": config_type, "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)}
    assert [layer["mediaType"] for layer in document["layers"]] == [layer_type, layer_type]
    assert [layer["size"] for layer in document["layers"]] == [10, 20]
    assert made.digest == "sha256:" + hashlib.sha256(made.body).hexdigest()
    assert made.config is not None and made.config.path is not None and made.config.path.read_bytes() == config
    assert oci.image_manifest(config, _layers(), image_format, oci.Platform("linux", "amd64"), tmp_path).body == made.body  # the same bytes again


def test_an_index_lists_each_platform_and_the_image_shares_blobs(tmp_path):
    made = [oci.image_manifest(oci.canonical({"architecture": p.architecture, "os": "linux"}), _layers(), "oci", p, tmp_path) for p in (oci.Platform("linux", "amd64"), oci.Platform("linux", "arm64", "v8"))]
    index = oci.image_index(made, "oci")
    document = json.loads(index.body)
    assert document["mediaType"] == oci.OCI_INDEX
    assert [(m["digest"], m["platform"]) for m in document["manifests"]] == [(made[0].digest, {"architecture": "amd64", "os": "linux"}), (made[1].digest, {"architecture": "arm64", "os": "linux", "variant": "v8"})]
    image = oci.Assembled(tuple(made), index)
    assert image.digest == index.digest and image.top is index
    assert len(image.blobs) == 4  # two configs, the two layers once
    assert image.platforms == (("linux/amd64", made[0].digest), ("linux/arm64/v8", made[1].digest))
    assert image.image_id == made[0].config.digest  # type: ignore[union-attr]
