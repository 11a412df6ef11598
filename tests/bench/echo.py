"""The bare broker floor's server: answers each request on a queue with its own body."""

from __future__ import annotations

import argparse
import os
from typing import Any

import aio_pika

from tests.bench.control import run
from tests.support.procs import serve


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", required=True)
    args = parser.parse_args()
    connection = await aio_pika.connect(os.environ["AMQP_URL"])
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(args.queue, auto_delete=True)

        async def on_request(message: Any) -> None:
            reply = aio_pika.Message(message.body, correlation_id=message.correlation_id)
            await channel.default_exchange.publish(reply, routing_key=message.reply_to)

        await queue.consume(on_request, no_ack=True)
        await serve({}, {"queue": args.queue})


if __name__ == "__main__":
    run(main())
