"""The Celery app the worker tests start: the product's app plus the test suite's fake backend."""
from benchsite.celery import app
from tests.fake_backend import register

register()

__all__ = ["app"]
