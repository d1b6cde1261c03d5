"""Signing in cosign's formats: a key pair as ``cosign generate-key-pair`` writes it, or an
external signer (a KMS, an HSM, ``cosign sign-blob`` itself) run as a command; and the
payloads that get signed — the simple-signing JSON of an image signature and the DSSE
envelope of an attestation. Signatures come out as cosign writes them before base64: ASN.1
DER for ECDSA, the raw bytes for RSA and Ed25519, so ``cosign verify --key cosign.pub``
accepts them.

The schemes are cosign's own for a key it loads (sigstore's ``LoadDefaultSignerVerifier``):
ECDSA with the curve's hash (P-256 → SHA-256, P-384 → SHA-384, P-521 → SHA-512), RSA
PKCS #1 v1.5 with SHA-256, and pure Ed25519 — cosign signs with Ed25519ph only when it
uploads to the Rekor transparency log, which autopack never does.

cryptography and PyNaCl are imported on first use: only a run that signs pays for them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO

from autopack import printable, secrets
from autopack.errors import PushError, UsageError

PASSWORD_VARIABLE = "COSIGN_PASSWORD"  # cosign's own: one CI variable serves both tools
_PASSWORD_HINT = f"set {PASSWORD_VARIABLE}, or give --sign-password-stdin"
SIMPLE_SIGNING_TYPE = "cosign container image signature"

# cosign's private-key PEM types: a go-securesystemslib ``encrypted`` document inside.
_COSIGN_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
_PLAIN_TYPES = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)

# The scrypt parameters go-securesystemslib writes (legacy, standard, OWASP) and the only ones
# it reads back: a key file cannot make us spend gigabytes of memory on a tampered N.
_SCRYPT_PARAMS = ({"N": 32768, "r": 8, "p": 1}, {"N": 65536, "r": 8, "p": 1}, {"N": 131072, "r": 8, "p": 1})
_CURVE_HASHES = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}
_RSA_SIZES = (2048, 3072, 4096)  # cosign's algorithm registry knows no others


class Signer(Protocol):
    """What the attach step signs with: a name for messages (never a secret) and raw signatures."""

    @property
    def name(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class KeySigner:
    """A private key loaded from a file; ``scheme`` names the signature algorithm, for messages."""

    name: str
    scheme: str
    _key: Any = field(repr=False)

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(getattr(hashes, _CURVE_HASHES[key.curve.name])()))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign(data)

    def verifies(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` over ``data`` is this key's: an older signature of the same
        payload by this key is replaced, not kept beside the new one (cosign's own dedupe)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

        public = self._key.public_key()
        try:
            if isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(signature, data, ec.ECDSA(getattr(hashes, _CURVE_HASHES[public.curve.name])()))
            elif isinstance(public, rsa.RSAPublicKey):
                public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            else:
                assert isinstance(public, ed25519.Ed25519PublicKey)
                public.verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def public_key_pem(self) -> bytes:
        """The public half as ``cosign.pub`` holds it (PEM SubjectPublicKeyInfo), for verifiers."""
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_key(path: Path, password: bytes | None) -> KeySigner:
    """The private key in ``path``: cosign's encrypted key pair file (``cosign.key``), or a plain
    PEM key (PKCS #8, encrypted PKCS #8, SEC 1 ``EC PRIVATE KEY``, PKCS #1 RSA). ``password``
    None means none was given; cosign's files made with an empty password open without one."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read the signing key {path}: {e.strerror or e}", "give --sign-key the private key file cosign generate-key-pair wrote (cosign.key)") from e
    block = _PEM_BLOCK.search(data)
    if block is None:
        raise UsageError(f"{path} is not a PEM private key", "give --sign-key the private key file cosign generate-key-pair wrote (cosign.key)")
    pem_type = block[1].decode()
    if pem_type in _COSIGN_TYPES:
        key = _load_cosign_key(path, block[2], password)
    elif pem_type in _PLAIN_TYPES:
        key = _load_plain_key(path, block[0], password)
    elif "PUBLIC KEY" in pem_type or pem_type == "CERTIFICATE":
        raise UsageError(f"{path} holds a {pem_type.lower()}, not a private key", "--sign-key takes the private key (cosign.key); cosign.pub is for verifying")
    else:
        raise UsageError(f"{path} is not a private key (PEM type {pem_type!r})", "give --sign-key a cosign key pair's cosign.key, or a PKCS #8 / EC / RSA private key in PEM")
    return KeySigner(name=str(path), scheme=_scheme(path, key), _key=key)


def _load_cosign_key(path: Path, body: bytes, password: bytes | None) -> Any:
    """go-securesystemslib's ``encrypted`` format: JSON ``{"kdf": {"name": "scrypt", "params":
    {"N", "r", "p"}, "salt"}, "cipher": {"name": "nacl/secretbox", "nonce"}, "ciphertext"}``,
    byte strings in standard base64 (Go's ``[]byte`` in JSON); the 32-byte secretbox key is
    scrypt(password, salt); the plaintext a PKCS #8 DER key."""
    import hashlib

    import nacl.exceptions
    import nacl.secret
    from cryptography.hazmat.primitives import serialization

    try:
        document = json.loads(base64.b64decode(b"".join(body.split()), validate=True))
        kdf, cipher = document["kdf"], document["cipher"]
        params = {name: int(kdf["params"][name]) for name in ("N", "r", "p")}
        salt, nonce, ciphertext = (base64.b64decode(value, validate=True) for value in (kdf["salt"], cipher["nonce"], document["ciphertext"]))
    except (ValueError, TypeError, KeyError, binascii.Error) as e:
        raise UsageError(f"{path} is not a readable cosign private key: {e}", "generate it again with cosign generate-key-pair") from e
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
        raise UsageError(f"{path} uses {kdf.get('name')!r} / {cipher.get('name')!r}, not scrypt / nacl/secretbox", "generate it again with cosign generate-key-pair")
    if params not in _SCRYPT_PARAMS:
        raise UsageError(f"{path} asks for unsupported scrypt parameters {params}", "generate it again with cosign generate-key-pair")
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise UsageError(f"{path} has a {len(nonce)}-byte nonce, not 24", "generate it again with cosign generate-key-pair")
    secret = password if password is not None else b""  # cosign's files made with an empty password
    n, r, p = params["N"], params["r"], params["p"]
    box_key = hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=nacl.secret.SecretBox.KEY_SIZE, maxmem=256 * r * (n + p + 2))
    try:
        der = nacl.secret.SecretBox(box_key).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError as e:
        if password is None:
            raise UsageError(f"the signing key {path} is encrypted and no password was given", _PASSWORD_HINT) from e
        raise UsageError(f"wrong password for the signing key {path}", _PASSWORD_HINT) from e
    try:
        return serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{path} decrypts to no private key autopack can read", "generate it again with cosign generate-key-pair") from e
    except Exception as e:  # cryptography.exceptions.UnsupportedAlgorithm
        raise UsageError(f"{path} holds an unsupported key type ({e})", "use an ECDSA P-256/P-384/P-521, RSA or Ed25519 key") from e


