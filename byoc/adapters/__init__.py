"""Adapters: one module per external system (Twilio, Genesys, AudioCodes, Azure, SIP)."""
