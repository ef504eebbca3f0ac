"""What a reviewer's accepted edit makes of an item. An edit is kept beside the original (a
Review carrying the edited code), never written over it; whatever reads accepted items as
data — datasets, synthesis seeds, the tokenizer's corpus, few-shot prompts — reads the
accepted revision through here."""
from __future__ import annotations


def accepted_revisions(field: str, items) -> dict:
    """{item id: the accept Review whose edit is the item's accepted revision} for the items
    of `items` (a queryset) accepted as an edit: the newest accept carrying an edit that
    its reviewer did not take back. After an accept, its reviewer only reaches the item
    again through undo, so any later UNDO row of theirs on the item (the undo itself, or a
    discarded edit) means that accept no longer stands. Only edited accepts and the undos
    on their items are read: a few rows, however many items were accepted."""
    from curation.models import Review

    column = f"{field}_id"
    edits = list(Review.objects.filter(**{f"{field}__in": items.values("pk")}, decision=Review.Decision.ACCEPT)
                 .exclude(edited_code="", edited_answer="")
                 .only(column, "reviewer_id", "created_at", "edited_code", "edited_rejected", "edited_answer")
                 .order_by("created_at", "pk"))
    if not edits:
        return {}
    undone: dict[tuple[int, int], list] = {}
    for item_id, reviewer_id, at in Review.objects.filter(
            **{f"{column}__in": {getattr(e, column) for e in edits}}, decision=Review.Decision.UNDO) \
            .values_list(column, "reviewer_id", "created_at"):
        undone.setdefault((item_id, reviewer_id), []).append(at)
    revisions = {}
    for edit in edits:  # oldest first: the newest standing one wins
        item_id = getattr(edit, column)
        if not any(at > edit.created_at for at in undone.get((item_id, edit.reviewer_id), ())):
            revisions[item_id] = edit
    return revisions


def accepted_sample_code(rows: list[tuple]) -> list[tuple]:
    """`rows` of (sample id, …, code) with each code replaced by the sample's accepted edit,
    where it has one; the rows' other values and order are kept."""
    from curation.models import Sample

    if not rows:
        return rows
    edited = accepted_revisions("sample", Sample.objects.filter(pk__in=[row[0] for row in rows]))
    if not edited:
        return rows
    return [(*row[:-1], edited[row[0]].edited_code) if row[0] in edited else row for row in rows]
