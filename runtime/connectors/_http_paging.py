"""Pagination of an http operation: follow cursors, next links or offsets and collect every page.

The operation's `result` selector is applied to each page and the selections are concatenated,
so a paginated `find` returns one list whatever the page size. `max_pages` guards against a
server that never stops: going past it fails the call (permanent `connector.too_many_pages`)
rather than silently returning part of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from runtime.connectors.secrets import connector_error
from runtime.expressions.jmes import CompiledExpression
from runtime.spec.common import Expression, SpecModel


class HttpPagination(SpecModel):
    """How an operation pages: `cursor` (a response field fed back as a query parameter),
    `next_link` (a response field or the `Link: <…>; rel="next"` header), or `offset`/`limit`."""

    type: Literal["cursor", "next_link", "offset"] = Field(description="The paging style.")
    cursor: Expression | None = Field(
        default=None,
        description="`cursor`: JMESPath over the response giving the next cursor; null or empty ends.",
        examples=["meta.next_cursor"],
    )
    param: str | None = Field(
        default=None, description="`cursor`: the query parameter that carries the cursor."
    )
    next: Expression | None = Field(
        default=None,
        description="`next_link`: JMESPath over the response giving the next page's URL; "
        'omitted: the `Link` header\'s `rel="next"`.',
        examples=["links.next"],
    )
    offset_param: str = Field(default="offset", description="`offset`: the offset parameter.")
    limit_param: str = Field(default="limit", description="`offset`: the page size parameter.")
    limit: int = Field(
        default=100, ge=1, description="`offset`: items per page; a shorter page is the last."
    )
    start: int = Field(default=0, ge=0, description="`offset`: the first offset.")
    max_pages: int = Field(
        default=100, ge=1, description="More pages than this fail the call instead of looping on."
    )

    @model_validator(mode="after")
    def _fields_of_type(self) -> HttpPagination:
        if self.type == "cursor" and (self.cursor is None or self.param is None):
            raise ValueError(
                "cursor pagination needs `cursor` (where the next cursor is) and `param`"
            )
        return self


@dataclass(frozen=True)
class Page:
    """The request of one page: a path or absolute URL, and its query."""

    url: str
    query: dict[str, Any]


@dataclass(frozen=True)
class Pager:
    config: HttpPagination
    cursor: CompiledExpression | None
    next: CompiledExpression | None

    def first(self, path: str, query: dict[str, Any]) -> Page:
        if self.config.type == "offset":
            query = {
                **query,
                self.config.offset_param: self.config.start,
                self.config.limit_param: self.config.limit,
            }
        return Page(path, query)

    def after(
        self, page: Page, response: httpx.Response, payload: Any, items: list[Any], origin: str
    ) -> Page | None:
        """The next page's request, or None when this page was the last."""
        config = self.config
        if config.type == "offset":
            if len(items) < config.limit:
                return None
            offset = int(page.query.get(config.offset_param, config.start)) + config.limit
            return Page(page.url, {**page.query, config.offset_param: offset})
        if config.type == "cursor":
            assert self.cursor is not None and config.param is not None
            value = self.cursor.evaluate(payload)
            if value in (None, "") or value == page.query.get(config.param):
                return None
            return Page(page.url, {**page.query, config.param: value})
        link = (
            self.next.evaluate(payload)
            if self.next is not None
            else response.links.get("next", {}).get("url")
        )
        if not link:
            return None
        url = response.request.url.join(str(link))
        if f"{url.scheme}://{url.netloc.decode()}" != origin:
            raise connector_error(
                f"next page link {url} leaves {origin}; not followed (credentials would go along)",
                transient=False,
                error_class="bad_next_link",
            )
        return Page(str(url), {})

    def too_many(self, where: str) -> Exception:
        return connector_error(
            f"{where}: more than {self.config.max_pages} pages; raise paginate.max_pages "
            "or narrow the query",
            transient=False,
            error_class="too_many_pages",
        )


def page_items(selected: Any) -> list[Any]:
    """What one page contributes: a list's items, a single value, or nothing for null."""
    if selected is None:
        return []
    return list(selected) if isinstance(selected, list) else [selected]
