"""What every app shares: the error shape, pagination, permissions, health, demo data."""
