"""Merge rules beyond a plain 3-way merge: each has a name, says what it resolved, can be off.

The apply path asks two questions here. Before a 3-way merge: are the hunks that did not land
already upstream, with their context moved or changed (``upstream-context-changed``)? After a
3-way merge: does a clean result add a block upstream already has (``duplicate-guard``, which
turns the merge into a conflict), and can a conflicting block be settled by a rule that proves
its answer (``adjacent-edits``, ``kconfig-attributes``)? A rule that
cannot prove its answer leaves the conflict alone: a conflict costs a minute, a wrong merge
costs a bug.

Every rule can be turned off by name (``rebase-patches --no-rule NAME``, repeatable; ``--no-rule
all`` leaves git's plain 3-way merge).
"""

from __future__ import annotations

from dataclasses import dataclass

UPSTREAM_CONTEXT_CHANGED = "upstream-context-changed"
DUPLICATE_GUARD = "duplicate-guard"
ADJACENT_EDITS = "adjacent-edits"
KCONFIG_ATTRIBUTES = "kconfig-attributes"
RULES = (UPSTREAM_CONTEXT_CHANGED, DUPLICATE_GUARD, ADJACENT_EDITS, KCONFIG_ATTRIBUTES)


@dataclass(frozen=True)
class RuleSet:
    """The rules in force; all of them unless some are turned off."""

    off: frozenset[str] = frozenset()

    def on(self, rule: str) -> bool:
        """Whether ``rule`` may be used."""
        return rule not in self.off

    @classmethod
    def without(cls, names: list[str] | tuple[str, ...]) -> RuleSet:
        """The rules minus ``names`` ("all" turns every rule off); unknown names raise."""
        if "all" in names:
            return cls(frozenset(RULES))
        unknown = [name for name in names if name not in RULES]
        if unknown:
            raise ValueError(f"unknown merge rule {unknown[0]!r} (rules: {', '.join(RULES)})")
        return cls(frozenset(names))


ALL_RULES = RuleSet()  # every rule on: the default
