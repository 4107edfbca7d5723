"""The web process stays light: serving pages never loads a model runtime or a benchmark module."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "llama_cpp", "sacrebleu", "nltk", "rouge_score", "runner.catalog",
         "runner.benchmarks", "runner.sandbox", "runner.backends.hf", "runner.backends.llama_cpp")

# A fresh interpreter: the test process itself has imported everything by now.
SCRIPT = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
os.environ["DATABASE_URL"] = "sqlite:///:memory:"
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import benchsite.urls, benchsite.asgi  # noqa: F401  the URL conf, the websocket routes
from django.test import Client
client = Client()
pages = ["/", "/models/", "/runs/", "/runs/live/", "/performance/", "/workers/", "/api/schema/"]
statuses = {page: client.get(page).status_code for page in pages}
print(json.dumps({"statuses": statuses, "modules": sorted(sys.modules)}))
"""


def test_serving_pages_imports_no_model_runtime_and_no_benchmark_module():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["statuses"].values()) == {200}, report["statuses"]
    loaded = set(report["modules"])
    imported = sorted(name for name in HEAVY if name in loaded)
    assert imported == [], f"the web process imported {imported}"
