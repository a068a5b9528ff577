"""Break-the-glass: opening a file outside need-to-know in an emergency, for a reason, for a
time, in plain sight of the DPO and the referent."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.translation import gettext as _

from entraide.org.models import Role, User

from . import policy, sealed
from .models import AuditAction, EmergencyAccess, Notice
from .policy import Actor

MIN_REASON = 15
log = logging.getLogger(__name__)


def break_glass(actor: Actor, case_file_id: int, reason: str) -> EmergencyAccess:
    """Grant the agent a time-limited access to a case file, audited and notified."""
    from entraide.cases.models import CaseFile

    policy.guard_role(actor, actor.role in policy.FILE_ROLES, "emergency_access")
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise ValueError(_("Say why this is an emergency (%(n)s characters at least): the "
                           "reason is shown to the data protection officer and the referent.")
                         % {"n": MIN_REASON})
    case_file = CaseFile.objects.select_related("referent").filter(pk=case_file_id).first()
    if case_file is None:
        from django.http import Http404

        raise Http404(_("No case file with this number."))
    now = timezone.now()
    until = now + dt.timedelta(minutes=settings.ENTRAIDE_BREAK_GLASS_MINUTES)
    access = sealed.create(EmergencyAccess, {"reason": reason}, user=actor.user,
                           case_file=case_file, granted_at=now, expires_at=until)
    policy.record(Actor(actor.user, actor.ip, actor.channel, reason), AuditAction.BREAK_GLASS,
                  "case_file", case_file.pk, case_file.household_id,
                  detail=f"until {access.expires_at.isoformat()}")
    recipients = list(User.objects.filter(role=Role.DPO, is_active=True))
    if case_file.referent is not None and case_file.referent != actor.user:
        recipients.append(case_file.referent)
    who = actor.user.get_full_name() or actor.user.get_username()
    subject = _("Emergency access to case file %(number)s") % {"number": case_file.pk}
    body = _("%(who)s opened case file %(number)s outside need-to-know until %(until)s.") % {
        "who": who, "number": case_file.pk,
        "until": timezone.localtime(access.expires_at).strftime("%Y-%m-%d %H:%M")}
    Notice.objects.bulk_create(Notice(recipient=r, created_at=now, subject=subject, body=body,
                                      emergency=access) for r in recipients)
    emails = [r.email for r in recipients if r.email]
    if emails:
        try:
            # The reason stays in Entraide, sealed: an e-mail leaves it in every mailbox.
            send_mail(subject, body + " " + _("Read the reason given in Entraide, Notices."),
                      None, emails)
        except OSError:  # the in-app notice is the record; mail is a courtesy
            log.warning("could not e-mail the emergency-access notice for file %s", case_file.pk)
    return access


def notices_for(user: User, limit: int = 50) -> list[Notice]:
    """The agent's notices, newest first; opening them marks them read."""
    notices = list(Notice.objects.filter(recipient=user).select_related("emergency__case_file")
                   .order_by("-created_at")[:limit])
    Notice.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())
    return notices
