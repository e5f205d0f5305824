"""Contacts tasks: run CSV import jobs, and re-kick jobs whose worker died."""

from __future__ import annotations

from celery import shared_task

from api.contacts import services


@shared_task(name="workers.tasks.contacts.import_job_run", acks_late=True, reject_on_worker_lost=True)
def import_job_run(job_id: int) -> None:
    """Import a CSV job from its cursor to the end. Idempotent: each batch commits with the cursor,
    so a redelivered or duplicated kick resumes or does nothing."""
    services.import_job_run(job_id=job_id)


@shared_task(name="workers.tasks.contacts.import_jobs_resume_stalled", acks_late=True)
def import_jobs_resume_stalled() -> None:
    """Kick every import job whose worker stopped reporting (killed worker, lost kick). The claim stamps
    each job, so a second sweep within the stalled delay does not kick it again."""
    for job_id in services.import_jobs_claim_stalled():
        import_job_run.delay(job_id)
