"""Whether an Elasticsearch `query_string` matches a Filebeat document, without an Elasticsearch.

The ElastAlert rules filter with Lucene query strings. This evaluates the subset they use (AND, OR, NOT, grouping,
`field:"phrase"`, `field:word`, `field:*wild*`) the way Elasticsearch does for Filebeat's index template: `message`
is analysed text (a phrase matches consecutive tokens), every other field is a keyword (exact value, or a
wildcard over the whole value). The tokenizer approximates Lucene's standard tokenizer (Unicode UAX #29 word
boundaries): words are lower-cased, and letters or digits joined by `.`, `:` or `'` stay one token, which is why
a dotted lager session name like `atc.db.failed` never matches the word `failed`. luqum parses the query.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from luqum.parser import parser
from luqum.tree import (
    AndOperation,
    FieldGroup,
    Group,
    Item,
    Not,
    OrOperation,
    Phrase,
    Prohibit,
    SearchField,
    UnknownOperation,
    Word,
)

TEXT_FIELDS = {"message"}
_TOKEN = re.compile(r"\w+(?:[.:'\u2019]\w+)*")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def field_value(document: dict[str, Any], field: str) -> str | None:
    """A dotted field of a (nested) document, as Elasticsearch flattens it."""
    node: Any = document
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if node is None else str(node)


def _term_matches(field: str, term: Item, value: str) -> bool:
    if isinstance(term, Phrase):
        wanted = term.value[1:-1]
    elif isinstance(term, Word):
        wanted = term.value
    else:
        raise ValueError(f"unsupported term {term!r} for {field}")
    if field not in TEXT_FIELDS:
        return fnmatch.fnmatchcase(value, wanted) if "*" in wanted or "?" in wanted else value == wanted
    have, want = tokens(value), tokens(wanted)
    if isinstance(term, Word) and ("*" in wanted or "?" in wanted):
        return any(fnmatch.fnmatchcase(t, wanted.lower()) for t in have)
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1)) if want else False


def _matches(node: Item, document: dict[str, Any], field: str | None) -> bool:
    if isinstance(node, SearchField):
        return _matches(node.expr, document, node.name)
    if isinstance(node, (Group, FieldGroup)):
        return _matches(node.expr, document, field)
    if isinstance(node, AndOperation):
        return all(_matches(child, document, field) for child in node.children)
    if isinstance(node, (OrOperation, UnknownOperation)):  # Elasticsearch's default operator is OR
        return any(_matches(child, document, field) for child in node.children)
    if isinstance(node, (Not, Prohibit)):
        return not _matches(node.a, document, field)
    if field is None:
        raise ValueError(f"a term without a field: {node}; every term of a rule's query names its field")
    value = field_value(document, field)
    return value is not None and _term_matches(field, node, value)


def matches(query: str, document: dict[str, Any]) -> bool:
    return _matches(parser.parse(query), document, None)
