"""Signing: cosign's own key files and verifier where cosign can be built, cryptography's
public-key API as the independent check everywhere, and real external signers (openssl)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
from pathlib import Path

import nacl.secret
import nacl.utils
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from autopack import secrets
from autopack.attest.sign import CommandSigner, KeySigner, dsse_envelope, load_key, pae, read_password, simple_signing_payload
from autopack.errors import PushError, UsageError
from tests.servers.go_tools import cosign, cosign_env  # noqa: F401  (a fixture)

PAYLOAD = b'{"hello":"world","n":1}\n'
PASSWORD = "correct-horse-battery-7"


# --- with the real cosign -------------------------------------------------------------------


def _run(argv: list[str | Path], env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr[-2000:]}"
    return done


def _verify_blob(binary: Path, tmp_path: Path, pub: Path, signature: bytes, payload: bytes, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "blob").write_bytes(payload)
    (tmp_path / "blob.sig").write_bytes(base64.b64encode(signature))
    argv: list[str | Path] = [binary, "verify-blob", "--key", pub, "--signature", tmp_path / "blob.sig", "--insecure-ignore-tlog=true", *extra, tmp_path / "blob"]
    return _run(argv, cosign_env(tmp_path), tmp_path, check=False)


@pytest.fixture
def cosign_key_pair(cosign: Path, tmp_path: Path) -> tuple[Path, Path]:  # noqa: F811
    _run([cosign, "generate-key-pair"], cosign_env(tmp_path, COSIGN_PASSWORD=PASSWORD), tmp_path)
    return tmp_path / "cosign.key", tmp_path / "cosign.pub"


def test_a_cosign_key_pair_signs_what_cosign_verifies(cosign: Path, cosign_key_pair: tuple[Path, Path], tmp_path: Path) -> None:  # noqa: F811
    key, pub = cosign_key_pair
    assert key.read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    signer = load_key(key, PASSWORD.encode())
    assert signer.scheme == "ECDSA secp256r1 SHA256"  # cosign's default key
    assert signer.public_key_pem() == pub.read_bytes()
    signature = signer.sign(PAYLOAD)
    verified = _verify_blob(cosign, tmp_path, pub, signature, PAYLOAD)
    assert verified.returncode == 0, verified.stderr
    assert "Verified OK" in verified.stderr
    tampered = _verify_blob(cosign, tmp_path, pub, signature, PAYLOAD.replace(b"1", b"2"))
    assert tampered.returncode != 0
    assert "invalid signature" in tampered.stderr


def test_a_cosign_key_with_the_wrong_password_is_a_usage_error(cosign_key_pair: tuple[Path, Path]) -> None:
    key, _ = cosign_key_pair
    with pytest.raises(UsageError) as wrong:
        load_key(key, b"not-the-password")
    assert wrong.value.message == f"wrong password for the signing key {key}"
    assert "COSIGN_PASSWORD" in wrong.value.hint and "--sign-password-stdin" in wrong.value.hint
    assert "not-the-password" not in wrong.value.one_line() and PASSWORD not in wrong.value.one_line()
    with pytest.raises(UsageError, match="is encrypted and no password was given"):
        load_key(key, None)


def test_a_cosign_key_made_with_an_empty_password_needs_none(cosign: Path, tmp_path: Path) -> None:  # noqa: F811
    _run([cosign, "generate-key-pair"], cosign_env(tmp_path, COSIGN_PASSWORD=""), tmp_path)
    signer = load_key(tmp_path / "cosign.key", None)
    assert _verify_blob(cosign, tmp_path, tmp_path / "cosign.pub", signer.sign(PAYLOAD), PAYLOAD).returncode == 0


def _pkcs8(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.mark.parametrize(
    ("make", "scheme", "verify_flags"),
    [
        # cosign signs with the curve's hash, and verifies with SHA-256 unless told otherwise.
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ECDSA secp384r1 SHA384", ["--signature-digest-algorithm", "sha384"]),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ECDSA secp521r1 SHA512", ["--signature-digest-algorithm", "sha512"]),
        (lambda: rsa.generate_private_key(65537, 2048), "RSA-2048 PKCS1v15 SHA256", []),
        (ed25519.Ed25519PrivateKey.generate, "Ed25519", []),
    ],
    ids=["p384", "p521", "rsa", "ed25519"],
)
def test_keys_cosign_imports_sign_what_cosign_verifies(cosign: Path, tmp_path: Path, make, scheme: str, verify_flags: list[str]) -> None:  # noqa: F811
    (tmp_path / "plain.pem").write_bytes(_pkcs8(make()))
    _run([cosign, "import-key-pair", "--key", "plain.pem", "--output-key-prefix", "imported"], cosign_env(tmp_path, COSIGN_PASSWORD=PASSWORD), tmp_path)
    for path, password in ((tmp_path / "imported.key", PASSWORD.encode()), (tmp_path / "plain.pem", None)):
        signer = load_key(path, password)
        assert signer.scheme == scheme
        verified = _verify_blob(cosign, tmp_path, tmp_path / "imported.pub", signer.sign(PAYLOAD), PAYLOAD, *verify_flags)
        assert verified.returncode == 0, f"{path}: {verified.stderr}"


def test_the_simple_signing_payload_is_what_cosign_generates(cosign: Path, tmp_path: Path) -> None:  # noqa: F811
    digest = "sha256:" + hashlib.sha256(b"manifest").hexdigest()
    generated = _run([cosign, "generate", f"registry.example.com:5000/team/app@{digest}"], cosign_env(tmp_path), tmp_path)
    assert simple_signing_payload("registry.example.com:5000/team/app", digest) == generated.stdout.strip().encode()


def test_an_external_signer_s_signatures_verify_with_cosign(cosign: Path, cosign_key_pair: tuple[Path, Path], tmp_path: Path) -> None:  # noqa: F811
    """``cosign sign-blob`` itself as the external signer: base64 on stdout."""
    key, pub = cosign_key_pair
    signer = CommandSigner((str(cosign), "sign-blob", "--key", str(key), "--tlog-upload=false", "-"), env=cosign_env(tmp_path, COSIGN_PASSWORD=PASSWORD))
    assert signer.name == "cosign"
    assert _verify_blob(cosign, tmp_path, pub, signer.sign(PAYLOAD), PAYLOAD).returncode == 0
    der = _openssl_signer(tmp_path)
    (tmp_path / "openssl.pub").write_bytes(load_key(tmp_path / "key.pem", None).public_key_pem())
    assert _verify_blob(cosign, tmp_path, tmp_path / "openssl.pub", der.sign(PAYLOAD), PAYLOAD).returncode == 0


# --- without cosign -------------------------------------------------------------------------


def _verify(signer: KeySigner, signature: bytes, data: bytes) -> None:
    """cryptography's verifier on the public key the signer reports: raises if it does not verify."""
    public = serialization.load_pem_public_key(signer.public_key_pem())
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(hashes.SHA256() if public.curve.name == "secp256r1" else hashes.SHA384()))
    elif isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, data)


