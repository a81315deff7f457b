"""Domain-free sync machinery: change-sets, signatures, PKI, channels, transports."""
