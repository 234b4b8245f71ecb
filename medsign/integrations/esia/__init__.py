"""ESIA (Госуслуги) login for the portal: typed OAuth 2.0 client, shapes and an emulator."""

from medsign.integrations.esia.client import (
    EsiaClient,
    EsiaError,
    EsiaRejected,
    EsiaTransient,
    check_state,
    read_callback,
)
from medsign.integrations.esia.schemas import AuthorizationRequest, Person, Token

__all__ = ["AuthorizationRequest", "EsiaClient", "EsiaError", "EsiaRejected", "EsiaTransient",
           "Person", "Token", "check_state", "read_callback"]
