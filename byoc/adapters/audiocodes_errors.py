"""The errors of the AudioCodes SBC adapter (REST client, configuration exports, uploads) that
services do not tell apart; `SbcError`, `SbcUnreachable` and `SbcBusy` are in `byoc.ports`."""

from __future__ import annotations

from byoc.ports import SbcError, SbcWriteIncomplete


class SbcAuthFailed(SbcError):
    """The SBC refused the credentials (401)."""


class SbcForbidden(SbcError):
    """The SBC user's privilege level is too low for the request (403)."""


class SbcRequestRefused(SbcError):
    """The SBC refused the request (400, 404, ...); the message carries its description."""


class SbcScriptFailed(SbcError, SbcWriteIncomplete):
    """An incremental upload answered 200 but reported errors; nothing was saved."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class SbcWriteNotApplied(SbcError):
    """After a write, the SBC does not show the rules that were written."""


class SbcConfigUnreadable(SbcError):
    """Neither the ini nor the CLI export shows the Dial Plan rules."""