@pytest.mark.parametrize(
    ("make", "form", "password"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "pkcs8-encrypted", b"pem-password-1"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "traditional", None),  # EC PRIVATE KEY
        (lambda: ec.generate_private_key(ec.SECP384R1()), "pkcs8", None),
        (lambda: rsa.generate_private_key(65537, 2048), "traditional", None),  # RSA PRIVATE KEY
        (lambda: rsa.generate_private_key(65537, 3072), "pkcs8-encrypted", b"pem-password-2"),
        (ed25519.Ed25519PrivateKey.generate, "pkcs8", None),
    ],
    ids=["p256-encrypted-pkcs8", "p256-ec-private-key", "p384-pkcs8", "rsa-pkcs1", "rsa-encrypted-pkcs8", "ed25519-pkcs8"],
)
def test_plain_pem_keys_sign_what_their_public_key_verifies(tmp_path: Path, make, form: str, password: bytes | None) -> None:
    key = make()
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if form == "traditional" else serialization.PrivateFormat.PKCS8
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path = tmp_path / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, encryption))
    signer = load_key(path, password)
    assert signer.public_key_pem() == key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signature = signer.sign(PAYLOAD)
    _verify(signer, signature, PAYLOAD)
    with pytest.raises(Exception):  # noqa: B017  (cryptography's InvalidSignature)
        _verify(signer, signature, PAYLOAD + b" ")
    assert load_key(path, b"a-password-for-another-key" if not password else password).public_key_pem() == signer.public_key_pem()


