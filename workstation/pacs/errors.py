"""Why talking to a PACS failed: one error type with a named reason.

Every network failure of :mod:`workstation.pacs` reaches the caller as a :class:`PacsError`:
the command line prints it as one line (``NODE: unreachable: ...``), the GUI shows the reason
and decides on its own whether to offer "retry". Transient reasons (the server is down, slow,
or dropped the connection) are retried with backoff where the operation can be repeated
safely; the others are reported at once.
"""

from __future__ import annotations

from enum import StrEnum

from workstation.core.errors import WorkstationError


class PacsReason(StrEnum):
    """What went wrong, in words a user or an administrator can act on."""

    #: Nothing answers at the address (refused, no route, name unknown).
    UNREACHABLE = "unreachable"
    #: The node did not answer within the time allowed.
    TIMEOUT = "timeout"
    #: The node refused the association (other than for its AE titles).
    REFUSED = "refused"
    #: The node does not know the called AE title, or does not accept ours.
    AE_TITLE = "wrong_ae_title"
    #: Credentials missing, refused, or not allowed to do this.
    UNAUTHORIZED = "unauthorized"
    #: The study, series or instance is not on the node.
    NOT_FOUND = "not_found"
    #: The connection was lost in the middle of a transfer.
    INTERRUPTED = "interrupted"
    #: The node reported a failure of its own (HTTP 5xx, a DIMSE failure status).
    SERVER = "server_error"
    #: The answer does not follow the standard, or is larger than we accept.
    PROTOCOL = "protocol"
    #: The TLS handshake failed (certificate not trusted, wrong client certificate).
    TLS = "tls"
    #: The node is not configured correctly, or no credential store is available.
    CONFIGURATION = "configuration"


#: Reasons worth trying again after a pause: the same request may well succeed then.
TRANSIENT = frozenset(
    {PacsReason.UNREACHABLE, PacsReason.TIMEOUT, PacsReason.INTERRUPTED, PacsReason.SERVER}
)


class PacsError(WorkstationError):
    """A PACS operation failed; ``reason`` says why, ``node`` where.

    ``str(error)`` is one line: ``"<node>: <reason>: <message>"``. ``attempts`` is the number of
    tries made (more than one when transient failures were retried).
    """

    def __init__(
        self, reason: PacsReason, message: str, *, node: str = "", attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.node = node
        self.attempts = attempts

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed."""
        return self.reason in TRANSIENT

    def at(self, node: str) -> PacsError:
        """This error, naming ``node`` (when it does not name one yet)."""
        if not self.node:
            self.node = node
        return self

    def __str__(self) -> str:
        where = f"{self.node}: " if self.node else ""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{where}{self.reason.value}: {self.message}{tries}"

    def to_json(self) -> dict[str, str | int]:
        return {
            "node": self.node,
            "reason": self.reason.value,
            "message": self.message,
            "attempts": self.attempts,
        }
