"""
title: Titler
description: sets the chat's title through Open WebUI's own Chats model, from an eventwire worker
"""

from open_webui.models.chats import Chats


class Pipe:
    async def pipe(self, body: dict, __event_emitter__, __metadata__: dict) -> str:
        title = f"Titled on {__metadata__['worker_id']}"
        chat = await Chats.update_chat_title_by_id(__metadata__["chat_id"], title)
        if chat is None:
            return "no such chat in Open WebUI's database"
        await __event_emitter__({"type": "chat:title", "data": title})  # open tabs show it now
        return f"The chat is now titled: {chat.title}"
