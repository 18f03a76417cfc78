"""The hello-world the load benchmark aims at (the same as in the load-generator research)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root() -> dict[str, str]:
    return {"hello": "world"}
