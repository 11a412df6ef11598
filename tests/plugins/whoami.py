"""
title: Who am I
description: a Tools plugin that reports the context it was given (identity, chat, model)
"""


def _report(note: str, user: dict, meta: dict, chat_id, plugin_id, model, call) -> dict:
    return {
        "note": note,
        "user": {"id": user["id"], "role": user["role"]},
        "meta_user": meta["user_id"],
        "chat_id": chat_id,
        "id": plugin_id,
        "model": model,
        "call_is_ours": getattr(call, "__name__", None) == "__event_caller__",
    }


class Tools:
    def whoami(
        self,
        note: str = "",
        __user__: dict = None,
        __metadata__: dict = None,
        __chat_id__=None,
        __id__=None,
        __model__=None,
        __event_call__=None,
    ) -> dict:
        """Who is asking, from which chat, with which model."""
        return _report(note, __user__, __metadata__, __chat_id__, __id__, __model__, __event_call__)

    async def everything(self, note: str = "", **kwargs) -> dict:
        """The same, with every context parameter through **kwargs."""
        return _report(
            note,
            kwargs["__user__"],
            kwargs["__metadata__"],
            kwargs["__chat_id__"],
            kwargs["__id__"],
            kwargs["__model__"],
            kwargs["__event_call__"],
        )
