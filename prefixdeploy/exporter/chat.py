"""The chat template split around a system message, rendered once here so the jinja-free runtime can apply it.

A system message stored as a prefix (`prefixdeploy prefix-from-text --chat-system`) holds the conversation up to
where the system turn ends; each request then renders only the rest. The split is recorded only where it is exact:
the two halves' token ids, concatenated, must equal the whole conversation's.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

SYSTEM = "\x00PREFIXDEPLOY_SYSTEM\x00"
USER = "\x00PREFIXDEPLOY_USER\x00"
PROBE_SYSTEM, PROBE_USER = "You answer in one short sentence.", "What is the capital of France?"


def chat_system_split(tok) -> tuple[str, str, str, str] | None:
    """(before system, after system, before user, after user) from `tok`'s chat template, or None.

    [system S, user U] renders as before_system + S + after_system + before_user + U + after_user (with the
    generation prompt); before_system + S + after_system is what [system S] alone renders. None when the template
    has no system role, renders the messages other than verbatim, or the split cuts through a token.
    """
    if not getattr(tok, "chat_template", None):
        return None
    try:
        whole = _render(tok, SYSTEM, USER)
        alone = tok.apply_chat_template([{"role": "system", "content": SYSTEM}], tokenize=False)
    except Exception as e:  # templates that refuse a system role raise their own exception types
        log.info("the chat template takes no system message (%s); --chat-system will be unavailable", e)
        return None
    if whole.count(SYSTEM) != 1 or whole.count(USER) != 1 or alone.count(SYSTEM) != 1:
        return None
    before_system, rest = whole.split(SYSTEM)
    middle, after_user = rest.split(USER)
    alone_before, after_system = alone.split(SYSTEM)
    if alone_before != before_system or not middle.startswith(after_system):
        log.info("the chat template renders a system message differently alone; --chat-system will be unavailable")
        return None
    split = (before_system, after_system, middle[len(after_system) :], after_user)
    return split if _on_token_boundary(tok, split) else None


def _render(tok, system: str, user: str) -> str:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _on_token_boundary(tok, split: tuple[str, str, str, str]) -> bool:
    before_system, after_system, before_user, after_user = split
    head = tok.encode(before_system + PROBE_SYSTEM + after_system, add_special_tokens=False)
    tail = tok.encode(before_user + PROBE_USER + after_user, add_special_tokens=False)
    whole = tok.encode(_render(tok, PROBE_SYSTEM, PROBE_USER), add_special_tokens=False)
    if head + tail != whole:
        log.info("the chat template's system turn does not end on a token boundary; --chat-system will be unavailable")
        return False
    return True
