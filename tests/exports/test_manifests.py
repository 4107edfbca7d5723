"""Signed run manifests: the site's key, signing, verification of intact and tampered manifests, the key page."""
from __future__ import annotations

import copy
import json
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from evaluations import manifests
from evaluations.models import Sample, Score, SignedManifest
from evaluations.services.manifests import manifest_store
from tests.leaderboard.factories import ModelEntryFactory, SampleFactory, finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def site_key(tmp_path, settings):
    settings.BENCHSITE_SIGNING_KEY = str(tmp_path / "keys" / "ed25519.pem")
    return tmp_path / "keys" / "ed25519.pem"


@pytest.fixture
def run():
    run = finished_run(ModelEntryFactory(name="signed"), {"arc_easy": 0.5, "winogrande": 0.75},
                       dataset_hashes={"arc_easy": "d" * 64}, task_spec_hashes={"arc_easy": "s" * 64})
    arc = run.benchmarks.get(slug="arc_easy")
    for doc_id in range(4):
        SampleFactory(run=run, benchmark=arc, doc_id=doc_id, correct=doc_id % 2 == 0)
    return run


def test_the_key_is_made_once_on_first_use_and_kept_private(site_key):
    assert not site_key.exists()
    first = manifests.key_id()
    assert site_key.exists() and stat.S_IMODE(site_key.stat().st_mode) == 0o600
    assert manifests.key_id() == first and len(first) == 16


def test_a_finished_runs_manifest_holds_its_hashes_scores_and_samples_digest(run):
    document = manifest_store(run=run).document
    manifest = document["manifest"]

    assert manifest["run_id"] == run.pk and manifest["config_hash"] == run.config_hash
    assert manifest["model"]["sha256"] == run.model_sha256 and manifest["dataset_hashes"] == {"arc_easy": "d" * 64}
    assert {(s["benchmark"], s["metric"], s["value"]) for s in manifest["scores"]} == {
        ("arc_easy", "acc_norm", 0.5), ("winogrande", "acc", 0.75)}
    assert manifest["samples"]["count"] == 4
    assert manifests.manifest_verify(document).valid
    # Stored once: asking again gives the same record, not a new signature.
    assert manifest_store(run=run).pk == SignedManifest.objects.get(run=run).pk


@pytest.mark.parametrize("tamper", [
    lambda m: m["scores"][0].__setitem__("value", 0.99),
    lambda m: m["samples"].__setitem__("sha256", "0" * 64),
    lambda m: m["dataset_hashes"].__setitem__("arc_easy", "e" * 64),
    lambda m: m.__setitem__("run_id", m["run_id"] + 1),
], ids=["score", "samples digest", "dataset hash", "run id"])
def test_a_tampered_manifest_fails(run, tamper):
    document = manifest_store(run=run).document
    altered = copy.deepcopy(document)
    tamper(altered["manifest"])

    result = manifests.manifest_verify(altered)

    assert not result.valid and "altered" in result.reason
    assert manifests.manifest_verify(document).valid


def test_a_manifest_re_signed_with_another_key_is_refused(run):
    forged = manifests.run_manifest(run)
    forged["scores"][0]["value"] = 0.99
    document = manifests.manifest_sign(forged, key=Ed25519PrivateKey.generate())

    result = manifests.manifest_verify(document)

    assert not result.valid and "not by the trusted key" in result.reason


def test_verify_run_checks_a_file_against_the_published_key(run, tmp_path, client: Client):
    path = tmp_path / "manifest.json"
    response = client.get(reverse("leaderboard:run_manifest", args=[run.pk]))
    path.write_bytes(response.content)
    pem = tmp_path / "site.pem"
    pem.write_bytes(client.get(reverse("leaderboard:key_pem")).content)

    call_command("verify_run", str(path), "--public-key", str(pem), "--against-database")

    document = json.loads(path.read_text())
    document["manifest"]["scores"][1]["value"] = 1.0
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="NOT VERIFIED") as failure:
        call_command("verify_run", str(path), "--public-key", str(pem))
    assert failure.value.returncode == 1


def test_verify_run_notices_a_database_altered_after_signing(run, tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest_store(run=run).document))
    Score.objects.filter(run=run, benchmark__slug="arc_easy").update(value=0.9)
    Sample.objects.filter(run=run, doc_id=1).update(prediction="0")

    with pytest.raises(CommandError, match="differ from the manifest in: samples, scores"):
        call_command("verify_run", str(path), "--against-database")


def test_the_key_page_shows_the_public_key_and_private_runs_manifests_stay_private(client: Client, run):
    owner = get_user_model().objects.create_user("owner", "owner@example.org", "pw")
    private = finished_run(run.model, {"arc_easy": 0.4}, is_private=True, created_by=owner)

    page = client.get(reverse("leaderboard:keys")).content.decode()
    hidden = client.get(reverse("leaderboard:run_manifest", args=[private.pk]))
    client.force_login(owner)
    shown = client.get(reverse("leaderboard:run_manifest", args=[private.pk]))

    assert manifests.key_id() in page and "BEGIN PUBLIC KEY" in page
    assert hidden.status_code == 404 and shown.status_code == 200
    assert manifests.manifest_verify(shown.json()).valid


def test_verify_run_without_a_key_here_asks_for_one_instead_of_making_one(run, tmp_path, site_key):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifests.manifest_sign(manifests.run_manifest(run), key=Ed25519PrivateKey.generate())))

    with pytest.raises(CommandError, match="pass --public-key"):
        call_command("verify_run", str(path))
    assert not site_key.exists()
