"""The audit trail of every read and write of personal data."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .sealed import SealedText


class AuditAction(models.TextChoices):
    READ = "read", pgettext_lazy("audit action", "Read")
    CREATE = "create", pgettext_lazy("audit action", "Create")
    UPDATE = "update", pgettext_lazy("audit action", "Update")
    MERGE = "merge", pgettext_lazy("audit action", "Merge")
    SEARCH = "search", pgettext_lazy("audit action", "Search")
    DENIED = "denied", pgettext_lazy("audit action", "Refused")
    AUDIT_QUERY = "audit_query", pgettext_lazy("audit action", "Audit query")
    BREAK_GLASS = "break_glass", pgettext_lazy("audit action", "Emergency access")
    EXPORT = "export", pgettext_lazy("audit action", "Export")
    ERASE = "erase", pgettext_lazy("audit action", "Erasure")
    RETENTION = "retention", pgettext_lazy("audit action", "Retention")


class AuditRecord(models.Model):
    """Who did what to which personal data, when, from where and why; never updated."""

    at = models.DateTimeField(_("when"), db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT,
                             db_index=False)
    username = models.CharField(_("agent"), max_length=150)
    role = models.CharField(_("role"), max_length=20)
    action = models.CharField(_("action"), max_length=12, choices=AuditAction.choices)
    object_type = models.CharField(_("object"), max_length=30)
    object_id = models.BigIntegerField(null=True)
    household_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=8)
    ip = models.GenericIPAddressField(_("from"), null=True)
    # Sealed with the household's key when the record concerns one (secrecy.policy.record).
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    # The hash chain (entraide.secrecy.audit_chain): the record before's hash, and this one's.
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        indexes = [
            models.Index(fields=["household_id", "-at"]),
            models.Index(fields=["user", "-at"]),
        ]

    @property
    def reason_text(self) -> str:
        """The reason given, in clear for a reader of the audit."""
        from .crypto import AUDIT_REASON, reveal

        return reveal(self.household_id, self.reason, AUDIT_REASON)


class AuditDay(models.Model):
    """The head of one UTC day's audit chain: how many records it holds, and the last one's hash.

    Once the next day has begun, a day is closed and its count and last hash are its anchor,
    which the next day's first record links to; copies kept outside the database reveal a
    rewrite of the whole chain.
    """

    day = models.DateField(unique=True)
    count = models.PositiveIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    closed = models.BooleanField(default=False)


class HouseholdKey(models.Model):
    """The data key of one household, stored only wrapped (encrypted) by a master key.

    Deleting it makes every ciphertext of the household unreadable (crypto-shredding).
    """

    household = models.OneToOneField("people.Household", on_delete=models.PROTECT,
                                     related_name="data_key")
    wrapped = models.BinaryField()
    master_key_id = models.CharField(max_length=16, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)


class EmergencyAccess(models.Model):
    """Break-the-glass: an agent outside need-to-know opened a file, for a reason, for a time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="emergency_accesses")
    case_file = models.ForeignKey("cases.CaseFile", on_delete=models.CASCADE,
                                  related_name="emergency_accesses")
    reason = SealedText("case_file.household_id", _("reason"), max_length=500)
    reason_sealed = models.TextField(blank=True)
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "case_file", "-expires_at"])]


class Notice(models.Model):
    """A message to an agent about an access to a file they answer for (no file content)."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="notices")
    created_at = models.DateTimeField()
    subject = models.CharField(max_length=200)
    body = models.CharField(max_length=1000)
    # The emergency access it tells of: its reason is read from there, sealed, not copied here.
    emergency = models.ForeignKey(EmergencyAccess, null=True, blank=True,
                                  on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["recipient", "-created_at"])]
