"""The RabbitMQ backend (aio-pika): the bus and the job queue. Only this package imports it."""

from .bus import AmqpBus
from .jobs import AmqpJobQueue

__all__ = ["AmqpBus", "AmqpJobQueue"]
