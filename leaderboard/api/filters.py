"""django-filter filter sets of the API's lists (models, runs, suites), documented in the OpenAPI schema."""
from __future__ import annotations

import django_filters

from evaluations.models import ModelEntry, Run, RunStatus, Suite


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
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["model", "status", "suite", "backend", "preset", "benchmark"]


class SuiteFilter(django_filters.FilterSet):
    slug = django_filters.CharFilter()

    class Meta:
        model = Suite
        fields = ["slug"]
