"""Each finished run's signed manifest (evaluations.manifests), stored when the run finishes."""
from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from evaluations import manifests
from evaluations.models import Run, RunStatus, SignedManifest

logger = logging.getLogger(__name__)


def manifest_after_finish(*, run_id: int) -> None:
    """The hook `run_finish_if_complete` calls: a signing error is logged (the manifest is signed on first
    download instead), never fails the finished run."""
    try:
        manifest_store(run=Run.objects.select_related("model").get(pk=run_id))
    except Exception:
        logger.exception("could not sign the manifest of run %s", run_id)


def manifest_store(*, run: Run) -> SignedManifest:
    """Sign the run's manifest and keep it; a run signed already keeps its first record."""
    if run.status != RunStatus.FINISHED:
        raise ValueError(f"run {run.pk} is {run.status}; only finished runs have a manifest")
    stored = SignedManifest.objects.filter(run=run).first()
    if stored is not None:
        return stored
    document = manifests.manifest_sign(manifests.run_manifest(run))
    try:
        with transaction.atomic():
            return SignedManifest.objects.create(run=run, document=document, key_id=document["signature"]["key_id"],
                                                 samples_sha256=document["manifest"]["samples"]["sha256"])
    except IntegrityError:  # signed meanwhile by another process: theirs is the record
        return SignedManifest.objects.get(run=run)
