"""The Goskey ПЭП partner API (signing through MAX): typed client, shapes and an emulator."""

from medsign.integrations.goskey.client import (
    ArchiveTooLarge,
    GoskeyClient,
    GoskeyError,
    GoskeyRejected,
    GoskeyTransient,
)
from medsign.integrations.goskey.schemas import (
    DocumentSpec,
    Executor,
    SendRequest,
    StepStatus,
    TransactionStatus,
)

__all__ = ["ArchiveTooLarge", "DocumentSpec", "Executor", "GoskeyClient", "GoskeyError",
           "GoskeyRejected", "GoskeyTransient", "SendRequest", "StepStatus",
           "TransactionStatus"]
