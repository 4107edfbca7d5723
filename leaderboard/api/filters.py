"""django-filter filter sets of the API's lists (models, runs, suites), documented in the OpenAPI schema."""
from __future__ import annotations

from datetime import timezone

import django_filters
from django import forms

from evaluations.models import ModelEntry, Run, RunStatus, Suite


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, in UTC before it reaches the database: Python takes offsets up to ±23:59 but
    PostgreSQL only up to ±15:59, so `2000-01-01T00:00+21:00` was a 500 (found by tests/api/test_schemathesis.py)."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError as exc:  # year 1 or 9999 pushed past the calendar by its offset
            raise forms.ValidationError("Enter a date-time between the years 1 and 9999 in UTC.", code="invalid") \
                from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ModelFilter(django_filters.FilterSet):
    family = django_filters.CharFilter(lookup_expr="iexact")
    license = django_filters.CharFilter(lookup_expr="iexact")
    format = django_filters.CharFilter(lookup_expr="iexact")
    quantization = django_filters.CharFilter(lookup_expr="iexact")
    source_kind = django_filters.ChoiceFilter(choices=ModelEntry.SourceKind.choices)
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name, any case")
    min_parameters = django_filters.NumberFilter(field_name="parameter_count", lookup_expr="gte")
    max_parameters = django_filters.NumberFilter(field_name="parameter_count", lookup_expr="lte")

    class Meta:
        model = ModelEntry
        fields = ["family", "license", "format", "quantization", "source_kind"]


class RunFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__slug", help_text="Model slug")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    suite = django_filters.NumberFilter(field_name="suite_id", help_text="Suite version id")
    backend = django_filters.CharFilter()
    preset = django_filters.CharFilter()
    benchmark = django_filters.CharFilter(field_name="benchmarks__slug", distinct=True,
                                          help_text="Runs that evaluated this benchmark slug")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["model", "status", "suite", "backend", "preset", "benchmark"]


class SuiteFilter(django_filters.FilterSet):
    slug = django_filters.CharFilter()

    class Meta:
        model = Suite
        fields = ["slug"]
