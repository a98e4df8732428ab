"""An OpenAI-compatible chat server that costs nothing: it streams its role chunk and then
its first token at once, and one token every TPOT_MS after that, `max_tokens` in all.
What a benchmark client measures against it is the client's own share (and the host's).

    python mock_server.py PORT TPOT_MS
"""

import asyncio
import json
import sys

from aiohttp import web

TPOT_S = float(sys.argv[2]) / 1000.0


def chunk(delta: dict, finish: str | None = None) -> bytes:
    body = {
        "id": "mock",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "mock",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(chunk({"role": "assistant", "content": ""}))
    for i in range(tokens):
        if i and TPOT_S:
            await asyncio.sleep(TPOT_S)
        await response.write(chunk({"content": " x"}, "length" if i == tokens - 1 else None))
    await response.write(b"data: [DONE]\n\n")
    return response


async def models(_: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "mock", "object": "model"}]})


app = web.Application()
app.router.add_post("/v1/chat/completions", chat)
app.router.add_get("/v1/models", models)
web.run_app(app, port=int(sys.argv[1]), print=None, access_log=None)
