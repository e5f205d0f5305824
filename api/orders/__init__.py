"""The orders app of Confiotes."""
