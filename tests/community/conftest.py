"""Named people for the community tests (alice submits, bob is another user, mod moderates, staff is staff),
uploads kept in a temporary folder, and small weights files."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.community.files import CONFIG, TOKENIZER, gguf_bytes, safetensors_bytes


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.BENCHSITE_UPLOAD_DIR = tmp_path / "uploads"
    settings.BENCHSITE_ALLOW_PRIVATE_ENDPOINTS = True
    cache.clear()  # API throttle histories
    yield settings.BENCHSITE_UPLOAD_DIR
    cache.clear()


@pytest.fixture
def people(db):
    # No passwords (tests sign in with force_login): hashing one takes the better part of a second.
    users = get_user_model().objects
    moderators = Group.objects.create(name="moderators")
    mod = users.create_user("mod", "mod@example.org", None)
    mod.groups.add(moderators)
    return {
        "alice": users.create_user("alice", "alice@example.org", None),
        "bob": users.create_user("bob", "bob@example.org", None),
        "mod": mod,
        "staff": users.create_user("staff", "staff@example.org", None, is_staff=True),
    }


def gguf_upload(name: str = "tiny.gguf", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, gguf_bytes(**kwargs), content_type="application/octet-stream")


def safetensors_uploads(seed: int = 4) -> dict:
    return {"file": SimpleUploadedFile("model.safetensors", safetensors_bytes(shape=(seed, 8))),
            "config": SimpleUploadedFile("config.json", CONFIG),
            "tokenizer": SimpleUploadedFile("tokenizer.json", TOKENIZER)}


def staged_files(upload_dir) -> list:
    staging = upload_dir / "staging"
    return sorted(staging.iterdir()) if staging.exists() else []
