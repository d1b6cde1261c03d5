"""Source backends, chosen by the spec's URL scheme: one registry, one lookup."""

from __future__ import annotations

from types import ModuleType
from urllib.parse import urlsplit

from autopack.errors import UsageError
from autopack.events import Emit
from autopack.vcs import local
from autopack.vcs.base import Checkout, SourceSpec

BACKENDS: dict[str, ModuleType] = {
    "": local,
    "file": local,
}


def backend_for(spec: SourceSpec) -> ModuleType:
    location = spec.location
    if location.startswith(("/", ".", "~")):
        return local
    scheme = urlsplit(location).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    try:
        return BACKENDS[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in BACKENDS if s) + ", or a local path"
        raise UsageError(f"unsupported source '{location}'", f"use one of {known}") from None


def checkout(spec: SourceSpec, emit: Emit) -> Checkout:
    return backend_for(spec).checkout(spec, emit)


__all__ = ["BACKENDS", "Checkout", "SourceSpec", "backend_for", "checkout"]
