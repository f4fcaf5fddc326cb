"""byoc: control plane for Genesys Cloud BYOC telephony (Twilio, AudioCodes SBCs on Azure, Genesys Cloud)."""
