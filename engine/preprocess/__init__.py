"""Preprocessing into the working space: registration, skull stripping, normalisation, inverse mapping."""
