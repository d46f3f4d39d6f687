"""The CA's errors: every message says what was refused and why, for users and agents alike."""

from __future__ import annotations


class CaError(Exception):
    """Base of the CA's errors."""


class CsrRejected(CaError):
    """A certificate request was refused; nothing was signed."""


class Unauthenticated(CaError):
    """The caller presented no credential, or one this CA did not issue."""


class CaStateError(CaError):
    """The CA's key material is missing, unreadable or inconsistent."""
