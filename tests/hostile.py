"""Hostile values, where to put them, and what every answer to them must look like.

Used by tests/test_hostile_input.py. A *slot* is one place a client controls (a path or
query parameter, a JSON body field, a GraphQL argument or input field, an MCP tool
argument); a *case* puts hostile values into one to three slots of an otherwise valid
request. Checks return a problem sentence (or None) so that a test can report every
failing request at once.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

Path = tuple[str | int, ...]
T = TypeVar("T")

# --- hostile values ---------------------------------------------------------------------

NEST_DEPTH = 2000
# Stand-ins replaced in the serialized request by 2,000-level JSON, which json.dumps cannot
# write (it recurses); in a URL they become the same text.
NESTED_OBJECT = "\x00<nested-object>\x00"
NESTED_ARRAY = "\x00<nested-array>\x00"
NESTED_TEXT = {
    NESTED_OBJECT: '{"a":' * NEST_DEPTH + "0" + "}" * NEST_DEPTH,
    NESTED_ARRAY: "[" * NEST_DEPTH + "]" * NEST_DEPTH,
}
OTHER_TENANT = "other-tenant"  # the label of the value taken from the other tenant's ids


@dataclass(frozen=True)
class Hostile:
    """A hostile value, made from the slot's valid value (None when the slot is optional)."""

    label: str
    make: Callable[[Any], Any]

    def __repr__(self) -> str:
        return self.label


def _text(valid: Any) -> str:
    if valid is None or isinstance(valid, dict | list):
        return "x"
    return valid if isinstance(valid, str) else json.dumps(valid)


HOSTILE: tuple[Hostile, ...] = (
    Hostile("nul-suffix", lambda v: f"{_text(v)}\x00"),
    Hostile("nul-only", lambda v: "\x00"),
    Hostile("lone-high-surrogate", lambda v: f"{_text(v)}\ud800"),
    Hostile("lone-low-surrogate", lambda v: "\udc00x"),
    Hostile("control-chars", lambda v: f"{_text(v)}\x01\x08\x1b[2J\x7f"),
    Hostile("trailing-newline", lambda v: f"{_text(v)}\n"),
    Hostile("trailing-space", lambda v: f"{_text(v)} "),
    Hostile("huge-100KB", lambda v: "x" * 100_000),
    Hostile("huge-astral-100KB", lambda v: "\U0001f600" * 25_000),
    Hostile("nested-2000-object", lambda v: NESTED_OBJECT),
    Hostile("nested-2000-array", lambda v: NESTED_ARRAY),
    Hostile("int-2**31", lambda v: 2**31),
    Hostile("int-2**63", lambda v: 2**63),
    Hostile("int-minus-1", lambda v: -1),
    Hostile("float-1e308", lambda v: 1e308),
    Hostile("text-NaN", lambda v: "NaN"),
    Hostile("text-2**63", lambda v: str(2**63)),
    Hostile("date-0001+14:00", lambda v: "0001-01-01T00:00:00+14:00"),
    Hostile("date-9999Z", lambda v: "9999-12-31T23:59:59Z"),
    Hostile("range-99991231", lambda v: "99991231,99991231"),
    Hostile("range-00010101", lambda v: "00010101,00010101"),
    Hostile(OTHER_TENANT, lambda v: None),  # resolved per slot by Victim.id_for
)


@dataclass(frozen=True)
class Ids:
    """One tenant's real identifiers, by kind."""

    account: str
    handle: str
    campaign: str
    slug: str
    rule: str
    webhook: str
    token: str  # id of a token that no request here authenticates with
    delivery: str

    def id_for(self, name: str, owner: str = "") -> str:
        """The identifier a slot called ``name`` (of ``owner``: a tool or a field) takes."""
        for text in (name, owner):
            text = text.lower().replace("_", "")
            for key, value in (
                ("account", self.account),
                ("handle", self.handle),
                ("slug", self.slug),
                ("rule", self.rule),
                ("delivery", self.delivery),
                ("webhook", self.webhook),
                ("subscription", self.webhook),
                ("token", self.token),
                ("campaign", self.campaign),
            ):
                if key in text:
                    return value
        return self.campaign


