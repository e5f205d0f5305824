"""Fixtures of the hardening tests."""

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Many tests here make a staff user; PBKDF2's deliberate slowness would be most of their run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
