"""The attribution app of Confiotes."""
