from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "community"

    def ready(self) -> None:
        # Submissions follow their runs; evaluations announces status changes without knowing who listens.
        from evaluations.signals import run_status_changed

        run_status_changed.connect(_run_status_changed, dispatch_uid="community.submissions_follow_run")


def _run_status_changed(sender, *, run_id: int, status: str, **kwargs) -> None:
    from community.services import submissions_follow_run

    submissions_follow_run(run_id=run_id)
