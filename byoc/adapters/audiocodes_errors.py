"""The errors of the AudioCodes SBC adapter (REST client, configuration exports, uploads)."""

from __future__ import annotations

from byoc.ports import SbcWriteIncomplete


class AudioCodesError(Exception):
    """Base of every AudioCodes adapter error."""


class SbcUnreachable(AudioCodesError):
    """The SBC's REST API could not be reached (or its certificate was not trusted)."""


class SbcAuthFailed(AudioCodesError):
    """The SBC refused the credentials (401)."""


class SbcForbidden(AudioCodesError):
    """The SBC user's privilege level is too low for the request (403)."""


class SbcBusy(AudioCodesError):
    """The SBC kept answering 409 (HA sync, device busy) or 5xx past the retry budget."""


class SbcRequestRefused(AudioCodesError):
    """The SBC refused the request (400, 404, ...); the message carries its description."""


class SbcScriptFailed(AudioCodesError, SbcWriteIncomplete):
    """An incremental upload answered 200 but reported errors; nothing was saved."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class SbcWriteNotApplied(AudioCodesError):
    """After a write, the SBC does not show the rules that were written."""


class SbcConfigUnreadable(AudioCodesError):
    """Neither the ini nor the CLI export shows the Dial Plan rules."""