def _load_plain_key(path: Path, pem: bytes, password: bytes | None) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(pem, password=password)
    except TypeError as e:
        if password is None:  # encrypted, and no password
            raise UsageError(f"the signing key {path} is encrypted and no password was given", _PASSWORD_HINT) from e
        # A password for a key that has none (COSIGN_PASSWORD set for another key): not an error.
        try:
            return serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as e2:
            raise UsageError(f"{path} is not a readable private key", "give --sign-key a PEM private key") from e2
    except ValueError as e:
        if b"ENCRYPTED" in pem[:80] or b"Proc-Type: 4,ENCRYPTED" in pem:
            raise UsageError(f"wrong password for the signing key {path}", _PASSWORD_HINT) from e
        raise UsageError(f"{path} is not a readable private key", "give --sign-key a PEM private key") from e
    except UnsupportedAlgorithm as e:
        raise UsageError(f"{path} holds an unsupported key type ({e})", "use an ECDSA P-256/P-384/P-521, RSA or Ed25519 key") from e


def _scheme(path: Path, key: Any) -> str:
    """The signature algorithm cosign would use with ``key``; anything it has none for is refused
    here, before a build, rather than by the verifier after a push."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _CURVE_HASHES:
            raise UsageError(f"the signing key {path} is on curve {key.curve.name}, which cosign does not sign with", "use a P-256 (cosign's default), P-384 or P-521 key")
        return f"ECDSA {key.curve.name} {_CURVE_HASHES[key.curve.name]}"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size not in _RSA_SIZES:
            raise UsageError(f"the signing key {path} is a {key.key_size}-bit RSA key, which cosign does not sign with", "use a 2048, 3072 or 4096-bit RSA key, or cosign's default P-256")
        return f"RSA-{key.key_size} PKCS1v15 SHA256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    raise UsageError(f"the signing key {path} is a {type(key).__name__.lstrip('_')}, which cosign does not sign with", "use an ECDSA P-256/P-384/P-521, RSA or Ed25519 key")


def read_password(environ: Mapping[str, str], from_stdin: bool, stdin: TextIO | BinaryIO) -> bytes | None:
    """The signing key's password: one line of ``stdin`` (``--sign-password-stdin``), else
    ``COSIGN_PASSWORD`` (set but empty is an empty password, as for cosign), else None.
    Registered as a secret, so no log, message or child's output shows it."""
    if from_stdin:
        line = stdin.readline()
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        password: str | None = text.rstrip("\r\n")
    else:
        password = environ.get(PASSWORD_VARIABLE)
    if password is None:
        return None
    secrets.register(password)
    return password.encode("utf-8")


