"""Who is calling: the identity a verified bearer token establishes, and what it may do.

The edge never trusts the body for identity: a ``customer`` acts for its own subject only, and
``support`` may read any order and is the only role that may charge one back.
"""

from __future__ import annotations

import enum

import attrs


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    SUPPORT = "support"


@attrs.frozen
class Caller:
    """The token's subject and roles; ``token_id`` is its ``jti`` (kept, never the token)."""

    subject: str
    roles: frozenset[str] = frozenset()
    token_id: str | None = None

    def has(self, role: Role) -> bool:
        return role.value in self.roles

    def may_read(self, customer_id: str) -> bool:
        """Support reads any order; a customer only those placed for its own subject."""
        return self.has(Role.SUPPORT) or (self.has(Role.CUSTOMER) and customer_id == self.subject)

    @property
    def may_read_orders(self) -> bool:
        return self.has(Role.SUPPORT) or self.has(Role.CUSTOMER)


@attrs.frozen
class Actor:
    """Who caused an event, as it travels with the event (outbox row and message headers)."""

    subject: str
    token_id: str | None = None

    @classmethod
    def of(cls, caller: Caller | None) -> Actor | None:
        return None if caller is None else cls(caller.subject, caller.token_id)
