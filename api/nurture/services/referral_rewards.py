"""Telling a referrer they earned a reward: the listener of the contacts app's referral reward hook.

Attribution grants the reward (a personal single-use coupon, or points) when a referred friend's first
order is delivered and announces it through ``api.contacts.services.referral_reward_announce``; the two
apps may not import each other. This listener (registered in ``NurtureConfig.ready``) runs in the
granting transaction, so the reward and its message commit together; the message is keyed by the
reward, so a replay queues nothing more.
"""

from __future__ import annotations

from api.contacts.selectors import contact_find
from api.contacts.services import ReferralRewardNotice
from api.nurture.services.channels import SUPPORTED_CHANNELS, channel_choose, contact_recipient, render_text
from api.nurture.services.outbox import outbound_enqueue, staff_notify

REWARD_COUPON_TEXT = ("Bonne nouvelle {first_name} ! La personne que vous nous avez recommandée a reçu sa première "
                      "commande. Merci ! Voici votre remise de {percent} % sur votre prochaine commande, avec le code "
                      "{code} : il est à vous seul et valable une fois.")
REWARD_POINTS_TEXT = ("Bonne nouvelle {first_name} ! La personne que vous nous avez recommandée a reçu sa première "
                      "commande. Merci ! Vous gagnez {points} points de fidélité.")


def referral_reward_tell(notice: ReferralRewardNotice) -> None:
    """Queue the message that tells the referrer of ``notice`` what they earned, on their preferred usable
    channel (consent is checked again at send time). With no channel to write on, staff are told to call.
    Idempotent per reward."""
    contact = contact_find(notice.referrer_id)
    if contact is None or contact.erased_at or contact.merged_into_id:
        return
    if notice.coupon_code:
        template = REWARD_COUPON_TEXT.replace("{percent}", str(notice.discount_percent)).replace(
            "{code}", notice.coupon_code)
    else:
        template = REWARD_POINTS_TEXT.replace("{points}", str(notice.points))
    text = render_text(template, contact)
    channel = channel_choose(contact, SUPPORTED_CHANNELS)
    if channel:
        outbound_enqueue(idempotency_key=f"referral_reward:{notice.reward_id}", channel=channel,
                         recipient=contact_recipient(contact, channel), contact_id=contact.pk, text=text)
        return
    phone = f" au {contact.phone}" if contact.phone else ""
    staff_notify(key=f"referral_reward:{notice.reward_id}",
                 text=f"🎁 {contact.display_name} a gagné une récompense de parrainage mais n'a aucun canal pour "
                      f"la recevoir : appelez-le{phone}. Message : {text}")
