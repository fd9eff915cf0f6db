"""An LLM judge for VideoRefer-Bench-D over any OpenAI-compatible chat-completions endpoint (standard library only).

Configuration comes from the environment:

    UNIPIXEL_JUDGE_URL      the endpoint: a base URL such as https://api.openai.com/v1 (then "/chat/completions" is
                            appended) or the full .../chat/completions URL of a local server (vLLM, llama.cpp, ...)
    UNIPIXEL_JUDGE_MODEL    the judge model name sent with every request (e.g. gpt-4o-mini)
    UNIPIXEL_JUDGE_API_KEY  optional; sent as "Authorization: Bearer <key>"

Each (question, reference, prediction) triple gets one request with the four-dimension rubric below, temperature 0 by
default (the original used 0.7, B13, so its scores were not reproducible). Replies are parsed with
`unipixel.eval.metrics.parse_judge_scores`; a transient failure (connection error, timeout, HTTP 429 / 5xx, an
unreadable reply) is retried with exponential backoff, other HTTP errors stop at once. Judgments are appended to a
JSONL cache as they arrive, so a restart only judges what is missing; an entry is reused only for the same prediction
text and the same judge settings (model, temperature, prompt).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from unipixel.utils.files import repair_jsonl_tail

from .metrics import JUDGE_DIMENSIONS, JudgeParseError, parse_judge_scores
from .runner import append_line, read_keyed_jsonl

logger = logging.getLogger(__name__)

ENV_URL = "UNIPIXEL_JUDGE_URL"
ENV_MODEL = "UNIPIXEL_JUDGE_MODEL"
ENV_API_KEY = "UNIPIXEL_JUDGE_API_KEY"
RETRY_STATUS = (408, 409, 425, 429, 500, 502, 503, 504)

SYSTEM_PROMPT = """\
You grade how well an AI model described one highlighted object in a video. You receive the instruction the model \
was given, a reference description written by a person who watched the video, and the model's description. Treat \
the reference as the truth and rate the model's description on four dimensions, each with a whole number from 0 \
(worst) to 5 (best):

1. Subject Correspondence - is the described subject the same object as in the reference (category, identity, \
role in the scene)?
2. Appearance Description - how correct and complete are the visual details: colour, shape, size, clothing, \
texture, parts?
3. Temporal Description - how correct and complete is the account of what the object does over time: actions, \
movements, changes of state, and their order?
4. Hallucination Detection - how free is the description of claims the reference does not support? 5 means nothing \
is invented, 0 means it is mostly invented.

Judge the content only; do not reward length, fluency or style. Answer with exactly these four lines and nothing \
else:
Subject Correspondence: <score>
Appearance Description: <score>
Temporal Description: <score>
Hallucination Detection: <score>"""


class JudgeError(RuntimeError):
    """The judge cannot be reached, refuses the request, or keeps giving unreadable replies."""


def judge_messages(question: str, reference: str, prediction: str) -> list[dict]:
    user = f"Instruction: {question}\n\nReference description: {reference}\n\nModel description: {prediction}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def text_digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


_SECRET_PATTERNS = (
    re.compile(r"(?i)(authorization\W{0,4}(?:bearer|basic|token)?\s*)[^\s\"',;}]+"),
    re.compile(r"(?i)((?:api[-_ ]?key|x-api-key|access[-_ ]?token|secret)\W{0,4})[^\s\"',;}]+"),
    re.compile(r"(?i)(bearer\s+)[^\s\"',;}]+"),
    re.compile(r"\b(sk-)[A-Za-z0-9_\-]{8,}"),
)


def redact(text: str, secret: str | None = None) -> str:
    """`text` with the API key and anything that looks like a credential (an `Authorization` header, `api_key=...`,
    `Bearer ...`, `sk-...`) replaced by `***`: error bodies may echo the request's headers."""
    if secret:
        text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


