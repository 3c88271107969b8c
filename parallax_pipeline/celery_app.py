"""The Celery app of Parallax Studio's workers: ``celery -A parallax_pipeline.celery_app worker``.

dagster-celery's own app (``dagster_celery.app``) reads its settings from a generated
module; this one is built from the same environment as the runs' executor
(`deployment.celery_settings`, ``PARALLAX_CELERY_BROKER`` / ``_BACKEND``), so the workers
acknowledge late and give back the steps of a dead worker exactly as the runs expect.
It serves dagster-celery's step task (``execute_plan``) on the ``dagster`` queue; a worker
needs the instance (``DAGSTER_HOME``) and the artifact store's variables of the runs.
"""

from __future__ import annotations

from parallax_pipeline import deployment

try:
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task
except ImportError as error:  # pragma: no cover - the message is the point
    raise RuntimeError("Celery workers need dagster-celery and a Redis client: pip install '.[deploy]'") from error

# The same construction as the run's side (CeleryExecutor.app_args -> make_app).
app = make_app(
    CeleryExecutor.for_cli(
        broker=deployment.celery_broker(),
        backend=deployment.celery_backend(),
        config_source=deployment.celery_settings(),
    ).app_args()
)
execute_plan = create_task(app)