# --- requests with hostile values -------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    where: str  # path, query, body, arg (GraphQL variable or MCP argument)
    path: Path
    owner: str = ""  # the GraphQL field or MCP tool, which tells what an "id" is

    @property
    def name(self) -> str:
        return str(next((p for p in reversed(self.path) if isinstance(p, str)), "body"))

    def __str__(self) -> str:
        return f"{self.where}:{'.'.join(map(str, self.path)) or '<whole>'}"


Mutation = tuple[Slot, Hostile]


def get_path(doc: Any, path: Path) -> Any:
    for key in path:
        try:
            doc = doc[key]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def set_path(doc: Any, path: Path, value: Any) -> Any:
    """``doc`` with ``value`` at ``path``, creating objects and lists on the way."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(doc) if isinstance(doc, list) else []
        while len(items) <= head:
            items.append({})
        items[head] = set_path(items[head], rest, value)
        return items
    out = dict(doc) if isinstance(doc, dict) else {}
    out[head] = set_path(out.get(head), rest, value)
    return out


def dumps(doc: Any) -> str:
    """JSON text of ``doc`` (lone surrogates as \\u escapes) with nesting stand-ins expanded."""
    text = json.dumps(doc, ensure_ascii=True, allow_nan=False)
    for stand_in, nested in NESTED_TEXT.items():
        text = text.replace(json.dumps(stand_in), nested)
    return text


# httpx refuses URLs past 64 KiB (and `funnelgate serve` a head past 32 KiB): a huge value
# in a URL is cut to about this many percent-encoded characters, still past any column.
URL_VALUE_MAX = 8_000


def url_text(value: Any) -> str:
    """A hostile value as it goes into a URL: percent-encoded UTF-8, surrogates kept."""
    if isinstance(value, str):
        value = NESTED_TEXT.get(value, value)
    else:
        value = json.dumps(value)
    encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
    if len(encoded) > URL_VALUE_MAX:  # cut whole characters, never a UTF-8 sequence
        value = value[: len(value) * URL_VALUE_MAX // len(encoded)]
        encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
    return encoded


def resolve(hostile: Hostile, slot: Slot, valid: Any, victim: Ids) -> Any:
    if hostile.label == OTHER_TENANT:
        return victim.id_for(slot.name, slot.owner)
    return hostile.make(valid)


def describe(value: Any) -> str:
    """A short, printable description of a hostile value."""
    text = value if isinstance(value, str) else json.dumps(value)
    text = NESTED_TEXT.get(text, text)
    shown = ascii(text[:40])
    return shown + (f"…({len(text)} chars)" if len(text) > 40 else "")


# --- hypothesis: deterministic cases ----------------------------------------------------


def examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` draws of ``strategy``: the same ones on every run (derandomized)."""
    out: list[Any] = []

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def sweep(items: Sequence[T], rounds: int = 3) -> list[tuple[T, Hostile]]:
    """Every item (a slot) with ``rounds`` hostile values, and every hostile value used at
    least once, in a fixed rotation."""
    if not items:
        return []
    count = max(len(items) * rounds, len(HOSTILE))
    return [(items[i % len(items)], HOSTILE[(i * 7 + 3) % len(HOSTILE)]) for i in range(count)]


def plan(
    items: Sequence[T], slots_of: Callable[[T], Sequence[Slot]], count: int
) -> list[tuple[T, list[Mutation]]]:
    """Cases for ``items`` (operations, fields or tools): the sweep over all their slots,
    then ``count`` drawn cases."""
    pairs = [(item, slot) for item in items for slot in slots_of(item)]
    out = [(item, [(slot, hostile)]) for (item, slot), hostile in sweep(pairs)]
    plans = tuple(tuple(slots_of(item)) for item in items)
    return out + [(items[i], m) for i, m in drawn(plans, count)]


