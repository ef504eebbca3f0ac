"""What a reviewer's accepted edit makes of an item. An edit is kept beside the original (a
Review carrying the edited code), never written over it; whatever reads accepted items as
data — datasets, synthesis seeds, the tokenizer's corpus, few-shot prompts, self-training's
reverse model — reads the accepted revision through here."""
from __future__ import annotations


def accepted_revisions(field: str, items) -> dict:
    """{item id: the accept Review whose edit is the item's accepted revision} for the items
    of `items` (a queryset) accepted as an edit: the newest accept carrying an edit that
    still stands. It no longer stands when its reviewer later took it back — after an
    accept, the reviewer only reaches the item again through undo, so any later UNDO row of
    theirs on it (the undo itself, or a discarded edit) — or when an admin later settled the
    item by adjudication, which decides on the item as generated: the disputes page does not
    offer a colleague's edit to accept. "Later" is by id, not by clock: each of those rows is
    written after the accept it follows has committed, and hosts' clocks may disagree.
    Only edited accepts and the undos and adjudications on their items are read: a few rows,
    however many items were accepted."""
    from django.db.models import Q

    from curation.models import Review

    column = f"{field}_id"
    edits = list(Review.objects.filter(**{f"{field}__in": items.values("pk")}, decision=Review.Decision.ACCEPT,
                                       adjudication=False)
                 .exclude(edited_code="", edited_answer="")
                 .only(column, "reviewer_id", "edited_code", "edited_rejected", "edited_answer")
                 .order_by("pk"))
    if not edits:
        return {}
    undone: dict[tuple[int, int], list[int]] = {}
    settled: dict[int, list[int]] = {}
    for pk, item_id, reviewer_id, adjudication in Review.objects.filter(
            Q(decision=Review.Decision.UNDO) | Q(adjudication=True),
            **{f"{column}__in": {getattr(e, column) for e in edits}}) \
            .values_list("pk", column, "reviewer_id", "adjudication"):
        if adjudication:
            settled.setdefault(item_id, []).append(pk)
        else:
            undone.setdefault((item_id, reviewer_id), []).append(pk)
    revisions = {}
    for edit in edits:  # oldest first: the newest standing one wins
        item_id = getattr(edit, column)
        later = (*undone.get((item_id, edit.reviewer_id), ()), *settled.get(item_id, ()))
        if not any(pk > edit.pk for pk in later):
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


def with_accepted_code(samples: list) -> list:
    """The Sample objects with `code` set to their accepted edit, where they have one, to
    read as data; never save them (the original stays as generated)."""
    from curation.models import Sample

    edited = accepted_revisions("sample", Sample.objects.filter(pk__in=[s.pk for s in samples])) if samples else {}
    for sample in samples:
        if sample.pk in edited:
            sample.code = edited[sample.pk].edited_code
    return samples
