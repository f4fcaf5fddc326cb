"""Local emulators of the Twilio, Genesys Cloud, AudioCodes, Azure Resource Manager and Key Vault APIs."""
