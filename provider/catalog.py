"""The DDO index: MetadataCreated/MetadataUpdated events read from the chain into the store.

The indexer reads from the deployment's first block, then follows new blocks; the last block
read is stored with the DDOs found in it, so a restart continues where it stopped. A DDO that
is not valid JSON, or not a valid DDO, is skipped with a logged reason (the asset keeps its
previous valid DDO, if any)."""

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from pydantic import ValidationError
from web3 import Web3

from c2d.chain import Chain, did_for
from c2d.provider.ddo import parse_ddo
from c2d.provider.store import Asset, Store

log = logging.getLogger("c2d.provider.catalog")

BATCH_BLOCKS = 2_000


class Catalog:
    def __init__(
        self,
        chain: Chain,
        store: Store,
        interval: float = 1.0,
        on_indexed: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.chain = chain
        self.store = store
        self.interval = interval
        self.on_indexed = on_indexed  # called with the DIDs of each batch of stored DDOs
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        events = chain.metadata.events
        self._decoders = {
            HexBytes(Web3.keccak(text=_signature(event.abi))): (kind, event())
            for kind, event in (("created", events.MetadataCreated), ("updated", events.MetadataUpdated))
        }

    def sync(self) -> int:
        """Reads every block not read yet; returns how many DDOs it stored."""
        with self._lock:
            stored = 0
            cursor = self.store.index_cursor()
            start = self.chain.deployment.start_block if cursor is None else cursor + 1
            head = self.chain.w3.eth.block_number
            while start <= head:
                end = min(start + BATCH_BLOCKS - 1, head)
                found, positions = self._read(start, end)
                self.store.save_index(found, positions, end)
                if found and self.on_indexed:
                    self.on_indexed([asset.did for asset in found])
                stored += len(found)
                start = end + 1
            return stored

    def _read(self, start: int, end: int) -> tuple[list[Asset], list[int]]:
        logs = self.chain.w3.eth.get_logs({"address": self.chain.metadata.address, "fromBlock": start, "toBlock": end})
        found: list[Asset] = []
        positions: list[int] = []
        for entry in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
            decoder = self._decoders.get(HexBytes(entry["topics"][0])) if entry["topics"] else None
            if decoder is None:
                continue
            kind, event = decoder
            args = event.process_log(entry)["args"]
            datatoken = to_checksum_address(args["dataToken"])
            did = did_for(datatoken)
            where = f"{kind} {did} at block {entry['blockNumber']}"
            ddo = _parse(args["data"], did, where)
            if ddo is None:
                continue
            publisher = to_checksum_address(args.get("createdBy") or args["updatedBy"])
            found.append(Asset(did, datatoken, publisher, ddo, int(entry["blockNumber"])))
            positions.append(int(entry["logIndex"]))
        return found, positions

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="c2d-catalog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception as exc:  # the chain may be down for a while: keep trying
                log.warning("indexing failed (%s); retrying in %.1f s", type(exc).__name__, self.interval)
            self._stop.wait(self.interval)


def _signature(abi: Any) -> str:
    return str(abi["name"]) + "(" + ",".join(str(i["type"]) for i in abi["inputs"]) + ")"


def _parse(data: bytes, did: str, where: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        log.warning("skipping DDO %s: not valid JSON", where)
        return None
    if not isinstance(raw, dict):
        log.warning("skipping DDO %s: not a JSON object", where)
        return None
    if raw.get("id", did) != did:
        log.warning("skipping DDO %s: its id names another asset", where)
        return None
    try:
        parse_ddo(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(p) for p in first["loc"])
        log.warning("skipping DDO %s: invalid at %s (%s)", where, location or "top level", first["msg"])
        return None
    return {**raw, "id": did}
