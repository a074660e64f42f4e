"""What a platform outside development refuses in its province configuration and its clients.

The sample province runs against simulators with demo accounts; none of that may reach a real
deployment. Outside development (``LGSP_ENV`` is not ``development``):

- a client secret, or a secret in endpoint settings, that is a demo secret printed in the
  repository or a placeholder of docker/env.example (:func:`lgsp.settings.demo_secret_reason`);
- a client ``secret_hash`` of a demo secret;
- a ``${VAR:-default}`` on a secret: a forgotten variable must stop the deployment, not fall
  back to a value written in the files.

``config check`` and ``config apply`` report these as problems (nothing is applied);
:func:`refuse_demo_credentials` stops the platform's start while the database holds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr

import lgsp.kit.envref as envref
from lgsp.kit.secrets import verify_secret
from lgsp.settings import (
    DEMO_SECRET_HASHES,
    DEMO_SECRETS,
    demo_secret_reason,
)

Path = tuple[str | int, ...]
# Setting names that hold a secret whatever the adapter says about them.
_SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|api_?key|credential", re.IGNORECASE)
FALLBACK_REFUSED = (
    "gives a secret a default (${{{name}:-...}}): outside development a secret comes only "
    "from its variable"
)


def secret_hash_reason(secret_hash: str, *, rehashed: bool = True) -> str | None:
    """Why a stored or declared client hash may not be used outside development, or None.
    ``rehashed``: also try every demo secret against the (salted) hash, which costs a hash
    each; without it only the hashes printed in the repository are recognised."""
    if secret_hash in DEMO_SECRET_HASHES or (
        rehashed and any(verify_secret(secret, secret_hash) for secret in DEMO_SECRETS)
    ):
        return "the hash of a demo secret printed in the repository"
    return None


def _secret_fields(value: Any, path: Path = ()) -> Iterator[Path]:
    """Paths of the ``SecretStr`` fields of validated adapter settings."""
    if isinstance(value, SecretStr):
        yield path
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_fields(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_fields(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _secret_fields(item, (*path, i))


def _strings(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _is_secret(path: Path, secret_fields: set[Path]) -> bool:
    name = path[-1] if path else ""
    return path in secret_fields or (isinstance(name, str) and bool(_SECRET_NAME.search(name)))


def endpoint_secret_problems(settings: dict[str, Any], validated: Any) -> list[tuple[Path, str]]:
    """(path in the settings, reason) for every refused secret in endpoint ``settings`` as
    written; ``validated``: the adapter's validated settings, which say which fields are secret."""
    secret_fields = set(_secret_fields(validated))
    problems: list[tuple[Path, str]] = []
    for path, text in _strings(settings):
        if not _is_secret(path, secret_fields):
            continue
        for name in envref.defaults(text):
            problems.append((path, FALLBACK_REFUSED.format(name=name)))
        value, missing = envref.expand(text)
        reason = None if missing else demo_secret_reason(value)
        if reason:
            problems.append((path, f"the secret is {reason}"))
    return problems
