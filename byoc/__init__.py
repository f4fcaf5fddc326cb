"""byoc: control plane for Genesys Cloud BYOC telephony (Twilio, AudioCodes on Azure, Genesys)."""
