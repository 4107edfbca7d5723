"""Signed run manifests: what a finished run was (configuration, model, data and spec hashes, scores, a digest of
every stored sample), signed with the site's ed25519 key, so anyone holding the public key can check that a
published score was not altered.

The manifest is canonical JSON (sorted keys, no spaces, UTF-8) and the signature covers exactly those bytes.
The key is generated on first use at BENCHSITE_SIGNING_KEY (default var/signing/ed25519.pem, mode 0600); it
is never committed. The public key is served at /keys/.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from evaluations.models import Run, Sample, Score

FORMAT = "benchsite-run-manifest/1"
ALGORITHM = "ed25519"
# The fields of a sample that its digest covers: what was asked, answered and scored.
SAMPLE_FIELDS = ("benchmark", "doc_id", "prompt", "target", "output", "prediction", "loglikelihoods", "metrics")


@dataclass(frozen=True)
class Verification:
    valid: bool
    reason: str  # why not, or what was verified
    key_id: str = ""


# -- the site's key ------------------------------------------------------------------------------
def signing_key_path() -> Path:
    return Path(settings.BENCHSITE_SIGNING_KEY)


def site_private_key() -> Ed25519PrivateKey:
    """The site's key, generated on first use. Created exclusively, so two processes starting at once agree."""
    path = signing_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read its key
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an ed25519 private key")
    return key


def site_public_key() -> Ed25519PublicKey:
    return site_private_key().public_key()


def public_key_pem(key: Ed25519PublicKey | None = None) -> str:
    key = key or site_public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(key: Ed25519PublicKey | None = None) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key: names the key in every signature."""
    raw = (key or site_public_key()).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an ed25519 public key")
    return key


# -- manifests -----------------------------------------------------------------------------------
def canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def samples_digest(run: Run) -> tuple[str, int]:
    """SHA-256 over the run's samples as canonical JSON lines, in (benchmark, doc_id) order; and their count."""
    digest = hashlib.sha256()
    count = 0
    rows = (Sample.objects.filter(run=run).order_by("benchmark__slug", "doc_id")
            .values_list("benchmark__slug", "doc_id", "prompt", "target", "output", "prediction", "loglikelihoods",
                         "metrics"))
    for row in rows.iterator(chunk_size=2000):
        digest.update(canonical(dict(zip(SAMPLE_FIELDS, row))) + b"\n")
        count += 1
    return digest.hexdigest(), count


def run_manifest(run: Run) -> dict:
    """The facts a published score rests on, as a JSON-ready dict."""
    digest, count = samples_digest(run)
    scores = [
        {"benchmark": slug, "metric": metric, "value": value, "stderr": stderr, "n": n, "primary": primary,
         "config_key": key}
        for slug, metric, value, stderr, n, primary, key in Score.objects.filter(run=run)
        .order_by("benchmark__slug", "metric")
        .values_list("benchmark__slug", "metric", "value", "stderr", "n", "is_primary", "config_key")
    ]
    model = run.model
    return {
        "format": FORMAT,
        "run_id": run.pk,
        "model": {"name": model.name, "slug": model.slug, "sha256": run.model_sha256, "source": model.location,
                  "revision": model.revision, "quantization": model.quantization},
        "backend": run.backend,
        "preset": run.preset,
        "config": run.config,
        "config_hash": run.config_hash,
        "dataset_hashes": run.dataset_hashes,
        "task_spec_hashes": run.task_spec_hashes,
        "environment": run.environment,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "scores": scores,
        "samples": {"count": count, "sha256": digest, "fields": list(SAMPLE_FIELDS)},
    }


def manifest_sign(manifest: dict, key: Ed25519PrivateKey | None = None) -> dict:
    """{"manifest": ..., "signature": {algorithm, key_id, public_key, value}}: the value signs canonical(manifest)."""
    key = key or site_private_key()
    public = key.public_key()
    return {
        "manifest": manifest,
        "signature": {
            "algorithm": ALGORITHM,
            "key_id": key_id(public),
            "public_key": base64.b64encode(
                public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode(),
            "value": base64.b64encode(key.sign(canonical(manifest))).decode(),
        },
    }


def manifest_verify(document: dict, public_key: Ed25519PublicKey | None = None) -> Verification:
    """Check a signed manifest against a trusted key (the site's own unless given).

    The public key inside the document is not trusted: anyone can re-sign an altered manifest with a key of
    their own, so the check is against the key published at /keys/.
    """
    trusted = public_key or site_public_key()
    try:
        manifest, signature = document["manifest"], document["signature"]
        if signature.get("algorithm") != ALGORITHM:
            return Verification(False, f"unsupported algorithm {signature.get('algorithm')!r}")
        value = base64.b64decode(signature["value"], validate=True)
        body = canonical(manifest)
    except (KeyError, TypeError, ValueError) as exc:
        return Verification(False, f"not a signed manifest: {type(exc).__name__}: {exc}")
    expected = key_id(trusted)
    if signature.get("key_id") != expected:
        return Verification(False, f"signed by key {signature.get('key_id')!r}, not by the trusted key {expected}",
                            expected)
    try:
        trusted.verify(value, body)
    except InvalidSignature:
        return Verification(False, "the signature does not match the manifest: it was altered after signing",
                            expected)
    return Verification(True, f"signed by key {expected}", expected)


def manifest_matches_database(document: dict) -> Verification:
    """Whether the run's rows here still give the signed manifest (the database was not altered either)."""
    run_id = document.get("manifest", {}).get("run_id")
    run = Run.objects.select_related("model").filter(pk=run_id).first()
    if run is None:
        return Verification(False, f"run {run_id} is not in this database")
    current = run_manifest(run)
    differing = sorted(key for key in current.keys() | document["manifest"].keys()
                       if current.get(key) != document["manifest"].get(key))
    if differing:
        return Verification(False, f"run {run_id}'s stored rows differ from the manifest in: {', '.join(differing)}")
    return Verification(True, f"run {run_id}'s stored rows give the same manifest")
