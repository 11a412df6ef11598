"""
title: App config
description: reads Open WebUI's app config through __request__, as plugins do
"""


class Pipe:
    def pipe(self, body: dict, __request__) -> str:
        config = __request__.app.state.config
        title = config.ENABLE_TITLE_GENERATION
        same = config["ENABLE_TITLE_GENERATION"] == title and config.get("ENABLE_TITLE_GENERATION") == title
        return f"title generation={title} mapping agrees={same} task model={config.TASK_MODEL!r}"
