"""In-memory note storage (no WSGI in here)."""

from __future__ import annotations

import itertools


class NoteStore:
    def __init__(self):
        self._ids = itertools.count(1)
        self._notes = {}

    def add(self, title, body="", tags=()):
        note_id = next(self._ids)
        note = {"id": note_id, "title": title, "body": body, "tags": sorted(set(tags))}
        self._notes[note_id] = note
        return note

    def get(self, note_id):
        return self._notes.get(note_id)

    def delete(self, note_id):
        return self._notes.pop(note_id, None) is not None

    def list(self, tag=None, limit=None):
        notes = [n for n in self._notes.values() if tag is None or tag in n["tags"]]
        return notes if limit is None else notes[:limit]


def seeded_store():
    store = NoteStore()
    store.add("Groceries", "Milk, eggs, coffee", ["home"])
    store.add("Sprint review", "Demo the export", ["work"])
    store.add("Crème brûlée", "Recipe from Zoë", ["café", "home"])
    return store
