"""The MAX messenger Bot API: typed client, update shapes and an emulator (``emulator/``)."""

from medsign.integrations.max.client import (
    MaxClient,
    MaxError,
    MaxRejected,
    MaxTransient,
    verify_webhook_secret,
)
from medsign.integrations.max.schemas import (
    KEEP,
    BotInfo,
    BotStarted,
    BotStopped,
    Button,
    CallbackButton,
    Keep,
    Keyboard,
    LinkButton,
    MessageCallback,
    MessageCreated,
    RequestContactButton,
    SentMessage,
    UnknownUpdate,
    Update,
    UpdateBatch,
    normalise_phone,
    parse_update,
)

__all__ = ["KEEP", "BotInfo", "BotStarted", "BotStopped", "Button", "CallbackButton", "Keep",
           "Keyboard", "LinkButton", "MaxClient", "MaxError", "MaxRejected", "MaxTransient",
           "MessageCallback", "MessageCreated", "RequestContactButton", "SentMessage",
           "UnknownUpdate", "Update", "UpdateBatch", "normalise_phone", "parse_update",
           "verify_webhook_secret"]
