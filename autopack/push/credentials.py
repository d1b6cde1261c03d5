"""Registry credentials: where each destination's login comes from, first match wins —

1. ``--registry-auth-file FILE`` (a Docker ``config.json``-shaped file);
2. ``AUTOPACK_REGISTRY_USER_<KEY>`` + ``AUTOPACK_REGISTRY_PASSWORD_<KEY>``, where KEY is the
   registry host[:port] upper-cased with every other character turned into ``_``
   (``registry.example.com:5000`` → ``REGISTRY_EXAMPLE_COM_5000``);
3. ``CI_REGISTRY_USER`` + ``CI_REGISTRY_PASSWORD``, for ``CI_REGISTRY`` only (GitLab CI);
4. the user's Docker config (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``):
   ``credHelpers``, then ``credsStore``, then ``auths``.

``store`` writes a login the way ``docker login`` does (into the credential store when one
is configured, else ``auths``). Nothing else in autopack writes credentials anywhere.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker.auth
import docker.credentials
import docker.errors

from autopack import secrets
from autopack.errors import UsageError
from autopack.files import write_atomically


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str = field(repr=False)
    origin: str = ""  # where it came from, for messages: never the secret itself


def env_key(registry: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", registry.upper())


def docker_config_path(environ: Mapping[str, str]) -> Path:
    directory = environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(directory) / "config.json"


def resolve(registry: str, auth_file: Path | None, environ: Mapping[str, str] | None = None) -> RegistryAuth | None:
    """The login for ``registry`` (host[:port]) by the order in the module docstring."""
    environ = os.environ if environ is None else environ
    found = (
        (_from_config(_read_config(auth_file), registry, "--registry-auth-file") if auth_file else None)
        or _from_env(registry, environ)
        or _from_ci(registry, environ)
        or _from_config(_read_config(docker_config_path(environ), required=False), registry, "Docker config")
    )
    if found:
        secrets.register(found.password)
    return found


def _from_env(registry: str, environ: Mapping[str, str]) -> RegistryAuth | None:
    key = env_key(registry)
    user, password = environ.get(f"AUTOPACK_REGISTRY_USER_{key}"), environ.get(f"AUTOPACK_REGISTRY_PASSWORD_{key}")
    if user and password:
        return RegistryAuth(user, password, f"AUTOPACK_REGISTRY_USER_{key}/AUTOPACK_REGISTRY_PASSWORD_{key}")
    return None


def _from_ci(registry: str, environ: Mapping[str, str]) -> RegistryAuth | None:
    if environ.get("CI_REGISTRY") == registry and environ.get("CI_REGISTRY_USER") and environ.get("CI_REGISTRY_PASSWORD"):
        return RegistryAuth(environ["CI_REGISTRY_USER"], environ["CI_REGISTRY_PASSWORD"], "CI_REGISTRY_USER/CI_REGISTRY_PASSWORD")
    return None


def _read_config(path: Path, required: bool = True) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise UsageError(f"registry auth file {path} does not exist", "check --registry-auth-file") from None
        return {}
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read registry credentials from {path}: {type(e).__name__}", "it must be JSON shaped like ~/.docker/config.json") from e
    return data if isinstance(data, dict) else {}


def _from_config(config: dict, registry: str, origin: str) -> RegistryAuth | None:
    """The login for ``registry`` in a Docker config, resolved by the docker SDK exactly as
    the docker CLI does it: ``credHelpers`` for that registry, else ``credsStore``, then
    ``auths`` (legacy full-URL keys included). A helper's answer is used as it was read."""
    try:
        auths = docker.auth.parse_auth(config.get("auths") or {}, raise_on_error=True)
    except (docker.errors.InvalidConfigFile, ValueError):  # binascii.Error is a ValueError
        raise UsageError(f"the {origin} entry for a registry has an unreadable 'auth'", f"log in again: autopack login {registry}") from None
    auth_config = docker.auth.AuthConfig({**config, "auths": auths})
    store_name = auth_config.get_credential_store(registry) if (auth_config.creds_store or auth_config.cred_helpers) else None
    if store_name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", store_name):
        raise UsageError(f"credential helper name '{store_name}' is not valid", "fix credHelpers/credsStore in the Docker config")
    try:
        found = auth_config.resolve_authconfig(registry)
    except docker.errors.DockerException as e:
        raise UsageError(f"the credential helper docker-credential-{store_name} failed for {registry}", f"check it: docker-credential-{store_name} list") from e
    if not found:
        return None
    if "Username" in found:  # the helper's answer (the SDK's capitalised keys)
        user, password, where = found.get("Username"), found.get("Password"), f"{origin} {'credHelpers' if registry in auth_config.cred_helpers else 'credsStore'} ({store_name})"
    else:
        user, password, where = found.get("username"), found.get("password"), f"{origin} auths"
    return RegistryAuth(user, password, where) if user and password else None


def store(registry: str, auth: RegistryAuth, environ: Mapping[str, str] | None = None) -> Path:
    """Save a login like ``docker login``: the configured credential store, else ``auths``
    in the Docker config (written atomically, mode 0600). Returns the config path."""
    environ = os.environ if environ is None else environ
    path = docker_config_path(environ)
    config = _read_config(path, required=False)
    helper = (config.get("credHelpers") or {}).get(registry) or config.get("credsStore")
    if helper:
        try:
            docker.credentials.Store(helper, environment=dict(environ)).store(registry, auth.username, auth.password)
        except docker.credentials.StoreError as e:
            raise UsageError(f"the credential helper docker-credential-{helper} refused to store the login", "check that the helper works: docker-credential-" + helper + " list") from e
        config.setdefault("auths", {})[registry] = {}
    else:
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        config.setdefault("auths", {})[registry] = {"auth": token}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, json.dumps(config, indent=2) + "\n", mode=0o600)
    return path
