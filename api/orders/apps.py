from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "api.orders"
    label = "orders"
