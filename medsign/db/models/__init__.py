"""The tables, one module per subject. Rows are plain storage: rules live in
``medsign.domain``. Importing this package registers every table on ``Base.metadata``
(which Alembic and ``create_all`` read).

Relationships are ``lazy="raise"`` so that a hidden query fails loudly instead of slowly.
"""

from medsign.db.models.accounts import (
    AppDeviceChallengeRow,
    AppDeviceRow,
    ExternalCallStatRow,
    LoginDeviceRow,
    LoginThrottleRow,
    PasswordResetTokenRow,
    PortalAccountPatientRow,
    PortalAccountRow,
    StaffUserRow,
    SupportRequestRow,
    WebSessionRow,
)
from medsign.db.models.base import NAMING, Base, Timestamps
from medsign.db.models.messaging import MaxLinkTokenRow, MaxRelinkRow, MaxUpdateRow, NotificationRow
from medsign.db.models.operations import ReconciliationFindingRow, ServiceProcessRow
from medsign.db.models.records import (
    ApiClientRow,
    AppointmentRow,
    AuditRow,
    ConsentRow,
    IdempotencyRow,
    OrganizationRow,
    PatientRow,
)
from medsign.db.models.runner import (
    ONE_OPEN_SIGNING_ITEM_INDEX,
    OPEN_SIGNING_ITEM_WHERE,
    SIGNING_ITEM_KIND,
    RateBucketRow,
    SingletonRow,
    WorkItemRow,
)
from medsign.db.models.signing import (
    ONE_OPEN_SIGNING_INDEX,
    OPEN_SIGNING_WHERE,
    DocumentRow,
    SigningAlertMailRow,
    SigningEventRow,
    SigningRequestRow,
    SigningUnattendedRow,
)
from medsign.db.models.webhooks import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebhookEventRow,
)

__all__ = [
    "ApiClientRow",
    "AppDeviceChallengeRow",
    "AppDeviceRow",
    "AppointmentRow",
    "AuditRow",
    "Base",
    "ConsentRow",
    "DocumentRow",
    "ExternalCallStatRow",
    "IdempotencyRow",
    "LoginDeviceRow",
    "LoginThrottleRow",
    "MaxLinkTokenRow",
    "MaxRelinkRow",
    "MaxUpdateRow",
    "NAMING",
    "NotificationRow",
    "ONE_OPEN_SIGNING_INDEX",
    "ONE_OPEN_SIGNING_ITEM_INDEX",
    "OPEN_SIGNING_ITEM_WHERE",
    "OPEN_SIGNING_WHERE",
    "OrganizationRow",
    "PasswordResetTokenRow",
    "PatientRow",
    "PortalAccountPatientRow",
    "PortalAccountRow",
    "RateBucketRow",
    "ReconciliationFindingRow",
    "SIGNING_ITEM_KIND",
    "ServiceProcessRow",
    "SigningAlertMailRow",
    "SigningEventRow",
    "SigningRequestRow",
    "SigningUnattendedRow",
    "SingletonRow",
    "StaffUserRow",
    "SupportRequestRow",
    "Timestamps",
    "WebSessionRow",
    "WebhookAttemptRow",
    "WebhookDeliveryRow",
    "WebhookEndpointRow",
    "WebhookEventRow",
    "WorkItemRow",
]
