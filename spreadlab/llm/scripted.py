"""Models without HTTP, for tests and demonstrations: a null model and a scripted one."""

from __future__ import annotations

import json
from collections.abc import Callable

from spreadlab.llm.base import ChatReply, ChatRequest

NO_POST = json.dumps({"post": False, "text": ""})


class ScriptedChat:
    """Answers each request with ``script(request)``: a reply string, or an exception to raise.

    ``calls`` keeps every request received, so tests can see what reached the model.
    """

    def __init__(
        self,
        script: Callable[[ChatRequest], str | BaseException],
        endpoint: str = "scripted://local",
    ) -> None:
        self.endpoint = endpoint
        self._script = script
        self.calls: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatReply:
        self.calls.append(request)
        answer = self._script(request)
        if isinstance(answer, BaseException):
            raise answer
        return ChatReply(
            answer,
            prompt_tokens=10,
            completion_tokens=len(answer) // 4 + 1,
            response_format=request.response_format,
        )


class NullChat(ScriptedChat):
    """Never posts: every reply is ``{"post": false, "text": ""}``."""

    def __init__(self) -> None:
        super().__init__(lambda _: NO_POST, endpoint="null://local")
