"""Referral codes and who referred whom (reads; ``services.referrals`` writes)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from api.contacts.models import Contact, ContactEvent
from api.contacts.selectors.contacts import contact_id_resolve, contacts_live


def contact_id_by_referral_code(code: str) -> int | None:
    """The contact whose referral code is ``code`` (trimmed, case-insensitive), or None."""
    return Contact.objects.filter(referral_code=code.strip().upper()).values_list("pk", flat=True).first()


# Prefixes a referral code may be printed or typed with ("AMB-K7MQ2XPA", "ref_K7MQ2XPA", "CODE K7MQ2XPA"):
# codes are stored bare (``services.identity.referral_code_new``); a bare code that happens to start with
# one of these letters is still found, since the code as typed is tried first.
REFERRAL_CODE_PREFIXES = ("AMB", "REF", "CODE", "PARRAIN")
# How far up a chain of referrers the loop check walks; referral chains are a few links long in practice,
# and a longer one is refused rather than walked without end.
REFERRAL_CHAIN_MAX_HOPS = 50
_REFERRAL_CODE_NOISE = str.maketrans("", "", " \t\n\r-_.:/#")


def referral_code_normalize(code: str | None) -> list[str]:
    """The stored codes a typed referral code may stand for, most literal first: upper case without spaces,
    dashes, dots or underscores, then the same without a printed prefix (``AMB``, ``REF``…). Empty when
    nothing is left."""
    bare = str(code or "").upper().translate(_REFERRAL_CODE_NOISE)
    if not bare or len(bare) > 32:
        return []
    candidates = [bare]
    for prefix in REFERRAL_CODE_PREFIXES:
        if bare.startswith(prefix) and len(bare) > len(prefix):
            candidates.append(bare[len(prefix):])
    return candidates


def referral_code_owner_id(code: str | None) -> int | None:
    """The live contact a typed referral code names (normalised as ``referral_code_normalize`` says; the
    survivor when the owner was merged), or None for an unknown code."""
    candidates = referral_code_normalize(code)
    if not candidates:
        return None
    owners = dict(Contact.objects.filter(referral_code__in=candidates).values_list("referral_code", "pk"))
    for candidate in candidates:
        if candidate in owners:
            owner = contact_id_resolve(owners[candidate])
            return owner if owner is not None and contacts_live().filter(pk=owner).exists() else None
    return None


class ReferralRefusal:
    """Why a typed referral code cannot make its owner the referrer of a contact (the ``code`` of the error)."""

    UNKNOWN_CODE = "unknown_referral_code"
    SELF_REFERRAL = "self_referral"
    ALREADY_REFERRED = "already_referred"
    LOOP = "referral_loop"


@dataclass(frozen=True)
class ReferralCheck:
    """What a typed referral code means for a contact: its owner (``referrer_id``, the stored ``code``),
    and ``refusal`` (a ``ReferralRefusal``) when it may not refer this contact. ``already`` is True when
    the contact's referrer is already this owner (accepted, nothing to change)."""

    code: str
    referrer_id: int | None
    refusal: str | None
    already: bool = False

    @property
    def reason(self) -> str:
        """The refusal in words, for an error message."""
        return {
            ReferralRefusal.UNKNOWN_CODE: "No ambassador has this referral code.",
            ReferralRefusal.SELF_REFERRAL: "This is the customer's own referral code: it is for their friends.",
            ReferralRefusal.ALREADY_REFERRED: "This customer was already referred by another ambassador.",
            ReferralRefusal.LOOP: "This ambassador was referred by this customer: a referral cannot go in a loop.",
        }.get(self.refusal or "", "")


def _referral_chain_reaches(start_id: int, target_id: int) -> bool:
    """True when ``target_id`` is ``start_id`` or one of its referrers, referrer's referrers… (or when the chain
    is longer than ``REFERRAL_CHAIN_MAX_HOPS`` or loops already: refused to be safe)."""
    seen: set[int] = set()
    current: int | None = start_id
    for _hop in range(REFERRAL_CHAIN_MAX_HOPS + 1):
        if current is None:
            return False
        if current == target_id or current in seen:
            return True
        seen.add(current)
        current = Contact.objects.filter(pk=current).values_list("referred_by_id", flat=True).first()
    return True


def referral_would_loop(*, contact_id: int, referrer_id: int) -> bool:
    """True when making ``referrer_id`` the referrer of ``contact_id`` would close a loop: the referrer is the
    contact, or was referred by them, directly or through a chain."""
    return _referral_chain_reaches(referrer_id, contact_id)


def referral_code_check(*, contact_id: int | None, code: str | None) -> ReferralCheck:
    """Whether the referral code ``code`` may make its owner the referrer of ``contact_id`` (None: a person
    not in the customer file yet, whom any known code may refer). Reads only: ``services.referral_code_apply``
    writes. Refused: an unknown code, the contact's own code, a contact referred by someone else, a loop
    (the owner was referred, directly or through a chain, by this contact)."""
    candidates = referral_code_normalize(code)
    owner_id = referral_code_owner_id(code)
    if owner_id is None:
        return ReferralCheck(candidates[0] if candidates else "", None, ReferralRefusal.UNKNOWN_CODE)
    stored = Contact.objects.filter(pk=owner_id).values_list("referral_code", flat=True).first() or ""
    if contact_id is None:
        return ReferralCheck(stored, owner_id, None)
    contact_id = contact_id_resolve(contact_id) or contact_id
    if owner_id == contact_id:
        return ReferralCheck(stored, owner_id, ReferralRefusal.SELF_REFERRAL)
    current = Contact.objects.filter(pk=contact_id).values_list("referred_by_id", flat=True).first()
    current = contact_id_resolve(current) if current else None
    if current == owner_id:
        return ReferralCheck(stored, owner_id, None, already=True)
    if current is not None:
        return ReferralCheck(stored, owner_id, ReferralRefusal.ALREADY_REFERRED)
    if _referral_chain_reaches(owner_id, contact_id):
        return ReferralCheck(stored, owner_id, ReferralRefusal.LOOP)
    return ReferralCheck(stored, owner_id, None)


def contact_referrer_id(contact_id: int) -> int | None:
    """The id of the contact who referred ``contact_id``, or None."""
    return Contact.objects.filter(pk=contact_id).values_list("referred_by_id", flat=True).first()


def contact_ids_referred_by(referrer_id: int) -> list[int]:
    """Ids of the contacts ``referrer_id`` referred (whoever arrived with their link or code)."""
    return list(Contact.objects.filter(referred_by_id=referrer_id).values_list("pk", flat=True).order_by("pk"))


def contact_referral_pairs() -> list[tuple[int, int]]:
    """``(contact_id, referrer_id)`` of every contact that was referred by another (merged-away contacts left
    out: their survivor carries the referral)."""
    return list(Contact.objects.filter(referred_by__isnull=False, merged_into__isnull=True)
                .values_list("pk", "referred_by_id"))


def contact_referral_code_counts() -> dict[int, int]:
    """``{referrer_id: n}``: how many of the contacts each referrer brought typed their referral code (bot
    link, m.me ref, WhatsApp text, order coupon, fair capture: ``services.referral_code_apply``)."""
    rows = (ContactEvent.objects.filter(kind="referred", contact__referred_by__isnull=False,
                                        contact__merged_into__isnull=True)
            .values("contact__referred_by_id").annotate(n=Count("contact_id", distinct=True)).order_by()
            .values_list("contact__referred_by_id", "n"))
    return {referrer: n for referrer, n in rows if referrer is not None}
