"""django.tasks entry points. Ids in, one service call inside, plain JSON out.

The backend is ``django_tasks_db`` (settings ``TASKS``): ``manage.py db_worker`` (or the
worker thread of ``manage.py serve``) executes them. ``services.dispatch`` enqueues these
through ``transaction.on_commit`` so a worker never sees a run that was rolled back; this
module therefore imports only the worker service below it, never dispatch.
"""

from django.tasks import task

from collection.services.worker import run_worker_execute


@task()
def run_collection_task(*, run_id: int) -> dict:
    """Execute (or join) a collection run; see ``services.worker.run_worker_execute``."""
    return run_worker_execute(run_id=run_id)
