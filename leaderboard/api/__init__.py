"""The read-only JSON API (Django REST Framework): the same reads as the pages, versioned under /api/v1/."""
