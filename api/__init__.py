"""The Confiotes Django project."""
