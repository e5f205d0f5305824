"""Clients for the providers Confiotes talks to.

This package knows HTTP and the providers' payloads and nothing of Django: each
client takes its credentials in its constructor, uses ``requests`` with timeouts,
returns small dataclasses and raises the typed errors of ``integrations.errors``.
"""
