"""shep-gateway: talk to Kazakhstan's e-Government gateway (ShEP) through its external gateway."""
