"""The contacts app of Confiotes."""