def check_url(url: str) -> None:
    """Refuse an endpoint that carries credentials (`https://user:key@host`): urllib would send them as part of the
    host name to the name lookup. The message does not repeat them."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise JudgeError(
            f"{ENV_URL} carries credentials before '@' (not shown); put the key in {ENV_API_KEY} and give the URL as "
            f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JudgeError(f"{ENV_URL} must be an http(s) URL with a host, got {redact(url)!r}")


@dataclass
class JudgeClient:
    """Scores descriptions through a chat-completions endpoint.

    Args:
        url: the endpoint (base URL or full ".../chat/completions").
        model: the judge model name.
        api_key: bearer token, or None.
        temperature, max_tokens: sampling settings of every request.
        timeout: seconds per request.
        retries: further attempts after a transient failure.
        backoff: seconds before the first retry; doubled at each further one (at most 60 s).
    """

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)  # never printed
    temperature: float = 0.0
    max_tokens: int = 800
    timeout: float = 120.0
    retries: int = 5
    backoff: float = 2.0

    def __post_init__(self):
        check_url(self.url)

    @classmethod
    def from_env(cls, **settings) -> JudgeClient:
        """A client from `UNIPIXEL_JUDGE_URL` / `_MODEL` / `_API_KEY`; raises `JudgeError` when they are not set."""
        url, model = os.environ.get(ENV_URL, "").strip(), os.environ.get(ENV_MODEL, "").strip()
        if not url or not model:
            missing = [name for name, value in ((ENV_URL, url), (ENV_MODEL, model)) if not value]
            raise JudgeError(
                f"no judge endpoint: set {' and '.join(missing)} (an OpenAI-compatible chat-completions server, e.g. "
                f"{ENV_URL}=https://api.openai.com/v1 {ENV_MODEL}=gpt-4o-mini {ENV_API_KEY}=...)"
            )
        return cls(url=url, model=model, api_key=os.environ.get(ENV_API_KEY) or None, **settings)

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"

    @property
    def signature(self) -> dict:
        """What makes two judgments comparable (stored with each cached judgment)."""
        return {"model": self.model, "temperature": self.temperature, "prompt": text_digest(SYSTEM_PROMPT)[:12]}

    def complete(self, messages: list[dict]) -> str:
        """One request; the reply's text. Raises `urllib.error.URLError` / `HTTPError`, `ValueError` (bad reply)."""
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.endpoint, json.dumps(body).encode("utf-8"), headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            reply = json.loads(response.read().decode("utf-8"))
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"no choices[0].message.content in the reply: {str(reply)[:300]}") from exc
        if not isinstance(content, str):
            raise ValueError(f"reply content is not text: {content!r}")
        return content

    def score(self, question: str, reference: str, prediction: str, name: str = "") -> tuple[dict[str, int], str]:
        """The four dimension scores of one prediction and the judge's raw reply, with retries (see the module)."""
        messages = judge_messages(question, reference, prediction)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), 60.0))
            try:
                reply = self.complete(messages)
                return parse_judge_scores(reply), reply
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300] if exc.fp is not None else ""
                problem = redact(f"HTTP {exc.code} from {self.endpoint}: {detail}", self.api_key)
                if exc.code not in RETRY_STATUS:
                    raise JudgeError(f"judge request for {name} refused: {problem}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, JudgeParseError, ValueError) as exc:
                # an unreachable server, an unreadable reply (ValueError) or one without four scores: ask again
                problem = redact(f"{type(exc).__name__}: {exc}", self.api_key)
            logger.warning("judge attempt %d/%d for %s failed: %s", attempt + 1, self.retries + 1, name, problem)
        raise JudgeError(f"judge gave no usable answer for {name} after {self.retries + 1} attempts; last: {problem}")


def load_judgments(path: str | Path) -> dict[str, dict]:
    """Cached judgments keyed by sample key (a later line wins; an unfinished last line is ignored, and cut off before
    the next judgment is appended)."""
    path = Path(path)
    return read_keyed_jsonl(path) if path.exists() else {}


def judge_items(
    items: Iterable[dict], cache: str | Path, client: JudgeClient | None, workers: int = 4
) -> dict[str, dict[str, int]]:
    """Scores of every item, judging only those without a usable cached judgment.

    Args:
        items: dicts with `key`, `id`, `question`, `reference`, `prediction`.
        cache: the JSONL file judgments are read from and appended to.
        client: the judge; None scores from the cache only (every item must be cached, all by one judge).
        workers: concurrent requests.
    Returns:
        {key: {dimension: score}}.
    """
    items = list(items)
    cache = Path(cache)
    cached = load_judgments(cache)
    scores: dict[str, dict[str, int]] = {}
    todo = []
    for item in items:
        entry = cached.get(item["key"])
        usable = (
            entry is not None
            and entry.get("prediction_sha1") == text_digest(item["prediction"])
            and (client is None or entry.get("judge") == client.signature)
        )
        if usable:
            scores[item["key"]] = {name: int(entry["scores"][name]) for name in JUDGE_DIMENSIONS}
        else:
            todo.append(item)
    if client is None:
        judges = {json.dumps(cached[k]["judge"], sort_keys=True) for k in scores}
        if todo:
            first = todo[0]
            raise JudgeError(
                f"{len(todo)} of {len(items)} predictions have no cached judgment in {cache} (first: sample "
                f"{first['id']}); set {ENV_URL} and {ENV_MODEL} to judge them"
            )
        if len(judges) > 1:
            raise JudgeError(f"{cache} mixes judgments of different judges {sorted(judges)}; set {ENV_MODEL} to one")
        return scores
    if not todo:
        return scores
    logger.info("judging %d of %d predictions with %s (%d cached)", len(todo), len(items), client.model, len(scores))
    cache.parent.mkdir(parents=True, exist_ok=True)
    repair_jsonl_tail(cache)  # a kill mid-line: cut it off, or the next judgment would be glued to it
    with open(cache, "a") as f, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {
            pool.submit(
                client.score, item["question"], item["reference"], item["prediction"], f"sample {item['id']}"
            ): item
            for item in todo
        }
        for future in as_completed(futures):
            item = futures[future]
            try:
                result, reply = future.result()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # stop now; what is written so far stays cached
                raise
            entry = {
                "key": item["key"],
                "id": item["id"],
                "judge": client.signature,
                "prediction_sha1": text_digest(item["prediction"]),
                "scores": result,
                "reply": reply,
            }
            append_line(f, json.dumps(entry))
            scores[item["key"]] = result
    return scores