def _seal_like_cosign(der: bytes, password: bytes, pem_type: str = "ENCRYPTED SIGSTORE PRIVATE KEY", n: int = 32768) -> bytes:
    """go-securesystemslib's ``encrypted.Encrypt``, written from its format, independently of autopack's reader."""
    salt, nonce = nacl.utils.random(32), nacl.utils.random(24)
    box_key = hashlib.scrypt(password, salt=salt, n=n, r=8, p=1, dklen=32, maxmem=2**28)
    ciphertext = nacl.secret.SecretBox(box_key).encrypt(der, nonce).ciphertext
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    document = {"kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": b64(salt)}, "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)}, "ciphertext": b64(ciphertext)}
    body = base64.encodebytes(json.dumps(document).encode()).decode()
    return f"-----BEGIN {pem_type}-----\n{body}-----END {pem_type}-----\n".encode()


@pytest.mark.parametrize("pem_type", ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"])
def test_a_cosign_format_key_opens_with_its_password(tmp_path: Path, pem_type: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "cosign.key"
    path.write_bytes(_seal_like_cosign(der, b"sealed-pw-1", pem_type))
    signer = load_key(path, b"sealed-pw-1")
    _verify(signer, signer.sign(PAYLOAD), PAYLOAD)
    with pytest.raises(UsageError, match="wrong password"):
        load_key(path, b"sealed-pw-2")


def test_a_cosign_format_key_with_tampered_scrypt_parameters_is_refused_before_any_work(tmp_path: Path) -> None:
    der = _pkcs8(ec.generate_private_key(ec.SECP256R1()))
    path = tmp_path / "cosign.key"
    path.write_bytes(_seal_like_cosign(der, b"pw", n=2**12))
    with pytest.raises(UsageError, match="unsupported scrypt parameters"):
        load_key(path, b"pw")


def test_what_is_not_a_usable_private_key_is_a_one_line_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.key"
    with pytest.raises(UsageError, match=f"cannot read the signing key {missing}: No such file or directory"):
        load_key(missing, None)
    key = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "cosign.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(UsageError, match="holds a public key, not a private key") as public:
        load_key(pub, None)
    assert "cosign.pub is for verifying" in public.value.hint
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(UsageError, match="is not a PEM private key"):
        load_key(text, None)
    k1 = tmp_path / "k1.pem"
    k1.write_bytes(_pkcs8(ec.generate_private_key(ec.SECP256K1())))
    with pytest.raises(UsageError, match="on curve secp256k1, which cosign does not sign with"):
        load_key(k1, None)
    small = tmp_path / "rsa1024.pem"
    small.write_bytes(_pkcs8(rsa.generate_private_key(65537, 1024)))
    with pytest.raises(UsageError, match="1024-bit RSA key"):
        load_key(small, None)
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"right-pw")))
    with pytest.raises(UsageError, match="is encrypted and no password was given"):
        load_key(encrypted, None)
    with pytest.raises(UsageError) as wrong:
        load_key(encrypted, b"wrong-pw")
    assert wrong.value.message == f"wrong password for the signing key {encrypted}"
    assert "wrong-pw" not in wrong.value.one_line() and "\n" not in wrong.value.one_line()


def test_the_password_comes_from_stdin_or_cosign_s_variable_and_is_redacted() -> None:
    assert read_password({"COSIGN_PASSWORD": "from-the-env-1"}, False, io.StringIO("")) == b"from-the-env-1"
    assert secrets.redact("pw=from-the-env-1") == f"pw={secrets.MASK}"
    assert read_password({"COSIGN_PASSWORD": "ignored-env-pw"}, True, io.StringIO("from-stdin-2\nnext line\n")) == b"from-stdin-2"
    assert read_password({}, True, io.BytesIO("stdïn-bytes-3\r\n".encode())) == "stdïn-bytes-3".encode()
    assert secrets.redact("stdïn-bytes-3") == secrets.MASK
    assert read_password({"COSIGN_PASSWORD": ""}, False, io.StringIO("")) == b""  # set but empty, as cosign reads it
    assert read_password({}, False, io.StringIO("unread")) is None


