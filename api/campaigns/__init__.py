"""The campaigns app of Confiotes."""