@functools.cache
def drawn(plans: tuple[tuple[Slot, ...], ...], count: int) -> list[tuple[int, list[Mutation]]]:
    """``count`` hypothesis-drawn cases over operations given by their slots: (index of the
    operation, its mutations). Drawn once per session, shared by both backends."""
    usable = [i for i, slots in enumerate(plans) if slots]
    if not usable:
        return []
    strategy = st.sampled_from(usable).flatmap(lambda i: mutations(plans[i]).map(lambda m: (i, m)))
    return examples(strategy, count)


def mutations(slots: Sequence[Slot]) -> st.SearchStrategy[list[Mutation]]:
    """One to three hostile values in distinct slots."""
    return st.lists(
        st.tuples(st.sampled_from(list(slots)), st.sampled_from(HOSTILE)),
        min_size=1,
        max_size=3,
        unique_by=lambda m: m[0],
    )


# --- valid values from a JSON schema ----------------------------------------------------


@dataclass
class JsonSchemas:
    """Valid example documents and their slots, from (OpenAPI or MCP) JSON schemas."""

    components: Mapping[str, Any]
    hints: Mapping[str, Any]  # field name -> a valid value of that field
    # schema title -> optional fields an example carries too (with their hinted values)
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def deref(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[1]]
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            real = [b for b in branches if self.deref(b).get("type") != "null"]
            return self.deref(real[0]) if real else {}
        return schema

    def example(self, schema: Mapping[str, Any], name: str = "") -> Any:
        schema = self.deref(schema)
        if name in self.hints:
            hint = self.hints[name]
            wrap = schema.get("type") == "array" and not isinstance(hint, list)
            return [hint] if wrap else hint
        if "enum" in schema:
            return schema["enum"][0]
        if "default" in schema and schema["default"] is not None:
            return schema["default"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            props = schema.get("properties", {})
            keys = [*schema.get("required", []), *self.optional.get(schema.get("title", ""), ())]
            return {k: self.example(props[k], k) for k in keys if k in props}
        if kind == "array":
            return [self.example(schema.get("items", {}), name)] * max(1, schema.get("minItems", 1))
        if kind == "integer":
            low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
            return max(1, low + ("exclusiveMinimum" in schema))
        if kind == "number":
            return 1
        if kind == "boolean":
            return False
        return "hx1"

    def slots(
        self, schema: Mapping[str, Any], where: str, path: Path = (), owner: str = ""
    ) -> list[Slot]:
        """The document itself and every field under it, three levels deep."""
        out = [Slot(where, path, owner)]
        schema = self.deref(schema)
        if len(path) >= 4:
            return out
        props = schema.get("properties", {})
        for key, sub in props.items():
            out += self.slots(sub, where, (*path, key), owner)
        if schema.get("additionalProperties") is True or (
            schema.get("type") == "object" and not props
        ):
            out.append(Slot(where, (*path, "extra"), owner))
        if schema.get("type") == "array":
            out += self.slots(schema.get("items", {}), where, (*path, 0), owner)[1:]
        return out


# --- what an answer must look like ------------------------------------------------------

INTERNAL_CODES = ("internal_error", "INTERNAL_SERVER_ERROR", "INTERNAL")


def excerpt(text: str, size: int = 240) -> str:
    return text if len(text) <= size else text[:size] + "…"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def rest_problem(
    family: str, status: int, content_type: str, text: str, method: str = "GET"
) -> str | None:
    """Why a REST answer breaks the contract: no 5xx, 4xx in the route family's shape."""
    if status >= 500:
        return f"HTTP {status}"
    if any(f'"{code}"' in text for code in INTERNAL_CODES):
        return "internal error code in the body"
    if status < 400 or method == "HEAD":  # a HEAD answer has no body to check
        return None
    if family == "redirect" and content_type.startswith(("text/html", "text/plain")):
        # A visitor's browser shows it: the "Link not found" page, or a plain sentence.
        return None if text.strip() else f"HTTP {status} with an empty page"
    body = _json(text)
    if family == "graphql":
        return graphql_problem(status, text)
    if not isinstance(body, dict):
        return f"HTTP {status} without a JSON object body"
    if family == "v1":
        if body.get("status") != "error" or not _nonempty(body.get("message")):
            return f'HTTP {status} not in the /v1 shape {{"status":"error","message"}}'
        return None
    if not _nonempty(body.get("error")) or not _nonempty(body.get("message")):
        return f'HTTP {status} not in the /v2 shape {{"error","message"}}'
    return None


def graphql_problem(status: int, text: str) -> str | None:
    """Why a GraphQL answer breaks the contract: errors need extensions.code and a message."""
    if status >= 500:
        return f"HTTP {status}"
    body = _json(text)
    if not isinstance(body, dict):
        return f"HTTP {status} without a JSON object body"
    errors = body.get("errors") or []
    if status >= 400 and not errors:
        return f"HTTP {status} without errors[]"
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if not _nonempty(code):
            return "an error without extensions.code"
        if code in INTERNAL_CODES:
            return f"extensions.code {code}"
        if not _nonempty(error.get("message")):
            return "an error without a message"
    return None


def mcp_problem(status: int, text: str) -> str | None:
    """Why an MCP answer breaks the contract: a JSON-RPC error or an isError result."""
    if status >= 500:
        return f"HTTP {status}"
    body = _json(text)
    if not isinstance(body, dict):
        return f"HTTP {status} without a JSON object body"
    if status >= 400:
        if _nonempty(body.get("error")) and _nonempty(body.get("message")):
            return None
        error = body.get("error")
        if isinstance(error, dict) and _nonempty(error.get("message")):
            return None
        return f"HTTP {status} without an error and a message"
    if "error" in body:
        error = body["error"]
        if not (isinstance(error, dict) and isinstance(error.get("code"), int)):
            return "a JSON-RPC error without a code"
        if not _nonempty(error.get("message")) or "internal_error" in error["message"]:
            return "a JSON-RPC error without a message, or an internal one"
        return None
    result = body.get("result") or {}
    if result.get("isError"):
        content = result.get("content") or [{}]
        message = content[0].get("text")
        if not _nonempty(message):
            return "a tool error without text"
        if "internal_error" in message or "Unexpected error" in message:
            return "an internal tool error"
    return None


@dataclass
class Failures:
    """Failing requests of one test, kept for one readable assertion message."""

    items: list[tuple[str, str, str]] = field(default_factory=list)  # (cause, request, answer)
    sent: int = 0

    def check(self, problem: str | None, request: str, status: int, text: str) -> None:
        self.sent += 1
        if problem is not None:
            self.items.append((problem, request, f"HTTP {status}: {excerpt(text)}"))

    def add(self, problem: str, detail: str) -> None:
        self.items.append((problem, detail, ""))

    def report(self, limit: int = 60) -> str:
        """The assertion message: the first ``limit`` failures. FUNNELGATE_HOSTILE_REPORT
        names a file that gets every failure as a JSON line (for a long hunt)."""
        dump = os.environ.get("FUNNELGATE_HOSTILE_REPORT")
        if dump:
            with open(dump, "a", encoding="utf-8") as out:
                for cause, request, answer in self.items:
                    out.write(json.dumps([cause, request, answer]) + "\n")
        lines = [f"{len(self.items)} of {self.sent} hostile requests broke the contract:"]
        for cause, request, answer in self.items[:limit]:
            lines.append(
                f"- [{cause}] {request}\n    -> {answer}" if answer else f"- {cause}: {request}"
            )
        if len(self.items) > limit:
            lines.append(f"… and {len(self.items) - limit} more")
        return "\n".join(lines)


def case_label(mutation_list: Iterable[tuple[Slot, Hostile, Any]]) -> str:
    return ", ".join(
        f"{slot}={hostile.label} {describe(value)}" for slot, hostile, value in mutation_list
    )
