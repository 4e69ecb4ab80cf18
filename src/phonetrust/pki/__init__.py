"""Keys and certificates: CUCM-style role certificates, PEM loading, LSC issuance."""