def test_pae_matches_the_dsse_spec_vectors() -> None:
    # The vectors of go-securesystemslib's dsse tests (the DSSE protocol's own example).
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("http://example.com/HelloWorld", "ಠ".encode()) == "DSSEv1 29 http://example.com/HelloWorld 3 ಠ".encode()


def test_a_dsse_envelope_round_trips_and_its_signature_covers_the_pae(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(_pkcs8(ec.generate_private_key(ec.SECP256R1())))
    signer = load_key(path, None)
    payload_type = "application/vnd.in-toto+json"
    envelope = json.loads(dsse_envelope(payload_type, PAYLOAD, signer))
    assert list(envelope) == ["payloadType", "payload", "signatures"]
    assert envelope["payloadType"] == payload_type and base64.b64decode(envelope["payload"]) == PAYLOAD
    [signature] = envelope["signatures"]
    assert signature["keyid"] == ""
    _verify(signer, base64.b64decode(signature["sig"]), pae(payload_type, PAYLOAD))
    assert dsse_envelope(payload_type, PAYLOAD, None) == b'{"payloadType":"application/vnd.in-toto+json","payload":"%s","signatures":[]}' % base64.b64encode(PAYLOAD)


def test_the_simple_signing_payload_has_cosign_s_exact_bytes() -> None:
    # As `cosign generate registry.example.com/team/app@sha256:00…00` (v2.6.5) prints it.
    digest = "sha256:" + "0" * 64
    assert simple_signing_payload("registry.example.com/team/app", digest) == (
        b'{"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},"image":{"docker-manifest-digest":"sha256:' + b"0" * 64 + b'"},"type":"cosign container image signature"},"optional":null}'
    )


def _openssl_signer(tmp_path: Path) -> CommandSigner:
    """openssl as an external signer: it reads stdin and writes the raw DER signature."""
    (tmp_path / "key.pem").write_bytes(_pkcs8(ec.generate_private_key(ec.SECP256R1())))
    return CommandSigner.from_command(f"openssl dgst -sha256 -sign {tmp_path / 'key.pem'}")


def test_an_external_signer_may_print_raw_der_or_base64(tmp_path: Path) -> None:
    der = _openssl_signer(tmp_path)
    key = load_key(tmp_path / "key.pem", None)
    raw = der.sign(PAYLOAD)
    assert raw[0] == 0x30  # a DER SEQUENCE, as openssl wrote it
    _verify(key, raw, PAYLOAD)
    script = tmp_path / "sign-b64"
    script.write_text(f"#!/bin/sh\nset -e\nopenssl dgst -sha256 -sign '{tmp_path / 'key.pem'}' | base64\n")
    script.chmod(0o755)
    printed = CommandSigner.from_command(str(script))
    assert printed.name == "sign-b64"
    _verify(key, printed.sign(PAYLOAD), PAYLOAD)


def test_a_failing_external_signer_is_one_line_naming_it(tmp_path: Path) -> None:
    secrets.register("kms-token-4711")
    failing = CommandSigner.from_command("""sh -c 'cat >/dev/null; echo starting >&2; echo "denied for kms-token-4711" >&2; exit 3'""")
    with pytest.raises(PushError) as failed:
        failing.sign(PAYLOAD)
    assert failed.value.message == f"the sign command sh exited with code 3: denied for {secrets.MASK}"
    silent = CommandSigner.from_command("true")
    with pytest.raises(PushError, match="the sign command true printed no signature"):
        silent.sign(PAYLOAD)
    with pytest.raises(UsageError, match="the sign command no-such-signer-xyz cannot be run"):
        CommandSigner.from_command("no-such-signer-xyz --key k").sign(PAYLOAD)
    with pytest.raises(PushError, match="did not finish within 0.5s"):
        CommandSigner(("sleep", "30"), timeout=0.5).sign(PAYLOAD)
    with pytest.raises(UsageError, match="--sign-command is empty"):
        CommandSigner.from_command("  ")
