"""The one base class of every "the user's spec is wrong" error.

Parsers of different parts of a spec (a rollout's steps, an analysis check, a quality
gate, a retrain schedule, a duration) raise their own subclass, whose message names
the field; a caller that only needs to know "invalid, say why" catches
:class:`SpecError` once instead of a tuple that a new parser would silently miss.
"""

from __future__ import annotations


class SpecError(ValueError):
    """Part of a spec cannot be used; the message names the field and what is wrong."""
