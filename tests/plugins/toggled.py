"""
title: Toggled
description: a Filter the user switches on per request (Open WebUI's `toggle`)
"""


class Filter:
    def __init__(self) -> None:
        self.toggle = True  # Open WebUI: runs only when the request's filter_ids name it

    def inlet(self, body: dict) -> dict:
        body["messages"].append({"role": "system", "content": "toggled was here"})
        return body
