"""The back office's screens, one module per menu entry: home, clients, orders, reports."""
