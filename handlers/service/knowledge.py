"""Service knowledge: suggest published knowledge articles for a case (FTS5 on SQLite,
tsvector on PostgreSQL, a term count elsewhere) and link them to it.

Split from the service module.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from ..errors import DomainError
from ..models.service import CaseArticle, KnowledgeArticle
from ..support import operation
from .views import active_case

WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
STOP_WORDS = frozenset(
    "the and for with that this from have has not but are was were you your our can cannot can't "
    "when what how why who does did will would could should into onto after before about there their "
    "they them then than its it's all any some get got".split()
)


def _terms(*texts: str | None) -> list[str]:
    seen: dict[str, None] = {}
    for chunk in texts:
        for word in WORD.findall(chunk or ""):
            word = word.lower()
            if word not in STOP_WORDS:
                seen.setdefault(word, None)
    return list(seen)[:32]


def _search_fts(session: Session, terms: list[str], limit: int) -> list[int]:
    """Published article ids by FTS5 relevance (bm25; title weighs most, then keywords)."""
    query = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
    rows = session.execute(
        text(
            "SELECT a.id FROM crm_knowledge_article_fts f JOIN crm_knowledge_article a ON a.id = f.rowid"
            " WHERE crm_knowledge_article_fts MATCH :query AND a.state = 'Published'"
            " ORDER BY bm25(crm_knowledge_article_fts, 10.0, 1.0, 5.0), a.id LIMIT :limit"
        ),
        {"query": query, "limit": limit},
    )
    return [row[0] for row in rows]


def _search_tsvector(session: Session, terms: list[str], limit: int) -> list[int]:
    """Published article ids by PostgreSQL full-text rank (weighted title > keywords > content)."""
    words = [w for w in (re.sub(r"[^0-9a-z]", "", t) for t in terms) if w]
    if not words:
        return []
    rows = session.execute(
        text(
            "SELECT id FROM crm_knowledge_article, to_tsquery('english', :query) q"
            " WHERE state = 'Published' AND search_vector @@ q"
            " ORDER BY ts_rank(search_vector, q) DESC, id LIMIT :limit"
        ),
        {"query": " | ".join(words), "limit": limit},
    )
    return [row[0] for row in rows]


def _search_like(session: Session, terms: list[str], limit: int) -> list[int]:
    """Fallback without a full-text index: rank by how many terms an article mentions."""
    scored = []
    for article in session.scalars(select(KnowledgeArticle).where(KnowledgeArticle.state == "Published")):
        haystack = " ".join((article.title, article.content, article.keywords or "")).lower()
        title = article.title.lower()
        score = sum(3 if term in title else 1 for term in terms if term in haystack)
        if score:
            scored.append((-score, article.id))
    return [article_id for _, article_id in sorted(scored)[:limit]]


@operation("service/suggest_articles")
def suggest_articles(ctx: ServiceContext, case_id: int, limit: int = 3) -> dict[str, Any]:
    """Suggest published knowledge articles matching the case's title and description, best
    first, and link them to the case."""
    case = active_case(ctx.session, case_id, "given article suggestions")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
        raise DomainError(f"limit must be a whole number from 1 to 50, not {limit!r}")
    terms = _terms(case.title, case.description)
    if not terms:
        ids: list[int] = []
    elif ctx.session.get_bind().dialect.name == "sqlite":
        ids = _search_fts(ctx.session, terms, limit)
    elif ctx.session.get_bind().dialect.name == "postgresql":
        ids = _search_tsvector(ctx.session, terms, limit)
    else:
        ids = _search_like(ctx.session, terms, limit)
    suggestions = []
    for rank, article_id in enumerate(ids, start=1):
        article = ctx.session.get(KnowledgeArticle, article_id)
        link = ctx.session.get(CaseArticle, (case.id, article_id))
        if link is None:
            ctx.session.add(CaseArticle(case_id=case.id, article_id=article_id, rank=rank, suggested_at=ctx.now))
        else:
            link.rank, link.suggested_at = rank, ctx.now
        suggestions.append({"article_id": article.id, "number": article.number, "title": article.title, "rank": rank})
    ctx.session.flush()
    return {"case_id": case.id, "articles": suggestions, "article_ids": ids}
