"""The baseline of the provider's request-rate benchmark: a FastAPI endpoint returning a constant,
served by uvicorn exactly as the provider is."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/constant")
async def constant() -> dict[str, int]:
    return {"nonce": 0}
