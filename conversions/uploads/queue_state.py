"""What a waiting upload waits for, in words, read from the RQ queue as it is: its job's place, the jobs ahead of
it and what the workers are doing. Another advertiser's upload is never named, only counted."""

from collections import Counter

from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from conversions.models import ConversionUpload
from core.redis_connection import job_queue

UPLOAD_JOB_PREFIX = "upload-import-"
# The jobs ahead that are looked at one by one; beyond these the queue is only counted.
_LOOK_AHEAD = 50
# What a job does, by its function, for the words a user reads: (one job, many jobs).
_JOB_WORDS = {
    "conversions.processing.jobs.process_new_conversions": ("processing new conversions", "processing new conversions"),
    "conversions.processing.jobs.process_pending_conversions": ("processing conversions", "processing conversions"),
    "conversions.processing.jobs.process_conversion": ("processing a conversion", "processing conversions"),
}
_OTHER_IMPORT = ("the import of another file", "imports of other files")
_OTHER_JOB = ("another job", "other jobs")
_ASK_AGAIN = "Ask us to run it again."


def upload_job_id(upload_id: int) -> str:
    """The RQ job id of an upload's import, so that its place in the queue can be looked up."""
    return f"{UPLOAD_JOB_PREFIX}{upload_id}"


def _upload_id(job_id: str) -> int | None:
    rest = job_id.removeprefix(UPLOAD_JOB_PREFIX)
    return int(rest) if rest != job_id and rest.isdigit() else None


def _plural(count: int, words: tuple[str, str]) -> str:
    return words[0] if count == 1 else f"{count} {words[1]}"


def _jobs_words(job_ids: list[str], *, advertiser_id: int) -> list[str]:
    """The jobs, grouped in words: "the import of your upload #12", "2 imports of other files", ..."""
    uploads = {job_id: upload_id for job_id in job_ids if (upload_id := _upload_id(job_id)) is not None}
    own = ConversionUpload.objects.filter(pk__in=uploads.values(), advertiser_id=advertiser_id)
    own = set(own.values_list("pk", flat=True)) if uploads else set()
    words, others = [], Counter()
    for job_id in job_ids:
        if job_id in uploads and uploads[job_id] in own:
            words.append(f"the import of your upload #{uploads[job_id]}")
        elif job_id in uploads:
            others[_OTHER_IMPORT] += 1
    rest = [job_id for job_id in job_ids if job_id not in uploads]
    for job in Job.fetch_many(rest, connection=job_queue().connection) if rest else []:
        others[_JOB_WORDS.get(job.func_name, _OTHER_JOB) if job else _OTHER_JOB] += 1
    words.extend(_plural(count, what) for what, count in others.items())
    return words


def _workers(*, advertiser_id: int) -> tuple[int, list[str]]:
    """How many workers serve the queue and are idle, and what the busy ones do."""
    workers = Worker.all(queue=job_queue())
    current = [job_id for worker in workers if (job_id := worker.get_current_job_id())]
    return len(workers) - len(current), _jobs_words(current, advertiser_id=advertiser_id)


def _waiting_for_worker(queue: str, *, idle: int, busy: list[str]) -> str:
    """Waiting for a worker, and why when no worker is idle: none runs, or what the busy ones do."""
    if not idle and not busy:
        return f"Waiting for a worker: none is running right now; {queue}."
    if not idle:
        workers = "the worker is" if len(busy) == 1 else "the workers are"
        return f"Waiting for a worker: {queue}; {workers} busy with {', '.join(busy)}."
    return f"Waiting for a worker: {queue}."


def upload_job_describe(upload: ConversionUpload) -> str:
    """Why a queued upload has not started, in a sentence."""
    try:
        job = Job.fetch(upload_job_id(upload.pk), connection=job_queue().connection)
        status = job.get_status()
        if status == JobStatus.STARTED:
            return "A worker has started the import."
        if status == JobStatus.FAILED:
            return f"The import job stopped with an error on our side. {_ASK_AGAIN}"
        if status != JobStatus.QUEUED:
            return f"The import job is {status}, not queued. {_ASK_AGAIN}"
        ahead = job_queue().get_job_position(job.id) or 0
        ids = job_queue().get_job_ids(0, min(ahead, _LOOK_AHEAD)) if ahead else []
        idle, busy = _workers(advertiser_id=upload.advertiser_id)
    except NoSuchJobError:
        return f"The import is not in the job queue. {_ASK_AGAIN}"
    except RedisError:
        return "The job queue cannot be reached right now; this page says more once it can."
    if ahead:
        jobs = ", ".join(_jobs_words(ids, advertiser_id=upload.advertiser_id))
        more = f" and {ahead - len(ids)} more" if ahead > len(ids) else ""
        queue = f"{ahead} {'job' if ahead == 1 else 'jobs'} ahead in the queue ({jobs}{more})"
    else:
        queue = "it is next in the queue"
    if idle and not ahead:
        return "Next in the queue: a worker starts it in a moment."
    return _waiting_for_worker(queue, idle=idle, busy=busy)


def job_queue_describe(*, advertiser_id: int) -> str:
    """What the processing of new conversions waits for: the queue and its workers, in a sentence."""
    try:
        waiting = job_queue().count
        idle, busy = _workers(advertiser_id=advertiser_id)
    except RedisError:
        return "The job queue cannot be reached right now."
    if any(words.startswith("processing") for words in busy):
        return "A worker is processing the conversions now."
    return _waiting_for_worker(f"{waiting} {'job' if waiting == 1 else 'jobs'} in the queue", idle=idle, busy=busy)
