"""Transports that move change-set files between nodes."""
