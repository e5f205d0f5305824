"""Writes of the customer file. Other apps call these functions, never the models directly.

Every service is atomic (it opens its own ``transaction.atomic()``, a savepoint when the
caller already holds a transaction) and raises ``ApplicationError`` subclasses that the
DRF exception handler renders in the common shape.

One module per subdomain: ``identity`` (upsert, create, update, identity digests, referral codes),
``identity_rows`` (the ``ContactIdentity`` rows: every phone, WhatsApp number and e-mail of a contact),
``notes`` (tags, notes, timeline events, lifecycle stage), ``consent``, ``merge``, ``erase``,
``tasks`` (follow-up tasks), ``referrals`` (a typed referral code makes its owner the referrer; the
referral reward hook) and ``imports`` (CSV import jobs; the PostgreSQL fast path in ``imports/pg.py``).
This package re-exports what other apps, workers, tests and benchmarks use.
"""

# ``transaction`` is re-exported because bench/import_contacts.py patches
# ``services.transaction.on_commit`` (Django's module) to keep the import kick from a worker.
from django.db import transaction

from api.contacts.services._base import IDENTITY_FIELDS, UNIQUE_IDENTITIES
from api.contacts.services.consent import (
    consent_grant,
    consent_revoke,
    contact_mark_unreachable,
    contact_opt_out,
)
from api.contacts.services.erase import contact_erase
from api.contacts.services.identity import (
    UpsertResult,
    contact_create,
    contact_touch_seen,
    contact_update,
    contact_upsert,
    identity_digest,
    referral_code_new,
    referral_codes_new,
)
from api.contacts.services.imports import (
    IMPORT_BATCH_SIZE,
    IMPORT_MAX_ATTEMPTS,
    IMPORT_MAX_BYTES,
    IMPORT_SQL_BATCH_SIZE,
    IMPORT_STALLED_AFTER,
    import_job_create,
    import_job_run,
    import_jobs_claim_stalled,
)
from api.contacts.services.merge import contact_merge
from api.contacts.services.notes import (
    contact_event_record,
    contact_note_add,
    contact_set_lifecycle_stage,
    contact_tags_set,
)
from api.contacts.services.referrals import (
    REFERRAL_VIA,
    ReferralRewardNotice,
    referral_code_apply,
    referral_reward_announce,
    register_referral_reward_listener,
    unregister_referral_reward_listener,
)
from api.contacts.services.tasks import task_create, task_update

__all__ = [
    "IDENTITY_FIELDS",
    "IMPORT_BATCH_SIZE",
    "IMPORT_MAX_ATTEMPTS",
    "IMPORT_MAX_BYTES",
    "IMPORT_SQL_BATCH_SIZE",
    "IMPORT_STALLED_AFTER",
    "REFERRAL_VIA",
    "ReferralRewardNotice",
    "UNIQUE_IDENTITIES",
    "UpsertResult",
    "consent_grant",
    "consent_revoke",
    "contact_create",
    "contact_erase",
    "contact_event_record",
    "contact_mark_unreachable",
    "contact_merge",
    "contact_note_add",
    "contact_opt_out",
    "contact_set_lifecycle_stage",
    "contact_tags_set",
    "contact_touch_seen",
    "contact_update",
    "contact_upsert",
    "identity_digest",
    "import_job_create",
    "import_job_run",
    "import_jobs_claim_stalled",
    "referral_code_apply",
    "referral_code_new",
    "referral_reward_announce",
    "referral_codes_new",
    "register_referral_reward_listener",
    "task_create",
    "task_update",
    "transaction",
    "unregister_referral_reward_listener",
]