@dataclass(frozen=True)
class CommandSigner:
    """An external signer: ``argv`` is run (no shell) with the bytes to sign on stdin, and prints
    the signature on stdout, base64 (as ``cosign sign-blob`` does) or raw bytes."""

    argv: tuple[str, ...]
    timeout: float = 300.0
    env: Mapping[str, str] | None = field(default=None, repr=False)

    @classmethod
    def from_command(cls, command: str, timeout: float = 300.0) -> CommandSigner:
        """``--sign-command "…"``, split as a POSIX shell would split it, but never run by one."""
        try:
            argv = tuple(shlex.split(command))
        except ValueError as e:
            raise UsageError(f"--sign-command cannot be split into words: {e}", "quote it as for a POSIX shell") from e
        if not argv:
            raise UsageError("--sign-command is empty", "give the command that reads the bytes to sign on stdin and prints the signature")
        return cls(argv, timeout)

    @property
    def name(self) -> str:
        return os.path.basename(self.argv[0])

    def sign(self, data: bytes) -> bytes:
        # Not process.run: that one merges stdout into stderr and reads text lines, and a signer
        # may print raw bytes; the rules it follows (argv, own process group, a bounded wait,
        # redacted messages) are kept here.
        try:
            # The registry, git and svn logins autopack holds are not the signer's to see.
            env = dict(self.env) if self.env is not None else secrets.child_environment(os.environ, by_value=False)
            proc = subprocess.Popen(list(self.argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
        except OSError as e:
            raise UsageError(f"the sign command {self.name} cannot be run: {e.strerror or e}", "check --sign-command: its first word must be a program on PATH or a path") from e
        try:
            out, err = proc.communicate(data, timeout=self.timeout)
        except subprocess.TimeoutExpired as e:
            _kill_group(proc)
            raise PushError(f"the sign command {self.name} did not finish within {self.timeout:g}s", "check that it reads all of stdin and exits") from e
        except BaseException:
            _kill_group(proc)
            raise
        if proc.returncode != 0:
            raise PushError(f"the sign command {self.name} exited with code {proc.returncode}{_last_line(err)}", "run --sign-command by hand with some bytes on stdin")
        signature = _decode_signature(out)
        if not signature:
            raise PushError(f"the sign command {self.name} printed no signature{_last_line(err)}", "it must print the signature on stdout, base64 or raw")
        return signature


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return f": {printable.clean(lines[-1].strip())}" if lines else ""


_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


def _decode_signature(out: bytes) -> bytes:
    """Base64 text if stdout is nothing but that (line breaks allowed: ``base64`` wraps at 76), else the raw
    bytes. A raw signature that happens to be all base64 characters is not a real risk: an
    ECDSA DER signature has the byte 0x02 third, and 64 random bytes of Ed25519 or RSA's 256
    would each have to fall in 64 of 256 values."""
    text = b"".join(out.split())
    if text and _BASE64_TEXT.fullmatch(text) and len(text) % 4 == 0:
        return base64.b64decode(text)
    return out


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """The payload ``cosign sign`` signs for an image: sigstore's ``payload.SimpleContainerImage``
    as Go's encoding/json writes it (struct field order, compact, HTML characters escaped),
    with no annotations (``"optional":null``). ``docker_reference`` is the repository
    (``registry/path``) cosign puts there."""
    document = {"critical": {"identity": {"docker-reference": docker_reference}, "image": {"docker-manifest-digest": digest}, "type": SIMPLE_SIGNING_TYPE}, "optional": None}
    return _go_json(document)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what a DSSE signature covers (lengths in bytes)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def dsse_envelope(payload_type: str, payload: bytes, signer: Signer | None) -> bytes:
    """A DSSE envelope as cosign writes an attestation's (``keyid`` empty); unsigned: no signatures."""
    signatures: Sequence[dict[str, str]] = [{"keyid": "", "sig": base64.b64encode(signer.sign(pae(payload_type, payload))).decode()}] if signer else []
    return _go_json({"payloadType": payload_type, "payload": base64.b64encode(payload).decode(), "signatures": list(signatures)})


def _go_json(document: object) -> bytes:
    """JSON byte for byte as Go's ``json.Marshal`` writes it: compact, UTF-8, and ``<``, ``>``,
    ``&``, U+2028 and U+2029 escaped — the bytes a signature covers must be the ones cosign
    would have made."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8")
