"""The HTTP ingress benchmark's baseline: the simplest app answering the same URLs, on the same
uvicorn with the same options as `crontopus-server`. It stores nothing and checks nothing.

`python -m bench.bare_asgi PORT`
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from crontopus_server.serving import UVICORN_OPTIONS

app = FastAPI()


@app.api_route("/ping/{key}", methods=["GET", "POST", "HEAD"], response_class=PlainTextResponse)
@app.api_route("/ping/{key}/{kind}", methods=["GET", "POST", "HEAD"], response_class=PlainTextResponse)
async def ping() -> str:
    return "OK"


@app.post("/api/checkins", response_class=PlainTextResponse, status_code=202)
async def checkin() -> str:
    return "OK"


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), **UVICORN_OPTIONS)
