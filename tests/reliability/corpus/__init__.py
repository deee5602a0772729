"""A corpus of bad marketplace payloads, answered where the sandbox marketplace would answer.

``CorpusApp`` is an ASGI app in front of a real ``SandboxApp``: the requests the corpus
knows — a best-seller page by category node, an eBay search by its keywords — get the
corpus payload, every other request goes to the sandbox. A run over it therefore has
valid data all around the bad payloads, and the real adapters parse everything
(``MARKETPLACE=live`` against ``serve_corpus``, or in-process as a ``sandbox_app``).

The payload files sit next to this module; in JSON files the marker ``@@100KB@@`` expands
to 100 KB of text. Amazon pages (by node id):

    MIXED_NODE      good records next to bad ones (amazon_mixed.json)
    TRUNCATED_NODE  the page's JSON cut in half
    HTML_NODE       an HTML error page where JSON is expected (page_error.html)
    ROBOT_NODE      the page Oxylabs got was Amazon's robot check (amazon_robot_check.html)
    CARDS_NODE      products whose eBay pages (EBAY_PROVIDER=oxylabs) are hostile HTML

eBay searches (by keywords, i.e. the corpus product titles): ``BROWSE`` (Browse API JSON)
and ``EBAY_HTML`` (search pages fetched through Oxylabs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from collection.marketplaces.sandbox import SandboxApp, SandboxConfig
from collection.matching import search_queries

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "collection" / "marketplaces" / "fixtures"
KB100 = "Lorem ipsum dolor sit amet " * 3800  # 102,600 characters

MIXED_NODE = "3741261"
TRUNCATED_NODE = "172282"
HTML_NODE = "16310101"
ROBOT_NODE = "165796011"
CLEAN_NODE = "12097479011"  # served by the sandbox: the valid data around the corpus
CARDS_NODE = "2619533011"

MARKUP_TITLE = 'Corpus <script>alert("title")</script> <img src=x onerror=alert(1)> Mug'


def _expand(value):
    if isinstance(value, str):
        return value.replace("@@100KB@@", KB100)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def load(name: str):
    path = HERE / name if (HERE / name).exists() else FIXTURES / name
    if path.suffix == ".json":
        return _expand(json.loads(path.read_text()))
    return path.read_text()


def _oxylabs_body(content, *, url: str, query: str = "") -> bytes:
    result = {
        "content": content,
        "status_code": 200,
        "page": 1,
        "url": url,
        "job_id": "1",
        "created_at": "2026-11-02 09:00:00",
        "updated_at": "2026-11-02 09:00:01",
        "parser_type": "amazon_bestsellers" if isinstance(content, dict) else "",
    }
    job = {"id": "1", "status": "done", "query": query, "url": url}
    return json.dumps({"results": [result], "job": job}, ensure_ascii=False).encode()


def _best_sellers(node: str, records: list) -> bytes:
    url = f"https://www.amazon.com/gp/bestsellers/{node}?pg=1"
    content = {
        "url": url,
        "page": 1,
        "pages": 1,
        "query": node,
        "results": records,
        "parse_status_code": 12000,
    }
    return _oxylabs_body(content, url=url, query=node)


def _cards_products() -> list[dict]:
    return [
        {"pos": i + 1, "asin": f"B0CORPUSH{i}", "title": title, "price": 10.0, "currency": "USD"}
        for i, title in enumerate(EBAY_HTML)
    ]


JSON = "application/json"
HTML = "text/html; charset=utf-8"

# node → (status, content type, body)
AMAZON: dict[str, tuple[int, str, bytes]] = {}
# search keywords → (status, content type, body)
BROWSE: dict[str, tuple[int, str, bytes]] = {}
# search keywords → HTML content of the eBay page Oxylabs fetched
EBAY_HTML: dict[str, str] = {}


def _build() -> None:
    mixed = _best_sellers(MIXED_NODE, load("amazon_mixed.json")["records"])
    AMAZON.update(
        {
            MIXED_NODE: (200, JSON, mixed),
            TRUNCATED_NODE: (
                200,
                JSON,
                _best_sellers(TRUNCATED_NODE, load("amazon_mixed.json")["records"][:3])[:400],
            ),
            HTML_NODE: (200, HTML, load("page_error.html").encode()),
            ROBOT_NODE: (
                200,
                JSON,
                _oxylabs_body(
                    load("amazon_robot_check.html"), url="https://www.amazon.com/gp/bestsellers"
                ),
            ),
        }
    )
    for keywords, name in (
        ("Corpus Valid Desk Lamp", "browse_missing_fields.json"),
        ("Corpus Price Test Kettle", "browse_prices.json"),
        (MARKUP_TITLE, "browse_markup.json"),
        ("Corpus Lookalike Fan", "browse_lookalikes.json"),
        ("Corpus Duplicate Pages Cable", "browse_duplicates.json"),
        ("Corpus Null Byte Pen", "browse_null_bytes.json"),
        ("Corpus Error Speaker", "browse_error_markup.json"),
    ):
        payload = load(name)
        body = json.dumps(payload["body"], ensure_ascii=False).encode()
        BROWSE[keywords] = (payload.get("status", 200), JSON, body)
    lamp = BROWSE["Corpus Valid Desk Lamp"][2]
    BROWSE["Corpus Truncated Blender"] = (200, JSON, lamp[: len(lamp) // 2])
    BROWSE["Corpus Html Toaster"] = (200, HTML, load("page_error.html").encode())
    BROWSE["Corpus Captcha Router"] = (200, HTML, load("ebay_captcha.html").encode())
    EBAY_HTML.update(
        {
            "Corpus Html Captcha Drill": load("ebay_captcha.html"),
            "Corpus Html Unrecognised Saw": load("ebay_unrecognised.html"),
            "Corpus Html Empty Hammer": "",
            "Corpus Html Cards Wrench": load("ebay_hostile_cards.html"),
        }
    )
    AMAZON[CARDS_NODE] = (200, JSON, _best_sellers(CARDS_NODE, _cards_products()))


_build()


def _first_query(title: str) -> str:
    queries = search_queries(title, limit=1)
    return " ".join(queries[0].split()) if queries else title


# The pipeline searches with a short query built from the title, not the title itself: the
# corpus answers a product's first query (a fallback query goes to the sandbox).
BY_QUERY = {_first_query(title): title for title in [*BROWSE, *EBAY_HTML]}


class CorpusApp:
    """The sandbox marketplace, except for what the corpus answers (see the module doc)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.sandbox = SandboxApp(config)
        self.config = config  # marketplace_open reads the pinned credentials from it
        self.served: Counter[str] = Counter()  # corpus answers given, by node or keywords

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.sandbox(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
        answer = self._answer(scope, body)
        if answer is None:
            delivered = False

            async def replay():
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return await self.sandbox(scope, replay, send)
        status, content_type, payload = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        return None

    def _answer(self, scope, body: bytes) -> tuple[int, str, bytes] | None:
        path = scope["path"].rstrip("/")
        if path == "/v1/queries":
            try:
                payload = json.loads(body)
            except ValueError:
                return None
            if not isinstance(payload, dict):
                return None
            if payload.get("source") == "amazon_bestsellers":
                node = str(payload.get("query"))
                if node in AMAZON and payload.get("start_page", 1) == 1:
                    self.served[node] += 1
                    return AMAZON[node]
                return None
            url = payload.get("url") or ""
            keywords = " ".join(parse_qs(urlsplit(url).query).get("_nkw", [""])[0].split())
            keywords = BY_QUERY.get(keywords, keywords)
            if keywords in EBAY_HTML:
                self.served[keywords] += 1
                return 200, JSON, _oxylabs_body(EBAY_HTML[keywords], url=url)
            return None
        if path == "/buy/browse/v1/item_summary/search":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            keywords = " ".join(query.get("q", [""])[0].split())
            keywords = BY_QUERY.get(keywords, keywords)
            if keywords in BROWSE:
                self.served[keywords] += 1
                return BROWSE[keywords]
        return None


@contextlib.contextmanager
def serve_app(app) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port (a thread, like ``sandbox_server``);
    yield its base URL."""
    from collection.marketplaces.sandbox.server import start

    ready = threading.Event()
    state: dict = {}

    def run() -> None:
        async def main() -> None:
            runner, base_url = await start(app)  # any ASGI app: the bridge only calls it
            state.update(base_url=base_url, loop=asyncio.get_running_loop(), stop=asyncio.Event())
            ready.set()
            try:
                await state["stop"].wait()
            finally:
                await runner.cleanup()

        asyncio.run(main())

    thread = threading.Thread(target=run, name="corpus-marketplace", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the corpus server did not start")
    try:
        yield state["base_url"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)


@contextlib.contextmanager
def serve_corpus(config: SandboxConfig) -> Iterator[tuple[str, CorpusApp]]:
    """Serve a ``CorpusApp`` on loopback; yield (base URL, app)."""
    app = CorpusApp(config)
    with serve_app(app) as base_url:
        yield base_url, app
